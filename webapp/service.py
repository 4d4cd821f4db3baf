"""What mujun does, free of any interface: the CLI and the web app both call this.

Each function takes a :class:`~layers.workspace.Workspace`, reads what it needs, calls the
pure analytics in :mod:`geo` and stores or returns the results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from geo.errors import InputError, WorkspaceError
from geo.evaluation import LEVELS, ZONES, building_base, evaluate_year, parcel_base
from geo.intensity import ratio_of_sums
from geo.ranking import numeric_fields, ranked
from layers.export import export_table
from layers.schema import label
from layers.workspace import Workspace, result_table

__all__ = ["LEVEL_VIEWS", "Evaluated", "evaluate", "overall", "ranking", "export_ranking"]


@dataclass(frozen=True)
class LevelView:
    """How a result level is shown: its id, its name header and the columns of a ranking."""

    id: str
    label: str
    name_header: str
    table: tuple[str, ...]
    export: tuple[str, ...]


_PER_MU = ("tax_per_mu", "value_added_per_mu", "revenue_per_mu", "output_per_mu")
_ZONE_EXPORT = ("zone_area_mu", "parcel_count", "area_mu", "evaluated_mu", "enterprise_count",
                "tax", "value_added", "revenue", "output_value", *_PER_MU,
                "above_scale_tax_per_mu", "above_scale_value_added_per_mu", "industrial_mu",
                "industrial_share", "built_share", "unbuilt_share", "plot_ratio", "building_coefficient")

LEVEL_VIEWS: dict[str, LevelView] = {
    "enterprise": LevelView(
        "credit_code", "企业", "企业名称", ("credit_code", "name", "district_name"),
        ("credit_code", "name", "industry_code", "industry_name", "above_scale", "district_name", "park_name",
         "platform_name", "parcel_count", "owned_mu", "leased_in_mu", "leased_out_mu", "land_mu",
         "tax", "value_added", "revenue", "output_value", *_PER_MU, "missing_reason"),
    ),
    "parcel": LevelView(
        "parcel_id", "地块", "权利人", ("parcel_id", "holder_name", "district_name"),
        ("parcel_id", "holder_code", "holder_name", "land_use", "district_name", "park_name", "platform_name",
         "area_mu", "holder_land_mu", "tax", "value_added", "revenue", "output_value", *_PER_MU,
         "building_count", "floor_area_m2", "footprint_m2", "plot_ratio", "building_coefficient",
         "admin_share", "investment_intensity", "missing_reason"),
    ),
    "park": LevelView("park_id", "园区", "园区名称", ("park_id", "name"), ("park_id", "name", "level", *_ZONE_EXPORT)),
    "platform": LevelView("platform_id", "平台", "平台名称", ("platform_id", "name"),
                          ("platform_id", "name", "lead_industry", *_ZONE_EXPORT)),
    "district": LevelView("district_id", "行政区", "行政区名称", ("district_id", "name"),
                          ("district_id", "name", *_ZONE_EXPORT)),
}


@dataclass
class Evaluated:
    """What :func:`evaluate` stored."""

    years: list[int]
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    overall: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def _zones(ws: Workspace) -> dict[str, gpd.GeoDataFrame | None]:
    return {level: ws.read_optional(f"{level}s") for level in ZONES}


def evaluate(
    ws: Workspace, year: int | None = None, *, all_years: bool = False, progress: bool | None = None
) -> Evaluated:
    """Compute and store the results of one year (default: the latest) or of every year.

    Results replace the stored rows of the same year in ``result_<level>`` tables; other
    years are kept. Nothing is written if anything fails.
    """
    t0 = time.perf_counter()
    if not ws.exists():
        raise WorkspaceError(f"工作空间 {ws.path} 不存在；请先导入数据（mujun import）或运行 mujun demo")
    parcels = ws.read("parcels")
    enterprises = ws.read("enterprises")
    available = sorted(int(y) for y in enterprises["year"].dropna().unique())
    if not available:
        raise WorkspaceError("企业表中没有年度；请重新导入企业数据")
    if all_years:
        years = available
    elif year is None:
        years = [available[-1]]
    elif year in available:
        years = [int(year)]
    else:
        raise InputError(f"没有 {year} 年的企业数据；已有年度：{'、'.join(map(str, available))}")
    zones = _zones(ws)
    bar = tqdm(total=1 + len(years), desc="评价", unit="步", disable=None if progress is None else not progress,
               leave=False)
    try:
        bar.set_postfix_str("面积、建筑与空间归属")
        buildings = ws.read_optional("buildings")
        if buildings is not None:
            buildings = building_base(buildings, parcels, zones)
        base = parcel_base(parcels, buildings, zones)
        bar.update()
        per_year = {}
        for y in years:
            bar.set_postfix_str(f"{y} 年")
            per_year[y] = evaluate_year(base, enterprises, y, zones)
            bar.update()
    finally:
        bar.close()
    out = Evaluated(years)
    tables: dict[str, pd.DataFrame] = {}
    for level in LEVELS:
        frames = [per_year[y][level] for y in years if level in per_year[y]]
        if not frames:
            continue
        new = pd.concat(frames, ignore_index=True)
        if isinstance(frames[0], gpd.GeoDataFrame):
            new = gpd.GeoDataFrame(new, geometry="geometry", crs=frames[0].crs)
        name = result_table(level)
        if ws.has(name):
            old = ws.read(name)
            old = old[~old["year"].isin(years)]
            if len(old):
                new = pd.concat([old, new], ignore_index=True)
                if isinstance(frames[0], gpd.GeoDataFrame):
                    new = gpd.GeoDataFrame(new, geometry="geometry", crs=frames[0].crs)
        tables[name] = new
    if buildings is not None:
        tables[result_table("building")] = buildings  # year-independent: replaced whole
    for y in years:
        out.counts[y] = {level: len(per_year[y][level]) for level in per_year[y]}
        out.overall[y] = overall(per_year[y]["enterprise"])
    evaluated = sorted(set(_evaluated_years(ws)) | set(years))
    ws.write(tables, meta={"evaluated_years": ",".join(map(str, evaluated)),
                           "evaluated_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    out.seconds = time.perf_counter() - t0
    return out


def _evaluated_years(ws: Workspace) -> list[int]:
    text = ws.meta().get("evaluated_years", "")
    return [int(y) for y in text.split(",") if y.strip()]


def overall(enterprises: pd.DataFrame) -> dict[str, float]:
    """Headline figures of a year's enterprise results (ratios of sums, 万元/亩)."""
    e = enterprises.assign(_all="全部")
    res: dict[str, float] = {"enterprises": float(len(e))}
    total = ratio_of_sums(e, "_all", ["tax", "value_added"], "land_mu")
    res["tax_per_mu"] = float(total["tax_per_mu"].iloc[0])
    res["value_added_per_mu"] = float(total["value_added_per_mu"].iloc[0])
    if "above_scale" in e.columns:
        above = e[e["above_scale"].fillna(False).astype(bool)]
        res["above_scale_enterprises"] = float(len(above))
        if len(above):
            a = ratio_of_sums(above, "_all", ["tax", "value_added"], "land_mu")
            res["above_scale_tax_per_mu"] = float(a["tax_per_mu"].iloc[0])
            res["above_scale_value_added_per_mu"] = float(a["value_added_per_mu"].iloc[0])
    return res


