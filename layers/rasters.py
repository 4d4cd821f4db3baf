"""Raster evidence in the workspace: registered built-up and land-cover GeoTIFFs.

Rasters are large and already live in files, so the workspace stores a reference, not the
pixels: one row per kind in the table :data:`TABLE` with the file's absolute path, how to read
it (land-cover classes counted as built-up, or the value meaning "fully built"), its CRS and
extent, and its size, modification time and SHA-256, so that a file that has moved or changed
since registration is reported instead of silently read.

Kinds:

- ``builtup``: each cell holds the built-up share of its area (0–1, or 0–``scale``).
- ``landcover``: each cell holds a class code; ``classes`` are the built-up codes
  (ESA WorldCover: 50).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from mujun.geo.crs import CGCS2000
from mujun.geo.errors import CRSError, InputError, WorkspaceError
from mujun.geo.zonal import WORLDCOVER_BUILTUP, builtup_fraction, class_fraction
from mujun.layers.workspace import Workspace

__all__ = [
    "KINDS", "TABLE", "RasterSource", "parcel_builtup", "raster_source", "register_raster", "registered_rasters",
    "source_builtup",
]

TABLE = "mujun_rasters"
#: kind -> what it is, in the user's words
KINDS = {"builtup": "建成区比例栅格", "landcover": "土地覆盖分类栅格"}
DEFAULT_CLASSES = WORLDCOVER_BUILTUP  # ESA WorldCover 50, "built-up"
COLUMNS = (
    "kind", "path", "classes", "scale", "crs", "west", "south", "east", "north",
    "width", "height", "resolution", "size_bytes", "mtime_ns", "sha256", "registered_at",
)
#: files above this size are identified by size and modification time only
HASH_LIMIT_BYTES = 512 * 1024**2


def registered_rasters(ws: Workspace) -> pd.DataFrame:
    """The registered rasters, one row per kind (an empty frame with the columns if none).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     registered_rasters(Workspace(Path(d) / "w.gpkg")).columns[:3].tolist()
    ['kind', 'path', 'classes']
    """
    table = ws.read_optional(TABLE)
    if table is None:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    table = pd.DataFrame(table).reindex(columns=list(COLUMNS))
    return table.sort_values("kind", ignore_index=True)


def _open(path: Path):
    """Open a raster, hiding GDAL's note on rasters without georeferencing (checked after)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _footprint(ds) -> gpd.GeoSeries:
    """The raster's extent as a polygon in CGCS2000 (edges densified before projecting)."""
    left, bottom, right, top = ds.bounds
    box = shapely.segmentize(shapely.box(left, bottom, right, top), max(right - left, top - bottom) / 64)
    try:
        return gpd.GeoSeries([box], crs=ds.crs.to_wkt()).to_crs(CGCS2000)
    except Exception as err:  # pyproj cannot relate the raster's CRS to CGCS2000
        raise CRSError(
            f"栅格 {Path(ds.name).name} 的坐标系无法转换到 CGCS2000（{err}）；请用 gdalwarp 转为 EPSG:4549 或 EPSG:4490"
        ) from None


def _lonlat(bounds: tuple[float, float, float, float]) -> str:
    w, s, e, n = bounds
    return f"经度 {w:.3f}–{e:.3f}，纬度 {s:.3f}–{n:.3f}"


def _check_options(kind: str, classes: list[int] | None, scale: float | None) -> tuple[str, float, list[str]]:
    """(classes as stored, scale, notes) for ``kind``; refuse options that do not fit it."""
    if kind not in KINDS:
        raise InputError(f"未知的栅格类型 '{kind}'；可用类型：{', '.join(f'{k}（{v}）' for k, v in KINDS.items())}")
    notes: list[str] = []
    if kind == "builtup":
        if classes:
            raise InputError("classes（地类编码）只用于 --kind landcover；建成区比例栅格请用 scale 说明取值范围")
        scale = 1.0 if scale is None else float(scale)
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"scale 应为正数（栅格中表示“全部建成”的值，如 1 或 100），收到的是 {scale!r}")
        return "", scale, notes
    if scale is not None:
        raise InputError("scale 只用于 --kind builtup；土地覆盖栅格请用 classes 指定算作建成区的地类编码")
    if not classes:
        classes = list(DEFAULT_CLASSES)
        notes.append("未指定地类编码，按 ESA WorldCover 取 50（建成区）；其他产品请用 --classes 指定")
    try:
        codes = [int(c) for c in classes]
    except (TypeError, ValueError):
        raise InputError(f"classes 应为整数地类编码（例如 50），收到的是 {classes!r}") from None
    return ",".join(map(str, codes)), float("nan"), notes


