"""Reading source files: vector layers and enterprise tables, as they are.

Nothing is interpreted here beyond the file format and the text encoding; fields, types
and coordinates are checked by :mod:`mujun.layers.validate` and :mod:`mujun.layers.importer`.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from mujun.geo.errors import InputError
from mujun.layers.encoding import shapefile_encoding, text_file_encoding
from mujun.layers.headers import alias_table, normalise_header
from mujun.layers.schema import Kind

__all__ = ["Source", "check_shapefile_parts", "read_source", "VECTOR_SUFFIXES", "TABLE_SUFFIXES"]

VECTOR_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gdb", ".parquet", ".geoparquet"}
TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
_HEADER_SCAN_ROWS = 10


@dataclass
class Source:
    """A source file read as it is.

    Attributes
    ----------
    frame : DataFrame or GeoDataFrame
        The records, one per row, columns as in the file, on a RangeIndex.
    path : Path
    layer : str or None
        Layer or sheet read.
    encoding_note : str or None
        How the text encoding was decided (for the report).
    row_no : ndarray
        Number of each record in the user's view of the file: its spreadsheet row for
        tables (the header being row 1 or below), its feature number (from 1) for layers.
    row_word : str
        "行" for tables, "个要素" for vector features.
    """

    frame: pd.DataFrame
    path: Path
    layer: str | None
    encoding_note: str | None
    row_no: np.ndarray
    row_word: str

    def row_numbers(self, mask: pd.Series | np.ndarray) -> list[int]:
        """User-facing numbers of the records where ``mask`` holds."""
        return self.row_no[np.asarray(mask, dtype=bool)].tolist()


def _fail(path: Path, err: Exception) -> InputError:
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    return InputError(f"{path.name}：无法读取（{msg}）；请确认文件完整且格式受支持")


def read_source(
    path: str | Path, kind: Kind, *, layer: str | None = None, encoding: str | None = None
) -> Source:
    """Read ``path`` for a layer of ``kind``.

    Parameters
    ----------
    path : str or Path
        Shapefile, GeoPackage, GeoJSON, FileGDB (a ``.gdb`` folder), FlatGeobuf,
        GeoParquet; CSV or XLSX for enterprise tables.
    kind : Kind
    layer : str, optional
        Layer of a multi-layer source, or the sheet of a workbook (default: the only
        layer, or the first sheet).
    encoding : str, optional
        Text encoding, overriding .cpg and detection.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}：文件不存在")
    suffix = p.suffix.lower()
    if suffix == ".xls":
        raise InputError(f"{p.name}：不支持旧版 .xls 格式；请在 Excel 中另存为 .xlsx 后导入")
    if suffix in TABLE_SUFFIXES:
        if kind.geometry:
            raise InputError(
                f"{p.name}：{kind.label}（{kind.name}）需要带几何图形的矢量文件（Shapefile、GeoPackage 等），而不是表格"
            )
        return _read_table(p, kind, layer, encoding)
    if suffix not in VECTOR_SUFFIXES:
        raise InputError(
            f"{p.name}：无法识别的文件类型 '{suffix or p.name}'；支持 "
            + "、".join(sorted(VECTOR_SUFFIXES | TABLE_SUFFIXES))
        )
    return _read_vector(p, kind, layer, encoding)


