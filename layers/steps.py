"""Running a write's steps in order, here or in a writer process.

A staged write (:meth:`Workspace.staged <mujun.layers.workspace.Workspace.staged>`) hands its
steps — copy the workspace, write a table, finish — to a runner as they become ready, and
asks for a step's result only when it needs it:

- :class:`InlineSteps` runs each step at once, in the calling process;
- :class:`ProcessSteps` runs them one after the other in a writer process, so GDAL's and
  SQLite's work on the scratch copy (which holds the GIL, and takes as long as the
  computing on a province) goes on on the other core while the caller computes the next
  table. The steps are module-level functions, sent by reference with their arguments; a
  frame goes as an Arrow IPC file (:func:`~mujun.layers.writer.save_table`).

The writer process is started fresh (``spawn``): it inherits neither the caller's threads nor
its locks, nor a province's memory. It ignores Ctrl-C: the caller stops it (:meth:`abort`).
The first step that fails is reported at the next :meth:`submit` or :meth:`result`; the steps
after it are not run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mujun.geo.errors import WorkspaceError

__all__ = ["InlineSteps", "ProcessSteps"]


class InlineSteps:
    """Each step run when it is submitted, in this process."""

    def __init__(self) -> None:
        self._results: dict[int, Any] = {}
        #: Seconds each step took, by token.
        self.seconds: dict[int, float] = {}

    def submit(self, step: Callable, *args: Any) -> int:
        token = len(self.seconds)
        t = time.perf_counter()
        self._results[token] = step(*args)
        self.seconds[token] = time.perf_counter() - t
        return token

    def result(self, token: int) -> Any:
        return self._results.pop(token)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class ProcessSteps:
    """Steps run in order in a writer process (see the module's notes)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="mujun-writer", daemon=True)
        self._process.start()
        child.close()
        self._next = 0
        self._done: dict[int, Any] = {}
        #: Seconds each step took in the writer process, by token (as they are reported).
        self.seconds: dict[int, float] = {}

    def submit(self, step: Callable, *args: Any) -> int:
        """Queue ``step(*args)``; a step that failed before is raised here."""
        self._collect(block=False)
        token = self._next
        self._next += 1
        try:
            self._conn.send((token, step, args))
        except (BrokenPipeError, EOFError, OSError):
            self._collect(block=False)
            raise self._gone() from None
        return token

    def result(self, token: int) -> Any:
        """What step ``token`` returned, once it (and every step before it) has run."""
        while token not in self._done:
            self._collect(block=True)
        return self._done.pop(token)

    def close(self) -> None:
        """Let the writer process end (every step submitted has been waited for)."""
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(timeout=30)
        self._conn.close()

    def abort(self) -> None:
        """Stop the writer process where it is (the caller then removes the scratch copy)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=30)
        self._conn.close()

    def _collect(self, *, block: bool) -> None:
        while block or self._conn.poll():
            block = False
            try:
                token, ok, value, seconds = self._conn.recv()
            except (EOFError, OSError):
                raise self._gone() from None
            self.seconds[token] = seconds
            if not ok:
                raise value
            self._done[token] = value

    def _gone(self) -> WorkspaceError:
        self._process.join(timeout=5)
        return WorkspaceError(f"写入进程意外退出（退出码 {self._process.exitcode}）；工作空间未改动，请重试")


def _serve(conn: Connection) -> None:
    """The writer process: run each step received, in order, and send back what it returned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    failed = False
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:  # every step has run and been reported, and each closed its files:
            # gone at once, without the interpreter's teardown (GDAL, pandas), which the caller
            # would wait for
            conn.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        token, step, args = message
        if failed:  # the steps after a failed one are not run (its error was sent)
            continue
        t = time.perf_counter()
        try:
            value = step(*args)
        except BaseException as err:  # noqa: BLE001 - sent to the caller, which raises it
            failed = True
            conn.send((token, False, _portable(err), time.perf_counter() - t))
        else:
            conn.send((token, True, value, time.perf_counter() - t))


def _portable(err: BaseException) -> BaseException:
    """``err`` as the caller can receive it: mujun's errors as they are, others as a
    :class:`WorkspaceError` naming them."""
    from mujun.geo.errors import MujunError

    if isinstance(err, MujunError):
        return err
    return WorkspaceError(f"写入工作空间失败（{type(err).__name__}: {err}）；工作空间未改动")
