"""亩均效益综合评价 scores and classes (mujun.geo.scoring), against figures worked out by hand.

Huangyan 2022 (fixed benchmarks), 规上:
    score = 30·亩均税收/24.097 + 20·亩均增加值/136.16 + 20·单位能耗增加值/2.694
          + 10·单位排放增加值/4929.81 + 10·全员劳动生产率/18.14 + 10·R&D占比(%)/3.02
规下:
    score = 50·亩均税收/11.5932 + 50·单位用电税收/0.2352
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from mujun.geo.rules import ClassRule, rule_set_from_dict
from mujun.geo.scoring import NOT_SCORED, class_change, class_migration, classify, score_enterprises
from mujun.layers.rulesets import load_rule_set

TOL = 1e-9

COLUMNS = ["credit_code", "year", "land_mu", "above_scale", "tax", "value_added", "revenue",
           "energy_tce", "emissions", "employees", "rd_expense", "electricity"]


@pytest.fixture
def firms() -> pd.DataFrame:
    rows = [
        # code  year  mu    above  tax    VA      revenue  tce     emis  staff  R&D    kWh(万)
        ("E1", 2022, 20.0, True, 600.0, 3000.0, 12000.0, 1000.0, 0.5, 150.0, 400.0, 2000.0),
        ("E2", 2022, 10.0, True, 150.0, 1000.0, 5000.0, 500.0, 0.4, 80.0, 100.0, 900.0),
        ("E3", 2022, 8.0, True, 60.0, 500.0, 3000.0, 300.0, None, 40.0, 30.0, 500.0),  # no emissions record
        ("S1", 2022, 6.0, False, 40.0, 100.0, 800.0, 50.0, None, 12.0, 0.0, 200.0),
        ("S2", 2022, 12.0, False, 120.0, 300.0, 1500.0, 80.0, None, 25.0, 0.0, 400.0),
        ("T1", 2022, 2.0, False, 900.0, 4000.0, 9000.0, 100.0, 0.1, 30.0, 500.0, 300.0),  # 规下 under 3 mu
        ("Z0", 2022, 0.0, False, 10.0, 20.0, 100.0, 5.0, None, 3.0, 0.0, 10.0),  # no land
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _by_code(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("credit_code")


# --- the Huangyan formula ---------------------------------------------------------------

def test_huangyan_2022_scores_by_hand(firms):
    scored, bench = score_enterprises(firms, load_rule_set("huangyan-2022"))
    s = _by_code(scored)

    # E1: 亩均税收 600/20, 亩均增加值 3000/20, 能耗 3000/1000, 排放 3000/0.5, 劳产率 3000/150, R&D 400/12000 %
    e1 = {
        "tax_per_mu": 30 * (600 / 20) / 24.097,
        "value_added_per_mu": 20 * (3000 / 20) / 136.16,
        "va_per_energy": 20 * (3000 / 1000) / 2.694,
        "va_per_emission": 10 * (3000 / 0.5) / 4929.81,
        "labour_productivity": 10 * (3000 / 150) / 18.14,
        "rd_intensity": 10 * (400 / 12000 * 100) / 3.02,
    }
    e2 = {
        "tax_per_mu": 30 * (150 / 10) / 24.097,
        "value_added_per_mu": 20 * (1000 / 10) / 136.16,
        "va_per_energy": 20 * (1000 / 500) / 2.694,
        "va_per_emission": 10 * (1000 / 0.4) / 4929.81,
        "labour_productivity": 10 * (1000 / 80) / 18.14,
        "rd_intensity": 10 * (100 / 5000 * 100) / 3.02,
    }
    e3 = {
        "tax_per_mu": 30 * (60 / 8) / 24.097,
        "value_added_per_mu": 20 * (500 / 8) / 136.16,
        "va_per_energy": 20 * (500 / 300) / 2.694,
        # no emissions record: the average sub-score of the others (T1 is not in the population)
        "va_per_emission": (e1["va_per_emission"] + e2["va_per_emission"]) / 2,
        "labour_productivity": 10 * (500 / 40) / 18.14,
        "rd_intensity": 10 * (30 / 3000 * 100) / 3.02,
    }
    s1 = {"tax_per_mu": 50 * (40 / 6) / 11.5932, "tax_per_kwh": 50 * (40 / 200) / 0.2352}
    s2 = {"tax_per_mu": 50 * (120 / 12) / 11.5932, "tax_per_kwh": 50 * (120 / 400) / 0.2352}

    for code, subs in {"E1": e1, "E2": e2, "E3": e3, "S1": s1, "S2": s2}.items():
        for key, expected in subs.items():
            assert s.loc[code, f"score_{key}"] == pytest.approx(expected, abs=TOL), (code, key)
        assert s.loc[code, "score"] == pytest.approx(sum(subs.values()), abs=TOL), code

    # indicator values are kept next to the sub-scores
    assert s.loc["E1", "rd_intensity"] == pytest.approx(400 / 12000 * 100, abs=TOL)
    assert np.isnan(s.loc["E3", "va_per_emission"])
    # 规下 firms have no 规上 sub-scores
    assert np.isnan(s.loc["S1", "score_value_added_per_mu"])

    # the benchmark table records the fixed values
    b = bench.set_index(["group", "indicator"])
    assert b.loc[("above_scale", "va_per_emission"), "benchmark"] == 4929.81
    assert b.loc[("below_scale", "tax_per_kwh"), "benchmark"] == 0.2352
    assert set(bench["benchmark_source"]) == {"规则设定"}
    assert b.loc[("above_scale", "tax_per_mu"), "members"] == 3
    assert b.loc[("below_scale", "tax_per_mu"), "members"] == 2
    assert len(bench) == 8


def test_population_filter_excludes_small_firms_with_a_reason(firms):
    scored, _ = score_enterprises(firms, load_rule_set("huangyan-2022"))
    s = _by_code(scored)
    assert s["evaluated_in_score"].to_dict() == {
        "E1": True, "E2": True, "E3": True, "S1": True, "S2": True, "T1": False, "Z0": False}
    assert s.loc["T1", "not_scored_reason"] == "规下企业用地面积不足 3 亩，不参评"
    assert s.loc["Z0", "not_scored_reason"] == "无有效用地面积，不参评"
    assert s.loc[["E1", "S1"], "not_scored_reason"].isna().all()
    for code in ("T1", "Z0"):
        assert np.isnan(s.loc[code, "score"])
        assert pd.isna(s.loc[code, "class"]) and pd.isna(s.loc[code, "rank_in_group"])
    assert s.loc["S2", "group"] == "below_scale" and s.loc["S2", "group_label"] == "规下企业"
    assert s.loc["E1", "group_label"] == "规上企业"


def test_ranks_within_group(firms):
    scored, _ = score_enterprises(firms, load_rule_set("huangyan-2022"))
    s = _by_code(scored)
    order = s.loc[["E1", "E2", "E3"], "score"].sort_values(ascending=False).index.tolist()
    assert order == ["E1", "E2", "E3"]
    assert s.loc[["E1", "E2", "E3", "S2", "S1"], "rank_in_group"].tolist() == [1, 2, 3, 1, 2]


def test_rank_in_district_and_industry():
    r = rule_set_from_dict({"name": "t", "title": "t", "groups": {
        "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 1}]}}})
    f = pd.DataFrame({
        "credit_code": list("abcde"), "land_mu": 10.0, "above_scale": True,
        "tax": [100.0, 90.0, 90.0, 50.0, 10.0],
        "district_id": ["D1", "D1", "D2", "D1", "D2"],
        "industry_code": ["1711", "3824", "1752", "1790", "3811"],
    })
    s = _by_code(score_enterprises(f, r)[0])
    assert s["rank_in_group"].tolist() == [1, 2, 2, 4, 5]  # ties share the better rank
    assert s["rank_in_district"].tolist() == [1, 2, 1, 3, 2]
    assert s["rank_in_industry"].tolist() == [1, 1, 2, 3, 2]  # divisions 17 and 38


def test_zhejiang_default_benchmark_is_the_populations_ratio_of_sums(firms):
    scored, bench = score_enterprises(firms, load_rule_set("zhejiang-default"))
    s = _by_code(scored)
    b = bench.set_index(["group", "indicator"])["benchmark"]
    # only the population counts: T1 (规下, 2 mu) and Z0 (no land) are out
    tax_bench = (600 + 150 + 60) / (20 + 10 + 8)
    assert b[("above_scale", "tax_per_mu")] == pytest.approx(tax_bench, abs=TOL)
    assert tax_bench != pytest.approx((30 + 15 + 7.5) / 3)  # not the mean of ratios
    # E3 has no emissions record: it is out of both sums
    emis_bench = (3000 + 1000) / (0.5 + 0.4)
    assert b[("above_scale", "va_per_emission")] == pytest.approx(emis_bench, abs=TOL)
    rd_bench = (400 + 100 + 30) / (12000 + 5000 + 3000) * 100
    assert b[("above_scale", "rd_intensity")] == pytest.approx(rd_bench, abs=TOL)
    kwh_bench = (40 + 120) / (200 + 400)
    assert b[("below_scale", "tax_per_kwh")] == pytest.approx(kwh_bench, abs=TOL)
    assert set(bench["benchmark_source"]) == {"参评企业比值之和"}

    assert s.loc["E2", "score_tax_per_mu"] == pytest.approx(30 * 15 / tax_bench, abs=TOL)
    e1_emis = 10 * (3000 / 0.5) / emis_bench
    e2_emis = 10 * (1000 / 0.4) / emis_bench
    assert s.loc["E1", "score_va_per_emission"] == pytest.approx(e1_emis, abs=TOL)
    assert s.loc["E3", "score_va_per_emission"] == pytest.approx((e1_emis + e2_emis) / 2, abs=TOL)
    s1 = 50 * (40 / 6) / (160 / 18) + 50 * (40 / 200) / kwh_bench
    assert s.loc["S1", "score"] == pytest.approx(s1, abs=TOL)
    # with ratio-of-sums benchmarks, the land-weighted mean of a per-mu sub-score is its weight
    above = s.loc[["E1", "E2", "E3"]]
    assert (above["score_tax_per_mu"] * above["land_mu"]).sum() / above["land_mu"].sum() == pytest.approx(30)


def test_cap_limits_an_indicators_contribution():
    r = rule_set_from_dict({"name": "cap", "title": "封顶", "classes": {"method": "thresholds",
                            "thresholds": {"A": 140, "B": 100, "C": 60}},
                            "groups": {"above_scale": {"indicators": [
                                {"key": "tax_per_mu", "weight": 100, "benchmark": 10, "cap": 1.5},
                                {"key": "tax_per_kwh", "weight": 10, "benchmark": 0.5}]}}})
    f = pd.DataFrame({
        "credit_code": ["a", "b", "c", "d", "e"], "land_mu": 10.0, "above_scale": True,
        "tax": [300.0, 120.0, 150.0, None, 50.0],  # 30, 12, 15 (exactly the cap), none, 5 per mu
        "electricity": [600.0, 240.0, 300.0, 100.0, 100.0],
    })
    s = _by_code(score_enterprises(f, r)[0])
    assert s["score_tax_per_mu"].to_dict() == pytest.approx(
        {"a": 150.0, "b": 120.0, "c": 150.0, "d": (150 + 120 + 150 + 50) / 4, "e": 50.0}, abs=TOL)
    assert (s["score_tax_per_mu"] <= 1.5 * 100 + TOL).all()
    # the uncapped indicator is not limited: 10 × (300/600) / 0.5
    assert s.loc["a", "score_tax_per_kwh"] == pytest.approx(10.0, abs=TOL)
    assert s.loc["a", "score"] == pytest.approx(160.0, abs=TOL)
    # e: 50 + 10 = 60, exactly the C threshold
    assert s.loc["e", "score"] == pytest.approx(60.0, abs=TOL)
    assert s["class"].to_dict() == {"a": "A", "b": "B", "c": "A", "d": "B", "e": "C"}


def test_an_indicator_nobody_has_scores_zero():
    r = rule_set_from_dict({"name": "t", "title": "t", "groups": {"above_scale": {"indicators": [
        {"key": "tax_per_mu", "weight": 50, "benchmark": 10}, {"key": "va_per_emission", "weight": 50}]}}})
    f = pd.DataFrame({"credit_code": ["a", "b"], "land_mu": 10.0, "above_scale": True,
                      "tax": [100.0, 200.0], "value_added": [500.0, 900.0]})
    s = _by_code(score_enterprises(f, r)[0])
    assert s["score_va_per_emission"].tolist() == [0.0, 0.0]
    assert s["score"].tolist() == pytest.approx([50.0, 100.0], abs=TOL)


def test_group_without_indicators_is_not_scored():
    r = rule_set_from_dict({"name": "t", "title": "t", "groups": {
        "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}}})
    f = pd.DataFrame({"credit_code": ["a", "b", "c"], "land_mu": 10.0,
                      "above_scale": [True, None, False], "tax": [10.0, 20.0, 30.0]})
    s = _by_code(score_enterprises(f, r)[0])
    assert s["group"].tolist() == ["above_scale", "below_scale", "below_scale"]  # unknown counts as 规下
    assert s.loc["b", "not_scored_reason"] == "规则未设该类企业的指标，不参评"
    assert s["evaluated_in_score"].tolist() == [True, False, False]
    assert s.loc["a", "score"] == pytest.approx(100.0)  # its own benchmark: 10/10


# --- classes by shares -------------------------------------------------------------------

SHARES = ClassRule("shares", shares={"A": 0.10, "B": 0.35, "C": 0.45, "D": 0.10})


def _counts(classes: pd.Series) -> dict[str, int]:
    return {c: int((classes == c).sum()) for c in "ABCD"}


@pytest.mark.parametrize("n, expected", [
    (20, {"A": 2, "B": 7, "C": 9, "D": 2}),
    (40, {"A": 4, "B": 14, "C": 18, "D": 4}),
    (100, {"A": 10, "B": 35, "C": 45, "D": 10}),
])
def test_share_counts_without_ties(n, expected):
    scores = pd.Series(np.linspace(100, 1, n))
    got = classify(scores, SHARES)
    assert _counts(got) == expected
    # best scores get the best classes, in order
    assert got.tolist() == sorted(got.tolist())


def test_tied_groups_straddling_boundaries_stay_together():
    # 20 firms: A = 2, A+B = 9, A+B+C = 18 positions
    scores = [100, 90, 90,  # positions 2-3 tied across the A/B cut -> both B
              80, 79, 78, 77, 76,  # 4-8
              60, 60, 60,  # 9-11 tied across the B/C cut -> all C
              50, 49, 48, 47, 46, 45,  # 12-17
              30, 30,  # 18-19 tied across the C/D cut -> both D
              10]
    got = classify(pd.Series(scores, dtype="float64"), SHARES).tolist()
    assert got == ["A", "B", "B", "B", "B", "B", "B", "B",
                   "C", "C", "C", "C", "C", "C", "C", "C", "C",
                   "D", "D", "D"]


def test_all_tied_is_one_class():
    got = classify(pd.Series([5.0] * 20), SHARES)
    assert set(got) == {"D"}  # a tie wider than A, A+B and A+B+C fits none of them


def test_missing_scores_stay_missing():
    got = classify(pd.Series([3.0, None, 1.0, 2.0] + [0.5] * 6), SHARES)
    assert pd.isna(got[1])
    assert got.notna().sum() == 9


def _reference_classes(scores: list[float]) -> list[str]:
    """Tie groups from the best, each into the best class whose cumulative cap it fits (exact)."""
    n = len(scores)
    caps = [n * Fraction(1, 10), n * Fraction(45, 100), n * Fraction(90, 100)]
    cls = {}
    taken = 0
    for value in sorted(set(scores), reverse=True):
        taken += scores.count(value)
        cls[value] = next((c for c, cap in zip("ABC", caps, strict=True) if taken <= cap), "D")
    return [cls[v] for v in scores]


@pytest.mark.parametrize("seed", range(25))
def test_share_caps_hold_with_random_ties(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    scores = [float(rng.randint(0, max(1, n // rng.choice([1, 2, 4])))) for _ in range(n)]
    got = classify(pd.Series(scores), SHARES).tolist()
    assert got == _reference_classes(scores)
    c = _counts(pd.Series(got))
    assert c["A"] <= 0.10 * n + 1e-9
    assert c["A"] + c["B"] <= 0.45 * n + 1e-9
    assert c["A"] + c["B"] + c["C"] <= 0.90 * n + 1e-9
    assert c["D"] >= 0.10 * n - 1e-9
    # ties share a class; a better score never gets a worse class
    by_score = {}
    for s, k in zip(scores, got, strict=True):
        assert by_score.setdefault(s, k) == k
    ordered = [k for _, k in sorted(zip(scores, got, strict=True), key=lambda t: -t[0])]
    assert ordered == sorted(ordered)


@pytest.mark.parametrize("n", [1, 3, 4, 9, 15, 21, 33])
def test_share_caps_hold_for_awkward_sizes(n):
    got = classify(pd.Series(np.arange(n, dtype="float64")), SHARES)
    c = _counts(got)
    assert c["A"] <= 0.10 * n and c["A"] + c["B"] <= 0.45 * n
    assert c["D"] >= 0.10 * n
    # and each class is as large as its cap allows (rounded down)
    assert c["A"] == int(n * 0.10 + 1e-9)
    assert c["A"] + c["B"] == int(n * 0.45 + 1e-9)
    assert c["A"] + c["B"] + c["C"] == int(n * 0.90 + 1e-9)


def test_thresholds():
    t = ClassRule("thresholds", thresholds={"A": 120.0, "B": 100.0, "C": 80.0})
    got = classify(pd.Series([130, 120, 119.99, 100, 80, 79.99, None, -5]), t)
    assert got.tolist() == ["A", "A", "B", "B", "C", "D", pd.NA, "D"]


def _firms(n: int, above: bool, start: float, prefix: str) -> pd.DataFrame:
    return pd.DataFrame({
        "credit_code": [f"{prefix}{i:02d}" for i in range(n)],
        "year": 2024, "land_mu": 10.0, "above_scale": above,
        "tax": [start - 10.0 * i for i in range(n)],
    })


def _tax_rules(**extra) -> dict:
    return {"name": "t", "title": "t", "groups": {
        "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 10}]},
        "below_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 10}]}}, **extra}


def test_above_and_below_scale_are_classed_separately():
    # every 规下 firm scores above every 规上 firm; each group still has its own A–D
    f = pd.concat([_firms(20, True, 500.0, "U"), _firms(20, False, 5000.0, "L")], ignore_index=True)
    s = score_enterprises(f, rule_set_from_dict(_tax_rules()))[0]
    for group in ("above_scale", "below_scale"):
        assert _counts(s.loc[s["group"] == group, "class"]) == {"A": 2, "B": 7, "C": 9, "D": 2}
    assert s.set_index("credit_code").loc["U00", "class"] == "A"
    assert s.set_index("credit_code").loc["L19", "class"] == "D"


def test_class_names_follow_the_rule_set():
    r = rule_set_from_dict(_tax_rules(classes={"names": {"A": "重点发展", "D": "淘汰关停"}}))
    s = score_enterprises(_firms(20, True, 500.0, "U"), r)[0].set_index("credit_code")
    assert s.loc["U00", "class_name"] == "重点发展"
    assert s.loc["U05", "class_name"] == "提升发展"
    assert s.loc["U19", "class_name"] == "淘汰关停"


# --- veto --------------------------------------------------------------------------------

def test_veto_from_the_rule_set_and_the_argument_forces_d():
    f = _firms(20, True, 500.0, "U")
    r = rule_set_from_dict(_tax_rules(veto={"u00": "重大安全生产事故"}))  # case does not matter
    s = score_enterprises(f, r, veto={"u05": "环境违法"})[0].set_index("credit_code")
    assert s.loc["U00", "class"] == "D" and s.loc["U00", "veto_reason"] == "重大安全生产事故"
    assert s.loc["U05", "class"] == "D" and s.loc["U05", "veto_reason"] == "环境违法"
    assert s.loc["U00", "class_name"] == "倒逼整治"
    assert s["veto_reason"].notna().sum() == 2
    # the score is still shown: the veto changes the class, not the figures
    assert s.loc["U00", "score"] == pytest.approx(500.0)


def test_argument_veto_overrides_the_rule_sets_reason():
    r = rule_set_from_dict(_tax_rules(veto={"U00": "规则中的原因"}))
    s = score_enterprises(_firms(20, True, 500.0, "U"), r, veto={"U00": "名单中的原因"})[0]
    assert s.set_index("credit_code").loc["U00", "veto_reason"] == "名单中的原因"


def test_vetoed_firms_take_no_share_of_the_others():
    f = _firms(20, True, 500.0, "U")
    vetoed = {"U00": "事故", "U01": "事故"}
    s = score_enterprises(f, rule_set_from_dict(_tax_rules()), veto=vetoed)[0].set_index("credit_code")
    others = s.drop(index=list(vetoed))
    # the 18 others are classed as a population of 18: A 1, A+B 8, A+B+C 16
    assert others["class"].tolist() == classify(others["score"], SHARES).tolist()
    assert _counts(others["class"]) == {"A": 1, "B": 7, "C": 8, "D": 2}
    assert others.loc["U02", "class"] == "A"  # the best firm left is A
    assert _counts(s["class"]) == {"A": 1, "B": 7, "C": 8, "D": 4}


def test_veto_of_a_firm_outside_the_population_gives_no_class(firms):
    s = score_enterprises(firms, load_rule_set("huangyan-2022"), veto={"T1": "事故"})[0].set_index("credit_code")
    assert s.loc["T1", "veto_reason"] == "事故"
    assert pd.isna(s.loc["T1", "class"])


# --- class change -----------------------------------------------------------------------

def test_class_change_against_last_year():
    current = pd.Series(["A", "B", "D", "C", "B", None, "A"], dtype="string")
    previous = pd.Series(["B", "B", "C", None, "D", "A", "A"], dtype="string")
    assert class_change(current, previous).tolist() == ["升", "持平", "降", "新参评", "升", pd.NA, "持平"]


def test_non_positive_population_benchmark_scores_nothing():
    """Σ tax ≤ 0 in the population: 亩均税收 cannot be benchmarked and adds 0, never flips signs."""
    from mujun.geo.rules import rule_set_from_dict
    from mujun.geo.scoring import score_enterprises

    rules = rule_set_from_dict({"name": "t", "title": "t", "groups": {"above_scale": {"indicators": [
        {"key": "tax_per_mu", "weight": 50}, {"key": "value_added_per_mu", "weight": 50}]}}})
    ent = pd.DataFrame({"credit_code": ["a", "b"], "land_mu": [10.0, 10.0], "above_scale": [True, True],
                        "tax": [-30.0, 10.0], "value_added": [100.0, 300.0]})
    scored, bench = score_enterprises(ent, rules)
    assert scored["score_tax_per_mu"].tolist() == [0.0, 0.0]
    assert scored["score"].tolist() == pytest.approx([50 * 10 / 20, 50 * 30 / 20])
    assert "不为正" in bench.set_index("indicator").loc["tax_per_mu", "benchmark_source"]


# --- scope, floors and reported zeros ---------------------------------------------------

def _scope_firms() -> pd.DataFrame:
    rows = [
        # code  mu    above  tax    kWh    VA     energy  production year
        ("A3", 3.0, True, 30.0, 100.0, 90.0, 30.0, 2010),   # 规上 on 3 mu: scored whatever its land
        ("A0", 0.5, True, 10.0, 50.0, 20.0, 10.0, None),    # 规上 on half a mu: scored
        ("B3", 3.0, False, 12.0, 60.0, 30.0, 12.0, 2018),   # 规下 at exactly 3 mu: scored
        ("B2", 2.9, False, 12.0, 60.0, 30.0, 12.0, 2018),   # 规下 under 3 mu: not
        ("N1", 20.0, True, 80.0, 300.0, 300.0, 90.0, 2025),  # first year of production: 新投产
        ("N2", 20.0, True, 80.0, 300.0, 300.0, 90.0, 2024),  # second year: scored
        ("X0", 0.0, True, 5.0, 20.0, 10.0, 5.0, 2010),      # no land: not scored
    ]
    f = pd.DataFrame(rows, columns=["credit_code", "land_mu", "above_scale", "tax", "electricity",
                                    "value_added", "energy_tce", "production_year"])
    return f.assign(year=2025)


def test_every_above_scale_firm_is_scored_whatever_its_land():
    s = _by_code(score_enterprises(_scope_firms(), load_rule_set("zhejiang-default"))[0])
    assert s["evaluated_in_score"].to_dict() == {
        "A3": True, "A0": True, "B3": True, "B2": False, "N1": False, "N2": True, "X0": False}
    # the 3-mu 规上 firm is scored against the 规上 population's benchmark, Σ tax / Σ mu
    bench = (30 + 10 + 80) / (3 + 0.5 + 20)
    assert s.loc["A3", "score_tax_per_mu"] == pytest.approx(30 * (30 / 3) / bench, abs=TOL)
    assert s.loc["A3", "class"] in ("A", "B", "C", "D")
    assert s.loc["B2", "not_scored_reason"] == "规下企业用地面积不足 3 亩，不参评"
    assert s.loc["X0", "not_scored_reason"] == "无有效用地面积，不参评"
    assert s[["not_scored_reason"]].loc[["A3", "A0", "B3", "N2"]].isna().all().all()


def test_firms_in_their_first_year_of_production_are_listed_not_scored():
    s = _by_code(score_enterprises(_scope_firms(), load_rule_set("zhejiang-default"))[0])
    assert s.loc["N1", "not_scored_reason"] == "新投产（2025 年投产），不参评"
    assert np.isnan(s.loc["N1", "score"]) and pd.isna(s.loc["N1", "class"])
    # N1 takes no part in the benchmark either
    assert s.loc["N2", "score_tax_per_mu"] == pytest.approx(30 * 4 / ((30 + 10 + 80) / 23.5), abs=TOL)
    two = rule_set_from_dict({"name": "t", "title": "t", "population": {"new_production_years": 2},
                              "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}}})
    s2 = _by_code(score_enterprises(_scope_firms(), two)[0])
    assert s2.loc["N2", "not_scored_reason"] == "新投产（2024 年投产），不参评"
    off = rule_set_from_dict({"name": "t", "title": "t", "population": {"new_production_years": 0},
                              "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}}})
    assert bool(_by_code(score_enterprises(_scope_firms(), off)[0]).loc["N1", "evaluated_in_score"])


def test_floor_keeps_a_negative_tax_firm_at_zero_or_above(firms):
    # 规下 N: tax −20 on 10 mu (−2 万元/亩), 100 万kWh (−0.2 万元/万kWh): both sub-scores negative
    # without the floor: 50 × −2 / 11.5932 + 50 × −0.2 / 0.2352 = −51.14
    neg = pd.DataFrame([{"credit_code": "N", "year": 2022, "land_mu": 10.0, "above_scale": False,
                         "tax": -20.0, "electricity": 100.0}])
    f = pd.concat([firms, neg], ignore_index=True)
    s = _by_code(score_enterprises(f, load_rule_set("huangyan-2022"))[0])
    assert s.loc["N", "score_tax_per_mu"] == 0.0 and s.loc["N", "score_tax_per_kwh"] == 0.0
    assert s.loc["N", "score"] == 0.0
    assert (s["score"].dropna() >= 0).all()
    # the others are as before: S2 = 50 × 10 / 11.5932 + 50 × 0.3 / 0.2352
    assert s.loc["S2", "score"] == pytest.approx(50 * 10 / 11.5932 + 50 * 0.3 / 0.2352, abs=TOL)
    # a rule set may switch the floor off: the sub-scores are then the formula's
    r = rule_set_from_dict({"name": "t", "title": "t", "scores": {"floor": False}, "groups": {"below_scale": {
        "indicators": [{"key": "tax_per_mu", "weight": 50, "benchmark": 11.5932},
                       {"key": "tax_per_kwh", "weight": 50, "benchmark": 0.2352}]}}})
    raw = _by_code(score_enterprises(f, r)[0]).loc["N", "score"]
    assert raw == pytest.approx(50 * -2 / 11.5932 + 50 * -0.2 / 0.2352, abs=TOL)
    assert raw < 0


def test_a_reported_zero_is_not_a_missing_value(firms):
    # Z2 reports zero emissions (VA 500): nothing to divide by, and better than any ratio —
    # the best sub-score of the group; E3 has no record: the average of the others
    zero = pd.DataFrame([{"credit_code": "Z2", "year": 2022, "land_mu": 10.0, "above_scale": True, "tax": 100.0,
                          "value_added": 500.0, "revenue": 3000.0, "energy_tce": 250.0, "emissions": 0.0,
                          "employees": 40.0, "rd_expense": 30.0, "electricity": 400.0}])
    s = _by_code(score_enterprises(pd.concat([firms, zero], ignore_index=True), load_rule_set("huangyan-2022"))[0])
    e1 = 10 * (3000 / 0.5) / 4929.81
    e2 = 10 * (1000 / 0.4) / 4929.81
    assert s.loc["Z2", "score_va_per_emission"] == pytest.approx(e1, abs=TOL)
    assert s.loc["E3", "score_va_per_emission"] == pytest.approx((e1 + e2 + e1) / 3, abs=TOL)
    # S1 reports zero R&D: a zero, not the average
    assert s.loc["S1", "rd_intensity"] == 0.0
    # with a cap, a zero denominator scores the cap
    r = rule_set_from_dict({"name": "t", "title": "t", "groups": {"above_scale": {"indicators": [
        {"key": "va_per_emission", "weight": 10, "benchmark": 4929.81, "cap": 2.0}]}}})
    capped = _by_code(score_enterprises(pd.concat([firms, zero], ignore_index=True), r)[0])
    assert capped.loc["Z2", "score_va_per_emission"] == pytest.approx(20.0, abs=TOL)
    assert capped.loc["E1", "score_va_per_emission"] == pytest.approx(min(e1, 20.0), abs=TOL)
    # a zero tax scores zero, not the average
    zt = firms.assign(tax=np.where(firms["credit_code"] == "E2", 0.0, firms["tax"]))
    assert _by_code(score_enterprises(zt, load_rule_set("huangyan-2022"))[0]).loc["E2", "score_tax_per_mu"] == 0.0


# --- rule sensitivity: the class migration matrix ---------------------------------------

def test_class_migration_matrix_of_two_rule_sets_by_hand():
    """Ten 规上 firms of 10 mu, thresholds A ≥ 80, B ≥ 60, C ≥ 40 under both rule sets.

    Rule set 1 scores tax only: score = 100 × 亩均税收 / 10. Rule set 2 weighs tax 50 and
    value added 50: score = 50 × 亩均税收 / 10 + 50 × 亩均增加值 / 50. m (2 mu, 规下) is
    out of both (规下 from 3 mu).

        firm  tax/mu  VA/mu  score 1  class 1  score 2  class 2
        a     9       50     90       A        95       A
        b     9       10     90       A        55       C
        c     7       40     70       B        75       B
        d     7       80     70       B        115      A
        e     5       30     50       C        55       C
        f     5       60     50       C        85       A
        g     3       20     30       D        35       D
        h     3       55     30       D        70       B
        k     6       45     60       B        75       B
        m     (规下, 2 mu)             —                 —
    """
    thresholds = {"method": "thresholds", "thresholds": {"A": 80, "B": 60, "C": 40}}
    one = rule_set_from_dict({"name": "one", "title": "税收", "classes": thresholds, "groups": {
        "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 10}]},
        "below_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 10}]}}})
    two = rule_set_from_dict({"name": "two", "title": "税收与增加值", "classes": thresholds, "groups": {
        "above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 50, "benchmark": 10},
                                       {"key": "value_added_per_mu", "weight": 50, "benchmark": 50}]},
        "below_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100, "benchmark": 10}]}}})
    tax = [9, 9, 7, 7, 5, 5, 3, 3, 6, 4]
    va = [50, 10, 40, 80, 30, 60, 20, 55, 45, 20]
    land = [10.0] * 9 + [2.0]
    f = pd.DataFrame({"credit_code": list("abcdefghkm"), "land_mu": land, "above_scale": [True] * 9 + [False],
                      "tax": np.multiply(tax, land), "value_added": np.multiply(va, land)})
    a = _by_code(score_enterprises(f, one)[0])
    b = _by_code(score_enterprises(f, two)[0])
    assert b["score"].dropna().to_dict() == pytest.approx(
        {"a": 95, "b": 55, "c": 75, "d": 115, "e": 55, "f": 85, "g": 35, "h": 70, "k": 75}, abs=TOL)
    m = class_migration(a["class"], b["class"])
    expected = pd.DataFrame(
        [[1, 0, 1, 0, 0],   # A: a stays, b falls to C
         [1, 2, 0, 0, 0],   # B: d rises to A; c and k stay
         [1, 0, 1, 0, 0],   # C: f rises to A, e stays
         [0, 1, 0, 1, 0],   # D: h rises to B, g stays
         [0, 0, 0, 0, 1]],  # m is scored by neither
        index=["A", "B", "C", "D", NOT_SCORED], columns=["A", "B", "C", "D", NOT_SCORED])
    pd.testing.assert_frame_equal(m, expected)
    assert int(m.to_numpy().sum()) == len(f)
    # the firms that change class are the off-diagonal ones
    moved = sorted(a.index[a["class"].fillna("") != b["class"].fillna("")])
    assert moved == ["b", "d", "f", "h"]
