"""Zonal statistics of rasters over parcels: the observed built-up fraction.

A built-up raster (each cell the built-up share of its area, 0–1) or a land-cover raster
(class codes, e.g. ESA WorldCover, where 50 is built-up) is summarised over each polygon with
exact cell coverage fractions (exactextract): a cell half inside a parcel counts half. Cells
that are nodata, and the parts of a polygon outside the raster, are left out, so the fraction
is that of the observed part of the parcel; a polygon with no observed cell gets NaN.

The polygons are projected to the raster's CRS; the raster is never resampled.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import NumPyRasterSource, RasterioRasterSource
from pyproj import CRS
from rasterio.windows import Window

from mujun.geo._checks import _check_geoseries
from mujun.geo.errors import CRSError, InputError

__all__ = ["builtup_fraction", "class_fraction"]

#: WorldCover / many land-cover products: 50 = "built-up".
WORLDCOVER_BUILTUP = (50,)


def _check_raster(raster) -> CRS:
    """The raster's CRS as a pyproj CRS; refuse objects that are not open rasters."""
    if not (hasattr(raster, "read") and hasattr(raster, "transform") and hasattr(raster, "crs")):
        raise InputError(f"'raster' 应为打开的 rasterio 栅格（rasterio.open(...)），收到的是 {type(raster).__name__}")
    if raster.crs is None:
        raise CRSError(f"栅格 {Path(str(raster.name)).name} 没有坐标系；请先在 GIS 软件中为它设置坐标系（例如 EPSG:4549）")
    return CRS.from_wkt(raster.crs.to_wkt())


#: Features are grouped by the raster block of this many cells (each side) holding their
#: top-left corner; each group's window is read once (a few tens of MB at most).
WINDOW_CELLS = 2048


def _extract(
    geometry: gpd.GeoDataFrame | gpd.GeoSeries, raster, ops: list[str]
) -> tuple[gpd.GeoSeries, pd.DataFrame]:
    """Run ``ops`` over every non-empty polygon.

    The raster is read in windows, each once for all the polygons whose top-left corner
    lies in one block of :data:`WINDOW_CELLS` cells (the window reaching as far as they
    do), instead of once per polygon; polygons wider than a block are read on their own.

    Returns the input GeoSeries and a frame of results with a ``_pos`` column giving each
    row's position in it (missing and empty geometries have no row).
    """
    if isinstance(geometry, gpd.GeoDataFrame | gpd.GeoSeries) and geometry.crs is None:
        raise CRSError("'geometry' 没有坐标系，无法与栅格叠加；请先用 set_crs 声明坐标系（例如 EPSG:4490）")
    gs = _check_geoseries(geometry)
    crs = _check_raster(raster)
    values = gs.values
    pos = np.flatnonzero(~(shapely.is_missing(values) | shapely.is_empty(values)))
    if len(pos) == 0:
        return gs, pd.DataFrame({"_pos": pd.Series([], dtype="int64")})
    projected = gs.iloc[pos].to_crs(crs).values
    wkt = crs.to_wkt()

    def run(source, idx: np.ndarray) -> pd.DataFrame:
        with warnings.catch_warnings():
            # the polygons were just projected to the raster's CRS; WKT spellings may still differ
            warnings.filterwarnings("ignore", "Spatial reference system of input features", RuntimeWarning)
            return exact_extract(source, _WKBFeatures(shapely.to_wkb(projected[idx]), pos[idx], wkt), ops,
                                 include_cols=["_pos"], output="pandas", strategy="feature-sequential")

    t = raster.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:  # rotated or not north-up: exactextract's own reader
        return gs, run(RasterioRasterSource(raster, 1), np.arange(len(pos)))
    # each polygon's cells: [col0, col1) x [row0, row1)
    b = shapely.bounds(projected)
    col0 = np.floor((b[:, 0] - t.c) / t.a).astype("int64")
    col1 = np.ceil((b[:, 2] - t.c) / t.a).astype("int64")
    row0 = np.floor((b[:, 3] - t.f) / t.e).astype("int64")
    row1 = np.ceil((b[:, 1] - t.f) / t.e).astype("int64")
    # polygons wholly off the raster have no observed cell (and no row)
    on = (col1 > 0) & (col0 < raster.width) & (row1 > 0) & (row0 < raster.height)
    col0, row0 = np.clip(col0, 0, None), np.clip(row0, 0, None)
    col1, row1 = np.minimum(col1, raster.width), np.minimum(row1, raster.height)
    large = on & (((col1 - col0) > WINDOW_CELLS) | ((row1 - row0) > WINDOW_CELLS))
    frames = []
    if large.any():
        frames.append(run(RasterioRasterSource(raster, 1), np.flatnonzero(large)))
    small = np.flatnonzero(on & ~large)
    block = (row0[small] // WINDOW_CELLS) * (raster.width // WINDOW_CELLS + 1) + col0[small] // WINDOW_CELLS
    order = small[np.argsort(block, kind="stable")]
    _, starts = np.unique(np.sort(block, kind="stable"), return_index=True)
    for idx in np.split(order, starts[1:]) if len(order) else []:
        # at most two blocks each way: small polygons reach less than a block past theirs
        x0, y0 = int(col0[idx].min()), int(row0[idx].min())
        x1 = min(max(int(col1[idx].max()), x0 + 1), raster.width)  # a degenerate polygon: one cell
        y1 = min(max(int(row1[idx].max()), y0 + 1), raster.height)
        frames.append(run(_window_source(raster, x0, y0, x1 - x0, y1 - y0, wkt), idx))
    frames = [f for f in frames if len(f)]
    stats = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"_pos": pd.Series([], dtype="int64")})
    return gs, stats


