"""Settings of the engines, read from the environment when an engine is made (never by
:mod:`mujun.geo`, which takes them as parameters), and the process's memory they manage."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Mapping

__all__ = ["MAX_DEFAULT_THREADS", "overlay_threads", "release_memory"]

#: Threads used by default for the overlays: more seldom pay on the shared GEOS work.
MAX_DEFAULT_THREADS = 8


def overlay_threads(environ: Mapping[str, str] | None = None) -> int:
    """Threads for the overlays of buildings and parcels: ``$MUJUN_THREADS``, else the cores
    this process may use (at most :data:`MAX_DEFAULT_THREADS`).

    Examples
    --------
    >>> overlay_threads({"MUJUN_THREADS": "3"})
    3
    >>> 1 <= overlay_threads({"MUJUN_THREADS": "many"}) <= MAX_DEFAULT_THREADS
    True
    """
    environ = os.environ if environ is None else environ
    text = environ.get("MUJUN_THREADS", "").strip()
    # as before: anything but a positive whole number means "as many as the cores"
    if text.isdigit() and int(text) > 0:
        return int(text)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_DEFAULT_THREADS)


def release_memory() -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Millions of small geometries leave the C heap fragmented after they are freed; the
    large buffers the later steps allocate cannot use those holes, so without this the
    process keeps both (dask's workers trim memory for the same reason)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
