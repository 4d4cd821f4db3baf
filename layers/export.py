"""Exports of result tables: CSV and XLSX with Chinese headers, GeoPackage with canonical names.

CSV is UTF-8 with a byte-order mark so that Excel opens it with the Chinese intact; XLSX
has a bold, frozen header row, sensible column widths and two-decimal numbers; the
GeoPackage keeps the canonical English field names and the geometry, for QGIS.

Text that a spreadsheet would run as a formula (it starts with ``= + - @``, a tab or a carriage
return: imported names, reviewers' comments) is written inert: as a string cell in XLSX, never
a formula, and behind a ``'`` in CSV, as OWASP's guidance on CSV injection asks. Numbers stay
numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from mujun.geo.errors import InputError
from mujun.layers.schema import FIELDS_BY_NAME, label
from mujun.layers.writer import _storable

__all__ = ["EXPORT_SUFFIXES", "FORMULA_START", "chinese_headers", "export_sheets", "export_table", "formula_like"]

EXPORT_SUFFIXES = (".csv", ".xlsx", ".gpkg")
#: First characters that make Excel, WPS or LibreOffice read a text cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# openpyxl formats cell by cell; past this many rows the numbers keep Excel's General format
_FORMAT_ROWS = 50_000


def chinese_headers(columns: list[str], overrides: Mapping[str, str] | None = None) -> list[str]:
    """Chinese header (with unit) for each canonical column name.

    Examples
    --------
    >>> chinese_headers(["rank", "credit_code", "tax_per_mu", "name"], {"name": "企业名称"})
    ['排名', '统一社会信用代码', '亩均税收(万元/亩)', '企业名称']
    """
    overrides = overrides or {}
    return [overrides.get(c) or label(c) for c in columns]


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


def export_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    headers: Mapping[str, str] | None = None,
    sheet: str = "排名",
    notes: list[tuple[str, str]] | None = None,
) -> Path:
    """Write ``frame`` to ``path`` (.csv, .xlsx or .gpkg), replacing it atomically.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        Canonical column names.
    path : str or Path
    headers : mapping, optional
        Chinese headers for columns whose label depends on the level (``name``).
    sheet : str
        Worksheet name for XLSX.
    notes : list of (str, str), optional
        Rows of a second worksheet "说明" (XLSX only): data source, year, definitions.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(f"无法导出为 '{p.name}'；请用 {'、'.join(EXPORT_SUFFIXES)} 结尾的文件名")
    if not p.parent.exists():
        raise InputError(f"导出文件夹 {p.parent} 不存在")
    def write(tmp: Path) -> None:
        if suffix == ".gpkg":
            _write_gpkg(frame, tmp)
        elif suffix == ".csv":
            plain = _inert_csv(_plain(frame))
            plain.columns = chinese_headers(list(plain.columns), headers)
            # CRLF as RFC 4180 and Excel have it; a text with a line break is then quoted
            plain.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        else:
            _write_xlsx(frame, tmp, headers, sheet, notes or [])

    return _replace(p, write)


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
) -> Path:
    """Write several tables as the worksheets of one XLSX file (in the order given), replacing
    it atomically, with the same headers, formats and inert formula text as :func:`export_table`."""
    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        raise InputError(f"多个工作表只能导出为 .xlsx 文件，收到 '{p.name}'")
    if not p.parent.exists():
        raise InputError(f"导出文件夹 {p.parent} 不存在")
    return _replace(p, lambda tmp: _write_book(sheets, tmp, headers, notes or []))


def _write_gpkg(frame: pd.DataFrame, path: Path) -> None:
    import pyogrio

    data = _storable(frame.reset_index(drop=True))
    if isinstance(frame, gpd.GeoDataFrame):
        pyogrio.write_dataframe(data, path, layer="mujun_export", driver="GPKG", promote_to_multi=True,
                                dataset_options={"VERSION": "1.2"})  # as the workspace: GDAL 3.6 reads it
    else:
        pyogrio.write_dataframe(pd.DataFrame(data), path, layer="mujun_export", driver="GPKG",
                                dataset_options={"VERSION": "1.2"})


def _write_xlsx(frame: pd.DataFrame, path: Path, headers, sheet: str, notes: list[tuple[str, str]]) -> None:
    _write_book({sheet: frame}, path, headers, notes)


def _write_book(sheets: Mapping[str, pd.DataFrame], path: Path, headers, notes: list[tuple[str, str]]) -> None:
    # openpyxl's write-only mode streams rows: several times faster than pandas' to_excel
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for name, frame in sheets.items():
        _append_sheet(book, frame, headers, name)
    if notes:
        info = book.create_sheet("说明")
        info.column_dimensions["A"].width = 18
        info.column_dimensions["B"].width = 90
        for row in [("项目", "内容"), *notes]:
            info.append([_text_cell(info, v) if isinstance(v, str) and v.startswith(FORMULA_START) else v
                         for v in row])
    book.save(path)


def _text_cell(sheet, value: str):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # a string cell even where the text starts with "="
    return cell


def _append_sheet(book, frame: pd.DataFrame, headers, sheet: str) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    plain = _plain(frame)
    columns = list(plain.columns)
    heads = chinese_headers(columns, headers)
    ws = book.create_sheet(sheet)
    ws.freeze_panes = "A2"
    wide = ("credit_code", "holder_code", "parcel_id", "name", "holder_name", "holder_enterprise_name")
    for i, (name, head) in enumerate(zip(columns, heads, strict=True), start=1):
        width = max(len(str(head)) * 2, 10, 22 if name in wide else 0)
        ws.column_dimensions[get_column_letter(i)].width = min(width, 40)
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="center")
    header = []
    for head in heads:
        cell = WriteOnlyCell(ws, value=head)
        cell.font, cell.alignment = bold, wrap
        header.append(cell)
    ws.append(header)
    formatted = [j for j, name in enumerate(columns)
                 if (f := FIELDS_BY_NAME.get(name)) is not None and f.dtype == "float"]
    if len(plain) > _FORMAT_ROWS:
        formatted = []
    values = plain.astype(object).where(plain.notna(), None)
    # text openpyxl would store as a formula: (row, column) positions, found column by column
    risky: dict[int, list[int]] = {}
    for j, c in enumerate(columns):
        if not pd.api.types.is_numeric_dtype(plain[c]):
            for i in np.flatnonzero(formula_like(plain[c]).to_numpy()):
                risky.setdefault(int(i), []).append(j)

    for i, record in enumerate(values.itertuples(index=False, name=None)):
        row = list(record)
        for j in formatted:
            if row[j] is not None:
                cell = WriteOnlyCell(ws, value=row[j])
                cell.number_format = "0.00"
                row[j] = cell
        for j in risky.get(i, ()):
            row[j] = _text_cell(ws, row[j])
        ws.append(row)
