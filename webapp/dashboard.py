"""总览 / : headline figures, class shares, rankings and trends."""

from __future__ import annotations

import math
from typing import Any

import folium
import pandas as pd
from flask import Blueprint, current_app, render_template, request

from mujun.geo.errors import InputError
from mujun.geo.judgement import class_counts
from mujun.geo.platforms import GUIDE_OUTPUT_YI
from mujun.service import overall
from mujun.webapp import charts, maps, results
from mujun.webapp.mapview import zone_layers

__all__ = ["PROVINCE_TARGETS", "bp", "number", "percent", "zone_districts"]

bp = Blueprint("dashboard", __name__)

#: Zhejiang's 2025 targets for 规上工业 (浙委办发〔2020〕8号, appendix), 万元/亩; the app
#: setting ``PROVINCE_TARGETS`` (same keys) replaces them.
PROVINCE_TARGETS: dict[str, float] = {"above_scale_value_added_per_mu": 150.0, "above_scale_tax_per_mu": 37.0}
TARGET_SOURCE = "浙委办发〔2020〕8号附件：2025 年全省规上工业亩均增加值 150 万元/亩、亩均税收 37 万元/亩"

KPIS = (
    ("above_scale_value_added_per_mu", "规上亩均增加值"),
    ("above_scale_tax_per_mu", "规上亩均税收"),
)
CLASS_NAMES = {"A": "优先发展", "B": "提升发展", "C": "调控帮扶", "D": "倒逼整治"}
GROUPS = (("above_scale", "规上企业"), ("below_scale", "规下企业"))


def _missing(value: Any) -> bool:
    try:
        return value is None or pd.isna(value)
    except (TypeError, ValueError):
        return False


@bp.app_template_filter("number")
def number(value: Any, digits: int = 2) -> str:
    """``1,234.57`` (thousands separators), "—" where missing."""
    if _missing(value):
        return "—"
    v = float(value)
    return "—" if math.isinf(v) else f"{v:,.{digits}f}"


@bp.app_template_filter("percent")
def percent(value: Any, digits: int = 1) -> str:
    """A share (0–1) as ``12.3%``, "—" where missing."""
    if _missing(value):
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def zone_districts(parcels: pd.DataFrame, id_field: str) -> pd.DataFrame:
    """District of each park or platform: the one holding most of its parcels (as the
    platform assessment decides it), with ``district_id`` and ``district_name``."""
    p = parcels[parcels[id_field].notna() & parcels["district_id"].notna()]
    counts = p.groupby([id_field, "district_id", "district_name"], dropna=True).size().rename("n").reset_index()
    counts = counts.sort_values(["n", "district_id"], ascending=[False, True]).drop_duplicates(id_field)
    return counts.drop(columns="n").set_index(id_field)


def _ranked(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    out = frame.sort_values([by, "name"], ascending=[False, True], na_position="last").reset_index(drop=True)
    return out.assign(rank=range(1, len(out) + 1))


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in frame.columns]
    return frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")


