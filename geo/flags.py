"""Idle land (闲置土地, 国土资源部令第53号) and inefficient land (低效用地) flags.

Every flag is one row with the parcel, the kind, the rule, a Chinese reason carrying the
figures, the measured value and the threshold, on the label of the parcel's row (the index of
the parcels given): a caller finds the row it marks without matching ids.

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
  built-up — unless its registered buildings cover at least the control minimum (建筑系数):
  then imagery and building layer contradict each other, and the parcel is a 需现场核查
  candidate (:func:`site_checks`), not idle.

The "full year" is the rule set's ``idle.fee_years``. The measure due on land idle under the
first two rules (:func:`idle_tiers`, 令第53号 第十四条): after ``fee_years`` the 土地闲置费,
``fee_share`` (20 %) of the 出让价款; after ``recovery_years`` recovery without compensation
(无偿收回). A delay caused by the government or by force majeure (第八条; the parcel's
``idle_exemption``: 政府原因 / 不可抗力) suspends both.

Inefficient (低效, by the rule set): 亩均税收 below the industry guideline; 容积率 below the
minimum for a built parcel outside the exempt industries; held by a D-class enterprise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.geo._keys import arrow_text, lookup, number_text, pandas_text, repeat_text
from mujun.geo.compliance import FAILED
from mujun.geo.errors import InputError
from mujun.geo.rules import CLASSES, DEFAULT_CLASS_NAMES, RuleSet

__all__ = ["CHECK_KINDS", "EXEMPTIONS", "FLAG_KINDS", "IDLE_TIERS", "idle_flags", "idle_tier_totals", "idle_tiers",
           "inefficient_flags", "noncompliance_flags", "site_checks"]

#: Flag ids and their Chinese names.
FLAG_KINDS = {"idle": "闲置", "inefficient": "低效", "noncompliant": "不达标"}
#: Evidence to verify on the ground, not a judgement: imagery contradicting the building layer.
CHECK_KINDS = {"site_check": "需现场核查"}
#: Measures due on idle land (令第53号 第十四条, 第八条) and their Chinese names.
IDLE_TIERS = {"fee": "征缴土地闲置费", "recovery": "无偿收回候选", "suspended": "暂停处置"}
#: Causes of delay that suspend the measures (第八条); an ``idle_exemption`` starts with one.
EXEMPTIONS = ("政府原因", "不可抗力")
_KIND_LABELS = {**FLAG_KINDS, **CHECK_KINDS}
_EPS = 1e-9  # a share equal to a limit up to rounding is not beyond it
_D = CLASSES[-1]  # the class whose land is inefficient (倒逼整治)
_COLUMNS = ["parcel_id", "kind", "kind_label", "rule", "reason", "value", "threshold"]


def _frame(p: pd.DataFrame, kind: str, rule: str, reason: pd.Series, value, threshold) -> pd.DataFrame:
    """The flags of the parcels ``p`` (rows of the parcels judged), on ``p``'s index: each flag
    keeps the label of the parcel's row."""
    n = len(p)
    return pd.DataFrame({
        # text stays in Arrow (a million flags are not turned into Python strings and back)
        "parcel_id": arrow_text(p["parcel_id"]),
        "kind": repeat_text(kind, n),
        "kind_label": repeat_text(_KIND_LABELS[kind], n),
        "rule": repeat_text(rule, n),
        "reason": arrow_text(reason) if n else repeat_text("", 0),
        "value": np.broadcast_to(np.asarray(value, dtype="float64"), (n,)),
        "threshold": np.broadcast_to(np.asarray(threshold, dtype="float64"), (n,)),
    }, columns=_COLUMNS, index=p.index)


def _no_flags() -> pd.DataFrame:
    """No flags, typed as :func:`_frame` types them: an empty part of a concatenation keeps the
    others' Arrow text (an untyped one would turn a million flags into Python strings)."""
    return _frame(pd.DataFrame({"parcel_id": pd.Series([], dtype="string")}), "site_check", "",
                  pd.Series([], dtype="string"), np.nan, np.nan)


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


def _years_text(n: int) -> str:
    """``一年``, ``两年``, ``3 年``: how the rules' whole years read in a reason."""
    return {1: "一年", 2: "两年"}.get(n, f" {n} 年")


