"""Input checks shared by the analytics; messages say what was expected and what arrived."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from mujun.geo.errors import CRSError, SchemaError


def _check_geoseries(geometry: gpd.GeoDataFrame | gpd.GeoSeries, arg: str = "geometry") -> gpd.GeoSeries:
    """Return the GeoSeries of ``geometry``; refuse other types and a missing CRS."""
    if isinstance(geometry, gpd.GeoDataFrame):
        geometry = geometry.geometry
    if not isinstance(geometry, gpd.GeoSeries):
        raise SchemaError(f"'{arg}' 应为 GeoDataFrame 或 GeoSeries，收到的是 {type(geometry).__name__}")
    if geometry.crs is None:
        raise CRSError(f"'{arg}' 没有坐标系，无法计算面积；请先用 set_crs 声明坐标系（例如 EPSG:4490）")
    return geometry


def _check_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], arg: str) -> None:
    """Refuse a frame that lacks any of ``columns``, naming them all."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"'{arg}' 缺少字段 {', '.join(missing)}（现有字段：{', '.join(map(str, frame.columns))}）"
        )
