"""Composite evaluation of zones (县市区, parks, platforms) and their 四提升两降低 table.

A zone's indicators are ratios of sums over the firms with figures for the year: the per-mu
figures come from the zone results (``result_district`` / ``result_park`` /
``result_platform``), energy, emissions and output from the firms located in the zone
(their ``district_id`` / ``park_id`` / ``platform_id``), the D-class land remediated from the
firms classed D the year before (:mod:`mujun.geo.remediation`). A rule set
(:class:`ZoneRules`, ``layers/rules/zones-*.toml``) weighs them into a composite score and
names the 四提升两降低 indicators compared year on year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mujun.geo.remediation import d_class_follow_up
from mujun.geo.review import MEASURES
from mujun.geo.rules import RuleError, _number, _table, _unknown, _where

__all__ = ["TREND_DIRECTIONS", "ZONE_INDICATORS", "Trend", "ZoneIndicator", "ZoneRules", "trend_table",
           "zone_composite", "zone_indicators", "zone_rules_from_dict"]

#: Indicators a zone can be scored on: key -> (numerator, denominator) summed over the zone;
#: growth indicators have no sums: they compare the zone's figure with its previous year's.
ZONE_INDICATORS: dict[str, tuple[str, str] | None] = {
    "tax_per_mu": ("tax", "evaluated_mu"),
    "value_added_per_mu": ("value_added", "evaluated_mu"),
    "tax_per_mu_growth": None,
    "value_added_per_mu_growth": None,
    "d_land_improved_share": ("d_improved_mu", "d_mu"),
    "idle_disposed_share": ("idle_disposed_mu", "idle_parcel_mu"),
    "va_per_energy": ("energy_value_added", "energy_tce"),
    "va_per_emission": ("emission_value_added", "emissions"),
}
#: Figures a 四提升两降低 row may compare (besides the scored indicators).
TREND_KEYS = ("tax_per_mu", "value_added_per_mu", "output_per_mu", "output_share", "lead_share",
              "energy_per_va", "emission_per_va", "va_per_energy", "va_per_emission")
#: Review measures (:data:`mujun.geo.review.MEASURES`) that dispose of idle land: 协议收回, 依法收回.
DISPOSAL_MEASURES = tuple(m for m in MEASURES if m.endswith("收回"))
#: Direction ids of a 四提升两降低 row and their Chinese names.
TREND_DIRECTIONS = {"up": "提升", "down": "降低"}
_METHODS = ("benchmark", "minmax")
_KEYS = {"district": "district_id", "park": "park_id", "platform": "platform_id"}


@dataclass(frozen=True)
class ZoneIndicator:
    """One weighted zone indicator (see ``layers/rules/zones-example.toml``)."""

    key: str
    weight: float
    method: str = "benchmark"  # "benchmark" or "minmax"
    benchmark: float | None = None  # None: the year's ratio of sums over all zones
    cap: float | None = None
    floor: float = 0.0
    base: float = 0.2  # minmax: the share of the weight the lowest zone gets
    source: str = ""
    example: bool = False


@dataclass(frozen=True)
class Trend:
    """One 四提升两降低 row: its title, the right direction, and the figure (or what is lacking)."""

    title: str
    direction: str  # "up" or "down"
    key: str | None = None
    lacking: str = ""  # why the data cannot give it (for levels without ``key``)
    source: str = ""


@dataclass(frozen=True)
class ZoneRules:
    """A zone composite rule set."""

    name: str
    title: str
    indicators: tuple[ZoneIndicator, ...]
    trends: tuple[Trend, ...] = ()
    verified: bool = False
    description: str = ""
    source: str = ""


def zone_rules_from_dict(d: Mapping[str, Any], source: str = "") -> ZoneRules:
    """Build and check :class:`ZoneRules` from a dict (the parsed TOML).

    Examples
    --------
    >>> r = zone_rules_from_dict({"name": "z", "title": "测试",
    ...     "zone_indicators": [{"key": "tax_per_mu", "weight": 60}, {"key": "tax_per_mu_growth", "weight": 40,
    ...                          "method": "minmax"}]})
    >>> [(i.key, i.weight, i.method) for i in r.indicators]
    [('tax_per_mu', 60.0, 'benchmark'), ('tax_per_mu_growth', 40.0, 'minmax')]
    >>> zone_rules_from_dict({"name": "z", "title": "t", "zone_indicators": [{"key": "x", "weight": 1}]})
    Traceback (most recent call last):
    ...
    mujun.geo.rules.RuleError: zone_indicators[0].key 为 'x'，不是可用的区域指标；可用：tax_per_mu, value_added_per_mu, \