def _idle_clock(parcels: pd.DataFrame, rules: RuleSet, as_of: pd.Timestamp,
                builtup: pd.Series | None) -> dict[str, tuple[pd.Series, pd.Series]]:
    """The parcels idle under 令第53号 第二条, by rule: ``{rule: (mask, idle since)}``."""
    agreed = _date(parcels, "agreed_start")
    started = _date(parcels, "actual_start")
    footprint = _num(parcels, "footprint_m2", 0.0).fillna(0.0)
    years = pd.DateOffset(years=rules.idle_fee_years)
    not_started = _years_past(agreed, years, as_of, started.isna() & (footprint <= 0))

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
    stalled = _years_past(last, years, as_of, started.notna())
    low_dev = stalled & (developed < rules.idle_developed_share - _EPS)
    low_inv = stalled & ~low_dev & (invest_share < rules.idle_investment_share - _EPS)
    n = _years_text(rules.idle_fee_years)
    return {
        f"未动工满{n}": (not_started, agreed, None),
        f"开发面积不足三分之一且停工满{n}": (low_dev, last, developed),
        f"投资不足四分之一且停工满{n}": (low_inv, last, invest_share),
    }


def _bare(parcels: pd.DataFrame, rules: RuleSet, builtup: pd.Series) -> pd.Series:
    """Producing parcels on record as built (buildings registered or construction started)
    whose imagery shows at most ``bare_builtup_max`` built-up."""
    producing = _num(parcels, "output_value") > 0
    on_record = (_num(parcels, "building_count", 0.0) > 0) | _date(parcels, "actual_start").notna()
    return producing & on_record & (builtup <= rules.bare_builtup_max)


def _covered(parcels: pd.DataFrame, coverage_min: float | None) -> pd.Series:
    """Parcels whose registered buildings cover at least the control minimum (建筑系数)."""
    if coverage_min is None:
        return pd.Series(False, index=parcels.index)
    return _num(parcels, "building_coefficient") >= coverage_min - _EPS


