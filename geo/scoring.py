"""亩均效益综合评价: scores, classes A–D and rankings of enterprises.

For each group (规上 / 规下) of the evaluated population:

    sub-score_i = weight_i × value_i / benchmark_i   (between floor_i × weight_i and cap_i × weight_i)
    score       = Σ sub-score_i

The population: firms with land, 规上 firms whatever its size and 规下 firms from the rule
set's minimum (:attr:`~mujun.geo.rules.RuleSet.min_land_mu`), less firms in their first
years of production (``production_year``). The benchmark is the rule set's fixed value or
else the population's ratio of sums for the year. The floor (default 0) keeps a negative
tax from pulling a total below zero. An enterprise without a value for an indicator gets
the population's average sub-score for it; a reported zero is a value, not a gap: a zero
numerator scores zero, and a zero denominator (no emissions at all, say) scores the best a
firm can reach — the cap, else the highest sub-score of the group — or, with nothing to
divide (a numerator ≤ 0), the floor. Classes go by shares of each group — cumulative and rounded down, so A
never exceeds its share, A + B theirs and so on, and D gets at least its share; ties stay
together, a tied group that does not fit a better class wholly going to the next — or by
score thresholds. Vetoed enterprises are D whatever their score and take no share.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from mujun.geo._keys import lookup, positions
from mujun.geo.indicators import INDICATORS, benchmarks, enterprise_indicators
from mujun.geo.rules import CLASSES, GROUPS, ClassRule, Indicator, RuleSet

__all__ = ["NEW_PRODUCTION", "NOT_SCORED", "class_change", "class_migration", "classify", "scope", "score_enterprises",
           "sub_scores"]

#: How firms in their first years of production are listed (not scored).
NEW_PRODUCTION = "新投产"
#: The row and column of a class migration matrix for firms outside the population.
NOT_SCORED = "不参评"


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
    e = enterprises.copy(deep=False)  # copy-on-write: the figures shared, the scores added
    e["group"] = _group(e)
    e["group_label"] = lookup(e["group"], pd.Series(GROUPS, dtype="string")).astype("string")
    in_pop, reason = scope(e, rules)
    e["evaluated_in_score"] = in_pop.astype(bool)
    e["not_scored_reason"] = reason

    keys = sorted({i.key for inds in rules.groups.values() for i in inds})
    values = enterprise_indicators(e, keys)
    for k in keys:
        e[k] = values[k]
    e["score"] = np.nan
    bench_rows = []
    # a group's population with the columns its benchmarks and sub-scores read, no other copied
    read = [c for c in dict.fromkeys(c for k in keys for c in (k, *INDICATORS[k][:2])) if c in e.columns]
    for g, inds in rules.groups.items():
        members = in_pop & (e["group"] == g)
        pop = e.loc[members, read]
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
            sub = sub_scores(pop, ind, bench if usable else None)
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
    e["class_name"] = lookup(e["class"], pd.Series(rules.classes.names, dtype="string")).astype("string")

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


def scope(enterprises: pd.DataFrame, rules: RuleSet) -> tuple[pd.Series, pd.Series]:
    """Which firms are scored, and why the others are not.

    Every firm needs land (``land_mu`` > 0); a group's firms need at least the rule set's
    minimum for the group (规上 none by default, 规下 3 mu); a firm whose ``production_year``
    is within the rule set's first ``new_production_years`` of the evaluated ``year`` is
    新投产 and not scored.

    Returns
    -------
    (Series of bool, Series of str)
        In the population; the reason a firm is not (missing for those that are).

    Examples
    --------
    >>> from mujun.geo.rules import rule_set_from_dict
    >>> r = rule_set_from_dict({"name": "t", "title": "t", "groups": {
    ...     "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]},
    ...     "below_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}}})
    >>> f = pd.DataFrame({"year": 2025, "land_mu": [1.0, 2.0, 3.0, 9.0, 0.0],
    ...                   "above_scale": [True, False, False, True, True],
    ...                   "production_year": [2010, 2010, 2020, 2025, None]})
    >>> ok, why = scope(f, r)
    >>> ok.tolist()
    [True, False, True, False, False]
    >>> why.tolist()[1:]
    ['规下企业用地面积不足 3 亩，不参评', <NA>, '新投产（2025 年投产），不参评', '无有效用地面积，不参评']
    """
    group = enterprises["group"] if "group" in enterprises.columns else _group(enterprises)
    land = pd.to_numeric(enterprises["land_mu"], errors="coerce")
    minimum = group.map(rules.min_land_mu).astype("float64").fillna(0.0)
    reason = pd.Series(pd.NA, index=enterprises.index, dtype="string")
    small = (land > 0) & (land < minimum)
    words = {g: f"{GROUPS.get(g, g)}用地面积不足 {m:g} 亩，不参评" for g, m in rules.min_land_mu.items()}
    reason[small] = group[small].map(words).astype("string")
    reason[~(land > 0)] = "无有效用地面积，不参评"
    in_pop = (land > 0) & ~small
    if "production_year" in enterprises.columns and rules.new_production_years > 0:
        started = pd.to_numeric(enterprises["production_year"], errors="coerce")
        year = pd.to_numeric(enterprises["year"], errors="coerce")
        new = in_pop & started.notna() & (started > year - rules.new_production_years)
        reason[new] = (f"{NEW_PRODUCTION}（" + started[new].astype("int64").astype("string")
                       + " 年投产），不参评").astype("string")
        in_pop &= ~new
    group_ok = group.isin(list(rules.groups))
    reason[in_pop & ~group_ok] = "规则未设该类企业的指标，不参评"
    return in_pop & group_ok, reason


def sub_scores(population: pd.DataFrame, indicator: Indicator, benchmark: float | None) -> pd.Series:
    """One indicator's sub-score of each firm of a group's population.

    ``weight × value / benchmark`` held between the floor and the cap (multiples of the
    weight). A reported zero denominator scores the cap (else the group's best sub-score)
    when the numerator is positive, the floor (else the group's worst) when it is not; a
    firm with no value gets the average of the others. ``benchmark`` ``None``: the
    indicator cannot be scored and every firm gets 0.

    Examples
    --------
    >>> from mujun.geo.rules import Indicator
    >>> f = pd.DataFrame({"value_added": [100.0, 60.0, 50.0, 80.0, -5.0],
    ...                   "emissions": [2.0, 6.0, None, 0.0, 0.0]})
    >>> sub_scores(f, Indicator("va_per_emission", 10, 100.0), 100.0).tolist()
    [5.0, 1.0, 2.75, 5.0, 0.0]
    >>> sub_scores(f, Indicator("va_per_emission", 10, 100.0, cap=0.4), 100.0).tolist()
    [4.0, 1.0, 2.25, 4.0, 0.0]
    """
    if benchmark is None:
        return pd.Series(0.0, index=population.index)
    value = population[indicator.key] if indicator.key in population.columns else \
        enterprise_indicators(population, [indicator.key])[indicator.key]
    sub = (indicator.weight * value / benchmark).astype("float64")
    low = None if indicator.floor is None else indicator.floor * indicator.weight
    high = None if indicator.cap is None else indicator.cap * indicator.weight
    sub = sub.clip(lower=low, upper=high)
    num_col, den_col, _ = INDICATORS[indicator.key]
    num = _numeric(population, num_col)
    den = _numeric(population, den_col)
    zero = (den == 0) & num.notna()  # reported, not missing: nothing to divide by
    if zero.any():
        best = high if high is not None else (sub.max() if sub.notna().any() else float(indicator.weight))
        worst = low if low is not None else (sub.min() if sub.notna().any() else 0.0)
        sub[zero] = np.where(num[zero] > 0, best, worst)
    # no record for the indicator: the population's average sub-score
    return sub.fillna(sub.mean() if sub.notna().any() else 0.0)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def class_change(current: pd.Series, previous: pd.Series) -> pd.Series:
    """升 / 降 / 持平 / 新参评 against last year's class (A best).

    Examples
    --------
    >>> class_change(pd.Series(["A", "C", "B", "D", None]), pd.Series(["B", "B", "B", None, "A"])).tolist()
    ['升', '降', '持平', '新参评', <NA>]
    """
    order = pd.Index(CLASSES)  # (each class's place: A best; -1 none)
    cur, prev = positions(current, order), positions(previous, order)
    have, had = cur >= 0, prev >= 0
    at = np.select([have & ~had, have & had & (cur < prev), have & had & (cur > prev), have & had], [0, 1, 2, 3], -1)
    change = pa.array(["新参评", "升", "降", "持平"]).take(pa.array(at, mask=at < 0))
    return pd.Series(pd.array(change, dtype="string"), index=current.index)


def class_migration(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Number of firms by class under one rule set (rows) and another (columns).

    Every class A–D and :data:`NOT_SCORED` (a missing class) is a row and a column, in that
    order, whether or not any firm is in it; the two series are matched by index.

    Examples
    --------
    >>> a = pd.Series(["A", "B", "B", None, "D"], index=list("vwxyz"))
    >>> b = pd.Series(["A", "A", "C", "D", None], index=list("vwxyz"))
    >>> class_migration(a, b)
           A  B  C  D  不参评
    A      1  0  0  0    0
    B      1  0  1  0    0
    C      0  0  0  0    0
    D      0  0  0  0    1
    不参评    0  0  0  1    0
    """
    order = [*CLASSES, NOT_SCORED]
    both = pd.DataFrame({"before": before, "after": after.reindex(before.index)})
    both = both.astype("string").fillna(NOT_SCORED)
    table = pd.crosstab(both["before"], both["after"]).reindex(index=order, columns=order, fill_value=0)
    table.index.name = None
    table.columns.name = None
    return table.astype("int64")
