"""Exports of result tables: CSV, XLSX and Shapefile with Chinese headers, GeoPackage with
canonical names.

One vocabulary for every export, taken from the schema (:mod:`mujun.layers.schema`):

- **Headers** are the field's label with its unit, ``亩均税收(万元/亩)``; a share
  (:attr:`Field.share <mujun.layers.schema.Field.share>`, or a column named ``*_share``) is
  headed ``建筑系数(%)``.
- **Numbers** are rounded by the unit they are stored in (:data:`DECIMALS`): money and land
  to 2 decimals, m² to 1, km² to 3 … CSV and Shapefile write the rounded value, shares as
  percentages (0.7243 → 72.4); XLSX keeps the full value and shows it with a number format of
  as many decimals, shares as ``0.0%``, so a sum in Excel is exact.
- **XLSX** has a bold, frozen header row, an autofilter over the data, columns fitted to their
  content (CJK characters count double, at most :data:`MAX_WIDTH`), and always a 说明 sheet:
  what was exported, when, from which workspace (示例数据 when it is the synthetic sample),
  the caller's notes, and every column's field name and unit.
- **CSV** is UTF-8 with a byte-order mark so that Excel opens it with the Chinese intact.
- **Shapefile** (``.shp``, tables with geometry only): GBK attributes with a ``.cpg``, the
  geometry in the CGCS2000 Gauss-Krüger zone of the data (``.prj``), field names of at most
  10 bytes (:func:`short_names`) and a crosswalk ``<name>_字段说明.csv`` from each short name to
  the Chinese name and unit; all of its files are replaced together or not at all.
- **GeoPackage** keeps the canonical English field names and the geometry, for QGIS.

Text that a spreadsheet would run as a formula (it starts with ``= + - @``, a tab or a carriage
return: imported names, reviewers' comments) is written inert: as a string cell in XLSX, never
a formula, and behind a ``'`` in CSV, as OWASP's guidance on CSV injection asks. Numbers stay
numbers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from mujun.geo.errors import InputError
from mujun.layers.schema import FIELDS_BY_NAME, label
from mujun.layers.writer import _storable

__all__ = ["DECIMALS", "EXPORT_SUFFIXES", "FORMULA_START", "MAX_WIDTH", "check_export_path", "chinese_headers",
           "column_unit", "decimals",
           "export_sheets", "export_table", "field_info", "formula_like", "is_share", "json_document",
           "json_records", "short_names", "workspace_notes"]

EXPORT_SUFFIXES = (".csv", ".xlsx", ".gpkg", ".shp")
#: First characters that make Excel, WPS or LibreOffice read a text cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# openpyxl formats cell by cell; past this many rows only shares keep their format
_FORMAT_ROWS = 50_000
#: Widest column of an XLSX sheet, in characters (a CJK character counts two).
MAX_WIDTH = 60

#: Decimals a number is rounded to (CSV, Shapefile) or shown with (XLSX), by the unit the
#: schema stores it in; ``None`` is a number without unit (容积率, scores, weights).
DECIMALS: dict[str | None, int] = {
    "万元": 2, "亿元": 2, "万元/亩": 2, "万元/人": 2, "万元/吨标准煤": 2, "万元/吨": 2,
    "万元/万千瓦时": 4,  # = 元/千瓦时, about 0.2
    "亩": 2, "m2": 1, "平方公里": 3, "米": 1, "层": 0, "人": 0,
    "吨标准煤": 2, "吨": 2, "万千瓦时": 2, "万吨": 2, "万立方米": 2,
    "立方米/万元": 2, "吨标准煤/万元": 3, "吨/万元": 6,
    "%": 2,  # stored as percentages (R&D 经费占比 3.08)
    None: 2,
}
#: Decimals of a share written as a percentage (72.4).
SHARE_DECIMALS = 1
# a float column the schema does not know keeps this many decimals
_OTHER_DECIMALS = 4
_UNIT_TEXT = {"m2": "平方米"}


def is_share(name: str) -> bool:
    """Whether a column holds a share stored as a fraction (shown as a percentage).

    Examples
    --------
    >>> is_share("building_coefficient"), is_share("improved_share"), is_share("rd_intensity")
    (True, True, False)
    """
    f = FIELDS_BY_NAME.get(name)
    return f.share if f is not None else name.endswith("_share")


def column_unit(name: str) -> str:
    """The unit a column is written in, as people write it ("%" for shares, "" for none).

    Examples
    --------
    >>> column_unit("tax_per_mu"), column_unit("area_m2"), column_unit("admin_share"), column_unit("plot_ratio")
    ('万元/亩', '平方米', '%', '')
    """
    if is_share(name):
        return "%"
    f = FIELDS_BY_NAME.get(name)
    unit = f.unit if f is not None else None
    return _UNIT_TEXT.get(unit or "", unit or "")


def decimals(name: str) -> int:
    """Decimals of a float column (:data:`DECIMALS` by its unit; shares as percentages).

    Examples
    --------
    >>> decimals("tax_per_mu"), decimals("area_m2"), decimals("built_share"), decimals("emission_per_va")
    (2, 1, 1, 6)
    """
    if is_share(name):
        return SHARE_DECIMALS
    f = FIELDS_BY_NAME.get(name)
    if f is None:
        return _OTHER_DECIMALS
    return DECIMALS.get(f.unit, _OTHER_DECIMALS)


def chinese_headers(columns: list[str], overrides: Mapping[str, str] | None = None) -> list[str]:
    """Chinese header (with unit) for each canonical column name; shares get ``(%)``.

    Examples
    --------
    >>> chinese_headers(["rank", "credit_code", "tax_per_mu", "name"], {"name": "企业名称"})
    ['排名', '统一社会信用代码', '亩均税收(万元/亩)', '企业名称']
    >>> chinese_headers(["building_coefficient", "improved_share"], {"improved_share": "提档比例"})
    ['建筑系数(%)', '提档比例(%)']
    """
    overrides = overrides or {}
    out = []
    for c in columns:
        head = overrides.get(c) or label(c)
        if is_share(c) and "%" not in head:
            head += "(%)"
        out.append(head)
    return out


def formula_like(values: pd.Series) -> pd.Series:
    """Which cells of a column are text that a spreadsheet would read as a formula.

    Examples
    --------
    >>> formula_like(pd.Series(["=1+1", "绍兴", None, "-x", "@A1", -3])).tolist()
    [True, False, False, True, True, False]
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return pd.Series(False, index=values.index)
    if pd.api.types.is_object_dtype(values):  # numbers among text stay numbers
        text = pd.Series([isinstance(v, str) for v in values], index=values.index, dtype=bool)
        values = values.where(text, "")
    return values.astype("string").str.startswith(FORMULA_START).fillna(False).astype(bool)