def idle_flags(
    parcels: pd.DataFrame, rules: RuleSet, as_of: pd.Timestamp, builtup: pd.Series | None = None, *,
    coverage_min: float | None = None,
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
    coverage_min : float, optional
        The control rules' minimum 建筑系数: a parcel whose buildings cover at least this
        much is not called idle on imagery alone (see :func:`site_checks`).

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
    frames = []
    n = _years_text(rules.idle_fee_years)
    clock = _idle_clock(parcels, rules, as_of, builtup)
    for rule, (mask, since, value) in clock.items():
        p = parcels.loc[mask, ["parcel_id"]]  # the ids only: a flag copies no other column
        if value is None:  # not started: the days since the agreed start
            days = (as_of - since[mask]).dt.days
            reason = ("约定开工日期 " + _text_date(since[mask]) + f" 起已满{n}仍未开工（至 "
                      + as_of.strftime("%Y-%m-%d") + "，共 " + days.astype("string") + " 天）")
            frames.append(_frame(p, "idle", rule, reason, days.to_numpy(), 365 * rules.idle_fee_years))
            continue
        threshold, what = ((rules.idle_developed_share, "已开发面积比例") if rule.startswith("开发")
                           else (rules.idle_investment_share, "已完成投资比例"))
        reason = (what + " " + (value[mask] * 100).round(1).astype("string") + "% 低于 "
                  + f"{threshold * 100:.1f}%，自 " + _text_date(since[mask]) + f" 起满{n}无进展")
        frames.append(_frame(p, "idle", rule, reason, value[mask].to_numpy(), threshold))

    if builtup is not None:
        bare = _bare(parcels, rules, builtup) & ~_covered(parcels, coverage_min)
        p = parcels.loc[bare, ["parcel_id"]]  # the ids only: a flag copies no other column
        reason = ("权利人申报在产，但影像建成比例仅 " + (builtup[bare] * 100).round(1).astype("string")
                  + f"%（不高于 {rules.bare_builtup_max * 100:.0f}%）")
        frames.append(_frame(p, "idle", "在产但影像显示空置", reason, builtup[bare].to_numpy(), rules.bare_builtup_max))
    return pd.concat(frames)  # (each flag on its parcel's row label)


def _years_past(dates: pd.Series, years: pd.DateOffset, as_of: pd.Timestamp, among: pd.Series) -> pd.Series:
    """``among & (dates + years <= as_of)``, the calendar offset (a shift of each date's year,
    not a fixed length) added only to the dates of the rows ``among``."""
    rows = among.fillna(False).to_numpy(dtype=bool) & dates.notna().to_numpy()
    out = np.zeros(len(dates), dtype=bool)
    out[rows] = (dates[rows] + years <= as_of).to_numpy(dtype=bool)
    return pd.Series(out, index=dates.index)


def idle_tiers(parcels: pd.DataFrame, rules: RuleSet, as_of: pd.Timestamp,
               builtup: pd.Series | None = None) -> pd.DataFrame:
    """The measure due on each parcel idle under 令第53号 第二条 (not started, or stalled
    under-developed), on the parcels' index; missing for the others.

    Columns: ``idle_since`` (the agreed start, or the stop date), ``idle_tier`` (an
    :data:`IDLE_TIERS` key: ``fee`` idle ``fee_years`` full years, ``recovery`` idle
    ``recovery_years``, ``suspended`` where ``idle_exemption`` names a cause of
    :data:`EXEMPTIONS`), ``idle_tier_label`` and ``idle_fee`` — ``fee_share`` × ``land_price``
    (出让价款, 万元) for the ``fee`` tier; missing where the price is.

    Raises
    ------
    InputError
        An ``idle_exemption`` that names neither cause.

    Examples
    --------
    >>> from mujun.geo.rules import rule_set_from_dict
    >>> r = rule_set_from_dict({"name": "t", "title": "t",
    ...     "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    >>> p = pd.DataFrame({"parcel_id": ["a", "b", "c"], "area_mu": 30.0, "footprint_m2": 0.0,
    ...     "agreed_start": pd.to_datetime(["2024-06-30", "2023-06-30", "2023-06-30"]), "actual_start": pd.NaT,
    ...     "land_price": [900.0, 900.0, 900.0], "idle_exemption": [None, None, "不可抗力：台风"]})
    >>> idle_tiers(p, r, pd.Timestamp("2025-06-30"))[["idle_tier", "idle_fee"]].to_dict("list")
    {'idle_tier': ['fee', 'recovery', 'suspended'], 'idle_fee': [180.0, nan, nan]}
    """
    since = pd.Series(pd.NaT, index=parcels.index, dtype="datetime64[ms]")
    for mask, start, _ in _idle_clock(parcels, rules, as_of, builtup).values():
        since = since.mask(mask, start)
    idle = since.notna()
    exemption = _exemptions(parcels)
    tier = pd.Series(pd.NA, index=parcels.index, dtype="string")
    tier[idle] = "fee"
    tier[_years_past(since, pd.DateOffset(years=rules.idle_recovery_years), as_of, idle)] = "recovery"
    tier[idle & exemption.notna()] = "suspended"
    fee = (_num(parcels, "land_price") * rules.idle_fee_share).where(tier.eq("fee").fillna(False))
    return pd.DataFrame({"idle_since": since, "idle_tier": tier,
                         "idle_tier_label": lookup(tier, pd.Series(IDLE_TIERS)).astype("string"), "idle_fee": fee.round(2)},
                        index=parcels.index)


def idle_tier_totals(parcels: pd.DataFrame) -> pd.DataFrame:
    """Parcels, land (亩) and 土地闲置费 (万元) of each measure of :data:`IDLE_TIERS`, from
    parcel results carrying :func:`idle_tiers`' columns, then the total (``tier`` missing).
    ``unpriced_count`` counts the parcels of the fee tier whose 出让价款 is missing (their fee
    is not in the sum).

    Examples
    --------
    >>> p = pd.DataFrame({"idle_tier": ["fee", "fee", "recovery", None], "area_mu": [10.0, 5.0, 20.0, 8.0],
    ...                   "idle_fee": [300.0, None, None, None]})
    >>> idle_tier_totals(p)[["tier_label", "parcel_count", "area_mu", "idle_fee", "unpriced_count"]].values.tolist()
    [['征缴土地闲置费', 2, 15.0, 300.0, 1], ['无偿收回候选', 1, 20.0, 0.0, 0], ['暂停处置', 0, 0.0, 0.0, 0], ['合计', 3, 35.0, 300.0, 1]]
    """
    if "idle_tier" in parcels.columns:
        tier = parcels["idle_tier"].astype("string")
    else:
        tier = pd.Series(pd.NA, index=parcels.index, dtype="string")
    fee = _num(parcels, "idle_fee")
    frame = pd.DataFrame({"tier": tier, "area_mu": _num(parcels, "area_mu"), "idle_fee": fee,
                          "unpriced": tier.eq("fee").fillna(False) & fee.isna()})
    g = frame.groupby("tier")
    out = pd.DataFrame({"parcel_count": g.size(), "area_mu": g["area_mu"].sum(), "idle_fee": g["idle_fee"].sum(),
                        "unpriced_count": g["unpriced"].sum()}).reindex(list(IDLE_TIERS)).fillna(0)
    out.loc["合计"] = out.sum()
    out = out.astype({"parcel_count": "int64", "unpriced_count": "int64"})
    out.insert(0, "tier_label", [*IDLE_TIERS.values(), "合计"])
    out.insert(0, "tier", [*IDLE_TIERS, None])
    return out.reset_index(drop=True)


def _exemptions(parcels: pd.DataFrame) -> pd.Series:
    """Each parcel's ``idle_exemption`` (stripped; missing where blank); one naming neither
    cause of :data:`EXEMPTIONS` is refused."""
    if "idle_exemption" not in parcels.columns:
        return pd.Series(pd.NA, index=parcels.index, dtype="string")
    text = parcels["idle_exemption"].astype("string").str.strip()
    text = text.where(text.str.len() > 0)
    bad = text.notna() & ~text.str.startswith(EXEMPTIONS).fillna(False)
    if bad.any():
        first = parcels.loc[bad, "parcel_id"].iloc[0]
        more = f"（另有 {int(bad.sum()) - 1} 宗）" if bad.sum() > 1 else ""
        raise InputError(f"地块 {first} 的闲置免责情形 '{text[bad].iloc[0]}' 无法识别{more}；"
                         f"请填写“政府原因”或“不可抗力”（可加说明，如“政府原因：规划调整”），不适用的留空后重新导入地块")
    return text


def site_checks(parcels: pd.DataFrame, rules: RuleSet, builtup: pd.Series | None,
                coverage_min: float | None) -> pd.DataFrame:
    """Parcels to verify on the ground (kind ``site_check``, 需现场核查): in production and
    bare on imagery (see :func:`idle_flags`), yet their registered buildings cover at least
    ``coverage_min`` (the control rules' 建筑系数) — imagery and building layer contradict
    each other. The reason carries both figures; ``value`` is the built-up fraction.

    Examples
    --------
    >>> from mujun.geo.rules import rule_set_from_dict
    >>> r = rule_set_from_dict({"name": "t", "title": "t",
    ...     "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    >>> p = pd.DataFrame({"parcel_id": ["a", "b"], "output_value": [500.0, 500.0], "building_count": [3, 1],
    ...     "building_coefficient": [0.30, 0.29]})
    >>> site_checks(p, r, pd.Series([0.04, 0.04]), 0.30)["reason"].tolist()
    ['影像建成比例 4.0%（不高于 10%），但建筑数据的建筑系数为 30.0%（不低于控制指标 30%）：影像与建筑数据矛盾，需现场核查']
    """
    if builtup is None or coverage_min is None:
        return _no_flags()
    hit = _bare(parcels, rules, builtup) & _covered(parcels, coverage_min)
    coefficient = _num(parcels, "building_coefficient")[hit]
    reason = ("影像建成比例 " + (builtup[hit] * 100).round(1).astype("string")
              + f"%（不高于 {rules.bare_builtup_max * 100:.0f}%），但建筑数据的建筑系数为 "
              + (coefficient * 100).round(1).astype("string")
              + f"%（不低于控制指标 {coverage_min * 100:.0f}%）：影像与建筑数据矛盾，需现场核查")
    return _frame(parcels.loc[hit, ["parcel_id"]], "site_check", "影像与建筑数据矛盾", reason, builtup[hit].to_numpy(),
                  rules.bare_builtup_max)


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
        guides = pd.Series({k: v for k, v in rules.low_tax_per_mu.items() if k != "default"}, dtype="float64")
        guide = lookup(division, guides).fillna(default)
        tax = parcels["tax_per_mu"]
        low = evaluated & (tax < guide)
        p = parcels.loc[low, ["parcel_id"]]  # the ids only: a flag copies no other column
        ind = division[low].fillna("—")
        reason = ("亩均税收 " + number_text(tax[low].round(2)) + " 万元/亩 低于行业（" + ind
                  + "）指南 " + number_text(guide[low].round(2)) + " 万元/亩")
        frames.append(_frame(p, "inefficient", "亩均税收低于指南", reason, tax[low].to_numpy(), guide[low].to_numpy()))
    if rules.low_plot_ratio is not None:
        exempt = division.isin(list(rules.low_plot_ratio_exempt)).fillna(False).astype(bool)
        far = parcels["plot_ratio"]
        low = (parcels["building_count"] > 0) & (far < rules.low_plot_ratio) & ~exempt
        p = parcels.loc[low, ["parcel_id"]]  # the ids only: a flag copies no other column
        reason = "容积率 " + number_text(far[low].round(2)) + f" 低于 {rules.low_plot_ratio:g}"
        frames.append(_frame(p, "inefficient", "容积率偏低", reason, far[low].to_numpy(), rules.low_plot_ratio))
    if rules.d_class_is_inefficient and "class" in parcels.columns:
        d = (parcels["class"] == _D).fillna(False).astype(bool)
        p = parcels.loc[d, ["parcel_id"]]  # the ids only: a flag copies no other column
        name = parcels.get("holder_enterprise_name", parcels.get("holder_name"))
        if name is None:  # neither the enterprise's nor the registered holder's name is known
            name = pd.Series(pd.NA, index=parcels.index, dtype="string")
        reason = "权利人 " + name[d].astype("string").fillna("") + f" 评为 {_D} 类（{DEFAULT_CLASS_NAMES[_D]}）"
        frames.append(_frame(p, "inefficient", f"权利人为{_D}类企业", reason, np.nan, np.nan))
    if not frames:
        return _no_flags()
    return pd.concat(frames)  # (each flag on its parcel's row label)


def noncompliance_flags(checks: pd.DataFrame) -> pd.DataFrame:
    """One flag per failed compliance check (see :func:`mujun.geo.compliance.compliance`), on
    the check's index (the parcel's row label, as :func:`~mujun.geo.compliance.compliance_parts`
    gives it)."""
    mask = (checks["status"] == FAILED).to_numpy(dtype=bool, na_value=False)
    # column by column: a filter reads each of the checks' text columns (chunked, as concatenated) once
    failed = pd.DataFrame({c: checks[c][mask] for c in ("parcel_id", "label", "measured", "required",
                                                       "required_text", "source")})
    label = _texts(failed["label"])
    # one pass of Arrow over the failed checks' texts (the repeated ones taken from their categories)
    words = [pa.scalar(w, type=pa.large_string()) for w in (" ", "，要求 ", "（", "）", "")]
    reason = pc.binary_join_element_wise(
        label, words[0], _texts(number_text(failed["measured"].round(3))), words[1], _texts(failed["required_text"]),
        words[2], _texts(failed["source"]), words[3], words[4])
    out = _frame(failed, "noncompliant", "", pd.Series(pandas_text(reason), index=failed.index),
                 failed["measured"].to_numpy(), failed["required"].to_numpy())
    out["rule"] = pandas_text(_texts(failed["label"], FLAG_KINDS["noncompliant"]))
    return out


def _texts(values: pd.Series, suffix: str = "") -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow text, ``suffix`` appended; categories (the checks' repeated
    texts) are made once each and taken by their codes."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        texts = pa.array([f"{c}{suffix}" for c in values.cat.categories], type=pa.large_string())
        return texts.take(pa.array(codes, mask=codes < 0))
    array = pa.array(values, from_pandas=True)
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    if not suffix:
        return array
    return pc.binary_join_element_wise(array, *(pa.scalar(w, type=pa.large_string()) for w in (suffix, "")))