tax_per_mu_growth, value_added_per_mu_growth, d_land_improved_share, idle_disposed_share, va_per_energy, \
va_per_emission
    """
    d = _table(d, "顶层", source)
    _unknown(d, {"name", "title", "description", "source", "verified", "zone_indicators", "trends"}, "", source)
    for key in ("name", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RuleError(f"{_where(source, key)} 必须是非空文字")
    items = d.get("zone_indicators")
    if not isinstance(items, list) or not items:
        raise RuleError(f"{_where(source, 'zone_indicators')} 应为至少一项指标的列表（[[zone_indicators]]）")
    out = []
    for i, it in enumerate(items):
        k = f"zone_indicators[{i}]"
        it = _table(it, k, source)
        _unknown(it, {"key", "weight", "method", "benchmark", "cap", "floor", "base", "source", "example"}, k, source)
        name = it.get("key")
        if name not in ZONE_INDICATORS:
            raise RuleError(f"{_where(source, k + '.key')} 为 {name!r}，不是可用的区域指标；可用：{', '.join(ZONE_INDICATORS)}")
        method = it.get("method", "benchmark")
        if method not in _METHODS:
            raise RuleError(f"{_where(source, k + '.method')} 应为 \"benchmark\" 或 \"minmax\"，现为 {method!r}")
        if method == "benchmark" and ZONE_INDICATORS[name] is None and it.get("benchmark") is None:
            raise RuleError(f"{_where(source, k)} 的 {name} 是增长率，可能为负：请用 method = \"minmax\" 或给出 benchmark")
        bench = it.get("benchmark")
        bench = None if bench is None else _number(bench, k + ".benchmark", source)
        if bench is not None and bench <= 0:
            raise RuleError(f"{_where(source, k + '.benchmark')} 必须大于 0，现为 {bench:g}")
        cap = it.get("cap")
        out.append(ZoneIndicator(
            name, _number(it.get("weight"), k + ".weight", source, low=0), method, bench,
            None if cap is None or cap is False else _number(cap, k + ".cap", source, low=0),
            _number(it.get("floor", 0.0), k + ".floor", source, low=0),
            _number(it.get("base", 0.2), k + ".base", source, low=0, high=1),
            str(it.get("source", "")), bool(it.get("example", False))))
    if len({i.key for i in out}) != len(out):
        raise RuleError(f"{_where(source, 'zone_indicators')} 中有重复的指标")
    trends = []
    for i, it in enumerate(d.get("trends", [])):
        k = f"trends[{i}]"
        it = _table(it, k, source)
        _unknown(it, {"title", "direction", "key", "lacking", "source"}, k, source)
        if it.get("direction") not in TREND_DIRECTIONS:
            raise RuleError(f"{_where(source, k + '.direction')} 应为 \"up\"（提升）或 \"down\"（降低），现为 {it.get('direction')!r}")
        key = it.get("key")
        if key is not None and key not in TREND_KEYS:
            raise RuleError(f"{_where(source, k + '.key')} 为 {key!r}，不是可比较的指标；可用：{', '.join(TREND_KEYS)}")
        if key is None and not it.get("lacking"):
            raise RuleError(f"{_where(source, k)} 没有 key 时须用 lacking 说明数据缺什么")
        trends.append(Trend(str(it.get("title", "")), it["direction"], key, str(it.get("lacking", "")),
                            str(it.get("source", ""))))
    if not isinstance(d.get("verified", False), bool):
        raise RuleError(f"{_where(source, 'verified')} 应为 true 或 false，现为 {d['verified']!r}")
    return ZoneRules(d["name"], d["title"], tuple(out), tuple(trends), bool(d.get("verified", False)),
                     str(d.get("description", "")), str(d.get("source", "")))


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype("float64")


def zone_indicators(zones: pd.DataFrame, enterprises: pd.DataFrame, level: str,
                    idle: pd.DataFrame | None = None, decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every zone and year with the figures the composite and the 四提升两降低 table use.

    Parameters
    ----------
    zones : DataFrame
        Zone results of every year: the level's id (``district_id`` …), ``name``, ``year``,
        ``tax``, ``value_added``, ``output_value``, ``evaluated_mu`` (and ``lead_share`` for
        platforms).
    enterprises : DataFrame
        Enterprise results of every year: ``credit_code``, ``year``, the level's id, ``class``,
        ``land_mu``, ``tax_per_mu``, ``value_added``, ``output_value``, ``energy_tce``, ``emissions``.
    level : str
        ``district``, ``park`` or ``platform``.
    idle, decisions : DataFrame, optional
        The idle parcels of every year (``parcel_id``, ``year``, the level's id, ``area_mu``)
        and the review decisions (``parcel_id``, ``year``, ``measure``). Without decisions
        ``idle_disposed_share`` is missing: no record is not the same as nothing disposed of.

    Returns
    -------
    DataFrame
        The zones' rows with the sums and, as ratios of sums: ``tax_per_mu``,
        ``value_added_per_mu`` (万元/亩), their growth on the previous year
        (``*_growth``, a share; missing without the previous year), ``d_mu``,
        ``d_improved_mu`` (亩: land of the zone's D-class firms of the previous year, and of
        those among them classed A–C this year) and ``d_land_improved_share``,
        ``va_per_energy`` (万元/吨标准煤) and ``energy_per_va`` (吨标准煤/万元) over the firms
        with an energy figure, ``va_per_emission`` / ``emission_per_va`` likewise,
        ``output_share`` (the zone's output ÷ all firms' output of the year),
        ``idle_parcel_mu``, ``idle_disposed_mu`` and ``idle_disposed_share`` (the idle land
        decided 协议收回 or 依法收回 that year ÷ the idle land).
    """
    key = _KEYS[level]
    z = pd.DataFrame(zones.drop(columns="geometry", errors="ignore")).copy()
    z["year"] = z["year"].astype("int64")
    z[key] = z[key].astype("string")
    z["tax_per_mu"] = _ratio(z["tax"], z["evaluated_mu"])
    z["value_added_per_mu"] = _ratio(z["value_added"], z["evaluated_mu"])

    e = pd.DataFrame(enterprises.drop(columns="geometry", errors="ignore")).copy()
    e["year"] = e["year"].astype("int64")
    e[key] = e[key].astype("string")
    va = pd.to_numeric(e["value_added"], errors="coerce")
    for amount, col in (("energy_tce", "energy_value_added"), ("emissions", "emission_value_added")):
        has = pd.to_numeric(e[amount], errors="coerce").gt(0) & va.notna()
        e[col] = va.where(has, 0.0)
        e[amount] = pd.to_numeric(e[amount], errors="coerce").where(has, 0.0)
    sums = e.groupby([key, "year"])[["energy_tce", "energy_value_added", "emissions",
                                       "emission_value_added"]].sum()
    z = z.drop(columns=[c for c in sums.columns if c in z.columns]).join(sums, on=[key, "year"])
    z["va_per_energy"] = _ratio(z["energy_value_added"], z["energy_tce"])
    z["energy_per_va"] = _ratio(z["energy_tce"], z["energy_value_added"])
    z["va_per_emission"] = _ratio(z["emission_value_added"], z["emissions"])
    z["emission_per_va"] = _ratio(z["emissions"], z["emission_value_added"])
    total_output = e.groupby("year")["output_value"].sum()
    z["output_share"] = _ratio(z["output_value"], z["year"].map(total_output))

    # growth on the previous calendar year
    prev = z[[key, "year", "tax_per_mu", "value_added_per_mu"]].assign(year=z["year"] + 1)
    z = z.merge(prev, on=[key, "year"], how="left", suffixes=("", "_prev"))
    for c in ("tax_per_mu", "value_added_per_mu"):
        z[f"{c}_growth"] = z[c] / z[f"{c}_prev"].where(z[f"{c}_prev"] > 0) - 1
    z = z.drop(columns=["tax_per_mu_prev", "value_added_per_mu_prev"])

    # D-class land of the previous year whose firm was classed A–C this year, by the D year's zone
    e["district_name"] = e["district_name"] if "district_name" in e.columns else pd.NA
    follow = d_class_follow_up(e[["credit_code", "year", "class", "district_name", "land_mu", "tax_per_mu"]])
    follow = follow[["credit_code", "year", "next_year", "outcome", "land_mu"]].merge(e[["credit_code", "year", key]], on=["credit_code", "year"], how="left")
    follow["improved_mu"] = follow["land_mu"].where(follow["outcome"].eq("improved"), 0.0)
    d = follow.groupby([key, "next_year"])[["land_mu", "improved_mu"]].sum()
    d.index = d.index.set_names([key, "year"])
    z = z.join(d.rename(columns={"land_mu": "d_mu", "improved_mu": "d_improved_mu"}), on=[key, "year"])
    z["d_land_improved_share"] = _ratio(z["d_improved_mu"], z["d_mu"])

    z["idle_parcel_mu"] = z["idle_disposed_mu"] = z["idle_disposed_share"] = np.nan
    if idle is not None and decisions is not None and len(decisions):
        p = pd.DataFrame(idle[["parcel_id", "year", key, "area_mu"]]).astype({"parcel_id": "string", key: "string"})
        p["year"] = p["year"].astype("int64")
        dec = pd.DataFrame(decisions[["parcel_id", "year", "measure"]]).astype({"parcel_id": "string"})
        dec["year"] = dec["year"].astype("int64")
        dec = dec[dec["measure"].isin(DISPOSAL_MEASURES)].drop_duplicates(["parcel_id", "year"])
        p = p.merge(dec, on=["parcel_id", "year"], how="left")
        p["disposed_mu"] = p["area_mu"].where(p["measure"].notna(), 0.0)
        idle_sums = p.groupby([key, "year"])[["area_mu", "disposed_mu"]].sum()
        idle_sums.columns = ["idle_parcel_mu", "idle_disposed_mu"]
        z = z.drop(columns=list(idle_sums.columns)).join(idle_sums, on=[key, "year"])
        z["idle_disposed_share"] = _ratio(z["idle_disposed_mu"], z["idle_parcel_mu"])
    return z