def _inert_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run, behind a ``'`` (the cell shows the text as typed)."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_numeric_dtype(out[c]):
            continue
        risky = formula_like(out[c])
        if risky.any():
            out[c] = out[c].astype(object).where(~risky, "'" + out[c].astype(str))
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame.drop(columns=[c for c in frame.columns if c == "geometry"]))
    for c in out.columns:
        if pd.api.types.is_bool_dtype(out[c]) or isinstance(out[c].dtype, pd.BooleanDtype):
            out[c] = out[c].map({True: "是", False: "否"}).astype(object)
        elif pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return out


def _float_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]


def _rounded(plain: pd.DataFrame) -> pd.DataFrame:
    """Floats rounded by their unit (:func:`decimals`), shares as percentages: what CSV and
    Shapefile write."""
    out = plain.copy()
    for c in _float_columns(out):
        values = out[c] * 100 if is_share(c) else out[c]
        out[c] = values.round(decimals(c))
    return out


def workspace_notes(ws) -> list[tuple[str, str]]:
    """The 说明 rows naming a workspace (:class:`~mujun.layers.workspace.Workspace`): the data
    (示例数据（合成） for the sample) and the file."""
    sample = ws.exists() and ws.meta().get("sample") == "1"
    return [("数据", "示例数据（合成，非真实企业）" if sample else f"工作空间 {ws.path.name}"),
            ("工作空间", str(ws.path))]