def register_raster(
    ws: Workspace, path: str | Path, kind: str, classes: list[int] | None = None, scale: float | None = None
) -> dict:
    """Check a GeoTIFF and store a reference to it as the workspace's ``kind`` raster.

    The raster must be single-band, georeferenced, north-up and overlap the workspace's
    parcels (when there are any). A raster registered earlier for the same kind is replaced.
    Nothing is written unless every check passes.

    Parameters
    ----------
    ws : Workspace
    path : str or Path
        The raster file (GeoTIFF or any single-band raster GDAL reads).
    kind : {"builtup", "landcover"}
    classes : list of int, optional
        ``landcover`` only: the class codes counted as built-up (default 50, ESA WorldCover).
    scale : float, optional
        ``builtup`` only: the value meaning "fully built" (default 1; 100 for percent).

    Returns
    -------
    dict
        The stored row, plus ``parcels_covered`` and ``parcels_total`` (parcels touching the
        raster's extent, ``None`` without a parcels layer) and ``notes`` (messages for the user).

    Raises
    ------
    InputError
        Missing or unreadable file, several bands, rotated grid, bad options, no overlap.
    CRSError
        The raster has no coordinate system, or one that cannot be related to CGCS2000.
    """
    stored_classes, scale, notes = _check_options(kind, classes, scale)
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise InputError(f"找不到栅格文件 {path}；请检查路径")
    if not path.is_file():
        raise InputError(f"{path} 不是文件；请给出 GeoTIFF 文件的路径")
    try:
        ds = _open(path)
    except RasterioError:
        raise InputError(f"{path.name} 不是可读取的栅格文件；请提供 GeoTIFF（.tif）") from None
    with ds:
        if ds.count != 1:
            raise InputError(f"栅格 {path.name} 有 {ds.count} 个波段；请导出只含建成区（或地类）波段的单波段 GeoTIFF")
        if ds.crs is None:
            raise CRSError(f"栅格 {path.name} 没有坐标系；请在 GIS 软件中为它设置坐标系（例如 EPSG:4549）后再导入")
        if ds.transform.b != 0 or ds.transform.d != 0:
            raise InputError(f"栅格 {path.name} 的网格是旋转的，无法统计；请先用 gdalwarp 重采样为正北方向")
        if kind == "landcover" and not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
            raise InputError(f"栅格 {path.name} 的像元是 {ds.dtypes[0]} 小数，不像地类编码；建成区比例栅格请用 --kind builtup")
        footprint = _footprint(ds)
        lonlat = tuple(float(v) for v in footprint.total_bounds)
        covered = total = None
        parcels = ws.read_optional("parcels")
        if parcels is not None and len(parcels):
            total = len(parcels)
            covered = int(parcels.geometry.to_crs(CGCS2000).intersects(footprint.iloc[0]).sum())
            if covered == 0:
                raise InputError(
                    f"栅格 {path.name} 的范围（{_lonlat(lonlat)}）与工作空间的地块"
                    f"（{_lonlat(tuple(parcels.to_crs(CGCS2000).total_bounds))}）不重叠；请检查栅格的坐标系或换用覆盖地块的栅格"
                )
            if covered < total:
                notes.append(f"栅格只覆盖 {covered}/{total} 宗地块；其余地块没有栅格证据")
        epsg = ds.crs.to_epsg()
        stat = path.stat()
        row = {
            "kind": kind,
            "path": str(path),
            "classes": stored_classes,
            "scale": scale,
            "crs": f"EPSG:{epsg}" if epsg else ds.crs.to_wkt(),
            "west": lonlat[0], "south": lonlat[1], "east": lonlat[2], "north": lonlat[3],
            "width": int(ds.width),
            "height": int(ds.height),
            "resolution": float(abs(ds.transform.a)),
            "size_bytes": int(stat.st_size),
            "mtime_ns": int(stat.st_mtime_ns),
            "sha256": _sha256(path) if stat.st_size <= HASH_LIMIT_BYTES else "",
            "registered_at": datetime.now().isoformat(timespec="seconds"),
        }
    old = registered_rasters(ws)
    new = pd.DataFrame([row])
    table = pd.concat([old[old["kind"] != kind], new], ignore_index=True) if len(old) else new
    table = table.reindex(columns=list(COLUMNS)).sort_values("kind", ignore_index=True)
    log = {"kind": "raster", "source": str(path), "layer": kind, "rows": "1", "years": ""}
    ws.write({TABLE: table}, log=log)
    return {**row, "parcels_covered": covered, "parcels_total": total, "notes": notes}


