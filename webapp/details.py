"""Pages of single things: 平台 /platforms/<id>, 园区 /parks/<id>, 地块 /parcels/<id>,
企业 /enterprises/<code>, 行政区 /districts/<id>."""

from __future__ import annotations

import math
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from flask import Blueprint, current_app, render_template, request, url_for

from mujun.geo.platforms import GUIDE_LEAD_SHARE, GUIDE_MU, GUIDE_OUTPUT_YI
from mujun.geo.ranking import ranked
from mujun.layers.rulesets import load_measure_rules, load_zone_rules
from mujun.service import year_measures, zone_trends
from mujun.webapp import charts, maps
from mujun.webapp.data import only, record, records, results, where, zone_districts
from mujun.webapp.parcels import NEIGHBOUR_DEGREES, padded, parcel_context
from mujun.webapp.tileservice import service

__all__ = ["bp"]

bp = Blueprint("details", __name__)

LAND_COLORS = {"已供已建": "#31a354", "已供未建": "#fdae6b", "未供": "#bdbdbd"}
ENTERPRISE_COLUMNS = ["credit_code", "name", "industry_name", "group_label", "land_mu", "tax_per_mu",
                      "value_added_per_mu", "score", "class", "class_name", "rank_in_district", "flags"]


# -- request and data helpers ---------------------------------------------------------------

def _year() -> tuple[list[int], int]:
    res = results()
    return res.years(), res.year(request.args.get("year", type=int))


def _color(default: str) -> str:
    color = request.args.get("color", default)
    return color if color in maps.COLOR_BY else default


def _flagged(parcels: pd.DataFrame, year: int) -> list[dict[str, Any]]:
    """Flagged parcels, largest first, each with its reasons (kind, rule, reason)."""
    part = parcels[parcels["flags"].notna()] if "flags" in parcels.columns else parcels.iloc[:0]
    part = part.sort_values(["area_mu", "parcel_id"], ascending=[False, True])
    rows = records(part, ["parcel_id", "holder_code", "holder_name", "area_mu", "flags", "class",
                           "tax_per_mu", "plot_ratio", "tax_gain"])
    flags = results().optional("result_flag", year)
    reasons: dict[str, list[dict[str, Any]]] = {}
    if flags is not None and len(rows):
        f = flags[flags["parcel_id"].isin(part["parcel_id"])]
        for r in records(f, ["parcel_id", "kind_label", "rule", "reason"]):
            reasons.setdefault(r["parcel_id"], []).append(r)
    for r in rows:
        r["reasons"] = reasons.get(r["parcel_id"], [])
    return rows


def _enterprises(enterprises: pd.DataFrame, by: str = "tax_per_mu") -> list[dict[str, Any]]:
    """Enterprises ranked by ``by`` as on /rankings (ties share a rank; among them, by credit code)."""
    return records(ranked(enterprises.sort_values("credit_code"), by), ["rank", *ENTERPRISE_COLUMNS])


#: Zone figures that are shares (0–1), shown as percentages.
SHARE_FIGURES = {"tax_per_mu_growth", "value_added_per_mu_growth", "d_land_improved_share", "output_share",
                 "lead_share", "idle_disposed_share"}


def _digits(value: Any) -> int:
    """Decimals enough to show a small figure (0.000218 → 6), at least 2."""
    v = abs(float(value)) if value is not None and pd.notna(value) else 0.0
    return 2 if v == 0 or v >= 0.01 else min(8, 2 - int(math.floor(math.log10(v))))


def _composite(level: str, id_field: str, zone_id: str, year: int) -> dict[str, Any]:
    """The zone's composite score, rank and indicator scores, and its 四提升两降低 table."""
    rules = load_zone_rules()
    frame = results().zones(level)
    zone = frame[frame[id_field].astype("string").eq(zone_id) & frame["year"].eq(year)]
    row = record(zone.iloc[0]) if len(zone) else {}
    indicators = [{"key": i.key, "weight": i.weight, "value": row.get(i.key), "score": row.get(f"score_{i.key}"),
                   "share": i.key in SHARE_FIGURES, "digits": _digits(row.get(i.key))} for i in rules.indicators]
    trends = records(zone_trends(frame, level, zone_id, year, rules=rules))
    for t in trends:
        t["share"] = t["key"] in SHARE_FIGURES
        t["digits"] = max(_digits(t["previous"]), _digits(t["value"]))
    return {"rules": rules, "row": row, "indicators": indicators, "trends": trends,
            "n_zones": int(frame["year"].eq(year).sum()), "previous_year": year - 1,
            "total_weight": sum(i.weight for i in rules.indicators)}


# -- maps ------------------------------------------------------------------------------------