def export_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    headers: Mapping[str, str] | None = None,
    sheet: str = "排名",
    notes: list[tuple[str, str]] | None = None,
    workspace=None,
) -> Path:
    """Write ``frame`` to ``path`` (.csv, .xlsx, .shp or .gpkg), replacing it atomically.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        Canonical column names; a Shapefile needs a GeoDataFrame.
    path : str or Path
    headers : mapping, optional
        Chinese headers for columns whose label depends on the level (``name``).
    sheet : str
        Worksheet name for XLSX.
    notes : list of (str, str), optional
        Rows of the "说明" worksheet (XLSX): what was exported, year, rules, definitions.
        The export time, the workspace and each column's field and unit are added.
    workspace : Workspace, optional
        The workspace the data comes from, named in the 说明 sheet (示例数据 for the sample).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(f"无法导出为 '{p.name}'；请用 {'、'.join(EXPORT_SUFFIXES)} 结尾的文件名")
    _check_folder(p)
    if suffix == ".shp":
        return _export_shapefile(frame, p, headers)

    def write(tmp: Path) -> None:
        if suffix == ".gpkg":
            _write_gpkg(frame, tmp)
        elif suffix == ".csv":
            plain = _inert_csv(_rounded(_plain(frame)))
            plain.columns = chinese_headers(list(plain.columns), headers)
            # CRLF as RFC 4180 and Excel have it; a text with a line break is then quoted
            plain.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        else:
            _write_book({sheet: frame}, tmp, headers, _all_notes(notes, workspace))

    return _replace(p, write)


def check_export_path(path: str | Path, *, suffixes: tuple[str, ...] = EXPORT_SUFFIXES, geometry: bool = True) -> Path:
    """Refuse, before any work is done, an export file the exporter would refuse: a format not
    in ``suffixes``, a missing folder, or a Shapefile of a table without geometry."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise InputError(f"无法导出为 '{p.name}'；请用 {'、'.join(suffixes)} 结尾的文件名")
    if suffix == ".shp" and not geometry:
        raise InputError(f"这张表没有图形，无法导出为 Shapefile（{p.name}）；请改用 .xlsx 或 .csv")
    _check_folder(p)
    return p


def _check_folder(p: Path) -> None:
    if not p.parent.exists():
        raise InputError(f"导出文件夹 {p.parent} 不存在")


def _all_notes(notes: list[tuple[str, str]] | None, workspace) -> list[tuple[str, str]]:
    """The caller's notes, then the workspace and the export time where they lack them."""
    rows = list(notes or [])
    have = {k for k, _ in rows}
    if workspace is not None:
        rows += [r for r in workspace_notes(workspace) if r[0] not in have]
    if "导出时间" not in have:
        rows.append(("导出时间", time.strftime("%Y-%m-%d %H:%M:%S")))
    return rows


def _replace(p: Path, write) -> Path:
    """Have ``write`` fill a scratch file beside ``p``, then move it into place: a failed
    export leaves ``p`` as it was."""
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp{p.suffix.lower()}")
    try:
        write(tmp)
        os.replace(tmp, p)
    except OSError as err:
        raise InputError(f"无法写入 {p}（{err}）；文件是否正在 Excel 中打开？") from None
    finally:
        tmp.unlink(missing_ok=True)
    return p


def export_sheets(
    sheets: Mapping[str, pd.DataFrame],
    path: str | Path,
    *,
    headers: Mapping[str, str] | None = None,
    notes: list[tuple[str, str]] | None = None,
    workspace=None,
) -> Path:
    """Write several tables as the worksheets of one XLSX file (in the order given), replacing
    it atomically, with the same headers, formats, 说明 sheet and inert formula text as
    :func:`export_table`."""
    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        raise InputError(f"多个工作表只能导出为 .xlsx 文件，收到 '{p.name}'")
    _check_folder(p)
    return _replace(p, lambda tmp: _write_book(sheets, tmp, headers, _all_notes(notes, workspace)))


def _write_gpkg(frame: pd.DataFrame, path: Path) -> None:
    import pyogrio

    data = _storable(frame.reset_index(drop=True))
    if isinstance(frame, gpd.GeoDataFrame):
        pyogrio.write_dataframe(data, path, layer="mujun_export", driver="GPKG", promote_to_multi=True,
                                dataset_options={"VERSION": "1.2"})  # as the workspace: GDAL 3.6 reads it
    else:
        pyogrio.write_dataframe(pd.DataFrame(data), path, layer="mujun_export", driver="GPKG",
                                dataset_options={"VERSION": "1.2"})


# -- XLSX --------------------------------------------------------------------------------------

