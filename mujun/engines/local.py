"""The local engine: the evaluation's geometry in this process (``mujun evaluate``, the default).

:func:`~mujun.geo.evaluation.building_base` a batch of buildings at a time (read as they are
needed: a province's footprints are never in memory together), then
:func:`~mujun.geo.evaluation.parcel_base` and the raster's zonal figures on the whole parcel
layer, the overlays in several threads; then the freed heap is given back to the system
(:func:`~mujun.engines.settings.release_memory`).
"""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import pandas as pd

from mujun.engines.interface import BuildingsDone, EvaluationInputs, GeometryResult
from mujun.engines.settings import overlay_threads, release_memory
from mujun.geo.area import local_gk_crs
from mujun.geo.evaluation import BUILDING_BATCH, BuildingMeasure, BuildingTotals, parcel_base
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
                 buildings_done: BuildingsDone | None = None) -> GeometryResult:
        """See :class:`~mujun.engines.interface.Engine`; takes the buildings out of ``inputs``.
        The buildings' figures go to ``buildings_done`` batch by batch, before the parcels are
        computed (a writer process writes them meanwhile)."""
        batches = inputs.take_building_batches(BUILDING_BATCH)
        totals = figures = planar = zone_columns = None
        if batches is not None:
            # the overlays are in the parcels' plane, which the buildings are measured against
            measure = BuildingMeasure(inputs.parcels, inputs.zones, crs=local_gk_crs(inputs.parcels),
                                      threads=self.threads)
            counted = BuildingTotals(inputs.parcels)
            measured = self._measured(batches, measure, counted)
            if buildings_done is not None:
                buildings_done(measured)
            else:
                figures = pd.concat(list(measured), ignore_index=True)
            del batches, measured  # the last batch of footprints and its overlays
            totals = counted.table()
            # projected and placed in their zones once, for the buildings and the parcels
            planar, zone_columns = measure.planar_parcels, measure.parcel_zone_columns()
            del measure
            release_memory()
        base = parcel_base(inputs.parcels, None, inputs.zones, buildings_surveyed=totals is not None, totals=totals,
                           planar=planar, zone_columns=zone_columns, threads=self.threads)
        del planar, zone_columns
        builtup = None if inputs.raster is None else source_builtup(base, inputs.raster)
        result = GeometryResult.of(base, None, builtup)
        result.buildings = figures
        release_memory()
        return result

    @staticmethod
    def _measured(batches: Iterator[gpd.GeoDataFrame], measure: BuildingMeasure,
                  counted: BuildingTotals) -> Iterator[pd.DataFrame]:
        """Each batch's figures (:func:`~mujun.geo.evaluation.building_base` without the
        footprints), counted into ``counted`` on the way."""
        for batch in batches:
            figures, parcels = measure.measure(batch)
            counted.add(figures, parcels)
            out = pd.DataFrame(batch.drop(columns=batch.geometry.name))
            for col in figures.columns:
                out[col] = figures[col].array
            del batch, figures
            yield out