def zone_composite(indicators: pd.DataFrame, rules: ZoneRules, level: str) -> pd.DataFrame:
    """The zones of each year scored with ``rules``: ``score_<key>`` per indicator,
    ``composite`` (their sum), ``composite_weight`` (the weights of the indicators scored that
    year) and ``composite_rank`` within the year (1 = best).

    A ``benchmark`` indicator scores weight × value / benchmark (the year's ratio of sums over
    all zones unless the rule gives one), kept between floor × weight and cap × weight; a
    ``minmax`` indicator weight × (base + (1 − base) × (x − min) / (max − min)), the full
    weight when every zone has the same value. A zone without the value gets the mean
    sub-score of the year's zones with one; an indicator no zone has in a year is left out.

    Examples
    --------
    >>> z = pd.DataFrame({"district_id": ["a", "b"], "year": 2025, "tax": [300.0, 100.0],
    ...     "evaluated_mu": [10.0, 10.0], "tax_per_mu": [30.0, 10.0], "tax_per_mu_growth": [0.1, -0.1]})
    >>> r = zone_rules_from_dict({"name": "z", "title": "t", "zone_indicators": [
    ...     {"key": "tax_per_mu", "weight": 60}, {"key": "tax_per_mu_growth", "weight": 40, "method": "minmax"}]})
    >>> zone_composite(z, r, "district")[["district_id", "score_tax_per_mu", "composite", "composite_rank"]
    ...     ].values.tolist()
    [['a', 90.0, 130.0, 1], ['b', 30.0, 38.0, 2]]
    """
    key = _KEYS[level]
    out = indicators.copy()
    year = out["year"]
    scores = []
    for ind in rules.indicators:
        col = f"score_{ind.key}"
        x = pd.to_numeric(out[ind.key], errors="coerce") if ind.key in out.columns else pd.Series(
            np.nan, index=out.index)
        if ind.method == "benchmark":
            if ind.benchmark is not None:
                bench = pd.Series(ind.benchmark, index=out.index)
            else:
                num, den = ZONE_INDICATORS[ind.key]  # type: ignore[misc]
                has = x.notna()
                sums = out[has].groupby("year")[[num, den]].sum()
                bench = year.map(_ratio(sums[num], sums[den]))
            s = ind.weight * x / bench.where(bench > 0)
            s = s.clip(lower=ind.floor * ind.weight, upper=None if ind.cap is None else ind.cap * ind.weight)
        else:
            low, high = x.groupby(year).transform("min"), x.groupby(year).transform("max")
            span = (high - low).where(high > low)
            s = ind.weight * (ind.base + (1 - ind.base) * ((x - low) / span).fillna(1.0).where(x.notna()))
        out[col] = s.fillna(s.groupby(year).transform("mean")).astype("float64")
        scores.append(col)
    out["composite"] = out[scores].sum(axis=1, min_count=1)
    weights = pd.Series({f"score_{i.key}": i.weight for i in rules.indicators})
    out["composite_weight"] = out[scores].notna().astype("float64") @ weights[scores]
    out["composite_rank"] = out.groupby("year")["composite"].rank(method="min", ascending=False).astype("Int64")
    return out.sort_values(["year", "composite_rank", key], kind="mergesort").reset_index(drop=True)