def _zone_map(zone: gpd.GeoDataFrame, id_field: str, endpoint: str, name: str, parcels: gpd.GeoDataFrame,
              year: int, color: str, *, zone_color: str, figures: list[str]) -> dict:
    """A zone's outline and its parcels coloured by ``color``, with a legend."""
    cfg = current_app.config
    m = maps.base_map(zone.total_bounds, cfg)
    maps.zone_layer(m, zone, name, id_field=id_field, color=zone_color, fill_opacity=0.03,
                    link=lambda i: url_for(endpoint, **{id_field: i}), figures=figures)
    _parcels_on(m, parcels, year, color)
    folium.LayerControl(collapsed=False).add_to(m)
    return maps.render(m)


def _parcels_on(m: folium.Map, parcels: gpd.GeoDataFrame, year: int, color: str, **style: Any) -> None:
    """Parcels coloured as on /map (class breaks of the whole year), embedded or by bbox."""
    cfg = current_app.config
    bins: list[float] = []
    if maps.COLOR_BY[color][2] == "numeric":
        svc = service()
        bins = svc.breaks(svc.generation(), year, color)
    maps.parcel_layer(m, parcels, color_by=color, bins=bins, limit=cfg["MAX_EMBED_FEATURES"],
                      bbox_url=url_for("api.layer", name="parcels", year=year, color=color),
                      min_zoom=cfg["PARCEL_MIN_ZOOM"], **style)
    maps.legend(m, color, bins)


def _common(years: list[int], year: int, color: str | None = None) -> dict[str, Any]:
    return {"years": years, "year": year, "color": color, "color_choices": maps.COLOR_BY,
            "class_colors": maps.CLASS_COLORS}


# -- pages -----------------------------------------------------------------------------------

@bp.route("/platforms/<path:platform_id>")
def platform(platform_id: str):
    """平台: the 万亩千亿 assessment, land status and the parcels holding it back."""
    years, year = _year()
    res = results()
    zone = only(res.optional("result_platform", year), "platform_id", platform_id)
    row = record(zone.iloc[0])
    parcels = where(res.results("parcel", year), "platform_id", platform_id)
    color = _color("flags")
    land = {"已供已建": row.get("built_mu") or 0.0, "已供未建": row.get("unbuilt_supplied_mu") or 0.0,
            "未供": row.get("unsupplied_mu") or 0.0}
    land_chart = charts.stacked_bars({"平台地块": land}, LAND_COLORS, title="土地供应与建设", unit="亩")
    district = zone_districts(parcels, "platform_id") if len(parcels) else pd.DataFrame()
    district_row = record(district.iloc[0]) if len(district) else {}
    enterprises = where(res.results("enterprise", year), "platform_id", platform_id)
    return render_template(
        "platform.html", title=f"平台 · {row['name']}", p=row, district=district_row,
        map=_zone_map(zone, "platform_id", "details.platform", "平台范围", parcels, year, color,
                      zone_color="#d6604d", figures=maps.zone_figures("platform")),
        flagged=_flagged(parcels, year), land_chart=land_chart, guide_output=GUIDE_OUTPUT_YI,
        guide_planned=GUIDE_MU, guide_lead=GUIDE_LEAD_SHARE, n_parcels=len(parcels),
        enterprises=_enterprises(enterprises)[:20], n_enterprises=len(enterprises),
        composite=_composite("platform", "platform_id", platform_id, year), **_common(years, year, color),
    )


@bp.route("/parks/<path:park_id>")
def park(park_id: str):
    """园区: figures, enterprises ranked, flagged parcels."""
    years, year = _year()
    res = results()
    zone = only(res.optional("result_park", year), "park_id", park_id)
    row = record(zone.iloc[0])
    parcels = where(res.results("parcel", year), "park_id", park_id)
    color = _color("class")
    district = zone_districts(parcels, "park_id") if len(parcels) else pd.DataFrame()
    enterprises = where(res.results("enterprise", year), "park_id", park_id)
    return render_template(
        "park.html", title=f"园区 · {row['name']}", p=row,
        district=record(district.iloc[0]) if len(district) else {},
        map=_zone_map(zone, "park_id", "details.park", "园区范围", parcels, year, color,
                      zone_color="#3182bd", figures=maps.zone_figures("park")),
        enterprises=_enterprises(enterprises), flagged=_flagged(parcels, year), n_parcels=len(parcels),
        composite=_composite("park", "park_id", park_id, year), **_common(years, year, color),
    )


