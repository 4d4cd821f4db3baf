"""Writing a table into a GeoPackage: GDAL fed with Arrow batches.

:func:`write_table` writes a frame. A frame is handed to GDAL as Arrow record batches of
:data:`BATCH_ROWS` rows, each converted only when GDAL asks for it, so a table is never
copied whole for writing; polygons are written as MultiPolygons (what the layers declare).
(The per-parcel and per-building results are written without geometry: their views show the
outlines of the source layers, :mod:`mujun.layers.gpkg`.) :func:`save_table` converts a frame
the same way into an Arrow IPC file, which :func:`write_saved` writes, in the writer process
of a staged write (:meth:`Workspace.staged <mujun.layers.workspace.Workspace.staged>`,
:mod:`mujun.layers.steps`). A column of text categories (a few texts repeated over millions of
rows, as the compliance checks' are) is handed over dictionary-encoded, a code per row, and
GDAL stores its texts.

GDAL brings its own copy of SQLite, so :func:`write_table` writes only a file that no
``sqlite3`` connection of this process has open (the scratch copy :meth:`Workspace.write
<mujun.layers.workspace.Workspace.write>` builds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely

from mujun.geo.errors import WorkspaceError
from mujun.layers.schema import FIELDS_BY_NAME

__all__ = ["BATCH_ROWS", "arrow_table", "changed_keyed_rows", "changed_rows", "save_table", "sqlite_values",
           "stored_with_ids", "table_schema", "write_saved", "write_table"]

#: Rows converted and handed to GDAL at a time: a table is never copied whole for writing.
BATCH_ROWS = 100_000


def write_table(path: Path, name: str, frame: pd.DataFrame, *, append: bool = False,
                like: pa.Schema | None = None) -> None:
    """Write ``frame`` as layer or table ``name`` of the GeoPackage ``path``, replacing it
    (``append``: appended to it, its columns converted to the types of ``like``, the Arrow
    schema of the table's first part, :func:`table_schema`).

    Frames with a geometry column become MultiPolygon
    layers (the frame's CRS, else EPSG:4490) with a spatial index; others attribute
    tables. Written in batches of :data:`BATCH_ROWS` rows in one GDAL session. ``path`` is
    a scratch copy that replaces the workspace only once every table is written and
    checked, so GDAL need not sync each table to disk nor keep a rollback journal.
    """
    schema, batches, crs = _plan(frame, like)
    _write_stream(path, name, schema, batches(), crs, append=append)


def table_schema(frame: pd.DataFrame) -> pa.Schema:
    """The Arrow schema :func:`write_table` writes ``frame`` with (its parts appended after it
    are converted to it)."""
    return _plan(frame)[0]


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as the Arrow table :func:`write_table` writes (an attribute table's)."""
    schema, batches, _ = _plan(frame)
    return pa.Table.from_batches(list(batches()), schema=schema)


def save_table(frame: pd.DataFrame, file: Path, like: pa.Schema | None = None) -> str | None:
    """Convert ``frame`` as :func:`write_table` would write it (with ``like``: to that schema)
    and save it as the Arrow IPC file ``file``, for :func:`write_saved` in another process to
    write. Returns the layer's CRS (``None``: an attribute table)."""
    schema, batches, crs = _plan(frame, like)
    with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, schema) as out:
        for batch in batches():
            out.write_batch(batch)
    return crs


def write_saved(path: Path, name: str, file: Path, crs: str | None, *, append: bool = False) -> None:
    """Write the table :func:`save_table` saved in ``file`` as ``name`` of ``path`` (or append
    it), a batch at a time (the file is read, not held whole)."""
    with pa.OSFile(str(file), "rb") as source:
        saved = pa.ipc.open_file(source)
        batches = (saved.get_batch(i) for i in range(saved.num_record_batches))
        _write_stream(path, name, saved.schema, batches, crs, append=append)


def changed_rows(path: Path, name: str, table: pa.Table, *, limit: int,
                 stored: pa.Table | None = None) -> tuple[np.ndarray, list[str]] | None:
    """The rows of the stored attribute table ``name`` of ``path`` that differ from ``table``
    (the same rows as :func:`save_table` saved them, in the stored order) and the columns that
    differ in any of them: the positions, from 0, and the column names; ``None`` when the
    stored table has other columns or another number of rows, or more than ``limit`` rows
    differ (then it is written whole).

    The stored table is read through GDAL a batch at a time, as written: a number stored as
    NULL is the same as a missing or NaN one (SQLite stores NaN as NULL). Given ``stored``, the
    table as it was saved for the write that stored it (the caller vouches that the file holds
    it still), that is compared instead, when its columns and rows are those of ``table``.
    """
    if stored is not None and stored.column_names == table.column_names and stored.num_rows == table.num_rows:
        return _changed(iter(stored.to_batches(BATCH_ROWS)), table, limit)
    with pyogrio.open_arrow(path, layer=name, batch_size=BATCH_ROWS, use_pyarrow=True) as (meta, reader):
        if meta.get("geometry_name") or list(reader.schema.names) != list(table.column_names):
            return None
        return _changed(reader, table, limit)


def changed_keyed_rows(stored: pa.Table, table: pa.Table, *, limit: int,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """What turns ``stored`` into ``table``, two tables whose rows carry their feature ids in
    column ``fid``, rising (the new table as :func:`save_table` saved it, the stored one as
    saved for the write that stored it): the ids of the stored rows gone, the positions (from
    0) of the rows of ``table`` that are new, those of the rows that differ from the stored row
    of their id, and the columns that differ in any of those. ``None`` when the columns differ,
    an id column is not rising or more than ``limit`` rows are gone, new or changed."""
    if stored.column_names != table.column_names or "fid" not in table.column_names:
        return None
    old = stored.column("fid").to_numpy()
    new = table.column("fid").to_numpy()
    if not (pa.types.is_integer(table.schema.field("fid").type) and (np.diff(old) > 0).all()
            and (np.diff(new) > 0).all()):
        return None
    at = np.minimum(np.searchsorted(old, new), max(len(old) - 1, 0))
    kept = (old[at] == new) if len(old) else np.zeros(len(new), dtype=bool)
    added = np.flatnonzero(~kept)
    staying = np.zeros(len(old), dtype=bool)
    staying[at[kept]] = True
    gone = old[~staying]
    if len(added) + len(gone) > limit:
        return None
    # the rows of the ids in both side by side: runs of rows one after the other in both tables,
    # compared a slice at a time (as stored, not gathered into copies)
    old_rows, new_rows = at[kept], np.flatnonzero(kept)
    breaks = np.flatnonzero((np.diff(old_rows) != 1) | (np.diff(new_rows) != 1)) + 1

    def pairs() -> Iterator[tuple[int, list[pa.Array], pa.Table]]:
        for first, end in zip(np.r_[0, breaks], np.r_[breaks, len(new_rows)], strict=True):
            for start in range(int(first), int(end), BATCH_ROWS):
                n = min(BATCH_ROWS, int(end) - start)
                old = stored.slice(int(old_rows[start]), n)
                yield start, [c.combine_chunks() for c in old.columns], table.slice(int(new_rows[start]), n)

    found = _compared(pairs(), table.column_names, len(new_rows), limit - len(added) - len(gone))
    if found is None:
        return None
    rows, columns = found
    return gone, added, new_rows[rows], columns


def stored_with_ids(path: Path, name: str) -> pa.Table | None:
    """The stored attribute table ``name`` of ``path`` read through GDAL with its feature ids
    (column ``fid``, first), for :func:`changed_keyed_rows`; ``None`` for a layer with geometry
    or a table that cannot be read."""
    try:
        meta, table = pyogrio.read_arrow(path, layer=name, return_fids=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if meta.get("geometry_name") or meta.get("fid_column") != "fid":
        return None
    return table


def _changed(reader: Iterator[pa.RecordBatch], table: pa.Table, limit: int) -> tuple[np.ndarray, list[str]] | None:
    """:func:`changed_rows` of the stored batches ``reader``."""
    taken = [0]  # the rows of ``table`` the batches stand beside (-1: more rows stored)

    def pairs() -> Iterator[tuple[int, list[pa.Array], pa.Table]]:
        for batch in reader:
            start = taken[0]
            if start + batch.num_rows > table.num_rows:
                taken[0] = -1
                return
            taken[0] += batch.num_rows
            yield start, batch.columns, table.slice(start, batch.num_rows)

    found = _compared(pairs(), table.column_names, table.num_rows, limit)
    return found if taken[0] == table.num_rows else None


def _compared(pairs: Iterator[tuple[int, list[pa.Array], pa.Table]], names: list[str], rows: int,
              limit: int) -> tuple[np.ndarray, list[str]] | None:
    """The rows (of ``rows``) where the stored columns of ``pairs`` differ from the new rows
    beside them, and the columns that differ in any: each pair is the position of its first
    row, the stored values column by column (of ``names``) and the new rows. ``None`` when a
    column is stored as another type or more than ``limit`` rows differ."""
    differ = np.zeros(rows, dtype=bool)
    columns: set[str] = set()
    for start, stored, new in pairs:
        for col, old in zip(names, stored, strict=True):
            mask = _differs(old, new.column(col).combine_chunks())
            if mask is None:
                return None
            if mask.any():
                columns.add(col)
                differ[start:start + new.num_rows] |= mask
        if np.count_nonzero(differ) > limit:
            return None
    return np.flatnonzero(differ), [c for c in names if c in columns]


def _differs(old: pa.Array, new: pa.Array) -> np.ndarray | None:
    """Where the stored values ``old`` and the new ``new`` differ (``None``: stored as another
    type, as an older table may be — a cast could call unequal values equal, and the table
    would keep its old types). Missing equals missing; for numbers NaN is missing too."""
    if pa.types.is_dictionary(old.type) and pa.types.is_dictionary(new.type):  # (a table as saved)
        if old.type.value_type != new.type.value_type:
            return None
        # each stored code as the new table's code of the same text: codes compared, no text
        codes = pc.index_in(old.dictionary, value_set=new.dictionary).take(old.indices)
        same = pc.fill_null(pc.equal(codes, new.indices), False)
        both_missing = pc.and_(pc.is_null(old.indices), pc.is_null(new.indices))
        return ~pc.or_(same, both_missing).to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(old.type):
        old = old.dictionary_decode()
    if pa.types.is_dictionary(new.type) and new.type.value_type == old.type:
        # text categories: each stored text looked up among the few categories, codes compared
        codes = pc.index_in(old, value_set=new.dictionary)
        same = pc.fill_null(pc.equal(codes, new.indices), False)
        both_missing = pc.and_(pc.is_null(old), pc.is_null(new.indices))
        return ~pc.or_(same, both_missing).to_numpy(zero_copy_only=False)
    if old.type != new.type:
        return None
    if pa.types.is_floating(old.type):  # bit for bit: -0.0 is not 0.0
        a = old.to_numpy(zero_copy_only=False)
        b = new.to_numpy(zero_copy_only=False)
        return ~(((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b)))
    same = pc.fill_null(pc.equal(old, new), False)
    both_missing = pc.and_(pc.is_null(old), pc.is_null(new))
    return ~pc.or_(same, both_missing).to_numpy(zero_copy_only=False)


def sqlite_values(column: pa.ChunkedArray | pa.Array) -> list | None:
    """The values of an Arrow column as GDAL stores them in a GeoPackage, for Python's
    ``sqlite3`` to bind: numbers, text, booleans as 0 and 1, dates as ``YYYY-MM-DD``, missing as
    ``None`` (a NaN is bound as it is: SQLite stores it as NULL, as it does GDAL's); ``None``
    for other types (times: their tables are written whole)."""
    kind = column.type
    if pa.types.is_dictionary(kind):  # text categories: their texts
        return sqlite_values(column.cast(kind.value_type))
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind) or \
            pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.to_pylist()
    if pa.types.is_date32(kind):
        return [None if d is None else d.isoformat() for d in column.to_pylist()]
    return None


def _plan(frame: pd.DataFrame, like: pa.Schema | None = None,
          ) -> tuple[pa.Schema, Callable[[], Iterator[pa.RecordBatch]], str | None]:
    """The Arrow schema ``frame`` is stored with (``like``, if given), its batches (converted
    one at a time, as they are asked for) and its CRS (``None`` for an attribute table)."""
    data = frame.reset_index(drop=True)
    geo = isinstance(frame, gpd.GeoDataFrame)
    if geo:
        data = pd.DataFrame(data.drop(columns=frame.geometry.name)).assign(geometry=frame.geometry.to_numpy())
    if like is not None:
        columns = [f.name for f in like if f.name != "geometry"]
        if set(columns) != set(data.columns) - ({"geometry"} if geo else set()):
            raise ValueError(f"a part's columns differ from its table's: {sorted(data.columns)} != {sorted(columns)}")
        schema = like
    else:
        columns = [c for c in data.columns if c != "geometry"] if geo else list(data.columns)
        schema = pa.schema([pa.field(c, _arrow_type(data[c])) for c in columns])
        if geo:
            wkb_field = pa.field("geometry", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})
            schema = schema.append(wkb_field)

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, len(data), BATCH_ROWS):
            part = data.iloc[start:start + BATCH_ROWS]
            arrays = [_arrow_column(part[c], f.type) for c, f in zip(columns, schema, strict=False)]
            if geo:
                arrays.append(pa.array(_multi_wkb(data["geometry"].to_numpy()[start:start + BATCH_ROWS]),
                                       type=pa.binary()))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    crs = (str(frame.crs) if frame.crs is not None else "EPSG:4490") if geo else None
    return schema, batches, crs