def _window_source(raster, x0: int, y0: int, nx: int, ny: int, wkt: str):
    """Cells ``[x0, x0 + nx) x [y0, y0 + ny)`` of band 1 as an exactextract source, read as
    exactextract's own rasterio reader reads them (masked, with the band's scale and offset)."""
    arr = raster.read(1, window=Window(x0, y0, nx, ny), masked=True)
    scale, offset = raster.scales[0], raster.offsets[0]
    scaled = scale != 1.0 or offset != 0.0
    if scaled:
        arr = (arr.astype("float64") if np.issubdtype(arr.dtype, np.integer) else arr) * scale + offset
    nodata = None
    if raster.nodata is not None and not scaled:
        nodata = raster.nodata if raster.dtypes[0].startswith("float") else int(raster.nodata)
    if not np.ma.getmask(arr).shape:  # no cell masked
        arr = arr.data
    t = raster.transform
    xmin, ymax = t.c + x0 * t.a, t.f + y0 * t.e
    return NumPyRasterSource(arr, xmin, ymax + ny * t.e, xmin + nx * t.a, ymax, nodata=nodata, srs_wkt=wkt)


class _WKBFeature(Feature):
    """A polygon as WKB with its position in the input (no GeoJSON text per feature)."""

    def __init__(self, wkb: bytes, position: int):
        Feature.__init__(self)
        self.wkb, self.position = wkb, position

    def geometry(self) -> bytes:
        return self.wkb

    def get(self, name: str) -> int:
        return self.position

    def fields(self) -> list[str]:
        return ["_pos"]


class _WKBFeatures(FeatureSource):
    def __init__(self, wkbs: np.ndarray, positions: np.ndarray, wkt: str):
        super().__init__()
        self.wkbs, self.positions, self.wkt = wkbs, positions, wkt

    def count(self) -> int:
        return len(self.wkbs)

    def __iter__(self):
        for wkb, position in zip(self.wkbs, self.positions.tolist(), strict=True):
            yield _WKBFeature(wkb, position)

    def srs_wkt(self) -> str:
        return self.wkt


def _finite(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype="float64")
    return values[np.isfinite(values)]


