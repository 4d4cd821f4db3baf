"""Idle land (闲置土地, 国土资源部令第53号) and inefficient land (低效用地) flags.

Every flag is one row with the parcel, the kind, the rule, a Chinese reason carrying the
figures, the measured value and the threshold.

Idle (闲置):

- 未动工: not started one full year after the agreed start date (no start date recorded and
  no buildings), counted to the evaluation date;
- 开发不足后停工: started, but developed area under 1/3 of the parcel or investment under 25 %
  of the agreed total, and no progress for a full year: since the recorded stop date
  (``suspended_since``), or else, for a parcel whose holder reports no output, since the
  start date. Developed area is measured as the building coefficient over the
  coverage a finished plot reaches (rule ``coverage_target``, default 30 %), or by the
  built-up fraction seen on imagery where a raster is registered, whichever is larger;
- 影像显示空置: a parcel on record as built (buildings registered, or a start date) whose
  holder reports output, but whose imagery shows at most ``bare_builtup_max`` (10 %)
  built-up.

Inefficient (低效, by the rule set): 亩均税收 below the industry guideline; 容积率 below the
minimum for a built parcel outside the exempt industries; held by a D-class enterprise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo.compliance import FAILED
from mujun.geo.rules import CLASSES, DEFAULT_CLASS_NAMES, RuleSet

__all__ = ["FLAG_KINDS", "idle_flags", "inefficient_flags", "noncompliance_flags"]

#: Flag ids and their Chinese names.
FLAG_KINDS = {"idle": "闲置", "inefficient": "低效", "noncompliant": "不达标"}
_D = CLASSES[-1]  # the class whose land is inefficient (倒逼整治)
_COLUMNS = ["parcel_id", "kind", "kind_label", "rule", "reason", "value", "threshold"]


def _frame(p: pd.DataFrame, kind: str, rule: str, reason: pd.Series, value, threshold) -> pd.DataFrame:
    n = len(p)
    return pd.DataFrame({
        "parcel_id": p["parcel_id"].to_numpy(),
        "kind": kind,
        "kind_label": FLAG_KINDS[kind],
        "rule": rule,
        "reason": reason.to_numpy() if n else [],
        "value": np.broadcast_to(np.asarray(value, dtype="float64"), (n,)),
        "threshold": np.broadcast_to(np.asarray(threshold, dtype="float64"), (n,)),
    }, columns=_COLUMNS)


def _num(p: pd.DataFrame, col: str, default: float = np.nan) -> pd.Series:
    if col not in p.columns:
        return pd.Series(default, index=p.index, dtype="float64")
    return pd.to_numeric(p[col], errors="coerce").astype("float64")


def _date(p: pd.DataFrame, col: str) -> pd.Series:
    if col not in p.columns:
        return pd.Series(pd.NaT, index=p.index, dtype="datetime64[ms]")
    return pd.to_datetime(p[col], errors="coerce")


def _text_date(d: pd.Series) -> pd.Series:
    return d.dt.strftime("%Y-%m-%d").astype("string")


def idle_flags(
    parcels: pd.DataFrame, rules: RuleSet, as_of: pd.Timestamp, builtup: pd.Series | None = None
) -> pd.DataFrame:
    """Idle-land flags of a year's parcels (see the module notes for the rules).

    Parameters
    ----------
    parcels : DataFrame
        Parcel results with ``parcel_id``, ``area_mu``, ``footprint_m2``,
        ``building_coefficient``, ``investment``, ``contract_investment`` and dates
        ``agreed_start``, ``actual_start``, ``suspended_since``.
    rules : RuleSet
    as_of : Timestamp
        Evaluation date.
    builtup : Series, optional
        Observed built-up fraction (0–1) per parcel from imagery, on the parcels' index.

    Examples
    --------
    >>> from mujun.geo.rules import rule_set_from_dict
    >>> r = rule_set_from_dict({"name": "t", "title": "t",
    ...     "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    >>> p = pd.DataFrame({"parcel_id": ["a", "b"], "area_mu": [30.0, 30.0], "footprint_m2": [0.0, 0.0],
    ...     "agreed_start": pd.to_datetime(["2024-06-30", "2024-07-01"]), "actual_start": [pd.NaT, pd.NaT]})
    >>> idle_flags(p, r, pd.Timestamp("2025-06-30"))[["parcel_id", "rule"]].to_dict("records")
    [{'parcel_id': 'a', 'rule': '未动工满一年'}]
    """
    agreed = _date(parcels, "agreed_start")
    started = _date(parcels, "actual_start")
    footprint = _num(parcels, "footprint_m2", 0.0).fillna(0.0)
    one_year = pd.DateOffset(years=1)
    frames = []

    not_started = agreed.notna() & started.isna() & (footprint <= 0) & (agreed + one_year <= as_of)
    p = parcels[not_started]
    days = (as_of - agreed[not_started]).dt.days
    reason = ("约定开工日期 " + _text_date(agreed[not_started]) + " 起已满一年仍未开工（至 "
              + as_of.strftime("%Y-%m-%d") + "，共 " + days.astype("string") + " 天）")
    frames.append(_frame(p, "idle", "未动工满一年", reason, days.to_numpy(), 365))

    coverage = _num(parcels, "building_coefficient")  # unknown without building data: not judged
    developed = (coverage / rules.idle_coverage_target).clip(upper=1.0)
    if builtup is not None:
        developed = np.fmax(developed, (builtup / rules.idle_coverage_target).clip(upper=1.0))
    invest = _num(parcels, "investment")
    total = _num(parcels, "contract_investment") * parcels["area_mu"]
    invest_share = invest / total.where(total > 0)
    # no progress since: the recorded stop date, or else — for a parcel that produces
    # nothing — its start date; a parcel in production has not stopped
    producing = _num(parcels, "output_value") > 0
    last = _date(parcels, "suspended_since").fillna(started.where(~producing))
    stalled = started.notna() & (last + one_year <= as_of)
    eps = 1e-9  # "under one third": a share equal to the limit up to rounding is not under it
    low_dev = stalled & (developed < rules.idle_developed_share - eps)
    low_inv = stalled & ~low_dev & (invest_share < rules.idle_investment_share - eps)
    for mask, rule, value, threshold, what in (
        (low_dev, "开发面积不足三分之一且停工满一年", developed, rules.idle_developed_share, "已开发面积比例"),
        (low_inv, "投资不足四分之一且停工满一年", invest_share, rules.idle_investment_share, "已完成投资比例"),
    ):
        p = parcels[mask]
        reason = (what + " " + (value[mask] * 100).round(1).astype("string") + "% 低于 "
                  + f"{threshold * 100:.1f}%，自 " + _text_date(last[mask]) + " 起满一年无进展")
        frames.append(_frame(p, "idle", rule, reason, value[mask].to_numpy(), threshold))

    if builtup is not None:
        # on record as built and producing: buildings registered or construction started
        on_record = (_num(parcels, "building_count", 0.0) > 0) | started.notna()
        bare = producing & on_record & (builtup <= rules.bare_builtup_max)
        p = parcels[bare]
        reason = ("权利人申报在产，但影像建成比例仅 " + (builtup[bare] * 100).round(1).astype("string")
                  + f"%（不高于 {rules.bare_builtup_max * 100:.0f}%）")
        frames.append(_frame(p, "idle", "在产但影像显示空置", reason, builtup[bare].to_numpy(), rules.bare_builtup_max))
    return pd.concat(frames, ignore_index=True)


def inefficient_flags(parcels: pd.DataFrame, rules: RuleSet, division: pd.Series) -> pd.DataFrame:
    """Inefficient-land flags of a year's parcels.

    Parameters
    ----------
    parcels : DataFrame
        Parcel results with ``parcel_id``, ``evaluated``, ``tax_per_mu``, ``plot_ratio``,
        ``building_count`` and the holder's ``class``.
    rules : RuleSet
    division : Series
        Two-digit industry division of each parcel's holder, in the rule set's edition.
    """
    frames = []
    evaluated = parcels.get("evaluated", pd.Series(True, index=parcels.index)).astype(bool)
    if rules.low_tax_per_mu:
        default = rules.low_tax_per_mu.get("default", np.nan)
        guide = division.map({k: v for k, v in rules.low_tax_per_mu.items() if k != "default"})
        guide = guide.astype("float64").fillna(default)
        tax = parcels["tax_per_mu"]
        low = evaluated & (tax < guide)
        p = parcels[low]
        ind = division[low].fillna("—")
        reason = ("亩均税收 " + tax[low].round(2).astype("string") + " 万元/亩 低于行业（" + ind
                  + "）指南 " + guide[low].round(2).astype("string") + " 万元/亩")
        frames.append(_frame(p, "inefficient", "亩均税收低于指南", reason, tax[low].to_numpy(), guide[low].to_numpy()))
    if rules.low_plot_ratio is not None:
        exempt = division.isin(list(rules.low_plot_ratio_exempt)).fillna(False).astype(bool)
        far = parcels["plot_ratio"]
        low = (parcels["building_count"] > 0) & (far < rules.low_plot_ratio) & ~exempt
        p = parcels[low]
        reason = "容积率 " + far[low].round(2).astype("string") + f" 低于 {rules.low_plot_ratio:g}"
        frames.append(_frame(p, "inefficient", "容积率偏低", reason, far[low].to_numpy(), rules.low_plot_ratio))
    if rules.d_class_is_inefficient and "class" in parcels.columns:
        d = (parcels["class"] == _D).fillna(False).astype(bool)
        p = parcels[d]
        name = parcels.get("holder_enterprise_name", parcels.get("holder_name"))
        if name is None:  # neither the enterprise's nor the registered holder's name is known
            name = pd.Series(pd.NA, index=parcels.index, dtype="string")
        reason = "权利人 " + name[d].astype("string").fillna("") + f" 评为 {_D} 类（{DEFAULT_CLASS_NAMES[_D]}）"
        frames.append(_frame(p, "inefficient", f"权利人为{_D}类企业", reason, np.nan, np.nan))
    if not frames:
        return pd.DataFrame(columns=_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def noncompliance_flags(checks: pd.DataFrame) -> pd.DataFrame:
    """One flag per failed compliance check (see :func:`mujun.geo.compliance.compliance`)."""
    failed = checks[checks["status"] == FAILED]
    reason = (failed["label"] + " " + failed["measured"].round(3).astype("string") + "，要求 "
              + failed["required_text"] + "（" + failed["source"] + "）")
    out = _frame(failed, "noncompliant", "", reason, failed["measured"].to_numpy(), failed["required"].to_numpy())
    out["rule"] = (failed["label"] + FLAG_KINDS["noncompliant"]).to_numpy()
    return out
