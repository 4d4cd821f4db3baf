"""总览 / : headline figures, class shares, rankings and trends."""

from __future__ import annotations

from typing import Any

import folium
import pandas as pd
from flask import Blueprint, current_app, render_template, request

from mujun.geo.errors import InputError
from mujun.geo.judgement import class_counts
from mujun.geo.platforms import GUIDE_OUTPUT_YI
from mujun.geo.prices import PriceIndex
from mujun.geo.ranking import ranked
from mujun.geo.rules import CLASSES, DEFAULT_CLASS_NAMES, GROUPS
from mujun.layers.rulesets import load_price_index
from mujun.service import TargetFigures, overall, target_figures
from mujun.webapp import charts, maps
from mujun.webapp.data import results, zone_districts
from mujun.webapp.formatting import field_label, unit

__all__ = ["bp"]

bp = Blueprint("dashboard", __name__)

#: The headline cards: the 规上 per-mu figures (keys of :func:`mujun.service.overall`) and the
#: target indicator each is compared with (keys of :data:`mujun.geo.prices.KPIS`).
KPIS = {"above_scale_value_added_per_mu": "value_added_per_mu", "above_scale_tax_per_mu": "tax_per_mu"}


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in frame.columns]
    return frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")


def _class_rows(enterprises: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Rows A–D with counts and shares per group, and the shares for the chart."""
    counts = class_counts(enterprises) if len(enterprises) else pd.DataFrame()
    names = DEFAULT_CLASS_NAMES | (
        enterprises.dropna(subset=["class", "class_name"]).drop_duplicates("class")
        .set_index("class")["class_name"].astype(str).to_dict()
    )
    rows, chart = [], {}
    for cls in CLASSES:
        row: dict[str, Any] = {"class": cls, "name": names.get(cls, "")}
        for group in GROUPS:
            has = group in counts.index and cls in counts.columns
            row[f"{group}_count"] = int(counts.loc[group, cls]) if has else 0
            row[f"{group}_share"] = float(counts.loc[group, f"{cls}_share"]) if has else None
        rows.append(row)
    for group, label in GROUPS.items():
        if group in counts.index:
            chart[label] = {f"{c} {names.get(c, '')}": float(counts.loc[group].get(f"{c}_share", 0.0))
                            for c in CLASSES}
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
    deflator = load_price_index(current_app.config.get("DEFLATOR") or None)
    table = res.optional("enterprises", year)
    # a year the price index lacks: the page shows current prices and says so, rather than failing
    targets = target_figures(enterprises, year, table=table, deflator=deflator, strict=False)
    kpis = [_kpi_card(key, kpi, targets) for key, kpi in KPIS.items()]
    target_rows = _target_rows(targets)
    class_rows, class_chart = _class_rows(enterprises)

    parcels = res.results("parcel", year)
    district_rows = [] if districts is None else _records(
        ranked(districts, "tax_per_mu"),
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
            ranked(frame, "tax_per_mu" if level == "park" else "output_yi"),
            ["rank", id_field, "name", "level", "lead_industry", "district_name", "tax_per_mu", "value_added_per_mu",
             "evaluated_mu", "enterprise_count", "output_yi", "guide_share", "gap_to_guide_yi", "target_output_yi",
             "target_year", "lead_share", "lead_share_ok"])

    trend = _trend(enterprises_all, years, deflator)
    base = targets.index.base_year
    trend_charts = [
        charts.line_chart(years, {"规上（当年价）": trend[key], f"规上（{base} 年价）": trend[f"{key}_constant"]},
                          title=field_label(key), unit=unit(key), target=targets.table.loc[KPIS[key], "target"],
                          target_label=f"2025 年目标（{base} 年价）")
        for key in ("above_scale_tax_per_mu", "above_scale_value_added_per_mu")
    ]
    class_colors = {f"{c} {n}": maps.CLASS_COLORS[c] for c, n in
                    ((r["class"], r["name"]) for r in class_rows)}
    class_chart_svg = charts.stacked_bars(class_chart, class_colors, title="企业分类占比", percent=True) \
        if class_chart else None

    zone_frame = districts if district is None else districts[districts["district_id"].astype(str) == district]
    bounds = (zone_frame if zone_frame is not None and len(zone_frame) else parcels).total_bounds
    m = maps.base_map(bounds, current_app.config)
    maps.zone_layers(m, year)
    folium.LayerControl(collapsed=True).add_to(m)

    return render_template(
        "index.html", title="总览", map=maps.render(m), years=years, year=year, district=district,
        district_name=district_names.get(district or "", ""), district_choices=district_names, figures=figures,
        kpis=kpis, target_rows=target_rows, prices=_prices(targets), class_rows=class_rows, class_chart=class_chart_svg,
        groups=list(GROUPS.items()), district_rows=district_rows, park_rows=zones["park"], platform_rows=zones["platform"],
        trend=[{"year": y, **{k: v[i] for k, v in trend.items()}} for i, y in enumerate(years)],
        trend_charts=trend_charts, guide_output=GUIDE_OUTPUT_YI, class_colors=maps.CLASS_COLORS,
    )


def _kpi_card(key: str, kpi: str, targets: TargetFigures) -> dict[str, Any]:
    row = targets.table.loc[kpi]
    value, constant = row["value"], row["value_constant"]
    return {"key": key, "label": field_label(key), "unit": unit(key), "value": None if _missing(value) else value,
            "constant": None if _missing(constant) else constant, "target": row["target"],
            "ratio": None if _missing(row["attainment"]) else row["attainment"]}


def _target_rows(targets: TargetFigures) -> list[dict[str, Any]]:
    """One row per 2025 target: the figure in current and base-year prices, the target, whether it
    is met (at base-year prices) and, where no firm has the data, which fields are missing."""
    rows = []
    for key, r in targets.table.iterrows():  # six indicators
        missing = [field_label(f) for f in str(r["missing"]).split(",") if f]
        rows.append({
            "key": key, "label": field_label(key), "unit": unit(key), "op": "≥" if r["op"] == ">=" else "≤",
            **{k: None if _missing(r[k]) else r[k] for k in
               ("baseline", "value", "value_constant", "target", "attainment", "met")},
            "firms": int(r["firms"]), "missing": "、".join(missing),
        })
    return rows


def _prices(targets: TargetFigures) -> dict[str, Any]:
    """What the page says about the price index."""
    index = targets.index
    return {"base_year": index.base_year, "title": index.title or index.name, "series": index.series,
            "example": index.example, "source": index.source, "file": index.file,
            "level": None if _missing(targets.price_level) else targets.price_level}


def _trend(enterprises: pd.DataFrame, years: list[int], deflator: PriceIndex) -> dict[str, list[float | None]]:
    """Headline per-mu figures of each evaluated year (ratios of sums), the 规上 ones also in
    the price index's base-year prices."""
    keys = ("above_scale_tax_per_mu", "above_scale_value_added_per_mu", "tax_per_mu", "value_added_per_mu")
    out: dict[str, list[float | None]] = {k: [] for k in (*keys, *(f"{k}_constant" for k in KPIS))}
    for y in years:  # one pass per year: a handful, not per enterprise
        part = enterprises[enterprises["year"] == y]
        fig = overall(part) if len(part) else {}
        for k in keys:
            out[k].append(fig.get(k))
        table = target_figures(part, y, deflator=deflator, strict=False).table if len(part) else None
        for k, kpi in KPIS.items():
            v = None if table is None else table.loc[kpi, "value_constant"]
            out[f"{k}_constant"].append(None if _missing(v) else float(v))
    return out