@bp.route("/districts/<path:district_id>")
def district(district_id: str):
    """行政区: figures, its parks and platforms, top and bottom enterprises."""
    years, year = _year()
    res = results()
    zone = only(res.optional("result_district", year), "district_id", district_id)
    row = record(zone.iloc[0])
    all_parcels = res.results("parcel", year)
    parcels = where(all_parcels, "district_id", district_id)
    color = _color("class")
    zones: dict[str, list[dict[str, Any]]] = {}
    for level, id_field in (("park", "park_id"), ("platform", "platform_id")):
        frame = res.optional(f"result_{level}", year)
        if frame is None or frame.empty:
            zones[level] = []
            continue
        frame = frame.join(zone_districts(all_parcels, id_field), on=id_field)
        frame = frame[(frame["district_id"] == district_id).fillna(False).astype(bool)]
        zones[level] = records(frame.sort_values("tax_per_mu", ascending=False),
                                [id_field, "name", "level", "lead_industry", "tax_per_mu", "value_added_per_mu",
                                 "evaluated_mu", "output_yi", "enterprise_count"])
    enterprises = where(res.results("enterprise", year), "district_id", district_id)
    scored = enterprises[enterprises["score"].notna()]
    groups = []
    for label, part in scored.groupby("group_label", sort=True):  # ranks are within 规上 or 规下
        rows = _enterprises(part, "score")
        groups.append({"label": label, "n": len(rows), "top": rows[:10],
                       "bottom": rows[-10:][::-1] if len(rows) > 10 else []})
    flagged_mu = parcels.loc[parcels["flags"].notna(), "area_mu"].sum() if "flags" in parcels.columns else 0.0
    return render_template(
        "district.html", title=f"行政区 · {row['name']}", p=row, parks=zones["park"], platforms=zones["platform"],
        map=_zone_map(zone, "district_id", "details.district", "行政区范围", parcels, year, color,
                      zone_color="#636363", figures=maps.zone_figures("district")),
        groups=groups, n_enterprises=len(enterprises),
        n_scored=len(scored), n_parcels=len(parcels), flagged_mu=flagged_mu,
        n_flagged=int(parcels["flags"].notna().sum()) if "flags" in parcels.columns else 0,
        composite=_composite("district", "district_id", district_id, year), **_common(years, year, color),
    )


@bp.route("/parcels/<path:parcel_id>")
def parcel(parcel_id: str):
    """地块: map with its buildings and neighbours, figures, compliance, flags, holder, what-if."""
    years, year = _year()
    ctx = parcel_context(parcel_id, year)
    return render_template("parcel.html", title=f"地块 · {ctx['p']['parcel_id']}", **ctx, **_common(years, year))


@bp.route("/enterprises/<path:code>")
def enterprise(code: str):
    """企业 一企一档: its parcels, indicators and class over the evaluated years."""
    years, _ = _year()
    res = results()
    history = only(res.table("result_enterprise"), "credit_code", code).sort_values("year")
    own_years = [int(y) for y in history["year"]]
    requested = request.args.get("year", type=int)
    year = requested if requested in own_years else own_years[-1]
    row = record(history[history["year"] == year].iloc[0])
    parcels = where(res.results("parcel", year), "holder_code", code)
    cfg = current_app.config
    mapped = None
    if parcels is not None and len(parcels):
        m = maps.base_map(padded(parcels.total_bounds, NEIGHBOUR_DEGREES / 4), cfg)
        maps.zone_layers(m, year, show_districts=False)  # the parks and platforms around its land
        color = "flags"
        maps.parcel_layer(m, parcels, color_by=color, bins=[], limit=cfg["MAX_EMBED_FEATURES"], name="企业地块",
                          bbox_url=url_for("api.layer", name="parcels", year=year, color=color), weight=2,
                          stroke="#08519c")
        maps.legend(m, color, [])
        folium.LayerControl(collapsed=False).add_to(m)
        mapped = maps.render(m)
    rows = records(history, ["year", "group_label", "above_scale", "land_mu", "owned_mu", "leased_in_mu",
                              "leased_out_mu", "tax", "value_added", "revenue", "tax_per_mu", "value_added_per_mu",
                              "score", "class", "class_name", "rank_in_group", "rank_in_district",
                              "rank_in_industry", "previous_class", "class_change", "veto_reason",
                              "not_scored_reason", "flags", "missing_reason"])
    changes = [r for r in rows if r["class_change"] in ("升", "降")]
    trend = charts.line_chart(own_years, {"亩均税收": history["tax_per_mu"].tolist()}, title="亩均税收",
                              unit="万元/亩") if len(own_years) > 1 else None
    table = res.optional("enterprises", year)
    firm_table = where(table, "credit_code", code) if table is not None else None
    measures = year_measures(history, firm_table, load_measure_rules(), year)
    return render_template(
        "enterprise.html", title=f"企业 · {row['name']}", e=row, rows=rows, changes=changes, map=mapped,
        measures=records(measures.rows), measure_rules=measures.rules,
        parcels=[] if parcels is None else records(
            parcels.sort_values("area_mu", ascending=False),
            ["parcel_id", "land_use", "area_mu", "plot_ratio", "building_coefficient", "park_name", "flags"]),
        vetoes=[r for r in rows if r["veto_reason"]], trend=trend, own_years=own_years, **_common(years, year),
    )
