"""Reading source files: vector layers and enterprise tables, as they are.

Nothing is interpreted here beyond the file format and the text encoding; fields, types
and coordinates are checked by :mod:`layers.validate` and :mod:`layers.importer`.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from geo.errors import InputError
from layers.encoding import shapefile_encoding, text_file_encoding
from layers.headers import alias_table, normalise_header
from layers.schema import Kind

__all__ = ["Source", "read_source", "VECTOR_SUFFIXES", "TABLE_SUFFIXES"]

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


def _read_vector(p: Path, kind: Kind, layer: str | None, encoding: str | None) -> Source:
    note = None
    if p.suffix.lower() in (".parquet", ".geoparquet"):
        try:
            frame = gpd.read_parquet(p)
        except Exception as err:  # pyarrow raises many types for a bad file
            raise _fail(p, err) from None
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
    if encoding is None and shp:
        encoding, note = shapefile_encoding(p)
    elif encoding is not None:
        note = f"按 --encoding 指定为 {encoding}"
    try:
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
    return Source(frame, p, layer, note, np.arange(1, len(frame) + 1), "个要素")


_RAW = "ISO-8859-1"


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


def _read_table(p: Path, kind: Kind, sheet: str | None, encoding: str | None) -> Source:
    note = None
    try:
        if p.suffix.lower() in (".csv", ".txt"):
            enc = encoding or text_file_encoding(p)
            note = f"按 --encoding 指定为 {encoding}" if encoding else f"按字节判定为 {enc}"
            with p.open(encoding=enc, newline="") as fh:
                rows = list(csv.reader(fh))
            # a title line above the headers has fewer cells than the table: pad every row
            width = max(map(len, rows), default=0)
            raw = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)
        else:
            import openpyxl  # noqa: F401  (the engine pandas needs; a clear ImportError if absent)

            with pd.ExcelFile(p, engine="openpyxl") as book:
                if sheet is not None and sheet not in book.sheet_names:
                    raise InputError(f"{p.name} 中没有工作表 '{sheet}'；现有工作表：{', '.join(book.sheet_names)}")
                sheet = sheet if sheet is not None else book.sheet_names[0]
                raw = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
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
    return Source(frame, p, sheet, note, row_no[~blank.to_numpy()], "行")