def _write_book(sheets: Mapping[str, pd.DataFrame], path: Path, headers, notes: list[tuple[str, str]]) -> None:
    """The one XLSX writer: the data sheets, then the 说明 sheet (never left out)."""
    # openpyxl's write-only mode streams rows: several times faster than pandas' to_excel
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for name, frame in sheets.items():
        _append_sheet(book, frame, headers, name)
    columns = list(dict.fromkeys(c for frame in sheets.values() for c in frame.columns if c != "geometry"))
    _notes_sheet(book, notes, columns, headers)
    book.save(path)


def number_format(name: str, dtype) -> str | None:
    """The XLSX number format of a numeric column (None for text).

    Examples
    --------
    >>> number_format("tax_per_mu", np.dtype("float64")), number_format("admin_share", np.dtype("float64"))
    ('#,##0.00', '0.0%')
    >>> number_format("year", np.dtype("int64")), number_format("parcel_count", pd.Int64Dtype())
    ('0', '#,##0')
    """
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        f = FIELDS_BY_NAME.get(name)
        return "#,##0" if f is not None and f.unit else "0"  # no separator in a year or a rank
    if is_share(name):
        return "0." + "0" * SHARE_DECIMALS + "%" if SHARE_DECIMALS else "0%"
    d = decimals(name)
    return "#,##0" + ("." + "0" * d if d else "")


def _text_width(values: pd.Series) -> int:
    """Widest text of a column in character cells: a non-ASCII character counts two."""
    text = values.dropna().astype(str)
    if text.empty:
        return 0
    return int((text.str.len() + text.str.count(r"[^\x00-\x7f]")).max())


def _number_width(values: pd.Series, fmt: str) -> int:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    v = v[np.isfinite(v)]
    if v.empty:
        return 0
    big = float(v.abs().max())
    d = len(fmt.split(".")[1].rstrip("%")) if "." in fmt else 0
    if fmt.endswith("%"):
        return len(f"{big * 100:.{d}f}") + 2
    return len(f"{big:,.{d}f}" if fmt.startswith("#,##") else f"{big:.{d}f}") + (1 if (v < 0).any() else 0)


def _fitted_width(values: pd.Series, head: str, fmt: str | None) -> float:
    """Column width fitted to the header and the widest value, capped at :data:`MAX_WIDTH`."""
    content = _number_width(values, fmt) if fmt is not None else _text_width(values)
    header = _text_width(pd.Series([head]))
    return float(min(max(content, header, 6) + 2, MAX_WIDTH))


def _append_sheet(book, frame: pd.DataFrame, headers, sheet: str) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    plain = _plain(frame)
    columns = list(plain.columns)
    heads = chinese_headers(columns, headers)
    ws = book.create_sheet(sheet)
    ws.freeze_panes = "A2"
    formats = [number_format(c, plain[c].dtype) for c in columns]
    for i, (c, head, fmt) in enumerate(zip(columns, heads, formats, strict=True), start=1):
        ws.column_dimensions[get_column_letter(i)].width = _fitted_width(plain[c], head, fmt)
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(plain) + 1}"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="center")
    header = []
    for head in heads:
        cell = WriteOnlyCell(ws, value=head)
        cell.font, cell.alignment = bold, wrap
        header.append(cell)
    ws.append(header)
    formatted = [(j, fmt) for j, fmt in enumerate(formats)
                 if fmt is not None and (len(plain) <= _FORMAT_ROWS or fmt.endswith("%"))]
    values = plain.astype(object).where(plain.notna(), None)
    # text openpyxl would store as a formula: (row, column) positions, found column by column
    risky: dict[int, list[int]] = {}
    for j, c in enumerate(columns):
        if not pd.api.types.is_numeric_dtype(plain[c]):
            for i in np.flatnonzero(formula_like(plain[c]).to_numpy()):
                risky.setdefault(int(i), []).append(j)

    for i, record in enumerate(values.itertuples(index=False, name=None)):
        row = list(record)
        for j, fmt in formatted:
            if row[j] is not None:
                cell = WriteOnlyCell(ws, value=row[j])
                cell.number_format = fmt
                row[j] = cell
        for j in risky.get(i, ()):
            row[j] = _text_cell(ws, row[j])
        ws.append(row)


def _text_cell(sheet, value: str):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # a string cell even where the text starts with "="
    return cell