@contextmanager
def _nan_coordinates_quietly():
    """Shapely warns when it decodes a NaN coordinate; such features are refused by name later."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        yield


def _read_vector(p: Path, kind: Kind, layer: str | None, encoding: str | None) -> Source:
    note = None
    if p.suffix.lower() in (".parquet", ".geoparquet"):
        try:
            with _nan_coordinates_quietly():
                frame = gpd.read_parquet(p)
        except Exception as err:  # pyarrow raises many types for a bad file
            raise _fail(p, err) from None
        if frame.empty:
            raise InputError(f"{p.name}：没有任何要素（0 条记录）；请确认导出的是有数据的文件")
        return Source(frame, p, None, None, np.arange(1, len(frame) + 1), "个要素")
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(p)]
    except (DataSourceError, DataLayerError, OSError) as err:
        raise _fail(p, err) from None
    if layer is None:
        if len(layers) > 1:
            raise InputError(f"{p.name} 含多个图层（{', '.join(layers)}）；请用 --layer 指定要导入的图层")
        layer = layers[0] if layers else None
    elif layer not in layers:
        raise InputError(f"{p.name} 中没有图层 '{layer}'；现有图层：{', '.join(layers)}")
    shp = p.suffix.lower() == ".shp"
    if shp:
        check_shapefile_parts(p)
    if encoding is None and shp:
        encoding, note = shapefile_encoding(p)
    elif encoding is not None:
        note = f"按 --encoding 指定为 {encoding}"
    try:
        with _nan_coordinates_quietly():
            frame = pyogrio.read_dataframe(
                # a Shapefile's text is read as raw bytes (Latin-1 maps each byte to one character)
                # and decoded here: dBASE field names and values may end in a cut character
                p, layer=layer, encoding=_RAW if shp else encoding, read_geometry=kind.geometry,
                use_arrow=False,
            )
    except (DataSourceError, DataLayerError, OSError, UnicodeDecodeError, LookupError) as err:
        raise _fail(p, err) from None
    if shp:
        frame = _decode_dbf_text(frame, p, encoding)
    if frame.empty:
        where = f"{p.name}{'（图层 ' + layer + '）' if layer and layer != p.stem else ''}"
        raise InputError(f"{where}：没有任何要素（0 条记录）；请确认导出的是有数据的图层")
    return Source(frame, p, layer, note, np.arange(1, len(frame) + 1), "个要素")


_RAW = "ISO-8859-1"


def _sidecar(p: Path, suffix: str) -> Path | None:
    """The file next to ``p`` with ``suffix`` in either case, if there is one."""
    for s in (suffix, suffix.upper()):
        q = p.with_suffix(s)
        if q.exists():
            return q
    return None


def check_shapefile_parts(p: Path) -> None:
    """Refuse a Shapefile whose .shp, .shx and .dbf do not hold the same records.

    GDAL reads as many features as the shortest part has, so a .dbf from another export or a
    .shp cut short by a copy would import part of the data without a word. The counts come
    from the file headers: the .shx has one 8-byte entry per shape (offset and length of the
    shape in the .shp, in 16-bit words), the .dbf states its record count.
    """
    shp_size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or int.from_bytes(head[:4], "big") != 9994:
        raise InputError(f"{p.name}：不是有效的 Shapefile（文件头损坏）；请重新导出")
    declared = int.from_bytes(head[24:28], "big") * 2
    if shp_size < declared:
        raise InputError(
            f"{p.name}：文件不完整，文件头记录长度 {declared:,} 字节，实际只有 {shp_size:,} 字节；"
            f"请重新复制或导出完整的 Shapefile"
        )
    shx = _sidecar(p, ".shx")
    if shx is None:
        return  # GDAL refuses to open it and says why
    index = shx.read_bytes()
    if len(index) < 100 or (len(index) - 100) % 8:
        raise InputError(f"{shx.name}：索引文件不完整（{len(index):,} 字节）；请重新复制或导出完整的 Shapefile")
    entries = np.frombuffer(index, dtype=">i4", offset=100).reshape(-1, 2).astype("int64")
    shapes = len(entries)
    ends = (entries[:, 0] + 4 + entries[:, 1]) * 2  # an 8-byte record header, then the shape
    whole = int(np.count_nonzero(ends <= shp_size))
    if whole < shapes:
        raise InputError(
            f"{p.name}：文件不完整，索引 {shx.name} 记有 {shapes:,} 个图形，{p.name} 只含其中 {whole:,} 个"
            f"（{shp_size:,} 字节）；请重新复制或导出完整的 Shapefile"
        )
    dbf = _sidecar(p, ".dbf")
    if dbf is None:
        return
    with dbf.open("rb") as fh:
        dbf_head = fh.read(12)
    if len(dbf_head) < 12:
        raise InputError(f"{dbf.name}：属性文件不完整（文件头损坏）；请重新复制或导出完整的 Shapefile")
    records = int.from_bytes(dbf_head[4:8], "little")
    header_len = int.from_bytes(dbf_head[8:10], "little")
    record_len = int.from_bytes(dbf_head[10:12], "little")
    if records != shapes:
        raise InputError(
            f"{p.name} 与 {dbf.name} 的记录数不一致：图形 {shapes:,} 个（{shx.name}），属性 {records:,} 条"
            f"（{dbf.name}）；请确认 .shp、.shx、.dbf 来自同一次导出且完整"
        )
    dbf_size = dbf.stat().st_size
    if dbf_size < header_len + records * record_len:
        have = max(0, (dbf_size - header_len) // record_len) if record_len else 0
        raise InputError(
            f"{dbf.name}：文件不完整，文件头记有 {records:,} 条属性记录，实际只含 {have:,} 条；"
            f"请重新复制或导出完整的 Shapefile"
        )


def _decode_dbf_text(frame: pd.DataFrame, p: Path, encoding: str) -> pd.DataFrame:
    """Field names and text values of a Shapefile read as :data:`_RAW`, decoded as ``encoding``.

    A character cut at the end of a fixed-width dBASE field (names are cut to 10 bytes) is
    dropped; any other byte sequence that is not valid in ``encoding`` is refused.
    """
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"{p.name}：编码 '{encoding}' 无法识别；请用 --encoding 指定，如 GBK、UTF-8") from None

    def decode(v: object) -> object:
        if not isinstance(v, str):
            return v
        return codecs.getincrementaldecoder(codec)().decode(v.encode("latin-1"), final=False)

    geom = getattr(frame, "_geometry_column_name", None)
    try:
        frame = frame.rename(columns={c: decode(c) for c in frame.columns if c != geom})
        for c in frame.columns:
            if c != geom and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])):
                frame[c] = frame[c].map(decode).astype(frame[c].dtype)
    except UnicodeDecodeError:
        raise InputError(
            f"{p.name}：属性文字不是 {encoding} 编码；请用 --encoding 指定正确的编码（如 GBK、UTF-8）"
        ) from None
    return frame


def _header_row(raw: pd.DataFrame, kind: Kind) -> int:
    """Row holding the headers: the one among the first rows with most known field names.

    Reports from statistics systems often put a title above the header row.
    """
    table = alias_table(kind)
    best, best_hits = 0, -1
    for i in range(min(_HEADER_SCAN_ROWS, len(raw))):
        hits = sum(normalise_header(v)[0] in table for v in raw.iloc[i] if isinstance(v, str))
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def _csv_cells(p: Path, encoding: str) -> pd.DataFrame:
    """Every cell of the CSV file ``p`` as text (an empty cell as ``""``), in columns 0, 1, …

    A title line above the headers has fewer cells than the table: every row is padded to the
    widest. A table whose rows are all as wide as its first (the usual export of a tax or
    statistics system) is read by Arrow's CSV reader, which takes 0.3 s for 300,000 firms
    where Python's ``csv`` module and the padding take 3 s; any other is read by the ``csv``
    module, cell for cell the same."""
    with p.open(encoding=encoding, newline="") as fh:
        width = len(next(csv.reader(fh), []))
    if width:
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")  # (Arrow skips a byte-order mark)
        try:
            table = pa_csv.read_csv(
                p, read_options=pa_csv.ReadOptions(autogenerate_column_names=True, encoding="utf8" if utf8 else encoding),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(width)},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False))
        except (pa.ArrowInvalid, UnicodeError):  # rows of other widths, or a quote Arrow reads otherwise
            table = None
        if table is not None and table.num_columns == width:
            return pd.DataFrame({i: pd.Series(table.column(i), dtype=str) for i in range(width)})
    with p.open(encoding=encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    width = max(map(len, rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)


def _read_table(p: Path, kind: Kind, sheet: str | None, encoding: str | None) -> Source:
    note = None
    try:
        if p.suffix.lower() in (".csv", ".txt"):
            enc = encoding or text_file_encoding(p)
            note = f"按 --encoding 指定为 {encoding}" if encoding else f"按字节判定为 {enc}"
            raw = _csv_cells(p, enc)
        else:
            import openpyxl  # noqa: F401  (the engine pandas needs; a clear ImportError if absent)

            with pd.ExcelFile(p, engine="openpyxl") as book:
                if sheet is not None and sheet not in book.sheet_names:
                    raise InputError(f"{p.name} 中没有工作表 '{sheet}'；现有工作表：{', '.join(book.sheet_names)}")
                sheet = sheet if sheet is not None else book.sheet_names[0]
                raw = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
                _check_formulas(p, sheet, book.book[sheet])
    except InputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, LookupError) as err:
        raise _fail(p, err) from None
    except Exception as err:  # zipfile.BadZipFile, openpyxl errors for damaged workbooks
        raise _fail(p, err) from None
    if raw.empty:
        raise InputError(f"{p.name}：表格是空的")
    h = _header_row(raw, kind)
    headers = [str(v).strip() if v is not None and not (isinstance(v, float) and pd.isna(v)) else ""
               for v in raw.iloc[h]]
    frame = raw.iloc[h + 1 :].copy()
    frame.columns = [c if c else f"第{i + 1}列" for i, c in enumerate(headers)]
    frame = frame.loc[:, [c for c in frame.columns if not c.startswith("第") or frame[c].notna().any()]]
    # rows wholly blank (the tail of a sheet) are not records
    blank = frame.apply(lambda col: col.isna() | (col.astype("string").str.strip() == "")).all(axis=1)
    row_no = np.arange(len(frame)) + h + 2  # spreadsheet numbering: header on row h + 1
    frame = frame[~blank.to_numpy()].reset_index(drop=True)
    if frame.empty:
        where = f"{p.name}{'（工作表 ' + sheet + '）' if sheet else ''}"
        raise InputError(f"{where}：只有表头（第 {h + 1} 行），没有数据行；请确认导出的表格含有数据")
    return Source(frame, p, sheet, note, row_no[~blank.to_numpy()], "行")


def _check_formulas(p: Path, sheet: str, values_sheet) -> None:
    """Refuse formula cells of ``sheet`` that have no saved result.

    pandas reads a workbook's cached values (``data_only``); a formula whose result was never
    saved (a file written by a program, not by Excel) would be read as a blank without a word.
    ``values_sheet`` is that cached-value view; the formulas come from a second, formula view.
    """
    import openpyxl
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    book = openpyxl.load_workbook(p, read_only=True, data_only=False, keep_links=False)
    try:
        ws = book[sheet]
        # both views start at A1 so that positions match whatever the sheet's dimension says
        formulas = pd.DataFrame(list(ws.iter_rows(min_row=1, min_col=1, values_only=True)), dtype=object)
        if formulas.empty:
            return
        is_formula = formulas.map(
            lambda v: (isinstance(v, str) and v.startswith("=")) or isinstance(v, ArrayFormula | DataTableFormula)
        ).to_numpy(dtype=bool)
        if not is_formula.any():
            return
        values = pd.DataFrame(
            list(values_sheet.iter_rows(min_row=1, min_col=1, max_row=formulas.shape[0],
                                        max_col=formulas.shape[1], values_only=True)),
            dtype=object,
        ).reindex(index=formulas.index, columns=formulas.columns)
    finally:
        book.close()
    rows, cols = np.nonzero(is_formula & values.isna().to_numpy())
    if len(rows):
        cells = [f"{sheet}!{get_column_letter(c + 1)}{r + 1}" for r, c in zip(rows, cols, strict=True)]
        shown = "、".join(cells[:8]) + (f" 等共 {len(cells)} 个" if len(cells) > 8 else "")
        raise InputError(
            f"{p.name}：单元格 {shown} 是公式，但文件中没有保存计算结果；"
            f"请在 Excel 中打开后保存（或把公式列复制为数值）再导入"
        )
