"""What every engine takes and gives: the evaluation's inputs and its per-feature geometry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

    from mujun.layers.rasters import RasterSource

__all__ = ["BuildingsDone", "Engine", "EvaluationInputs", "GeometryResult"]

#: What an engine hands the buildings' figures to: the parts of one table, in the buildings'
#: order, consumed as they are computed (see :meth:`Engine.geometry`).
BuildingsDone = Callable[[Iterable[pd.DataFrame]], None]


@dataclass
class EvaluationInputs:
    """Everything an evaluation reads from the workspace, read once before it computes.

    Attributes
    ----------
    parcels, enterprises : frames
        The layers ``parcels`` and ``enterprises``.
    years : list of int
        The years to evaluate, ascending.
    zones : mapping
        ``{"district": gdf, "park": gdf, "platform": gdf}``, ``None`` where absent.
    buildings : GeoDataFrame, optional
        The building layer (``None`` without a building survey); an engine takes it with
        :meth:`take_buildings` or :meth:`take_building_batches`.
    building_reader : callable, optional
        Instead of ``buildings``: ``building_reader(rows)`` reads the building layer a batch of
        at most ``rows`` footprints at a time, in its stored order, so that a province's
        footprints are never in memory together (:meth:`take_buildings` reads them all).
    raster : RasterSource, optional
        The registered built-up or land-cover raster (checked unchanged when read).
    previous_classes : dict
        Year -> stored enterprise classes of that year (``credit_code`` index; ``None`` where
        none are stored), for each year before an evaluated year that is not evaluated too.
    evaluated_years : list of int
        The years evaluated before, from the workspace's metadata.
    """

    parcels: gpd.GeoDataFrame
    enterprises: pd.DataFrame
    years: list[int]
    zones: Mapping[str, gpd.GeoDataFrame | None]
    buildings: gpd.GeoDataFrame | None = None
    raster: RasterSource | None = None
    previous_classes: dict[int, pd.Series | None] = field(default_factory=dict)
    evaluated_years: list[int] = field(default_factory=list)
    building_reader: Callable[[int], Iterator[gpd.GeoDataFrame]] | None = None

    def take_buildings(self) -> gpd.GeoDataFrame | None:
        """The building layer, handed over once (``buildings`` is ``None`` afterwards).

        Millions of footprints at a province's scale: once the engine has measured them,
        nothing may keep them, and their pages go back to the system before the years are
        judged.
        """
        buildings, self.buildings = self.buildings, None
        reader, self.building_reader = self.building_reader, None
        if buildings is None and reader is not None:
            import geopandas as gpd

            parts = list(reader(1_000_000))  # all of it: the batches only bound each read
            buildings = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry=parts[0].geometry.name,
                                         crs=parts[0].crs)
        return buildings

    def take_building_batches(self, rows: int) -> Iterator[gpd.GeoDataFrame] | None:
        """The building layer a batch of at most ``rows`` footprints at a time, in its order,
        handed over once like :meth:`take_buildings` (``None`` without a building survey)."""
        buildings, self.buildings = self.buildings, None
        reader, self.building_reader = self.building_reader, None
        if buildings is not None:
            starts = range(0, max(len(buildings), 1), rows)  # one (empty) batch when there are none
            return (buildings.iloc[s:s + rows] for s in starts)
        return reader(rows) if reader is not None else None


@dataclass
class GeometryResult:
    """The per-feature geometry of an evaluation, whichever engine computed it.

    Attributes
    ----------
    base : GeoDataFrame
        :func:`~mujun.geo.evaluation.parcel_base` of the parcels.
    buildings : DataFrame, optional
        :func:`~mujun.geo.evaluation.building_base` without the footprints (``None`` without a
        building survey, and when the stored geometry stage is reused: see
        :mod:`mujun.engines.cache`): ``result_building`` is written with the footprints of
        the buildings layer itself.
    builtup : Series, optional
        The raster's built-up fraction by parcel id (text), ``None`` without a raster.
    """

    base: gpd.GeoDataFrame
    buildings: pd.DataFrame | None = None
    builtup: pd.Series | None = None

    @classmethod
    def of(cls, base: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None,
           builtup: pd.Series | None, buildings_done: BuildingsDone | None = None,
           ) -> GeometryResult:
        """The result of an engine's ``base``, ``building_base`` and built-up fractions (on
        the parcels' index), with the building footprints dropped; the buildings' figures are
        handed to ``buildings_done`` instead of kept, if given (see :meth:`Engine.geometry`)."""
        if buildings is not None:
            buildings = building_figures(buildings)
            if buildings_done is not None:
                buildings_done([buildings])
                buildings = None
        if builtup is not None:
            builtup = pd.Series(builtup.to_numpy(), index=base["parcel_id"].astype("string").to_numpy())
        return cls(base, buildings, builtup)


def building_figures(buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    """:func:`~mujun.geo.evaluation.building_base` without the footprints: their figures are in
    the parcel base by then, and the footprints are written from the buildings layer by id
    (their results are stored without), so no geometry need stay in memory."""
    return pd.DataFrame(buildings.drop(columns=buildings.geometry.name))


class Engine(Protocol):
    """Where the per-feature geometry of an evaluation runs (see :data:`mujun.engines.ENGINES`).

    ``OPTIONS`` names the engine's own options (``--scheduler`` …); the other options are
    refused for it.
    """

    OPTIONS: tuple[str, ...]

    def geometry(self, inputs: EvaluationInputs, *, progress: bool | None = None,
                 buildings_done: BuildingsDone | None = None) -> GeometryResult:
        """Areas, buildings, land-use ratios, zones and built-up fractions of every parcel.

        ``buildings_done``, given, receives the buildings' figures (without footprints) as the
        parts of one table, in the buildings' order, and consumes each as soon as it is
        computed; the result then holds none (``buildings`` is ``None``)."""
        ...
