"""亩均效益综合评价: scores, classes A–D and rankings of enterprises.

For each group (规上 / 规下) of the evaluated population:

    sub-score_i = weight_i × value_i / benchmark_i        (at most cap_i × weight_i)
    score       = Σ sub-score_i

The benchmark is the rule set's fixed value or else the population's ratio of sums for the
year. An enterprise without a value for an indicator gets the population's average
sub-score for it. Classes go by shares of each group — cumulative and rounded down, so A
never exceeds its share, A + B theirs and so on, and D gets at least its share; ties stay
together, a tied group that does not fit a better class wholly going to the next — or by
score thresholds. Vetoed enterprises are D whatever their score and take no share.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mujun.geo.indicators import benchmarks, enterprise_indicators
from mujun.geo.rules import CLASSES, GROUPS, ClassRule, RuleSet

__all__ = ["class_change", "classify", "score_enterprises"]


def _group(frame: pd.DataFrame) -> pd.Series:
    above = frame["above_scale"] if "above_scale" in frame.columns else pd.Series(False, index=frame.index)
    return pd.Series(np.where(above.fillna(False).astype(bool), "above_scale", "below_scale"),
                     index=frame.index, dtype="string")


def classify(scores: pd.Series, rule: ClassRule) -> pd.Series:
    """Class letter of each score (missing scores stay missing).

    Examples
    --------
    >>> from mujun.geo.rules import ClassRule
    >>> r = ClassRule("shares", shares={"A": 0.2, "B": 0.3, "C": 0.3, "D": 0.2})
    >>> classify(pd.Series([90, 80, 80, 70, 60, 50, 40, 30, 20, 10.0]), r).tolist()
    ['A', 'B', 'B', 'B', 'B', 'C', 'C', 'C', 'D', 'D']
    >>> t = ClassRule("thresholds", thresholds={"A": 85, "B": 60, "C": 30})
    >>> classify(pd.Series([90, 60, 59.9, None]), t).tolist()
    ['A', 'B', 'C', <NA>]
    """
    out = pd.Series(pd.NA, index=scores.index, dtype="string")
    ok = scores.notna()
    s = scores[ok].astype("float64")
    if s.empty:
        return out
    if rule.method == "thresholds":
        t = rule.thresholds
        cls = np.select([s >= t["A"], s >= t["B"], s >= t["C"]], ["A", "B", "C"], "D")
    else:
        n = len(s)
        # the last position a tied group reaches: it joins a class only if it fits wholly
        last = s.rank(method="max", ascending=False)
        cum = np.cumsum([rule.shares[c] for c in CLASSES[:3]])
        cut = np.floor(n * cum + 1e-9)  # round down: A ≤ its share, D ≥ its share
        cls = np.select([last <= cut[0], last <= cut[1], last <= cut[2]], ["A", "B", "C"], "D")
    out[ok] = cls
    return out


def score_enterprises(
    enterprises: pd.DataFrame, rules: RuleSet, veto: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Indicators, sub-scores, score, class and ranks of each enterprise of a year.

    Parameters
    ----------
    enterprises : DataFrame
        A year's enterprise results (``credit_code``, ``land_mu``, ``above_scale``, the
        amounts, ``district_id``, ``industry_code``).
    rules : RuleSet
    veto : mapping, optional
        Credit code -> reason, added to the rule set's own veto list.

    Returns
    -------
    (DataFrame, DataFrame)
        The enterprises with ``group``, ``evaluated_in_score`` (in the population),
        ``not_scored_reason``, every indicator value, ``score_<indicator>`` sub-scores,
        ``score``, ``class``, ``class_name``, ``veto_reason``, ``rank_in_group``,
        ``rank_in_district`` and ``rank_in_industry``; and a table of the benchmarks used
        (group, indicator, weight, benchmark, source).
    """
    e = enterprises.copy()
    e["group"] = _group(e)
    e["group_label"] = e["group"].map(GROUPS).astype("string")
    land = pd.to_numeric(e["land_mu"], errors="coerce")
    in_pop = (land > 0) & (land >= rules.min_land_mu)
    reason = pd.Series(pd.NA, index=e.index, dtype="string")
    reason[~in_pop] = f"用地面积不足 {rules.min_land_mu:g} 亩，不参评"
    reason[~(land > 0)] = "无有效用地面积，不参评"
    group_ok = e["group"].isin(list(rules.groups))
    reason[in_pop & ~group_ok] = "规则未设该类企业的指标，不参评"
    in_pop &= group_ok
    e["evaluated_in_score"] = in_pop.astype(bool)
    e["not_scored_reason"] = reason

    keys = sorted({i.key for inds in rules.groups.values() for i in inds})
    values = enterprise_indicators(e, keys)
    for k in keys:
        e[k] = values[k]
    e["score"] = np.nan
    bench_rows = []
    for g, inds in rules.groups.items():
        members = in_pop & (e["group"] == g)
        pop = e[members]
        measured = benchmarks(pop, [i.key for i in inds])
        total = pd.Series(0.0, index=pop.index)
        for ind in inds:
            bench = ind.benchmark if ind.benchmark is not None else measured[ind.key]
            bench_rows.append({"group": g, "group_label": GROUPS[g], "indicator": ind.key, "weight": ind.weight,
                               "benchmark": bench, "members": int(members.sum()),
                               "benchmark_source": "规则设定" if ind.benchmark is not None else "参评企业比值之和"})
            usable = bench is not None and np.isfinite(bench) and bench > 0
            if not usable:  # e.g. Σ tax ≤ 0 in a tiny population: the indicator cannot be scored
                bench_rows[-1]["benchmark_source"] += "（不为正，该项不计分）"
            sub = ind.weight * pop[ind.key] / bench if usable else pd.Series(0.0, index=pop.index)
            if ind.cap is not None:
                sub = sub.clip(upper=ind.cap * ind.weight)
            # no record for the indicator: the population's average sub-score
            sub = sub.fillna(sub.mean() if sub.notna().any() else 0.0)
            e.loc[members, f"score_{ind.key}"] = sub
            total += sub
        e.loc[members, "score"] = total

    vetoes = {**rules.veto, **{str(k).upper(): v for k, v in (veto or {}).items()}}
    e["veto_reason"] = e["credit_code"].astype("string").str.upper().map(vetoes).astype("string")
    vetoed = e["veto_reason"].notna() & in_pop
    e["class"] = pd.Series(pd.NA, index=e.index, dtype="string")
    for g in rules.groups:
        m = in_pop & (e["group"] == g) & ~vetoed
        e.loc[m, "class"] = classify(e.loc[m, "score"], rules.classes)
    e.loc[vetoed, "class"] = "D"
    e["class_name"] = e["class"].map(rules.classes.names).astype("string")

    scored = e["score"].where(in_pop)
    e["rank_in_group"] = scored.groupby(e["group"]).rank(method="min", ascending=False).astype("Int64")
    if "district_id" in e.columns:
        e["rank_in_district"] = scored.groupby([e["group"], e["district_id"]]).rank(
            method="min", ascending=False).astype("Int64")
    if "industry_code" in e.columns:
        division = e["industry_code"].astype("string").str[:2]
        e["rank_in_industry"] = scored.groupby([e["group"], division]).rank(
            method="min", ascending=False).astype("Int64")
    return e, pd.DataFrame(bench_rows)


def class_change(current: pd.Series, previous: pd.Series) -> pd.Series:
    """升 / 降 / 持平 / 新参评 against last year's class (A best).

    Examples
    --------
    >>> class_change(pd.Series(["A", "C", "B", "D", None]), pd.Series(["B", "B", "B", None, "A"])).tolist()
    ['升', '降', '持平', '新参评', <NA>]
    """
    order = {c: i for i, c in enumerate(CLASSES)}
    cur = current.map(order)
    prev = previous.map(order)
    out = pd.Series(pd.NA, index=current.index, dtype="string")
    out[cur.notna() & prev.isna()] = "新参评"
    out[cur.notna() & prev.notna() & (cur < prev)] = "升"
    out[cur.notna() & prev.notna() & (cur > prev)] = "降"
    out[cur.notna() & prev.notna() & (cur == prev)] = "持平"
    return out