def _write_stream(path: Path, name: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                  crs: str | None, *, append: bool = False) -> None:
    failed: list[BaseException] = []  # GDAL reports a failing stream only as "error accessing batch"

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as err:
            failed.append(err)
            raise

    options: dict = {"append": append}
    if not path.exists():  # GeoPackage 1.2, which GDAL 3.6 (Debian 12) and QGIS 3.22 read without a warning
        options["dataset_options"] = {"VERSION": "1.2"}
    if crs is not None:
        options.update({"geometry_name": "geometry", "geometry_type": "MultiPolygon", "crs": crs})
        if not append:
            options["layer_options"] = {"SPATIAL_INDEX": "YES"}
    try:
        # a scratch copy, thrown away if anything fails: neither synced nor journalled
        with _gdal_options({"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_JOURNAL": "OFF"}):
            pyogrio.write_arrow(pa.RecordBatchReader.from_batches(schema, guarded()), path, layer=name,
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
    if isinstance(dtype, pd.CategoricalDtype):  # stored as its categories' type, handed over as codes
        values = _arrow_type(pd.Series(dtype.categories.to_numpy()))
        return pa.dictionary(pa.int32(), values) if pa.types.is_string(values) else values
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
    if pa.types.is_dictionary(kind):
        if isinstance(column.dtype, pd.CategoricalDtype):  # the codes as they are, the categories once
            codes = column.cat.codes.to_numpy()
            return pa.DictionaryArray.from_arrays(
                pa.array(codes, type=kind.index_type, mask=codes < 0),
                pa.array(column.cat.categories.to_numpy(), type=kind.value_type))
        return pa.array(column, type=kind.value_type, from_pandas=True).dictionary_encode().cast(kind)
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
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
