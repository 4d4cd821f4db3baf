"""Spatial assignment of features (parcels, buildings) to zones by majority of area."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import CRS

from mujun.geo._checks import _check_columns, _check_geoseries
from mujun.geo.area import local_gk_crs

__all__ = ["Location", "ZoneIndex", "majority_zone"]

#: Zones with more vertices than this are prepared (see :class:`ZoneIndex`).
PREPARE_MIN_VERTICES = 64
#: Threads for the overlays of unprepared zones when the caller gives none. The engines pass
#: theirs (``$MUJUN_THREADS``, else the cores, read by :mod:`mujun.engines.settings`): the
#: analytics read no settings of their own.
THREADS = 1
#: Fewer pairs than this per thread are not worth a thread.
MIN_PAIRS_PER_THREAD = 20_000


def majority_zone(
    features: gpd.GeoDataFrame | gpd.GeoSeries,
    zones: gpd.GeoDataFrame,
    zone_id: str,
    *,
    min_share: float = 0.5,
    crs: CRS | None = None,
    carry: Sequence[str] = (),
    threads: int | None = None,
) -> pd.DataFrame:
    """The zone holding the largest part of each feature's area.

    A feature belongs to the zone it overlaps most, provided that overlap is more than
    ``min_share`` of the feature's own area (default: more than half — "where most of its
    area lies"). Use ``min_share=0`` for zones that partition the land, such as districts,
    so that a parcel split 40/30/30 still gets the district holding 40 %.

    Parameters
    ----------
    features : GeoDataFrame or GeoSeries
        Polygons to assign.
    zones : GeoDataFrame
        Zone polygons with an id column ``zone_id``.
    zone_id : str
        Name of the id column in ``zones``; also the name of the output column.
    min_share : float
        Share of the feature's area the best zone must exceed.
    crs : CRS, optional
        Planar CRS of the overlay (default: :func:`~mujun.geo.area.local_gk_crs` of the
        features). Give the CRS of the whole layer when ``features`` is one part of it, so
        that every part is measured alike.
    carry : sequence of str
        Further text columns of ``zones`` (such as ``name``) to give each feature from its
        zone.
    threads : int, optional
        Threads for the overlays (default: :data:`THREADS`).

    Returns
    -------
    DataFrame
        On the features' index: ``zone_id`` (missing where no zone qualifies),
        ``<zone_id>_share``, the share of the feature's area inside that zone, and the
        ``carry`` columns.

    Examples
    --------
    >>> import shapely
    >>> zones = gpd.GeoDataFrame({"park_id": ["A", "B"]},
    ...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=4549)
    >>> parcels = gpd.GeoSeries([shapely.box(10, 10, 20, 20), shapely.box(90, 0, 120, 10),
    ...     shapely.box(150, 50, 250, 60)], crs=4549)
    >>> majority_zone(parcels, zones, "park_id")
      park_id  park_id_share
    0       A       1.000000
    1       B       0.666667
    2    <NA>       0.500000
    """
    gs = _check_geoseries(features, "features")
    _check_geoseries(zones, "zones")
    crs = local_gk_crs(gs) if crs is None and len(gs) and len(zones) else crs
    return ZoneIndex(zones, zone_id, crs=crs, carry=carry, threads=threads).assign(gs, min_share=min_share)


class Location(NamedTuple):
    """Where :meth:`ZoneIndex.locate` found each feature."""

    #: Position of the feature's zone among the zones as given (-1 where none qualifies).
    zone: np.ndarray
    #: Share of the feature's area inside its best zone.
    share: np.ndarray
    #: Whether the feature lies wholly inside its best zone (the zone contains it).
    within: np.ndarray
    #: How many zones the feature meets (shares any point with).
    meets: np.ndarray


class ZoneIndex:
    """Zones made ready for :func:`majority_zone` once — projected, prepared and indexed —
    to assign many batches of features (3 million buildings to a million parcels, a few
    hundred thousand at a time).

    Parameters
    ----------
    zones, zone_id, carry, threads
        As for :func:`majority_zone`.
    crs : CRS, optional
        Planar CRS of the overlay (default: :func:`~mujun.geo.area.local_gk_crs` of the zones).

    Examples
    --------
    >>> import shapely
    >>> zones = gpd.GeoDataFrame({"park_id": ["A", "B"], "name": ["甲", "乙"]},
    ...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=4549)
    >>> index = ZoneIndex(zones, "park_id", carry=["name"])
    >>> index.assign(gpd.GeoSeries([shapely.box(90, 0, 120, 10)], crs=4549))
      park_id  park_id_share name
    0       B       0.666667    乙
    """

    def __init__(self, zones: gpd.GeoDataFrame, zone_id: str, *, crs: CRS | None = None,
                 carry: Sequence[str] = (), threads: int | None = None):
        zs = _check_geoseries(zones, "zones")
        _check_columns(zones, [zone_id, *carry], "zones")
        self.zone_id = zone_id
        self.threads = THREADS if threads is None else max(1, int(threads))
        self.crs = (local_gk_crs(zs) if len(zs) else CRS.from_epsg(4549)) if crs is None else CRS.from_user_input(crs)
        self._geometry = _planar(zs, self.crs) if len(zs) else np.array([], dtype=object)
        # Outlines with many vertices (districts, parks) are prepared: their predicates then
        # use an index of their edges. Simple ones (parcels) are not: for them it saves little
        # and each prepared polygon keeps that index, built on first use — a gigabyte and a
        # half for a province's million parcels.
        self._prepared = shapely.get_num_coordinates(self._geometry) > PREPARE_MIN_VERTICES
        shapely.prepare(self._geometry[self._prepared])
        self._bounds = shapely.bounds(self._geometry)
        self._tree = shapely.STRtree(self._geometry)
        # zone attributes as Arrow text, taken by position (no lookup of ids in a hash table)
        self._values = {c: pa.array(zones[c].astype("string").to_numpy(dtype=object, na_value=None), type=pa.string())
                        for c in dict.fromkeys([zone_id, *carry])}

    def _pairs(self, op: Callable[[np.ndarray, np.ndarray], np.ndarray], zi: np.ndarray,
               features: np.ndarray) -> np.ndarray:
        """``op(zone, feature)`` for each pair. Pairs with an unprepared zone run in
        ``self.threads`` threads (GEOS releases the GIL and these geometries are read only);
        prepared zones build their edge index on first use, so theirs run in this thread."""
        zones = self._geometry[zi]
        shared = self._prepared[zi]
        if self.threads < 2 or len(zi) < 2 * MIN_PAIRS_PER_THREAD or shared.all():
            return op(zones, features)
        parts = np.array_split(np.flatnonzero(~shared), self.threads)
        with ThreadPoolExecutor(self.threads) as pool:
            done = list(pool.map(lambda part: op(zones[part], features[part]), parts))
        out = np.empty(len(zi), dtype=done[0].dtype)
        for part, values in zip(parts, done, strict=True):
            out[part] = values
        if shared.any():
            out[shared] = op(zones[shared], features[shared])
        return out

    def assign(self, features: gpd.GeoDataFrame | gpd.GeoSeries, *, min_share: float = 0.5) -> pd.DataFrame:
        """The zone holding the largest part of each feature's area (see :func:`majority_zone`)."""
        found = self.locate(features, min_share=min_share)
        return self.assigned(found.zone, found.share, features.index)

    @property
    def planar(self) -> np.ndarray:
        """The zones' outlines in :attr:`crs`, in the order they were given (read only)."""
        return self._geometry

    def locate(self, features: gpd.GeoDataFrame | gpd.GeoSeries, *, min_share: float = 0.5) -> Location:
        """:meth:`assign`'s answer as positions (see :class:`Location`)."""
        gs = _check_geoseries(features, "features")
        n = len(gs)
        best_zone = np.full(n, -1, dtype="int64")
        best_share = np.zeros(n)
        within = np.zeros(n, dtype=bool)
        meets = np.zeros(n, dtype="int64")
        if n and len(self._geometry):
            fg = _planar(gs, self.crs)
            farea = shapely.area(fg)
            # Candidates by bounding box, then the predicates on the prepared zones: the tree's
            # own predicate would prepare each small feature instead and test it against the
            # zone's every vertex (a district outline has thousands), 25 times slower.
            fi, zi = self._tree.query(fg)
            # Most features lie wholly inside one zone: their share is 1 without an overlay.
            # A zone can hold a feature only if its bounding box holds the feature's: the
            # predicate is evaluated for those pairs alone (a quarter of them are not).
            fb, zb = shapely.bounds(fg), self._bounds
            may = ((fb[fi, 0] >= zb[zi, 0]) & (fb[fi, 1] >= zb[zi, 1])
                   & (fb[fi, 2] <= zb[zi, 2]) & (fb[fi, 3] <= zb[zi, 3]))
            inside = np.zeros(len(fi), dtype=bool)
            inside[may] = self._pairs(_contains, zi[may], fg[fi[may]])
            touching = ~inside
            touching[touching] = self._pairs(shapely.intersects, zi[touching], fg[fi[touching]])
            keep = inside | touching
            fi, zi, inside, touching = fi[keep], zi[keep], inside[keep], touching[keep]
            inter = np.where(inside, farea[fi], 0.0)
            if touching.any():
                inter[touching] = self._pairs(_overlap, zi[touching], fg[fi[touching]])
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(farea[fi] > 0, inter / farea[fi], 0.0)
            order = np.lexsort((zi, -share, fi))  # per feature: largest share first, then zone order
            fi_sorted, first = np.unique(fi[order], return_index=True)
            pick = order[first]
            best_zone[fi_sorted] = zi[pick]
            best_share[fi_sorted] = share[pick]
            within[fi_sorted] = inside[pick]
            meets = np.bincount(fi, minlength=n)
        ok = (best_zone >= 0) & (best_share > min_share)
        return Location(np.where(ok, best_zone, -1), best_share, within, meets)

    def assigned(self, at: np.ndarray, share: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """The frame :meth:`assign` gives for the positions and shares of :meth:`locate`."""
        n = len(at)
        at = pa.array(np.clip(at, 0, None), mask=at < 0)  # missing where no zone qualifies

        def taken(values: pa.Array) -> pd.api.extensions.ExtensionArray:
            return pd.array(values.take(at) if len(values) else pa.nulls(n, pa.string()), dtype="string")

        out = pd.DataFrame({self.zone_id: taken(self._values[self.zone_id]),
                            f"{self.zone_id}_share": share}, index=index)
        for column, values in self._values.items():
            if column != self.zone_id:
                out[column] = taken(values)
        return out


def _contains(zones: np.ndarray, features: np.ndarray) -> np.ndarray:
    return shapely.contains(zones, features)


def _overlap(zones: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Area of each feature's part inside its zone."""
    return shapely.area(shapely.intersection(features, zones))


def _planar(gs: gpd.GeoSeries, crs: CRS) -> np.ndarray:
    """The geometries in ``crs``; as they are when already there (callers assigning one
    layer to several zone levels project it once)."""
    values = gs.values if gs.crs is not None and CRS.from_user_input(gs.crs).equals(crs) else gs.to_crs(crs).values
    # a plain array of shapely geometries: indexed and handed to GEOS without the GeoPandas
    # extension array's conversions on every call
    return np.asarray(values, dtype=object)