def _check_unchanged(row: pd.Series) -> Path:
    """The registered file's path; refuse a file that is gone or differs from the one registered."""
    path = Path(str(row["path"]))
    again = f"请恢复该文件，或重新运行 mujun import raster 文件 --kind {row['kind']} 登记新文件"
    if not path.is_file():
        raise WorkspaceError(f"登记的{KINDS.get(row['kind'], '栅格')} {path} 已不存在；{again}")
    stat = path.stat()
    if stat.st_size != int(row["size_bytes"]):
        raise WorkspaceError(f"栅格 {path} 登记后已被改动（文件大小不同）；{again}")
    if stat.st_mtime_ns != int(row["mtime_ns"]):
        sha = str(row["sha256"] or "")
        if not sha or _sha256(path) != sha:
            raise WorkspaceError(f"栅格 {path} 登记后已被改动（修改时间或内容不同）；{again}")
    return path


@dataclass(frozen=True)
class RasterSource:
    """A registered raster, checked against its registration: the file and how to read it."""

    kind: str
    path: Path
    scale: float = 1.0
    classes: tuple[int, ...] = DEFAULT_CLASSES


def raster_source(ws: Workspace) -> RasterSource | None:
    """The raster to judge built-up land by: ``builtup`` if registered, else ``landcover``.

    Returns ``None`` when no raster is registered.

    Raises
    ------
    WorkspaceError
        The registered file is missing or has changed since registration.
    """
    table = registered_rasters(ws)
    if table.empty:
        return None
    builtup = table[table["kind"] == "builtup"]
    row = (builtup if len(builtup) else table[table["kind"] == "landcover"]).iloc[0]
    path = _check_unchanged(row)
    if row["kind"] == "builtup":
        return RasterSource("builtup", path, scale=float(row["scale"]))
    classes = tuple(int(c) for c in str(row["classes"]).split(",") if c.strip())
    return RasterSource("landcover", path, classes=classes or tuple(DEFAULT_CLASSES))


def source_builtup(parcels: gpd.GeoDataFrame, source: RasterSource) -> pd.Series:
    """Observed built-up fraction of each parcel from ``source`` (see :func:`parcel_builtup`).

    Each parcel is summarised on its own, so a part of the parcels gives the same values as
    the whole layer; the dask engine runs this on each partition, where ``source.path``
    must be readable (the same path on every node).
    """
    try:
        ds = _open(source.path)
    except RasterioError as err:
        raise WorkspaceError(
            f"栅格 {source.path} 无法读取（{' '.join(str(err).split())}）；请检查文件，或重新运行 mujun import raster"
            "（分布式评价时每个节点都须能以同一路径读取该文件）"
        ) from None
    with ds:
        if source.kind == "builtup":
            return builtup_fraction(parcels, ds, scale=source.scale)
        return class_fraction(parcels, ds, classes=list(source.classes))


def parcel_builtup(ws: Workspace, parcels: gpd.GeoDataFrame) -> pd.Series | None:
    """Observed built-up fraction of each parcel from the registered raster.

    The ``builtup`` raster is used if registered, else the ``landcover`` raster.

    Parameters
    ----------
    ws : Workspace
    parcels : GeoDataFrame
        Parcels in any CRS.

    Returns
    -------
    Series or None
        ``builtup_fraction`` (0–1, NaN where the raster has no data) on the parcels' index;
        ``None`` when no raster is registered.

    Raises
    ------
    WorkspaceError
        The registered file is missing, has changed since registration, or cannot be read.
    """
    source = raster_source(ws)
    return None if source is None else source_builtup(parcels, source)
