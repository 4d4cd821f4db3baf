"""Writing a table into a GeoPackage: GDAL fed with Arrow batches.

One entry, :func:`write_table`. A frame is handed to GDAL as Arrow record batches of
:data:`BATCH_ROWS` rows, each converted only when GDAL asks for it, so a table is never
copied whole for writing; polygons are written as MultiPolygons (what the layers declare);
a :class:`WithGeometryOf` table takes its geometry from a layer already in the file, read
back batch by batch, so 3 million building footprints need not be held in memory.

GDAL brings its own copy of SQLite, so :func:`write_table` writes only a file that no
``sqlite3`` connection of this process has open (the scratch copy :meth:`Workspace.write
<mujun.layers.workspace.Workspace.write>` builds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from mujun.geo.errors import WorkspaceError
from mujun.layers.schema import FIELDS_BY_NAME

__all__ = ["BATCH_ROWS", "WithGeometryOf", "write_table"]

#: Rows converted and handed to GDAL at a time: a table is never copied whole for writing.
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class WithGeometryOf:
    """A table to write: the rows of ``frame`` with the geometry of the same rows of the
    workspace layer ``layer`` (same order, checked on ``key``). The geometries are read
    back from the layer batch by batch while writing, so they need not be held in memory
    (3 million building footprints at a province's scale)."""

    frame: pd.DataFrame
    layer: str
    key: str


def write_table(path: Path, name: str, frame: pd.DataFrame | WithGeometryOf) -> None:
    """Write ``frame`` as layer or table ``name`` of the GeoPackage ``path``, replacing it.

    Frames with a geometry column (and :class:`WithGeometryOf` tables) become MultiPolygon
    layers (the frame's CRS, else EPSG:4490) with a spatial index; others attribute
    tables. Written in batches of :data:`BATCH_ROWS` rows in one GDAL session. ``path`` is
    a scratch copy that replaces the workspace only once every table is written and
    checked, so GDAL need not sync each table to disk.
    """
    with _gdal_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"}):
        _write(path, name, frame)


def _write(path: Path, name: str, frame: pd.DataFrame | WithGeometryOf) -> None:
    if isinstance(frame, WithGeometryOf):
        data, geo = frame.frame.reset_index(drop=True), True
    else:
        data = frame.reset_index(drop=True)
        geo = isinstance(frame, gpd.GeoDataFrame)
        if geo:
            data = pd.DataFrame(data.drop(columns=frame.geometry.name)).assign(geometry=frame.geometry.to_numpy())
    columns = [c for c in data.columns if c != "geometry"] if geo else list(data.columns)
    schema = pa.schema([pa.field(c, _arrow_type(data[c])) for c in columns])
    if geo:
        wkb_field = pa.field("geometry", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})
        schema = schema.append(wkb_field)

    failed: list[BaseException] = []  # GDAL reports a failing stream only as "error accessing batch"

    def batches() -> Iterator[pa.RecordBatch]:
        geometry = None
        try:
            geometry = _LayerGeometry(path, frame) if isinstance(frame, WithGeometryOf) else None
            for start in range(0, len(data), BATCH_ROWS):
                part = data.iloc[start:start + BATCH_ROWS]
                arrays = [_arrow_column(part[c], f.type) for c, f in zip(columns, schema, strict=False)]
                if geometry is not None:
                    arrays.append(geometry.take(len(part)))
                elif geo:
                    arrays.append(pa.array(_multi_wkb(data["geometry"].to_numpy()[start:start + BATCH_ROWS]),
                                           type=pa.binary()))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            if geometry is not None:
                geometry, done = None, geometry
                done.close()  # and check that no row was left over
        except BaseException as err:
            failed.append(err)
            if geometry is not None:
                with contextlib.suppress(Exception):
                    geometry.close()
            raise

    options: dict = {}
    if not path.exists():  # GeoPackage 1.2, which GDAL 3.6 (Debian 12) and QGIS 3.22 read without a warning
        options["dataset_options"] = {"VERSION": "1.2"}
    if geo:
        crs = frame.crs if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None else "EPSG:4490"
        options.update({"geometry_name": "geometry", "geometry_type": "MultiPolygon", "crs": str(crs),
                        "layer_options": {"SPATIAL_INDEX": "YES"}})
    try:
        pyogrio.write_arrow(pa.RecordBatchReader.from_batches(schema, batches()), path, layer=name,
                            driver="GPKG", **options)
    except (OSError, RuntimeError) as err:
        if failed:
            raise failed[0] from None
        raise WorkspaceError(f"无法写入工作空间 {path.name} 的 '{name}'（{err}）；请检查磁盘空间和写权限") from None


