"""The geometry of an evaluation, part by part: what an engine runs on each partition.

:func:`~mujun.geo.evaluation.building_base` and :func:`~mujun.geo.evaluation.parcel_base` are the
expensive, per-feature steps of an evaluation. Here the layers are cut into spatially
compact parts along a Hilbert curve (:func:`spatial_parts`) and the same two functions run
on each part:

- a part of buildings is matched against its *halo*, the parcels whose bounding boxes meet
  the part's (:func:`building_part`);
- a part of parcels gets its building totals from the building parts near it, keeping
  only the buildings assigned to its own parcels (:func:`parcel_part`).

Every row keeps its position in the whole layer as its index, and every part is handled in
that order with the whole layer's planar CRS, so each figure is computed from the same
numbers in the same order as on the whole layer: :func:`assemble` gives frames identical to
those of the single-machine functions, not merely close to them. The zone layers (districts,
parks, platforms) are small and go whole to every part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from mujun.geo._checks import _check_columns, _check_geoseries
from mujun.geo._keys import isin
from mujun.geo.evaluation import building_base, parcel_base

__all__ = [
    "BUILDING_TOTALS",
    "assemble",
    "building_part",
    "nearby_parts",
    "parcel_outlines",
    "parcel_part",
    "part_bounds",
    "spatial_parts",
]

#: What a parcel part needs of the buildings assigned to it.
BUILDING_TOTALS: tuple[str, ...] = ("parcel_id", "footprint_m2", "floor_area_m2", "admin_footprint_m2")


def spatial_parts(
    frame: gpd.GeoDataFrame, npartitions: int, *, total_bounds: Sequence[float] | None = None
) -> list[gpd.GeoDataFrame]:
    """``frame`` cut into at most ``npartitions`` spatially compact parts of nearly equal size.

    Rows are ordered by the Hilbert distance of their bounding boxes' centres (over
    ``total_bounds``, default: the frame's) and cut into consecutive runs; rows without a
    geometry come first. Each part keeps the rows' index.

    Examples
    --------
    >>> g = gpd.GeoDataFrame(geometry=shapely.points([0, 9, 1, 8], [0, 9, 1, 8]), crs=4549)
    >>> [p.index.tolist() for p in spatial_parts(g, 2)]
    [[0, 2], [3, 1]]
    """
    gs = _check_geoseries(frame, "frame")
    if npartitions < 1:
        raise ValueError(f"'npartitions' should be at least 1, got {npartitions}")
    values = gs.values
    present = ~(shapely.is_missing(values) | shapely.is_empty(values))
    key = np.full(len(gs), -1, dtype="int64")
    if present.any():
        bounds = gs[present].total_bounds if total_bounds is None else np.asarray(total_bounds, dtype="float64")
        key[present] = gs[present].hilbert_distance(total_bounds=bounds).to_numpy()
    order = np.argsort(key, kind="stable")
    n = max(1, min(int(npartitions), len(gs)))
    return [frame.iloc[run] for run in np.array_split(order, n)]


def part_bounds(parts: Sequence[gpd.GeoDataFrame | gpd.GeoSeries]) -> np.ndarray:
    """Bounding box ``(minx, miny, maxx, maxy)`` of each part; NaN for a part without geometry.

    Examples
    --------
    >>> g = gpd.GeoSeries([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 7)], crs=4549)
    >>> part_bounds([g.iloc[:1], g.iloc[1:]]).tolist()
    [[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 7.0]]
    """
    out = np.full((len(parts), 4), np.nan)
    for i, part in enumerate(parts):  # one row per part, not per feature
        b = shapely.bounds(_check_geoseries(part, "part").values)
        if len(b) and np.isfinite(b).any():
            out[i] = [np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])]
    return out


def nearby_parts(bounds: np.ndarray, others: np.ndarray, margin: float = 0.0) -> list[list[int]]:
    """For each box in ``bounds``, the positions of the boxes in ``others`` it meets.

    ``margin`` widens the boxes of ``bounds`` on every side (in CRS units), so that
    features whose outlines differ slightly once projected are still matched. Boxes with
    NaN meet nothing.

    Examples
    --------
    >>> a = np.array([[0.0, 0.0, 1.0, 1.0], [np.nan] * 4])
    >>> b = np.array([[1.5, 0.0, 2.0, 1.0], [0.5, 0.5, 3.0, 3.0]])
    >>> nearby_parts(a, b), nearby_parts(a, b, margin=0.5)
    ([[1], []], [[0, 1], []])
    """
    a = _boxes(np.asarray(bounds, dtype="float64"), float(margin))
    b = _boxes(np.asarray(others, dtype="float64"), 0.0)
    ai, bi = shapely.STRtree(b).query(a, predicate="intersects")
    order = np.lexsort((bi, ai))
    ai, bi = ai[order], bi[order]
    cuts = np.searchsorted(ai, np.arange(len(a) + 1))
    return [bi[cuts[i]:cuts[i + 1]].tolist() for i in range(len(a))]


def _boxes(bounds: np.ndarray, margin: float) -> np.ndarray:
    ok = np.isfinite(bounds).all(axis=1) if len(bounds) else np.zeros(0, bool)
    boxes = np.full(len(bounds), None, dtype=object)
    if ok.any():
        b = bounds[ok]
        boxes[ok] = shapely.box(b[:, 0] - margin, b[:, 1] - margin, b[:, 2] + margin, b[:, 3] + margin)
    return boxes


def parcel_outlines(parcels: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The parcels' ids and geometries: all a building part needs of them."""
    _check_columns(parcels, ["parcel_id"], "parcels")
    return parcels[["parcel_id", parcels.geometry.name]]