def _notes_sheet(book, notes: list[tuple[str, str]], columns: list[str], headers) -> None:
    """The 说明 sheet: the notes (项目, 内容), then each column's header with its field name and unit."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    info = book.create_sheet("说明")
    heads = chinese_headers(columns, headers)
    fields = [(h, f"{c}；单位：{u}" if (u := _unit_note(c)) else c) for h, c in zip(heads, columns, strict=True)]
    rows: list[tuple] = [("项目", "内容"), *notes, (None, None), ("表头", "标准字段名；单位"), *fields]
    frame = pd.DataFrame(rows)
    info.column_dimensions["A"].width = min(max(_text_width(frame[0]) + 2, 10), MAX_WIDTH)
    info.column_dimensions["B"].width = min(max(_text_width(frame[1]) + 2, 10), 100)
    bold = Font(bold=True)
    titles = {0, len(notes) + 2}
    for i, row in enumerate(rows):
        cells = []
        for v in row:
            if i in titles:
                cell = WriteOnlyCell(info, value=v)
                cell.font = bold
                cells.append(cell)
            else:
                cells.append(_text_cell(info, v) if isinstance(v, str) and v.startswith(FORMULA_START) else v)
        info.append(cells)


def _unit_note(name: str) -> str:
    unit = column_unit(name)
    if unit == "%":
        return "%（单元格存小数，按百分比显示）" if is_share(name) else "%"
    return unit


# -- JSON ----------------------------------------------------------------------------------------

def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: numbers as numbers, NaN and NA as None, dates as ISO text,
    the geometry left out.

    Examples
    --------
    >>> json_records(pd.DataFrame({"a": [1.5, float("nan")], "b": pd.array([1, None], dtype="Int64")}))
    [{'a': 1.5, 'b': 1}, {'a': None, 'b': None}]
    """
    data = pd.DataFrame(frame.drop(columns=[c for c in frame.columns if c == "geometry"]))
    out = []
    for record in data.to_dict("records"):
        out.append({k: _json_value(v) for k, v in record.items()})
    return out


def _json_value(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v if isinstance(v, str) else str(v)


def field_info(columns: list[str], headers: Mapping[str, str] | None = None) -> dict[str, dict]:
    """The ``fields`` section of a JSON document: each column's Chinese label and unit; a
    share's unit is ``比例`` (a fraction, 0.724 = 72.4 %).

    Examples
    --------
    >>> field_info(["tax_per_mu", "name", "built_share"], {"name": "企业名称"})["tax_per_mu"]
    {'label': '亩均税收', 'unit': '万元/亩'}
    >>> field_info(["name", "built_share"], {"name": "企业名称"})
    {'name': {'label': '企业名称', 'unit': None}, 'built_share': {'label': '已建用地占比', 'unit': '比例'}}
    """
    headers = headers or {}
    out = {}
    for c in columns:
        if c == "geometry":
            continue
        f = FIELDS_BY_NAME.get(c)
        text = headers.get(c) or (f.label if f is not None else c)
        unit = "比例" if is_share(c) else (column_unit(c) or None)
        out[c] = {"label": text, "unit": unit}
    return out


def json_document(frame: pd.DataFrame | None = None, *, headers: Mapping[str, str] | None = None,
                  **meta) -> str:
    """One JSON document: ``meta`` first, then (with ``frame``) ``fields`` and ``rows``.
    Non-ASCII text stays readable; NaN is ``null``."""
    doc = {k: _jsonable(v) for k, v in meta.items()}
    if frame is not None:
        doc["count"] = len(frame)
        doc["fields"] = field_info(list(frame.columns), headers)
        doc["rows"] = json_records(frame)
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=1)