def _nullable_number(dtype) -> bool:
    """pandas' nullable ints and booleans, which GeoPackage stores as float (NULL kept)."""
    return isinstance(dtype, pd.BooleanDtype | pd.Int64Dtype) or str(dtype) in ("Int32", "Int16")


def _calendar_date(column: pd.Series) -> bool:
    """A date field of the schema held as naive datetimes: stored as a GeoPackage DATE."""
    f = FIELDS_BY_NAME.get(str(column.name))
    return f is not None and f.dtype == "date" and pd.api.types.is_datetime64_dtype(column.dtype)


def _arrow_type(column: pd.Series) -> pa.DataType:
    """The Arrow type a column is stored as (see :func:`_storable`)."""
    dtype = column.dtype
    if _calendar_date(column):
        return pa.date32()
    if _nullable_number(dtype):
        return pa.float64()
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return pa.string()
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(column, skipna=True)
        if kind in ("string", "empty"):
            return pa.string()
        return pa.array(column.to_numpy(), from_pandas=True).type  # dates, decimals …: as Arrow sees them
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pa.timestamp(dtype.unit, tz=str(dtype.tz))
    return pa.from_numpy_dtype(dtype)


def _arrow_column(column: pd.Series, kind: pa.DataType) -> pa.Array:
    """One column of a batch as Arrow, stored as :func:`_storable` stores it."""
    if _nullable_number(column.dtype):
        column = column.astype("float64")
    if kind == pa.date32() and pd.api.types.is_datetime64_dtype(column.dtype):
        return pa.array(column, from_pandas=True).cast(pa.date32(), safe=False)
    values = pa.array(column, type=kind, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _multi_wkb(geometry: np.ndarray) -> np.ndarray:
    """WKB of polygons as MultiPolygons (what the layers declare)."""
    kinds = shapely.get_type_id(geometry)
    single = kinds == shapely.GeometryType.POLYGON
    if single.any():
        geometry = geometry.copy()
        geometry[single] = shapely.multipolygons(np.atleast_2d(geometry[single]).T)
    return shapely.to_wkb(geometry)


class _LayerGeometry:
    """WKB of a layer's rows in order, handed out in runs of any length and checked
    against the table's keys (GDAL's batches need not match the writer's)."""

    def __init__(self, path: Path, table: WithGeometryOf):
        self._keys = table.frame[table.key].astype("string").reset_index(drop=True)
        self._layer = table.layer
        self._stream = pyogrio.open_arrow(path, layer=table.layer, columns=[table.key], batch_size=BATCH_ROWS,
                                          use_pyarrow=True)
        meta, self._reader = self._stream.__enter__()
        self._geometry_name = meta["geometry_name"]
        self._pending: list[pa.RecordBatch] = []
        self._seen = 0

    def _changed(self) -> WorkspaceError:
        return WorkspaceError(f"工作空间的 '{self._layer}' 图层在评价期间被更改；请重新运行 mujun evaluate")

    def take(self, n: int) -> pa.Array:
        """The next ``n`` rows' WKB."""
        have = sum(b.num_rows for b in self._pending)
        while have < n:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                raise self._changed() from None  # fewer rows than the table
            self._pending.append(batch)
            have += batch.num_rows
        rows = pa.Table.from_batches(self._pending).combine_chunks()
        head, rest = rows.slice(0, n), rows.slice(n)
        self._pending = rest.to_batches() if rest.num_rows else []
        want = _arrow_column(self._keys.iloc[self._seen:self._seen + n], pa.string())
        if self._seen + n > len(self._keys) or not head.column(0).combine_chunks().cast(pa.string()).equals(want):
            raise self._changed()
        self._seen += n
        return head.column(self._geometry_name).combine_chunks().cast(pa.binary())

    def close(self) -> None:
        """Check that the layer has no rows left, and close it."""
        try:
            left = sum(b.num_rows for b in self._pending) + sum(b.num_rows for b in self._reader)
            if left or self._seen != len(self._keys):
                raise self._changed()
        finally:
            self._stream.__exit__(None, None, None)


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Types GeoPackage stores faithfully: nullable ints/bools as float, strings as object."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if col == getattr(out, "_geometry_column_name", None):
            continue
        if _nullable_number(s.dtype):
            out[col] = s.astype("float64")
        elif pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            out[col] = s.astype(object).where(s.notna(), None)
    return out


@contextlib.contextmanager
def _gdal_options(options: dict[str, str]) -> Iterator[None]:
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(dict.fromkeys(options))