def building_part(
    buildings: gpd.GeoDataFrame,
    parcels: Sequence[gpd.GeoDataFrame],
    zones: Mapping[str, gpd.GeoDataFrame | None] | None,
    *,
    crs: CRS,
    margin: float = 0.0,
    threads: int | None = None,
) -> pd.DataFrame:
    """:func:`~mujun.geo.evaluation.building_base` of one part of the buildings, without geometry.

    Parameters
    ----------
    buildings : GeoDataFrame
        A part of the buildings, indexed by position in the whole layer.
    parcels : sequence of GeoDataFrame
        The parcel parts near it (:func:`nearby_parts`), indexed by position in the whole
        layer, with ``parcel_id`` and geometry; the parcels whose bounding boxes meet a
        building's (widened by ``margin``) are its candidates, in the whole layer's order.
    zones : mapping
        The zone layers, whole.
    crs : CRS
        The planar CRS of the whole building layer (:func:`~mujun.geo.area.local_gk_crs`).
    margin : float
        As for :func:`nearby_parts`.
    threads : int, optional
        Threads for the overlays, as for :func:`~mujun.geo.evaluation.building_base`.

    Returns
    -------
    DataFrame
        The columns of :func:`~mujun.geo.evaluation.building_base` but the geometry, on the
        part's index.
    """
    frames = [p for p in parcels if len(p)]
    boxes = _boxes(shapely.bounds(buildings.geometry.values), margin)
    boxes = boxes[~shapely.is_missing(boxes)]
    if frames and len(boxes):
        near = pd.concat(frames)
        # candidates: parcels whose bounding box meets a building's (a cheap test; the
        # overlay in building_base measures the real overlaps)
        _, hit = shapely.STRtree(near.geometry.values).query(boxes)
        near = near.iloc[np.unique(hit)].sort_index()
    else:
        near = gpd.GeoDataFrame({"parcel_id": pd.Series([], dtype="string")}, geometry=[], crs=buildings.crs)
    out = building_base(buildings, near, zones, crs=crs, threads=threads)
    return pd.DataFrame(out.drop(columns=out.geometry.name))


def parcel_part(
    parcels: gpd.GeoDataFrame,
    buildings: Sequence[pd.DataFrame] | None,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None,
    *,
    crs: CRS,
    threads: int | None = None,
) -> pd.DataFrame:
    """:func:`~mujun.geo.evaluation.parcel_base` of one part of the parcels, without geometry.

    Parameters
    ----------
    parcels : GeoDataFrame
        A part of the parcels, indexed by position in the whole layer.
    buildings : sequence of DataFrame, or None
        The results of :func:`building_part` for the building parts near it; the rows
        assigned to this part's parcels are totalled in the whole layer's order. ``None``
        when there is no building survey at all.
    zones : mapping
        The zone layers, whole.
    crs : CRS
        The planar CRS of the whole parcel layer (:func:`~mujun.geo.area.local_gk_crs`).
    threads : int, optional
        Threads for the overlays, as for :func:`~mujun.geo.evaluation.parcel_base`.

    Returns
    -------
    DataFrame
        The columns of :func:`~mujun.geo.evaluation.parcel_base` but the geometry, on the part's
        index.
    """
    _check_columns(parcels, ["parcel_id"], "parcels")
    rows = None
    if buildings is not None:
        ids = parcels["parcel_id"].astype("string").dropna()
        mine = [b.loc[isin(b["parcel_id"], ids), list(BUILDING_TOTALS)] for b in buildings]
        rows = pd.concat(mine).sort_index() if mine else pd.DataFrame(columns=list(BUILDING_TOTALS))
    out = parcel_base(parcels, rows, zones, buildings_surveyed=buildings is not None, crs=crs, threads=threads)
    return pd.DataFrame(out.drop(columns=out.geometry.name))


def assemble(frame: gpd.GeoDataFrame, parts: Sequence[pd.DataFrame | pd.Series]) -> gpd.GeoDataFrame | pd.Series:
    """The parts' results put back together in the order, index and geometry of ``frame``.

    Parameters
    ----------
    frame : GeoDataFrame
        The whole layer the parts were cut from (any index).
    parts : sequence of DataFrame or Series
        Results of the parts, indexed by position in ``frame``, together covering every row
        once. Frames get ``frame``'s geometry back at its column position.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"a": [1, 2, 3]}, geometry=shapely.points([0, 1, 2], 0), crs=4549,
    ...                      index=["x", "y", "z"])
    >>> parts = [pd.DataFrame({"a": [3, 1], "b": [30, 10]}, index=[2, 0]), pd.DataFrame({"a": [2], "b": [20]}, index=[1])]
    >>> assemble(g, parts).to_wkt()
       a     geometry   b
    x  1  POINT (0 0)  10
    y  2  POINT (1 0)  20
    z  3  POINT (2 0)  30
    """
    whole = pd.concat(list(parts)).sort_index()
    if not np.array_equal(whole.index.to_numpy(), np.arange(len(frame))):
        raise ValueError(f"the parts should cover the {len(frame)} rows of 'frame' once each, got {len(whole)} rows")
    whole.index = frame.index
    if isinstance(whole, pd.Series):
        return whole
    name = frame.geometry.name
    whole.insert(frame.columns.get_loc(name), name, frame.geometry.values)
    return gpd.GeoDataFrame(whole, geometry=name, crs=frame.crs)