def _jsonable(v):
    if isinstance(v, pd.DataFrame):
        return json_records(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return _json_value(v)


# -- Shapefile -----------------------------------------------------------------------------------

#: Encoding of a Shapefile's attributes (written in its .cpg): what county systems read.
SHAPEFILE_ENCODING = "GBK"
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# byte 29 of a DBF header: the language driver id; 0x4D is code page 936 (GBK)
_DBF_LANGUAGE_DRIVER, _LDID_GBK = 29, 0x4D


def short_names(columns: list[str]) -> dict[str, str]:
    """DBF field names (at most 10 bytes) for canonical column names, unique and stable.

    A name of up to 10 ASCII characters is kept; a longer one becomes its first 7 characters,
    ``_`` and two characters of its CRC-32 in base 36, so the same column always gets the same
    short name whatever else is exported. Two columns that still collide (case-insensitively)
    are told apart by rehashing the later one in sorted order.

    Examples
    --------
    >>> short_names(["rank", "tax_per_mu", "value_added_per_mu", "building_coefficient"])
    {'rank': 'rank', 'tax_per_mu': 'tax_per_mu', 'value_added_per_mu': 'value_a_tb', 'building_coefficient': 'buildin_l7'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in sorted(columns):
        short = c if c.isascii() and len(c) <= 10 and c.lower() not in used else None
        salt = 0
        while short is None or short.lower() in used:
            crc = zlib.crc32(f"{c}#{salt}".encode() if salt else c.encode())
            prefix = "".join(ch for ch in c if ch.isascii() and (ch.isalnum() or ch == "_"))[:7].rstrip("_") or "f"
            short = f"{prefix}_{_B36[crc % 36]}{_B36[(crc // 36) % 36]}"
            salt += 1
        used.add(short.lower())
        out[c] = short
    return {c: out[c] for c in columns}


def _export_shapefile(frame: pd.DataFrame, p: Path, headers) -> Path:
    if not isinstance(frame, gpd.GeoDataFrame) or "geometry" not in frame.columns:
        raise InputError(f"这张表没有图形，无法导出为 Shapefile（{p.name}）；请改用 .xlsx 或 .csv")
    crosswalk = p.with_name(f"{p.stem}_字段说明.csv")
    names = [p.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")] + [crosswalk]
    tmpdir = p.with_name(f".{p.stem}.{os.getpid()}.shp.tmp")
    moved: list[tuple[Path, Path | None]] = []
    try:
        tmpdir.mkdir()
        _write_shapefile(frame, tmpdir / p.name, tmpdir / crosswalk.name, headers)
        # all files or none: old copies are set aside first and put back if a move fails
        for target in names:
            backup = None
            if target.exists():
                backup = tmpdir / f"{target.name}.old"
                os.replace(target, backup)
            moved.append((target, backup))
            os.replace(tmpdir / target.name, target)
    except OSError as err:
        for target, backup in reversed(moved):
            target.unlink(missing_ok=True)
            if backup is not None and backup.exists():
                os.replace(backup, target)
        raise InputError(f"无法写入 {p}（{err}）；文件是否正在被其他程序使用？") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return p


def _gbk_safe(values: pd.Series) -> pd.Series:
    """Text with the characters GBK lacks replaced by ``?`` (GDAL would refuse the row)."""
    text = values.astype("string")
    return text.str.encode(SHAPEFILE_ENCODING, errors="replace").str.decode(SHAPEFILE_ENCODING).astype(object)


def _write_shapefile(frame: gpd.GeoDataFrame, path: Path, crosswalk: Path, headers) -> None:
    import pyogrio

    from mujun.geo.area import local_gk_crs

    plain = _rounded(_plain(frame))
    columns = list(plain.columns)
    short = short_names(columns)
    for c in columns:
        if not pd.api.types.is_numeric_dtype(plain[c]):
            plain[c] = _gbk_safe(plain[c]).where(plain[c].notna(), None)
        elif pd.api.types.is_integer_dtype(plain[c]) and not plain[c].isna().any():
            plain[c] = plain[c].astype("int64")  # a DBF integer, not a real
    geometry = frame.geometry if frame.crs is not None else frame.geometry.set_crs("EPSG:4490")
    data = gpd.GeoDataFrame(_storable(plain.reset_index(drop=True)).rename(columns=short),
                            geometry=geometry.to_crs(local_gk_crs(geometry)).reset_index(drop=True))
    pyogrio.write_dataframe(data, path, driver="ESRI Shapefile", encoding=SHAPEFILE_ENCODING,
                            promote_to_multi=True)
    path.with_suffix(".cpg").write_text(SHAPEFILE_ENCODING, encoding="ascii")
    with path.with_suffix(".dbf").open("r+b") as dbf:  # the DBF's own code page mark, for readers without .cpg
        dbf.seek(_DBF_LANGUAGE_DRIVER)
        dbf.write(bytes([_LDID_GBK]))
    heads = chinese_headers(columns, headers)
    table = pd.DataFrame({"字段": [short[c] for c in columns], "名称": heads,
                          "单位": [column_unit(c) for c in columns], "标准字段名": columns})
    table.to_csv(crosswalk, index=False, encoding="utf-8-sig", lineterminator="\r\n")