def ranking(
    ws: Workspace, level: str, by: str, *, year: int | None = None, top: int | None = None,
    ascending: bool = False,
) -> tuple[pd.DataFrame, int]:
    """A level's results for a year, ranked by ``by``; returns (frame, year)."""
    if level not in LEVEL_VIEWS:
        raise InputError(f"未知的层级 '{level}'；可用：{', '.join(LEVEL_VIEWS)}")
    name = result_table(level)
    if not ws.has(name):
        if level in ZONES and not ws.has(f"{level}s"):
            raise WorkspaceError(f"工作空间中没有{LEVEL_VIEWS[level].label}图层；请先 mujun import {level}s 文件，再 mujun evaluate")
        raise WorkspaceError(f"还没有评价结果；请先运行 mujun evaluate（工作空间 {ws.path}）")
    years = _evaluated_years(ws)
    if year is None:
        if not years:
            raise WorkspaceError("还没有评价结果；请先运行 mujun evaluate")
        year = years[-1]
    frame = ws.read(name, where=f"year = {int(year)}")
    if frame.empty:
        raise InputError(f"没有 {year} 年的评价结果；已评价年度：{'、'.join(map(str, years)) or '无'}（可运行 mujun evaluate --year {year}）")
    if by not in numeric_fields(frame):
        raise InputError(f"无法按 '{by}' 排名；{LEVEL_VIEWS[level].label}的数值字段有：{', '.join(numeric_fields(frame))}")
    return ranked(frame, by, ascending=ascending, top=top), int(year)


def export_ranking(frame: pd.DataFrame, level: str, by: str, year: int, path: str | Path, ws: Workspace) -> Path:
    """Write a ranking: CSV/XLSX with Chinese headers, GeoPackage with canonical names."""
    view = LEVEL_VIEWS[level]
    cols = ["rank", *[c for c in view.export if c in frame.columns and c != by]]
    cols.insert(1 + len([c for c in view.table if c in frame.columns]), by)
    cols = list(dict.fromkeys(cols))
    p = Path(path)
    if p.suffix.lower() == ".gpkg" and isinstance(frame, gpd.GeoDataFrame):
        data = gpd.GeoDataFrame(frame[[*cols, "year", "geometry"]], geometry="geometry", crs=frame.crs)
    else:
        data = frame[cols]
    meta = ws.meta()
    notes = [
        ("数据", "示例数据（合成，非真实企业）" if meta.get("sample") == "1" else f"工作空间 {ws.path.name}"),
        ("年度", str(year)),
        ("层级", view.label),
        ("排名依据", f"{label(by)}，从高到低；缺失值不参与排名"),
        ("口径", "亩均值 = 税收（或增加值、营业收入、产值）合计 ÷ 用地面积合计；用地面积按 CGCS2000 高斯-克吕格 3 度带计算，1 亩 = 666.67 平方米"),
        ("导出时间", time.strftime("%Y-%m-%d %H:%M:%S")),
    ]
    return export_table(data, p, headers={"name": view.name_header}, sheet=f"{view.label}排名", notes=notes)
