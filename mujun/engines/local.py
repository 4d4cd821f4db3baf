"""The local engine: the evaluation's geometry in this process (``mujun evaluate``, the default).

:func:`~mujun.geo.evaluation.building_base`, :func:`~mujun.geo.evaluation.parcel_base` and the
raster's zonal figures on the whole layers, the overlays in several threads; then the freed
heap is given back to the system, which only this engine needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable

import pandas as pd

from mujun.engines.interface import EvaluationInputs, GeometryResult, building_figures
from mujun.engines.settings import overlay_threads
from mujun.geo.evaluation import building_base, parcel_base
from mujun.layers.rasters import source_builtup

__all__ = ["LocalEngine"]


class LocalEngine:
    """The geometry of an evaluation in this process.

    Parameters
    ----------
    threads : int, optional
        Threads for the overlays (default: :func:`~mujun.engines.settings.overlay_threads`,
        ``$MUJUN_THREADS`` or the cores this process may use).
    """

    OPTIONS: tuple[str, ...] = ("threads",)

    def __init__(self, *, threads: int | None = None):
        self.threads = overlay_threads() if threads is None else threads

    def geometry(self, inputs: EvaluationInputs, *, progress: bool | None = None,
                 buildings_done: Callable[[pd.DataFrame], None] | None = None) -> GeometryResult:
        """See :class:`~mujun.engines.interface.Engine`; takes the buildings out of ``inputs``.
        The buildings' figures go to ``buildings_done`` before the parcels are computed (a
        writer process writes them meanwhile)."""
        buildings = inputs.take_buildings()
        if buildings is not None:
            buildings = building_base(buildings, inputs.parcels, inputs.zones, threads=self.threads)
            if buildings_done is not None:
                buildings_done(building_figures(buildings))
        base = parcel_base(inputs.parcels, buildings, inputs.zones, buildings_surveyed=buildings is not None,
                           threads=self.threads)
        builtup = None if inputs.raster is None else source_builtup(base, inputs.raster)
        result = GeometryResult.of(base, None if buildings_done else buildings, builtup)
        del buildings  # the last reference to the footprints and their overlays
        _release_memory()
        return result


def _release_memory() -> None:
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
