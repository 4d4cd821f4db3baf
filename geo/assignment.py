"""Spatial assignment of features (parcels, buildings) to zones by majority of area."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo._checks import _check_columns, _check_geoseries
from geo.area import local_gk_crs

__all__ = ["majority_zone"]


def majority_zone(
    features: gpd.GeoDataFrame | gpd.GeoSeries,
    zones: gpd.GeoDataFrame,
    zone_id: str,
    *,
    min_share: float = 0.5,
    crs: CRS | None = None,
    carry: Sequence[str] = (),
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
        Planar CRS of the overlay (default: :func:`~geo.area.local_gk_crs` of the
        features). Give the CRS of the whole layer when ``features`` is one part of it, so
        that every part is measured alike.
    carry : sequence of str
        Further text columns of ``zones`` (such as ``name``) to give each feature from its
        zone.

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
    zs = _check_geoseries(zones, "zones")
    _check_columns(zones, [zone_id], "zones")
    n = len(gs)
    best_zone = np.full(n, -1, dtype="int64")
    best_share = np.zeros(n)
    if n and len(zs):
        crs = local_gk_crs(gs) if crs is None else CRS.from_user_input(crs)
        fg = _planar(gs, crs)
        zg = _planar(zs, crs)
        shapely.prepare(zg)
        farea = shapely.area(fg)
        tree = shapely.STRtree(zg)
        # Candidates by bounding box, then the predicates on the prepared zones: the tree's
        # own predicate would prepare each small feature instead and test it against the
        # zone's every vertex (a district outline has thousands), 25 times slower.
        fi, zi = tree.query(fg)
        # Most features lie wholly inside one zone: their share is 1 without an overlay.
        # A zone can hold a feature only if its bounding box holds the feature's: the
        # predicate is evaluated for those pairs alone (a quarter of them are not).
        fb, zb = shapely.bounds(fg), shapely.bounds(zg)
        may = ((fb[fi, 0] >= zb[zi, 0]) & (fb[fi, 1] >= zb[zi, 1])
               & (fb[fi, 2] <= zb[zi, 2]) & (fb[fi, 3] <= zb[zi, 3]))
        inside = np.zeros(len(fi), dtype=bool)
        inside[may] = shapely.contains(zg[zi[may]], fg[fi[may]])
        touching = ~inside
        touching[touching] = shapely.intersects(zg[zi[touching]], fg[fi[touching]])
        keep = inside | touching
        fi, zi, inside, touching = fi[keep], zi[keep], inside[keep], touching[keep]
        inter = np.where(inside, farea[fi], 0.0)
        if touching.any():
            inter[touching] = shapely.area(shapely.intersection(fg[fi[touching]], zg[zi[touching]]))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(farea[fi] > 0, inter / farea[fi], 0.0)
        order = np.lexsort((zi, -share, fi))  # per feature: largest share first, then zone order
        fi_sorted, first = np.unique(fi[order], return_index=True)
        pick = order[first]
        best_zone[fi_sorted] = zi[pick]
        best_share[fi_sorted] = share[pick]
    ok = (best_zone >= 0) & (best_share > min_share)
    pick = np.clip(best_zone, 0, None)

    def taken(column: str) -> pd.api.extensions.ExtensionArray:
        # by position: no lookup of each feature's zone id in a hash table
        values = zones[column].astype("string").to_numpy(dtype=object, na_value=None)
        return pd.array(np.where(ok, values[pick] if len(values) else None, None), dtype="string")

    _check_columns(zones, list(carry), "zones")
    out = pd.DataFrame({zone_id: taken(zone_id), f"{zone_id}_share": best_share}, index=gs.index)
    for column in carry:
        out[column] = taken(column)
    return out


def _planar(gs: gpd.GeoSeries, crs: CRS) -> np.ndarray:
    """The geometries in ``crs``; as they are when already there (callers assigning one
    layer to several zone levels project it once)."""
    return gs.values if gs.crs is not None and CRS.from_user_input(gs.crs).equals(crs) else gs.to_crs(crs).values