def _class_rows(enterprises: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Rows A–D with counts and shares per group, and the shares for the chart."""
    counts = class_counts(enterprises) if len(enterprises) else pd.DataFrame()
    names = CLASS_NAMES | (
        enterprises.dropna(subset=["class", "class_name"]).drop_duplicates("class")
        .set_index("class")["class_name"].astype(str).to_dict()
    )
    rows, chart = [], {}
    for cls in CLASS_NAMES:
        row: dict[str, Any] = {"class": cls, "name": names.get(cls, "")}
        for group, _ in GROUPS:
            has = group in counts.index and cls in counts.columns
            row[f"{group}_count"] = int(counts.loc[group, cls]) if has else 0
            row[f"{group}_share"] = float(counts.loc[group, f"{cls}_share"]) if has else None
        rows.append(row)
    for group, label in GROUPS:
        if group in counts.index:
            chart[label] = {f"{c} {names.get(c, '')}": float(counts.loc[group].get(f"{c}_share", 0.0))
                            for c in CLASS_NAMES}
    return rows, chart


@bp.route("/")
def index():
    res = results()
    years = res.years()
    year = res.year(request.args.get("year", type=int))
    districts = res.optional("result_district", year)
    district = request.args.get("district") or None
    district_names = {} if districts is None else dict(
        zip(districts["district_id"].astype(str), districts["name"].astype(str), strict=True))
    if district is not None and district not in district_names:
        raise InputError(f"没有行政区代码 '{district}'；可用：{'、'.join(f'{k} {v}' for k, v in district_names.items())}")

    enterprises_all = res.table("result_enterprise")
    if district is not None:
        enterprises_all = enterprises_all[(enterprises_all["district_id"].astype("string") == district)
                                          .fillna(False).astype(bool)]
    enterprises = enterprises_all[enterprises_all["year"] == year]
    figures = overall(enterprises) if len(enterprises) else {}
    targets = PROVINCE_TARGETS | dict(current_app.config.get("PROVINCE_TARGETS") or {})
    kpis = []
    for key, label in KPIS:
        value = figures.get(key)
        kpis.append({"label": label, "value": value, "target": targets[key], "unit": "万元/亩",
                     "ratio": None if _missing(value) else value / targets[key]})
    class_rows, class_chart = _class_rows(enterprises)

    parcels = res.results("parcel", year)
    district_rows = [] if districts is None else _records(
        _ranked(districts, "tax_per_mu"),
        ["rank", "district_id", "name", "tax_per_mu", "value_added_per_mu", "above_scale_tax_per_mu",
         "above_scale_value_added_per_mu", "evaluated_mu", "enterprise_count"])
    zones = {}
    for level, id_field in (("park", "park_id"), ("platform", "platform_id")):
        frame = res.optional(f"result_{level}", year)
        if frame is None or frame.empty:
            zones[level] = []
            continue
        frame = frame.join(zone_districts(parcels, id_field), on=id_field)
        if district is not None:
            frame = frame[(frame["district_id"] == district).fillna(False).astype(bool)]
        if level == "platform":
            frame = frame.assign(guide_share=frame["output_yi"] / GUIDE_OUTPUT_YI)
        zones[level] = _records(
            _ranked(frame, "tax_per_mu" if level == "park" else "output_yi"),
            ["rank", id_field, "name", "level", "lead_industry", "district_name", "tax_per_mu", "value_added_per_mu",
             "evaluated_mu", "enterprise_count", "output_yi", "guide_share", "gap_to_guide_yi", "target_output_yi",
             "target_year", "lead_share", "lead_share_ok"])

    trend = _trend(enterprises_all, years)
    trend_charts = [
        charts.line_chart(years, {"规上": trend["above_scale_tax_per_mu"]}, title="规上亩均税收", unit="万元/亩",
                          target=targets["above_scale_tax_per_mu"], target_label="2025 年目标"),
        charts.line_chart(years, {"规上": trend["above_scale_value_added_per_mu"]}, title="规上亩均增加值",
                          unit="万元/亩", target=targets["above_scale_value_added_per_mu"], target_label="2025 年目标"),
    ]
    class_colors = {f"{c} {n}": maps.CLASS_COLORS[c] for c, n in
                    ((r["class"], r["name"]) for r in class_rows)}
    class_chart_svg = charts.stacked_bars(class_chart, class_colors, title="企业分类占比", percent=True) \
        if class_chart else None

    zone_frame = districts if district is None else districts[districts["district_id"].astype(str) == district]
    bounds = (zone_frame if zone_frame is not None and len(zone_frame) else parcels).total_bounds
    m = maps.base_map(bounds, current_app.config)
    zone_layers(m, year)
    folium.LayerControl(collapsed=True).add_to(m)

    return render_template(
        "index.html", title="总览", map=maps.render(m), years=years, year=year, district=district,
        district_name=district_names.get(district or "", ""), district_choices=district_names, figures=figures,
        kpis=kpis, target_source=TARGET_SOURCE, class_rows=class_rows, class_chart=class_chart_svg,
        groups=GROUPS, district_rows=district_rows, park_rows=zones["park"], platform_rows=zones["platform"],
        trend=[{"year": y, **{k: v[i] for k, v in trend.items()}} for i, y in enumerate(years)],
        trend_charts=trend_charts, guide_output=GUIDE_OUTPUT_YI, class_colors=maps.CLASS_COLORS,
    )


def _trend(enterprises: pd.DataFrame, years: list[int]) -> dict[str, list[float | None]]:
    """Headline per-mu figures of each evaluated year (ratios of sums)."""
    keys = ("above_scale_tax_per_mu", "above_scale_value_added_per_mu", "tax_per_mu", "value_added_per_mu")
    out: dict[str, list[float | None]] = {k: [] for k in keys}
    for y in years:  # one pass per year: a handful, not per enterprise
        part = enterprises[enterprises["year"] == y]
        fig = overall(part) if len(part) else {}
        for k in keys:
            out[k].append(fig.get(k))
    return out
