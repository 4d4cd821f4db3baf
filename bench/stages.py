"""Where time and memory go: wall time and resident memory of named stages of a run.

Functions are wrapped in place (module attributes, class methods) so that every call is
timed and a background thread samples the process's RSS; each stage records its calls,
seconds, RSS on entry and exit and the peak RSS while it ran. Nested stages are labelled
by their path (``evaluate > parcel_base > assign(district_id)``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

__all__ = ["Stages"]

MIB = 2**20


class Stages:
    """Records stages; use :meth:`wrap` before the run and :meth:`rows` after it."""

    def __init__(self, interval: float = 0.02, *, rss_limit_mib: float | None = None,
                 min_available_mib: float | None = None, dump: Path | None = None):
        """Sample every ``interval`` s; past ``rss_limit_mib``, or when the machine has less than
        ``min_available_mib`` left, write the stages so far (and the stages running) to ``dump``
        as JSON and end the process with status 3."""
        self._limit = rss_limit_mib
        self._min_available = min_available_mib
        self._dump = dump
        self._proc = psutil.Process()
        self._stack: list[str] = []
        self._stats: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        return self._proc.memory_info().rss

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._rss()
            with self._lock:
                for i in range(len(self._stack)):
                    s = self._stats[" > ".join(self._stack[: i + 1])]
                    s["peak"] = max(s["peak"], rss)
                low = (self._min_available is not None
                       and psutil.virtual_memory().available / MIB < self._min_available)
                if (self._limit is not None and rss / MIB > self._limit) or low:
                    running = " > ".join(self._stack)
                    if self._dump is not None:
                        self._dump.write_text(json.dumps({"stopped_at_mib": rss / MIB, "running": running,
                                                          "machine_out_of_memory": bool(low),
                                                          "stages": self.rows()}, ensure_ascii=False))
                    os._exit(3)  # the process is over its memory budget: stop before the machine suffers

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def stage(self, name: str, fn: Callable) -> Callable:
        """``fn`` wrapped as the stage ``name``."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            rss = self._rss()
            with self._lock:
                self._stack.append(name)
                key = " > ".join(self._stack)
                s = self._stats.setdefault(key, {"stage": key, "depth": len(self._stack) - 1, "calls": 0,
                                                 "seconds": 0.0, "rss_in": rss, "rss_out": rss, "peak": rss})
                s["peak"] = max(s["peak"], rss)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t
                rss = self._rss()
                with self._lock:
                    s["calls"] += 1
                    s["seconds"] += elapsed
                    s["rss_out"] = rss
                    s["peak"] = max(s["peak"], rss)
                    self._stack.pop()

        return wrapper

    def wrap(self, owner, attr: str, name: str | Callable[..., str] | None = None) -> None:
        """Replace ``owner.attr`` (a module function or a class's method) by a timed stage.

        ``name`` is the label, or a function of the call's arguments giving it.
        """
        fn = getattr(owner, attr)
        if callable(name):
            labeller = name

            @functools.wraps(fn)
            def dispatch(*args, **kwargs):
                return self.stage(labeller(*args, **kwargs), fn)(*args, **kwargs)

            setattr(owner, attr, dispatch)
        else:
            setattr(owner, attr, self.stage(name or attr, fn))

    def rows(self) -> list[dict]:
        """The stages in first-entry order, memory in MiB."""
        out = []
        for s in self._stats.values():
            out.append({"stage": s["stage"], "depth": s["depth"], "calls": s["calls"], "seconds": s["seconds"],
                        "rss_in_mib": s["rss_in"] / MIB, "rss_out_mib": s["rss_out"] / MIB,
                        "peak_mib": s["peak"] / MIB})
        return out