def trend_table(indicators: pd.DataFrame, rules: ZoneRules, zone_id: str, year: int, level: str) -> pd.DataFrame:
    """The 四提升两降低 table of one zone: each indicator in ``year − 1`` and ``year``, its
    change, and whether it moved the right way (``right_way``; missing without both years).
    Indicators the data lacks for the level are listed with ``lacking`` (why) and no figures.

    Examples
    --------
    >>> z = pd.DataFrame({"park_id": ["p", "p"], "year": [2024, 2025], "tax_per_mu": [20.0, 22.0],
    ...     "energy_per_va": [0.5, 0.6]})
    >>> r = ZoneRules("z", "t", (), (Trend("亩产效益", "up", "tax_per_mu"), Trend("单位能耗", "down", "energy_per_va"),
    ...     Trend("特色产业占比", "up", "lead_share", "园区没有主导产业")))
    >>> trend_table(z, r, "p", 2025, "park")[["title", "previous", "value", "change", "right_way", "lacking"]
    ...     ].values.tolist()
    [['亩产效益', 20.0, 22.0, 2.0, True, ''], ['单位能耗', 0.5, 0.6, 0.09999999999999998, False, ''], \
['特色产业占比', nan, nan, nan, <NA>, '园区没有主导产业']]
    """
    key = _KEYS[level]
    z = indicators[indicators[key].astype("string").eq(str(zone_id))]
    now = z[z["year"].astype("int64").eq(int(year))]
    before = z[z["year"].astype("int64").eq(int(year) - 1)]
    rows = []
    for t in rules.trends:
        has = t.key is not None and t.key in z.columns
        cur = float(now[t.key].iloc[0]) if has and len(now) and pd.notna(now[t.key].iloc[0]) else math.nan
        prev = float(before[t.key].iloc[0]) if has and len(before) and pd.notna(before[t.key].iloc[0]) else math.nan
        rows.append({"title": t.title, "direction": t.direction, "direction_label": TREND_DIRECTIONS[t.direction],
                     "key": t.key if has else None, "previous": prev, "value": cur,
                     "lacking": "" if has else (t.lacking or "数据没有该指标"), "source": t.source})
    out = pd.DataFrame(rows, columns=["title", "direction", "direction_label", "key", "previous", "value",
                                      "lacking", "source"])
    out["change"] = out["value"] - out["previous"]
    out["change_share"] = out["change"] / out["previous"].where(out["previous"] != 0).abs()
    sign = out["direction"].map({"up": 1.0, "down": -1.0})
    right = pd.Series((out["change"] * sign > 0).to_numpy(), dtype="boolean")
    out["right_way"] = right.where(out["change"].notna().to_numpy())
    return out[["title", "direction", "direction_label", "key", "previous", "value", "change", "change_share",
                "right_way", "lacking", "source"]]
