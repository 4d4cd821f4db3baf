"""Importing a source file into the workspace as one layer kind.

The pipeline: read (format, encoding) → map headers → coerce types and units → check ids →
repair geometries, check coordinates, move to EPSG:4490 → write atomically. Anything
refused raises before the workspace is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from mujun.geo.errors import InputError, SchemaError
from mujun.layers.headers import map_headers, parse_overrides
from mujun.layers.schema import Kind, get_kind
from mujun.layers.sources import read_source
from mujun.layers.validate import (
    Report,
    check_ids,
    check_supplies,
    coerce_fields,
    invalid_credit_codes,
    parse_crs,
    plausible_years,
    prepare_geometry,
)
from mujun.layers.workspace import Workspace

__all__ = ["ImportResult", "import_layer", "prepare_layer"]

#: 规上 (above designated size): main revenue of at least 2000 万元.
ABOVE_SCALE_REVENUE = 2000.0


@dataclass
class ImportResult:
    """What an import did: the clean layer and the report lines."""

    kind: Kind
    frame: pd.DataFrame
    source: Path
    layer: str | None
    mapping: dict[str, str]
    ignored: list[str]
    report: Report
    replaced: int = 0
    years: list[int] = field(default_factory=list)

    def summary(self) -> list[str]:
        """Chinese lines describing the import, for the CLI."""
        k = self.kind
        what = f"{len(self.frame)} 个{k.label}" if k.geometry else f"{len(self.frame)} 条{k.label}记录"
        lines = [f"已导入 {what}（{self.source.name}{' 图层 ' + self.layer if self.layer else ''}）"]
        if self.years:
            lines.append("年度：" + "、".join(map(str, self.years)))
        lines.append("字段对应：" + "，".join(f"{s}→{d}" for s, d in self.mapping.items()))
        if self.ignored:
            lines.append("未导入的字段（可用 --map 源字段=标准字段 指定）：" + "、".join(self.ignored))
        lines.extend(self.report.lines)
        return lines


def prepare_layer(
    kind: str | Kind,
    path: str | Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    overrides: Sequence[str] | dict[str, str] = (),
    year: int | None = None,
    year_range: tuple[int, int] | None = None,
    progress: bool | None = None,
    parcel_ids: pd.Index | None = None,
) -> ImportResult:
    """Read and validate a source as ``kind`` without writing anything.

    Parameters mirror ``mujun import``; see :func:`import_layer`. ``parcel_ids`` are the
    parcels a 收回与再供应 table may name (``None``: there is no parcels layer).
    """
    k = kind if isinstance(kind, Kind) else get_kind(kind)
    first, last = year_range or plausible_years()
    if year is not None and not first <= year <= last:
        raise InputError(f"--year {year} 不是合理的年度；应在 {first}–{last} 之间")
    steps = ["读取", "字段", "校验", "坐标"] if k.geometry else ["读取", "字段", "校验"]
    bar = tqdm(total=len(steps), desc=f"导入{k.label}", unit="步", disable=progress is False if progress is not None else None,
               leave=False)
    try:
        bar.set_postfix_str(steps[0])
        src = read_source(path, k, layer=layer, encoding=encoding)
        report = Report()
        if src.encoding_note:
            report.add(f"属性编码：{src.encoding_note}")
        bar.update()
        bar.set_postfix_str(steps[1])
        ov = overrides if isinstance(overrides, dict) else parse_overrides(list(overrides))
        headers = [str(c) for c in src.frame.columns if c != getattr(src.frame, "_geometry_column_name", None)]
        mapping = map_headers(headers, k, ov, src.path.name)
        report.lines.extend(mapping.notes)
        for dst, unit in mapping.units.items():
            f = k.field(dst)
            if dst in mapping.factors:
                report.add(f"字段 {f.label} 的单位为 {unit}，已换算为 {f.unit}")
        bar.update()
        bar.set_postfix_str(steps[2])
        frame = coerce_fields(src, k, mapping, report, (first, last))
        frame, found = _kind_rules(frame, k, src, year, report)
        missing = [f for f in k.required if f not in frame.columns]
        if missing:
            names = "、".join(f"{k.field(m).label}（{m}）" for m in missing)
            raise SchemaError(
                f"{src.path.name}：缺少必需字段 {names}；文件字段为 {', '.join(headers)}；"
                f"可用 --map 源字段={missing[0]} 指定"
            )
        key = ["credit_code", "year"] if k.name == "enterprises" else None
        check_ids(frame, k, src, key)
        if k.name == "supplies":
            check_supplies(frame, src, parcel_ids)
        bar.update()
        if k.geometry:
            bar.set_postfix_str(steps[3])
            ids = _feature_labels(frame, k, src)
            gdf = gpd.GeoDataFrame(frame, geometry=src.frame.geometry.values, crs=src.frame.crs)
            frame = prepare_geometry(gdf, k, src, ids, parse_crs(crs) if crs else None, report)
            frame = frame.reset_index(drop=True)
            bar.update()
    finally:
        bar.close()
    return ImportResult(k, frame, src.path, src.layer, mapping.columns, mapping.ignored, report, years=found)


def _feature_labels(frame: pd.DataFrame, k: Kind, src) -> pd.Series:
    if k.id_field and k.id_field in frame.columns:
        return frame[k.id_field].astype("string").fillna("(无编号)")
    return pd.Series([f"第{n}个要素" for n in src.row_no], index=frame.index, dtype="string")


#: Kinds whose ids are numbered in file order when the source has none, with the ids' prefix.
_MADE_ID_PREFIX = {"parks": "PK", "platforms": "PF", "districts": "D", "buildings": "B", "units": "U", "landuse": "T"}


def _kind_rules(frame: pd.DataFrame, k: Kind, src, year: int | None, report: Report):
    """Rules particular to one kind: ids made when absent, years, 规上 derived."""
    years: list[int] = []
    if k.id_field and k.id_field not in frame.columns and k.name in _MADE_ID_PREFIX:
        prefix = _MADE_ID_PREFIX[k.name]
        width = max(3, len(str(len(frame))))
        frame[k.id_field] = pd.array([f"{prefix}{i:0{width}d}" for i in range(1, len(frame) + 1)], dtype="string")
        report.add(f"文件没有{k.field(k.id_field).label}，已按顺序编为 {prefix}{1:0{width}d} 起")
    if k.name == "enterprises":
        if "year" not in frame.columns:
            if year is None:
                raise SchemaError(f"{src.path.name}：没有年度字段；请用 --year 指定这张表的年度，例如 --year 2024")
            frame["year"] = pd.array([year] * len(frame), dtype="Int64")
        elif year is not None:
            keep = frame["year"] == year
            dropped = int((~keep.fillna(False)).sum())
            if not keep.fillna(False).any():
                found = sorted(frame["year"].dropna().unique().tolist())
                raise SchemaError(f"{src.path.name}：没有 {year} 年的记录（表中年度：{'、'.join(map(str, found))}）")
            if dropped:
                report.add(f"按 --year {year} 只导入该年度，略过其他年度 {dropped} 行")
            src.row_no = src.row_no[keep.fillna(False).to_numpy()]
            frame = frame[keep.fillna(False)].reset_index(drop=True)
        if "credit_code" in frame.columns:
            frame["credit_code"] = frame["credit_code"].str.upper()
        if "above_scale" not in frame.columns and "revenue" in frame.columns:
            frame["above_scale"] = (frame["revenue"] >= ABOVE_SCALE_REVENUE).astype("boolean").where(frame["revenue"].notna())
            report.add(f"没有“是否规上”字段，按营业收入 ≥ {ABOVE_SCALE_REVENUE:g} 万元判定")
        years = sorted(int(y) for y in frame["year"].dropna().unique())
    code_field = {"enterprises": "credit_code", "parcels": "holder_code", "supplies": "new_holder_code"}.get(k.name)
    if k.name != "enterprises" and code_field in frame.columns:
        frame[code_field] = frame[code_field].str.upper()
    if code_field in frame.columns:
        bad = invalid_credit_codes(frame[code_field])
        if bad.any():
            rows = src.row_numbers(bad)
            report.add(
                f"有 {int(bad.sum())} 个统一社会信用代码不符合 GB 32100-2015（长度、字符或校验位），"
                f"如 {frame.loc[bad, code_field].iloc[0]}（第 {rows[0]} {src.row_word}）；"
                f"与其他表关联时可能对不上，请核对"
            )
    return frame, years


def import_layer(
    workspace: Workspace,
    kind: str | Kind,
    path: str | Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    overrides: Sequence[str] | dict[str, str] = (),
    year: int | None = None,
    year_range: tuple[int, int] | None = None,
    progress: bool | None = None,
) -> ImportResult:
    """Import ``path`` into ``workspace`` as a layer of ``kind``, all or nothing.

    Polygon kinds replace the layer; enterprise tables replace the years they contain and
    keep the others; a 收回与再供应 table (``supplies``) replaces the stored one and may only
    name parcels of the parcels layer.

    Parameters
    ----------
    workspace : Workspace
    kind : str
        ``districts``, ``parks``, ``platforms``, ``parcels``, ``buildings``, ``enterprises``, ``units``
        (工业产业单元), ``landuse`` (地类图斑) or ``supplies`` (收回与再供应记录).
    path : str or Path
        The source file.
    layer : str, optional
        Source layer or sheet.
    encoding : str, optional
        Attribute encoding, overriding .cpg and detection.
    crs : str, optional
        CRS of the source (required when it has none).
    overrides : sequence of "SRC=DST" or dict
        Header mappings that win over the built-in ones.
    year : int, optional
        Year of an enterprise table without a year column, or the one year to import.
    year_range : (int, int), optional
        First and last plausible year, for ``year`` and a year column (default
        :func:`mujun.layers.validate.plausible_years`: 1990 to next year).
    progress : bool, optional
        Show a progress bar (default: when writing to a terminal).

    Returns
    -------
    ImportResult
    """
    k = kind if isinstance(kind, Kind) else get_kind(kind)
    parcel_ids = None
    if k.name == "supplies" and workspace.exists() and workspace.has("parcels"):
        # the ids only: a province's parcels layer is millions of outlines
        parcel_ids = pd.Index([r[0] for r in workspace.query("SELECT parcel_id FROM parcels")], dtype="string")
    res = prepare_layer(k, path, layer=layer, encoding=encoding, crs=crs, overrides=overrides,
                        year=year, year_range=year_range, progress=progress, parcel_ids=parcel_ids)
    k = res.kind
    frame = res.frame
    if k.name == "enterprises":
        if workspace.has("enterprises"):
            old = workspace.read("enterprises")
            keep = ~old["year"].isin(res.years)
            res.replaced = int((~keep).sum())
            frame = pd.concat([old[keep], frame], ignore_index=True)
            if res.replaced:
                res.report.add(f"替换了工作空间中原有的 {res.replaced} 条同年度企业记录")
        # stored by year and code however the table lists them, the first import as every other: a
        # corrected table then leaves each firm's row (and its results' row) where it was
        frame = frame.sort_values(["year", "credit_code"], kind="stable").reset_index(drop=True)
    elif workspace.has(k.name):
        res.replaced = len(workspace.read(k.name))
        what = f"个{k.label}" if k.geometry else f"条{k.label}记录"
        res.report.add(f"替换了工作空间中原有的 {res.replaced} {what}")
    workspace.write(
        {k.name: frame},
        log={"kind": k.name, "source": str(res.source), "layer": res.layer or "",
             "rows": str(len(res.frame)), "years": ",".join(map(str, res.years))},
    )
    return res