def builtup_fraction(geometry: gpd.GeoDataFrame | gpd.GeoSeries, raster, *, scale: float = 1.0) -> pd.Series:
    """Observed built-up fraction of each polygon from a built-up raster.

    The coverage-weighted mean of the raster over the polygon, divided by ``scale``. Cells
    are weighted by the exact share of their area inside the polygon; nodata cells and the
    part of the polygon outside the raster are left out.

    Parameters
    ----------
    geometry : GeoDataFrame or GeoSeries
        Polygons in any CRS (it must be set); projected to the raster's CRS.
    raster : rasterio.io.DatasetReader
        An open single-band raster of built-up share per cell (band 1 is used).
    scale : float, default 1.0
        The raster value meaning "fully built": 1 for fractions, 100 for percent,
        10000 for m² per hectare cell.

    Returns
    -------
    Series
        ``builtup_fraction`` (0–1) on the input's index; NaN for missing or empty
        geometries and for polygons without an observed cell.

    Raises
    ------
    InputError
        If the raster has values above ``scale`` or below 0 under the polygons (a percent
        raster read as fractions, or an undeclared nodata value).

    Examples
    --------
    >>> import numpy as np, rasterio
    >>> from affine import Affine
    >>> from rasterio.io import MemoryFile
    >>> values = np.array([[0.0, 1.0], [0.5, -1.0]], dtype="float32")  # -1: nodata
    >>> profile = dict(driver="GTiff", width=2, height=2, count=1, dtype="float32",
    ...                crs="EPSG:4549", transform=Affine(10, 0, 500000, 0, -10, 3300020), nodata=-1)
    >>> with MemoryFile() as mem, mem.open(**profile) as ds:
    ...     ds.write(values, 1)
    ...     parcels = gpd.GeoSeries([shapely.box(500000, 3300010, 500020, 3300020),  # top row
    ...                              shapely.box(500000, 3300000, 500020, 3300010),  # 0.5 and nodata
    ...                              shapely.box(500000, 3300000, 500015, 3300020)], # 1.5 columns
    ...                             crs="EPSG:4549")
    ...     builtup_fraction(parcels, ds).round(3).tolist()
    [0.5, 0.5, 0.4]
    """
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"scale 应为正数（栅格中表示“全部建成”的值，例如 1 或 100），收到的是 {scale!r}")
    gs, stats = _extract(geometry, raster, ["mean", "min", "max"])
    out = np.full(len(gs), np.nan)
    if len(stats):
        lo = _finite(stats["min"]).min(initial=0.0)
        hi = _finite(stats["max"]).max(initial=0.0)
        name = Path(str(raster.name)).name
        if hi > scale * (1 + 1e-6) or lo < 0:
            bad = f"最大值 {hi:g}" if hi > scale * (1 + 1e-6) else f"最小值 {lo:g}"
            raise InputError(
                f"栅格 {name} 在地块范围内有超出 0–{scale:g} 的值（{bad}）；"
                "建成比例若为百分比请设 scale=100，若为其他编码请先为它设置 nodata 值"
            )
        out[stats["_pos"].to_numpy()] = stats["mean"].to_numpy(float) / scale
    return pd.Series(out, index=gs.index, name="builtup_fraction")


def class_fraction(
    geometry: gpd.GeoDataFrame | gpd.GeoSeries, raster, classes: Sequence[int] = WORLDCOVER_BUILTUP
) -> pd.Series:
    """Share of each polygon's observed area whose land-cover class is in ``classes``.

    Cells are weighted by the exact share of their area inside the polygon; nodata cells
    and the part of the polygon outside the raster are left out.

    Parameters
    ----------
    geometry : GeoDataFrame or GeoSeries
        Polygons in any CRS (it must be set); projected to the raster's CRS.
    raster : rasterio.io.DatasetReader
        An open single-band categorical raster (band 1 is used).
    classes : sequence of int, default (50,)
        The codes counted as built-up (ESA WorldCover: 50).

    Returns
    -------
    Series
        ``builtup_fraction`` (0–1) on the input's index; NaN for missing or empty
        geometries and for polygons without an observed cell.

    Examples
    --------
    >>> import numpy as np, rasterio
    >>> from affine import Affine
    >>> from rasterio.io import MemoryFile
    >>> codes = np.array([[50, 10], [50, 0]], dtype="uint8")  # 0: nodata
    >>> profile = dict(driver="GTiff", width=2, height=2, count=1, dtype="uint8",
    ...                crs="EPSG:4549", transform=Affine(10, 0, 500000, 0, -10, 3300020), nodata=0)
    >>> with MemoryFile() as mem, mem.open(**profile) as ds:
    ...     ds.write(codes, 1)
    ...     parcels = gpd.GeoSeries([shapely.box(500000, 3300000, 500020, 3300020),
    ...                              shapely.box(500000, 3300000, 500010, 3300020)], crs="EPSG:4549")
    ...     class_fraction(parcels, ds, classes=[50]).round(3).tolist()
    [0.667, 1.0]
    """
    wanted = np.asarray(list(classes))
    if wanted.size == 0:
        raise InputError("classes 为空；请给出算作建成区的地类编码（例如 ESA WorldCover 的 50）")
    gs, stats = _extract(geometry, raster, ["unique", "frac"])
    out = np.full(len(gs), np.nan)
    if len(stats):
        unique, frac = stats["unique"].to_numpy(), stats["frac"].to_numpy()
        n = np.fromiter(map(len, frac), dtype="int64", count=len(frac))
        if n.sum():
            row = np.repeat(np.arange(len(frac)), n)
            hit = np.isin(np.concatenate(unique), wanted)
            share = np.bincount(row, weights=np.concatenate(frac).astype(float) * hit, minlength=len(frac))
            out[stats["_pos"].to_numpy()] = np.where(n > 0, share, np.nan)
    return pd.Series(out, index=gs.index, name="builtup_fraction")
