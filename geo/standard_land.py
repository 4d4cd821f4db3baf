"""标准地 indicator sets: the indicators proposed for a new industrial land offer.

Each value is a percentile of what the evaluated firms of the same industry (GB/T 4754
division, two digits) already reach in the district: 亩均税收, 亩均增加值 and 单位能耗增加值
from the firms, 投资强度 and 容积率 from the parcels they hold. A district with too few firms
of the industry is widened to the whole workspace (the city). 容积率 and 投资强度 are never
proposed below the land-use control indicators' minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mujun.geo.compliance import division_2002
from mujun.geo.errors import InputError
from mujun.geo.rules import ControlRules, RuleError

__all__ = [
    "DATA_EDITION",
    "INDICATORS",
    "QUARTILES",
    "StandardLandRules",
    "StandardLandSet",
    "standard_land",
    "standard_land_rules_from_dict",
]

#: The indicators of a set, in the order shown, and where each value comes from.
INDICATORS = {
    "investment_intensity": "parcel",
    "plot_ratio": "parcel",
    "tax_per_mu": "firm",
    "value_added_per_mu": "firm",
    "va_per_energy": "firm",
}
#: Percentiles shown beside the chosen one, to show each population's spread.
QUARTILES = (25.0, 50.0, 75.0)
#: The GB/T 4754 edition of the workspace's industry codes.
DATA_EDITION = "GB/T 4754-2017"
_BASIS = {"parcel": "地块（宗）", "firm": "企业（家）"}


@dataclass(frozen=True)
class StandardLandRules:
    """How a 标准地 set is drawn: the default percentile and the fewest firms a district needs."""

    name: str
    title: str
    percentile: float
    min_firms: int
    verified: bool = False
    description: str = ""
    source: str = ""


def standard_land_rules_from_dict(d: Mapping[str, Any], source: str = "") -> StandardLandRules:
    """Build and check :class:`StandardLandRules` from a dict (the parsed TOML).

    Examples
    --------
    >>> r = standard_land_rules_from_dict({"name": "t", "title": "测试",
    ...     "standard_land": {"percentile": 60, "min_firms": 10}})
    >>> r.percentile, r.min_firms
    (60.0, 10)
    >>> standard_land_rules_from_dict({"name": "t", "title": "测试", "standard_land": {"percentile": 120,
    ...     "min_firms": 10}}, "x.toml")
    Traceback (most recent call last):
    ...
    mujun.geo.rules.RuleError: 规则文件 x.toml 的 standard_land.percentile 应为 0 到 100 之间的数，现为 120
    """
    where = f"规则文件 {source} 的 " if source else ""
    if not isinstance(d, Mapping):
        raise RuleError(f"{where}顶层应为表")
    extra = sorted(set(d) - {"name", "title", "description", "source", "verified", "standard_land"})
    if extra:
        raise RuleError(f"{where}顶层有未知的键 {', '.join(extra)}")
    for key in ("name", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RuleError(f"{where}{key} 必须是非空文字")
    t = d.get("standard_land")
    if not isinstance(t, Mapping):
        raise RuleError(f"{where}standard_land 应为表（[standard_land]）")
    extra = sorted(set(t) - {"percentile", "min_firms"})
    if extra:
        raise RuleError(f"{where}standard_land 有未知的键 {', '.join(extra)}；可用：min_firms, percentile")
    p = t.get("percentile")
    if isinstance(p, bool) or not isinstance(p, int | float) or not (0 <= p <= 100):
        raise RuleError(f"{where}standard_land.percentile 应为 0 到 100 之间的数，现为 {p!r}")
    n = t.get("min_firms")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RuleError(f"{where}standard_land.min_firms 应为不小于 1 的整数（家），现为 {n!r}")
    if not isinstance(d.get("verified", False), bool):
        raise RuleError(f"{where}verified 应为 true 或 false，现为 {d['verified']!r}")
    return StandardLandRules(d["name"], d["title"], float(p), int(n), bool(d.get("verified", False)),
                             str(d.get("description", "")), str(d.get("source", "")))


@dataclass
class StandardLandSet:
    """A proposed 标准地 indicator set and the populations its values come from.

    ``table`` has one row per indicator: ``indicator``, ``label``, ``unit``, ``basis`` (企业（家） /
    地块（宗）: what ``count`` counts), ``count`` (the population's size), ``p25``, ``p50``, ``p75``, ``chosen`` (the
    population's value at ``percentile``), ``minimum`` (the control indicators' floor, or
    missing), ``value`` (the proposal: ``chosen`` raised to ``minimum``), ``raised`` and ``note``.
    """

    district_id: str
    district_name: str
    division: str
    percentile: float
    min_firms: int
    district_firms: int
    widened: bool
    population_firms: int
    table: pd.DataFrame
    divisions_2002: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def scope(self) -> str:
        """Where the populations come from, in words."""
        return "全市（工作空间内各区县）" if self.widened else self.district_name


def _check_division(division: str) -> str:
    code = str(division).strip()
    if not (code.isdigit() and len(code) == 2):
        raise InputError(f"行业代码应为两位 GB/T 4754-2017 大类代码（如 17 纺织业），收到 '{division}'")
    return code


def _district(firms: pd.DataFrame, district: str) -> tuple[str, str]:
    ids = firms["district_id"].astype("string")
    names = firms["district_name"].astype("string") if "district_name" in firms.columns else ids
    hit = (ids == district) | (names == district)
    if not hit.fillna(False).any():
        known = sorted(set(names.dropna().astype(str)))
        raise InputError(f"没有行政区 '{district}' 的参评企业；可用：{'、'.join(known) or '无'}")
    first = firms.loc[hit.fillna(False).to_numpy()].iloc[0]
    return str(first["district_id"]), str(first.get("district_name", first["district_id"]))


def _spread(values: pd.Series, percentile: float) -> dict[str, float]:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    v = v[np.isfinite(v)]
    if v.empty:
        return {"count": 0, "p25": np.nan, "p50": np.nan, "p75": np.nan, "chosen": np.nan}
    q = np.percentile(v.to_numpy(), [*QUARTILES, percentile])  # linear interpolation between ranks
    return {"count": len(v), "p25": q[0], "p50": q[1], "p75": q[2], "chosen": q[3]}


def _minimums(control: ControlRules, codes: pd.Series, division: str,
              concordance: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, float], list[str], list[str]]:
    """The control indicators' floors of 容积率 and 投资强度, the divisions they were read for,
    and notes on what the rules do not fix."""
    notes = []
    if control.edition == DATA_EDITION:
        divs = [division]
    else:
        divs = division_2002(codes, DATA_EDITION, concordance).dropna().unique().tolist() if len(codes) else []
        if not divs:
            divs = division_2002(pd.Series([division]), DATA_EDITION, concordance).dropna().tolist()
    divs = sorted(str(d) for d in divs)
    known = [control.plot_ratio_min[d] for d in divs if d in control.plot_ratio_min]
    out = {}
    if known:
        # a 2017 division spread over several older ones takes the strictest of their floors
        out["plot_ratio"] = max(known)
    else:
        notes.append(f"用地控制指标《{control.title}》没有该行业的容积率下限，容积率只按分位数提出")
    op_value = control.limits.get("investment_intensity")
    if op_value is not None and op_value[0] == ">=":
        out["investment_intensity"] = op_value[1]
    else:
        notes.append(f"用地控制指标《{control.title}》未规定投资强度下限，投资强度只按同行业企业地块的分位数提出")
    return out, divs, notes


def standard_land(
    firms: pd.DataFrame,
    parcels: pd.DataFrame,
    *,
    district: str,
    division: str,
    rules: StandardLandRules,
    control: ControlRules,
    concordance: Mapping[str, Mapping[str, str]],
    percentile: float | None = None,
) -> StandardLandSet:
    """The 标准地 indicator set for a new land offer in ``district`` and industry ``division``.

    Parameters
    ----------
    firms : DataFrame
        The year's evaluated firms: ``credit_code``, ``district_id``, ``district_name``,
        ``industry_code`` (GB/T 4754-2017) and the per-firm indicators.
    parcels : DataFrame
        The year's parcels: ``parcel_id``, ``holder_code``, ``building_count``,
        ``plot_ratio`` and ``investment_intensity``.
    district : str
        The district, by name (柯桥区) or code.
    division : str
        Two-digit GB/T 4754-2017 division (``"17"``).
    rules : StandardLandRules
        Default percentile and the fewest firms of the industry a district needs; with fewer
        the populations are the industry's firms in every district (the city).
    control : ControlRules
        The floors of 容积率 (by division, in ``control.edition``) and 投资强度.
    concordance : mapping
        GB/T 4754-2017 → 2002 table (:func:`mujun.layers.rulesets.industry_concordance`).
    percentile : float, optional
        0–100; default ``rules.percentile``.

    Returns
    -------
    StandardLandSet

    Examples
    --------
    >>> from mujun.geo.rules import control_rules_from_dict
    >>> firms = pd.DataFrame({"credit_code": list("abcde"), "district_id": ["1"] * 5,
    ...     "district_name": ["甲区"] * 5, "industry_code": ["1711"] * 5,
    ...     "tax_per_mu": [10.0, 20.0, 30.0, 40.0, 50.0]})
    >>> parcels = pd.DataFrame({"parcel_id": ["p1", "p2"], "holder_code": ["a", "b"],
    ...     "building_count": [2, 1], "plot_ratio": [0.5, 0.7], "investment_intensity": [200.0, 300.0]})
    >>> control = control_rules_from_dict({"name": "g", "title": "国标", "edition": "GB/T 4754-2017",
    ...     "plot_ratio_min": {"17": 0.8}})
    >>> rules = StandardLandRules("s", "示例", 60.0, 3)
    >>> s = standard_land(firms, parcels, district="甲区", division="17", rules=rules, control=control,
    ...                   concordance={})
    >>> s.table.set_index("indicator").loc[["tax_per_mu", "plot_ratio"], ["count", "chosen", "value"]]
                        count  chosen  value
    indicator
    tax_per_mu              5   34.00  34.00
    plot_ratio              2    0.62   0.80
    """
    from mujun.layers.schema import FIELDS_BY_NAME  # labels and units: one vocabulary

    code = _check_division(division)
    pct = rules.percentile if percentile is None else float(percentile)
    if not (0 <= pct <= 100) or math.isnan(pct):
        raise InputError(f"分位数应在 0 到 100 之间（如 60），收到 {percentile}")
    if firms.empty:
        raise InputError("没有参评企业；请先运行 mujun evaluate")
    district_id, district_name = _district(firms, district)
    of_industry = firms[firms["industry_code"].astype("string").str[:2].eq(code).fillna(False).to_numpy()]
    if of_industry.empty:
        raise InputError(f"工作空间中没有行业 {code} 的参评企业；请检查行业代码（GB/T 4754-2017 两位大类代码）")
    in_district = of_industry["district_id"].astype("string").eq(district_id).fillna(False).to_numpy()
    district_firms = int(of_industry.loc[in_district, "credit_code"].nunique())
    widened = district_firms < rules.min_firms
    pop = of_industry if widened else of_industry[in_district]
    held = parcels[parcels["holder_code"].astype("string").isin(pop["credit_code"].astype("string"))
                   .fillna(False).to_numpy()].drop_duplicates("parcel_id")
    if not widened and "district_id" in held.columns:
        held = held[held["district_id"].astype("string").eq(district_id).fillna(False).to_numpy()]
    built = held[pd.to_numeric(held["building_count"], errors="coerce").fillna(0).to_numpy() > 0]
    minimum, divs, notes = _minimums(control, pop["industry_code"], code, concordance)

    rows = []
    for ind, basis in INDICATORS.items():  # five indicators, not a loop over firms
        if basis == "firm":
            values = pop[ind] if ind in pop.columns else pd.Series(dtype="float64")
        elif ind == "plot_ratio":  # built parcels only: bare land has no plot ratio to learn from
            values = built[ind] if ind in built.columns else pd.Series(dtype="float64")
        else:
            values = held[ind] if ind in held.columns else pd.Series(dtype="float64")
            values = values.where(pd.to_numeric(values, errors="coerce") > 0)
        s = _spread(values, pct)
        floor = minimum.get(ind, np.nan)
        chosen = s["chosen"]
        value = np.fmax(chosen, floor)  # NaN-aware: the floor alone when the population is empty
        raised = bool(not np.isnan(floor) and (np.isnan(chosen) or chosen < floor))
        if s["count"] == 0:
            note = "没有数据，按控制指标下限" if not np.isnan(floor) else "没有数据，不提出"
        elif raised:
            note = "分位数低于控制指标下限，取下限"
        else:
            note = ""
        f = FIELDS_BY_NAME[ind]
        rows.append({"indicator": ind, "label": f.label, "unit": f.unit or "", "basis": _BASIS[basis],
                     **s, "minimum": floor, "value": value, "raised": raised, "note": note})
    table = pd.DataFrame(rows)
    table["count"] = table["count"].astype("int64")
    if widened:
        notes.insert(0, f"{district_name}行业 {code} 只有 {district_firms} 家参评企业，少于 {rules.min_firms} 家，"
                        f"样本扩大到全市（工作空间内各区县）")
    return StandardLandSet(district_id, district_name, code, pct, rules.min_firms, district_firms, widened,
                           int(pop["credit_code"].nunique()), table, divs, notes)
