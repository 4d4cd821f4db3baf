"""Exports of result tables: CSV and XLSX with Chinese headers, GeoPackage with canonical names.

CSV is UTF-8 with a byte-order mark so that Excel opens it with the Chinese intact; XLSX
has a bold, frozen header row, sensible column widths and two-decimal numbers; the
GeoPackage keeps the canonical English field names and the geometry, for QGIS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.errors import InputError
from layers.schema import FIELDS_BY_NAME, label
from layers.workspace import _storable

__all__ = ["EXPORT_SUFFIXES", "chinese_headers", "export_table"]

EXPORT_SUFFIXES = (".csv", ".xlsx", ".gpkg")
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
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp{suffix}")
    try:
        if suffix == ".gpkg":
            _write_gpkg(frame, tmp)
        elif suffix == ".csv":
            plain = _plain(frame)
            plain.columns = chinese_headers(list(plain.columns), headers)
            plain.to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            _write_xlsx(frame, tmp, headers, sheet, notes or [])
        os.replace(tmp, p)
    except OSError as err:
        raise InputError(f"无法写入 {p}（{err}）；文件是否正在 Excel 中打开？") from None
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _write_gpkg(frame: pd.DataFrame, path: Path) -> None:
    import pyogrio

    data = _storable(frame.reset_index(drop=True))
    if isinstance(frame, gpd.GeoDataFrame):
        pyogrio.write_dataframe(data, path, layer="mujun_export", driver="GPKG", promote_to_multi=True)
    else:
        pyogrio.write_dataframe(pd.DataFrame(data), path, layer="mujun_export", driver="GPKG")


def _write_xlsx(frame: pd.DataFrame, path: Path, headers, sheet: str, notes: list[tuple[str, str]]) -> None:
    # openpyxl's write-only mode streams rows: several times faster than pandas' to_excel
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    plain = _plain(frame)
    columns = list(plain.columns)
    heads = chinese_headers(columns, headers)
    book = Workbook(write_only=True)
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
    for record in values.itertuples(index=False, name=None):
        row = list(record)
        for j in formatted:
            if row[j] is not None:
                cell = WriteOnlyCell(ws, value=row[j])
                cell.number_format = "0.00"
                row[j] = cell
        ws.append(row)
    if notes:
        info = book.create_sheet("说明")
        info.column_dimensions["A"].width = 18
        info.column_dimensions["B"].width = 90
        for row in [("项目", "内容"), *notes]:
            info.append(list(row))
    book.save(path)
