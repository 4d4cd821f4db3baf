"""Areas of polygons in square metres and mu, measured in the local Gauss-Krüger zone."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from mujun.geo._checks import _check_geoseries
from mujun.geo.crs import CGCS2000, gk_zone_epsg

__all__ = ["M2_PER_MU", "area_m2", "area_mu", "local_gk_crs"]

#: One mu is exactly 10000/15 square metres (1 ha = 15 mu).
M2_PER_MU = 10000.0 / 15.0


def _longitudes(geometry: gpd.GeoSeries) -> np.ndarray:
    """Longitude (CGCS2000) of the centre of each geometry's bounding box; NaN if empty."""
    b = shapely.bounds(np.asarray(geometry.values, dtype=object))
    x = (b[:, 0] + b[:, 2]) / 2.0
    y = (b[:, 1] + b[:, 3]) / 2.0
    crs = CRS.from_user_input(geometry.crs)
    if crs.is_geographic:
        return x
    to_geo = Transformer.from_crs(crs, CGCS2000, always_xy=True)
    lon, _ = to_geo.transform(x, y)
    return np.asarray(lon, dtype="float64")


def local_gk_crs(geometry: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """The CGCS2000 3-degree Gauss-Krüger zone of the data's median longitude.

    Used where several layers must be compared in one planar CRS (overlays); areas of
    single features use each feature's own zone (:func:`area_m2`).

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoSeries([shapely.box(120.5, 30.0, 120.6, 30.1)], crs="EPSG:4490")
    >>> local_gk_crs(g).to_epsg()
    4549
    """
    gs = _check_geoseries(geometry)
    lon = _longitudes(gs)
    lon = lon[np.isfinite(lon)]
    if lon.size == 0:
        return CRS.from_epsg(4549)
    return CRS.from_epsg(int(gk_zone_epsg(float(np.median(lon)))))


def area_m2(geometry: gpd.GeoDataFrame | gpd.GeoSeries, planar: gpd.GeoSeries | None = None) -> pd.Series:
    """Area of each polygon in square metres, in the Gauss-Krüger zone of its longitude.

    Each feature is projected to the CGCS2000 3-degree zone whose central meridian is
    nearest its longitude, so the area agrees with the geodesic area to within about
    0.05 % anywhere in China. Missing geometries give NaN, empty ones 0.

    Parameters
    ----------
    geometry : GeoDataFrame or GeoSeries
        Polygons in any CRS (it must be set).

    planar : GeoSeries, optional
        The same geometries already projected to one Gauss-Krüger zone (a caller's overlay
        CRS): features of that zone are measured on it instead of being projected again.

    Returns
    -------
    Series
        ``area_m2`` on the input's index.

    Examples
    --------
    >>> import shapely
    >>> square = shapely.box(500000, 3300000, 500100, 3300100)  # 100 m x 100 m
    >>> area_m2(gpd.GeoSeries([square, None], crs="EPSG:4549")).round(3).tolist()
    [10000.0, nan]
    """
    gs = _check_geoseries(geometry)
    values = np.asarray(gs.values, dtype=object)  # plain shapely objects: no extension-array conversions
    out = np.full(len(gs), np.nan)
    present = ~shapely.is_missing(values)
    empty = present & shapely.is_empty(values)
    out[empty] = 0.0
    todo = present & ~empty
    if todo.any():
        zones = gk_zone_epsg(_longitudes(gs[todo]))
        idx = np.flatnonzero(todo)
        # one projection per zone (a province spans two or three), never one per feature
        reuse = planar.crs.to_epsg() if planar is not None and planar.crs is not None else None
        for code in np.unique(zones):
            sel = idx[zones == code]
            if reuse == int(code):
                out[sel] = shapely.area(np.asarray(planar.values, dtype=object)[sel])
                continue
            projected = gs.iloc[sel].to_crs(epsg=int(code))
            out[sel] = shapely.area(np.asarray(projected.values, dtype=object))
    return pd.Series(out, index=gs.index, name="area_m2")


def area_mu(geometry: gpd.GeoDataFrame | gpd.GeoSeries) -> pd.Series:
    """Area of each polygon in mu (1 mu = 10000/15 m²); see :func:`area_m2`.

    Examples
    --------
    >>> import shapely
    >>> ha = shapely.box(500000, 3300000, 500100, 3300100)  # one hectare
    >>> area_mu(gpd.GeoSeries([ha], crs="EPSG:4549")).round(6).tolist()
    [15.0]
    """
    return (area_m2(geometry) / M2_PER_MU).rename("area_mu")
