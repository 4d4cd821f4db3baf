"""Idle (闲置, 令第53号), inefficient (低效) and non-compliance flags at their boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.compliance import compliance, compliance_parts
from mujun.geo.errors import InputError
from mujun.geo.flags import (
    FLAG_KINDS,
    IDLE_TIERS,
    idle_flags,
    idle_tiers,
    inefficient_flags,
    noncompliance_flags,
    site_checks,
)
from mujun.geo.rules import RuleError, control_rules_from_dict, rule_set_from_dict
from mujun.layers.rulesets import load_rule_set

AS_OF = pd.Timestamp("2025-06-30")
NOT_STARTED = "未动工满一年"
LOW_DEV = "开发面积不足三分之一且停工满一年"
LOW_INV = "投资不足四分之一且停工满一年"
BARE = "在产但影像显示空置"
COLUMNS = ["parcel_id", "kind", "kind_label", "rule", "reason", "value", "threshold"]


@pytest.fixture(scope="module")
def rules():
    return load_rule_set("zhejiang-default")


def _parcels(rows: dict[str, dict]) -> pd.DataFrame:
    """Parcels from {id: fields}; unbuilt, 10 mu, no dates unless given."""
    base = {"area_mu": 10.0, "footprint_m2": 0.0, "building_coefficient": 0.0, "investment": np.nan,
            "contract_investment": np.nan, "output_value": np.nan,
            "agreed_start": None, "actual_start": None, "suspended_since": None}
    frame = pd.DataFrame([{"parcel_id": pid, **base, **fields} for pid, fields in rows.items()])
    for col in ("agreed_start", "actual_start", "suspended_since"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _rules_of(flags: pd.DataFrame) -> dict[str, list[str]]:
    return {pid: g["rule"].tolist() for pid, g in flags.groupby("parcel_id")}


# --- 未动工 -------------------------------------------------------------------------------

def test_not_started_one_full_year(rules):
    p = _parcels({
        "N1": {"agreed_start": "2024-06-30"},  # exactly one year before: flagged
        "N2": {"agreed_start": "2024-07-01"},  # one day less: not yet
        "N3": {"agreed_start": "2020-01-01", "footprint_m2": 500.0},  # buildings, no start recorded
        "N4": {},  # no agreed date
        "N5": {"agreed_start": "2024-06-30", "actual_start": "2024-08-01"},  # started
        "N6": {"agreed_start": "2023-06-30", "footprint_m2": np.nan},  # footprint unknown = none
    })
    flags = idle_flags(p, rules, AS_OF)
    assert _rules_of(flags) == {"N1": [NOT_STARTED], "N6": [NOT_STARTED]}
    n1 = flags.set_index("parcel_id").loc["N1"]
    assert n1["kind"] == "idle" and n1["kind_label"] == "闲置"
    assert n1["value"] == 365 and n1["threshold"] == 365
    assert "2024-06-30" in n1["reason"] and "2025-06-30" in n1["reason"] and "365 天" in n1["reason"]
    assert flags.set_index("parcel_id").loc["N6", "value"] == 731  # 2024 is a leap year


def test_not_started_counts_to_the_evaluation_date(rules):
    p = _parcels({"N2": {"agreed_start": "2024-07-01"}})
    assert idle_flags(p, rules, pd.Timestamp("2025-06-30")).empty
    assert _rules_of(idle_flags(p, rules, pd.Timestamp("2025-07-01"))) == {"N2": [NOT_STARTED]}


# --- 开发不足后停工 -------------------------------------------------------------------------

STARTED = {"agreed_start": "2019-06-01", "actual_start": "2020-01-01"}


def test_developed_exactly_one_third_is_not_idle(rules):
    # developed = building coefficient / 30 % coverage target
    p = _parcels({
        "S1": {**STARTED, "suspended_since": "2024-06-30", "building_coefficient": 0.10},  # = 1/3
        "S2": {**STARTED, "suspended_since": "2024-06-30", "building_coefficient": 0.0999},  # just under
        "S3": {**STARTED, "suspended_since": "2024-07-01", "building_coefficient": 0.05},  # stopped < 1 year
    })
    flags = idle_flags(p, rules, AS_OF)
    assert _rules_of(flags) == {"S2": [LOW_DEV]}
    s2 = flags.iloc[0]
    assert s2["value"] == pytest.approx(0.0999 / 0.30)
    assert s2["threshold"] == pytest.approx(1 / 3)
    assert "33.3%" in s2["reason"] and "2024-06-30" in s2["reason"]
    assert s2["reason"].startswith("已开发面积比例 33.3% 低于 33.3%")


def test_exactly_one_third_with_an_exact_float_ratio():
    # coverage target 75 %, coefficient 25 %: 0.25 / 0.75 is exactly the float 1/3
    r = rule_set_from_dict({"name": "t", "title": "t", "idle": {"coverage_target": 0.75},
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    assert 0.25 / 0.75 == 1 / 3
    p = _parcels({
        "S1": {**STARTED, "suspended_since": "2023-01-01", "building_coefficient": 0.25},
        "S2": {**STARTED, "suspended_since": "2023-01-01", "building_coefficient": 0.2499},
    })
    assert _rules_of(idle_flags(p, r, AS_OF)) == {"S2": [LOW_DEV]}


def test_investment_exactly_a_quarter_is_not_idle(rules):
    # total = 200 万元/亩 × 10 亩 = 2000 万元; developed 0.2/0.3 is enough
    dev = {**STARTED, "suspended_since": "2024-01-01", "building_coefficient": 0.2, "contract_investment": 200.0}
    p = _parcels({
        "V1": {**dev, "investment": 500.0},  # exactly 25 %
        "V2": {**dev, "investment": 480.0},  # 24 %
        "V3": {**dev, "investment": np.nan},  # unknown: no judgement
        "V4": {**dev, "investment": 100.0, "contract_investment": np.nan},  # no agreed total
    })
    flags = idle_flags(p, rules, AS_OF)
    assert _rules_of(flags) == {"V2": [LOW_INV]}
    v2 = flags.iloc[0]
    assert v2["value"] == pytest.approx(0.24) and v2["threshold"] == 0.25
    assert v2["reason"] == "已完成投资比例 24.0% 低于 25.0%，自 2024-01-01 起满一年无进展"


def test_low_development_and_low_investment_is_one_flag(rules):
    p = _parcels({"W": {**STARTED, "suspended_since": "2024-01-01", "building_coefficient": 0.03,
                        "contract_investment": 200.0, "investment": 10.0}})
    assert _rules_of(idle_flags(p, rules, AS_OF)) == {"W": [LOW_DEV]}


def test_producing_parcel_without_a_stop_date_is_not_stalled(rules):
    low = {**STARTED, "building_coefficient": 0.05}
    p = _parcels({
        "R1": {**low, "output_value": 1000.0},  # in production: has not stopped
        "R2": {**low, "output_value": 0.0},  # nothing produced: no progress since the start
        "R3": {**low},  # no output figure either
        "R4": {**low, "output_value": 1000.0, "suspended_since": "2024-01-01"},  # a recorded stop counts
    })
    flags = idle_flags(p, rules, AS_OF)
    assert _rules_of(flags) == {"R2": [LOW_DEV], "R3": [LOW_DEV], "R4": [LOW_DEV]}
    # without a stop date the year runs from the start
    assert "自 2020-01-01 起" in flags.set_index("parcel_id").loc["R2", "reason"]
    assert "自 2024-01-01 起" in flags.set_index("parcel_id").loc["R4", "reason"]


def test_started_less_than_a_year_ago_is_not_stalled(rules):
    p = _parcels({"Y": {"agreed_start": "2024-01-01", "actual_start": "2024-07-01", "building_coefficient": 0.0}})
    assert idle_flags(p, rules, AS_OF).empty


# --- imagery ----------------------------------------------------------------------------

def test_producing_parcel_that_looks_empty_on_imagery(rules):
    built = {"building_count": 2, "footprint_m2": 2000.0, "building_coefficient": 0.3}
    p = _parcels({
        "B1": {**built, "output_value": 500.0},  # 10 % built-up: flagged
        "B2": {**built, "output_value": 500.0},  # 11 %
        "B3": {**built, "output_value": 0.0},  # not producing
        "B4": {**built, "output_value": 500.0},  # no imagery figure
        "B5": {**STARTED, "suspended_since": "2023-01-01", "building_coefficient": 0.05},  # imagery shows more
        "B6": {"actual_start": "2024-03-01", "output_value": 500.0},  # started, no buildings registered yet
        "B7": {"output_value": 500.0},  # neither buildings nor a start on record
    })
    builtup = pd.Series([0.10, 0.11, 0.05, np.nan, 0.20, 0.0, 0.0], index=p.index)
    flags = idle_flags(p, rules, AS_OF, builtup)
    assert _rules_of(flags) == {"B1": [BARE], "B6": [BARE]}
    b1 = flags.iloc[0]
    assert b1["value"] == 0.10 and b1["threshold"] == 0.10
    assert "10.0%" in b1["reason"] and "不高于 10%" in b1["reason"]
    # without the raster B5 is under a third developed (0.05 / 0.30)
    assert _rules_of(idle_flags(p, rules, AS_OF)) == {"B5": [LOW_DEV]}


def test_no_flags_gives_the_columns(rules):
    flags = idle_flags(_parcels({"x": {}}), rules, AS_OF, pd.Series([0.5]))
    assert flags.empty and list(flags.columns) == COLUMNS


def test_bare_imagery_over_buildings_covering_the_control_minimum_is_not_idle(rules):
    # the control rules' 建筑系数 minimum is 30 %: at or above it the buildings contradict the imagery
    built = {"building_count": 2, "footprint_m2": 2000.0, "output_value": 500.0}
    p = _parcels({
        "C1": {**built, "building_coefficient": 0.30},  # exactly the minimum: a site check
        "C2": {**built, "building_coefficient": 0.2999},  # just under: idle on imagery
        "C3": {**built, "building_coefficient": 0.45},  # 45 %: a site check
        "C4": {**built, "building_coefficient": 0.45, "output_value": 0.0},  # not producing: neither
    })
    builtup = pd.Series([0.05, 0.05, 0.10, 0.0], index=p.index)
    flags = idle_flags(p, rules, AS_OF, builtup, coverage_min=0.30)
    assert _rules_of(flags) == {"C2": [BARE]}
    checks = site_checks(p, rules, builtup, 0.30)
    assert _rules_of(checks) == {"C1": ["影像与建筑数据矛盾"], "C3": ["影像与建筑数据矛盾"]}
    assert set(checks["kind"]) == {"site_check"} and set(checks["kind_label"]) == {"需现场核查"}
    c3 = checks.set_index("parcel_id").loc["C3"]
    assert c3["value"] == 0.10 and c3["threshold"] == 0.10
    assert c3["reason"] == ("影像建成比例 10.0%（不高于 10%），但建筑数据的建筑系数为 45.0%（不低于控制指标 30%）："
                            "影像与建筑数据矛盾，需现场核查")
    assert list(checks.columns) == COLUMNS


def test_no_site_checks_without_imagery_or_a_control_minimum(rules):
    p = _parcels({"C": {"building_count": 2, "output_value": 500.0, "building_coefficient": 0.5}})
    assert site_checks(p, rules, None, 0.30).empty
    assert site_checks(p, rules, pd.Series([0.0]), None).empty
    assert _rules_of(idle_flags(p, rules, AS_OF, pd.Series([0.0]))) == {"C": [BARE]}  # no minimum given


# --- 令第53号 第十四条: 闲置费 after one year, 无偿收回 after two; 第八条 exemptions ----------------

def test_shipped_rules_hold_the_idle_measures_with_their_source(rules):
    assert rules.idle_fee_years == 1 and rules.idle_recovery_years == 2 and rules.idle_fee_share == 0.20
    assert "令第53号" in rules.idle_source


def test_idle_tiers_at_exactly_one_and_exactly_two_years(rules):
    p = _parcels({
        "T1": {"agreed_start": "2024-06-30", "land_price": 1500.0},  # exactly one year: the fee
        "T2": {"agreed_start": "2023-07-01", "land_price": 1500.0},  # one day short of two: still the fee
        "T3": {"agreed_start": "2023-06-30", "land_price": 1500.0},  # exactly two years: recovery
        "T4": {"agreed_start": "2024-07-01", "land_price": 1500.0},  # one day short of one: not idle
        "T5": {"agreed_start": "2024-01-01", "land_price": np.nan},  # fee due, price unknown
        "T6": {"agreed_start": "2020-01-01", "footprint_m2": 900.0, "land_price": 1500.0},  # built
    })
    t = idle_tiers(p, rules, AS_OF).set_index(p["parcel_id"])
    assert t["idle_tier"].fillna("").tolist() == ["fee", "fee", "recovery", "", "fee", ""]
    assert t["idle_tier_label"].fillna("").tolist() == [IDLE_TIERS["fee"], IDLE_TIERS["fee"], "无偿收回候选", "",
                                                        "征缴土地闲置费", ""]
    # 20 % of the 出让价款 of 1500 万元 = 300 万元, only in the fee tier
    assert t["idle_fee"].tolist()[:2] == [300.0, 300.0]
    assert np.isnan(t["idle_fee"]).tolist() == [False, False, True, True, True, True]
    assert t.loc["T3", "idle_since"] == pd.Timestamp("2023-06-30")
    assert t.loc["T1", "idle_since"] == pd.Timestamp("2024-06-30")
    # the fee tier and the idle flag agree
    assert set(_rules_of(idle_flags(p, rules, AS_OF))) == {"T1", "T2", "T3", "T5"}


def test_stalled_land_is_tiered_from_its_stop_date(rules):
    low = {**STARTED, "building_coefficient": 0.03, "land_price": 800.0}
    p = _parcels({
        "S1": {**low, "suspended_since": "2024-06-30"},  # stopped one year ago: the fee
        "S2": {**low, "suspended_since": "2023-06-30"},  # two years: recovery
        "S3": {**low, "suspended_since": "2024-07-01"},  # not yet a year: not idle
    })
    t = idle_tiers(p, rules, AS_OF)
    assert t["idle_tier"].fillna("").tolist() == ["fee", "recovery", ""]
    assert t["idle_fee"].iloc[0] == pytest.approx(160.0)


def test_imagery_alone_sets_no_tier(rules):
    p = _parcels({"B": {"building_count": 2, "output_value": 500.0, "building_coefficient": 0.1,
                        "land_price": 500.0}})
    assert _rules_of(idle_flags(p, rules, AS_OF, pd.Series([0.0]))) == {"B": [BARE]}
    assert idle_tiers(p, rules, AS_OF, pd.Series([0.0]))["idle_tier"].isna().all()


def test_exemption_suspends_both_tiers(rules):
    p = _parcels({
        "E1": {"agreed_start": "2024-06-30", "land_price": 1500.0, "idle_exemption": " 政府原因：规划调整 "},
        "E2": {"agreed_start": "2022-01-01", "land_price": 1500.0, "idle_exemption": "不可抗力"},
        "E3": {"agreed_start": "2022-01-01", "land_price": 1500.0, "idle_exemption": ""},  # blank: none
        "E4": {"agreed_start": "2025-01-01", "idle_exemption": "政府原因"},  # not idle yet
    })
    t = idle_tiers(p, rules, AS_OF)
    assert t["idle_tier"].fillna("").tolist() == ["suspended", "suspended", "recovery", ""]
    assert t["idle_tier_label"].iloc[0] == "暂停处置"
    assert t["idle_fee"].isna().all()  # no fee while suspended
    # still idle land (第八条 changes the measure, not the finding)
    assert set(_rules_of(idle_flags(p, rules, AS_OF))) == {"E1", "E2", "E3"}


def test_unknown_exemption_is_refused_naming_the_parcel(rules):
    p = _parcels({
        "X1": {"agreed_start": "2024-01-01", "idle_exemption": "政府原因"},
        "X2": {"agreed_start": "2024-01-01", "idle_exemption": "企业资金困难"},
        "X3": {"agreed_start": "2024-01-01", "idle_exemption": "资金"},
    })
    with pytest.raises(InputError, match=r"地块 X2 的闲置免责情形 '企业资金困难' 无法识别（另有 1 宗）；请填写“政府原因”或“不可抗力”"):
        idle_tiers(p, rules, AS_OF)


def test_idle_years_come_from_the_rule_file():
    r = rule_set_from_dict({"name": "t", "title": "t", "idle": {"fee_years": 2, "recovery_years": 3, "fee_share": 0.1},
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    p = _parcels({"A": {"agreed_start": "2023-06-30", "land_price": 1000.0},
                  "B": {"agreed_start": "2023-07-01", "land_price": 1000.0}})
    flags = idle_flags(p, r, AS_OF)
    assert _rules_of(flags) == {"A": ["未动工满两年"]}
    assert "已满两年仍未开工" in flags["reason"].iloc[0] and flags["threshold"].iloc[0] == 730
    t = idle_tiers(p, r, AS_OF)
    assert t["idle_tier"].fillna("").tolist() == ["fee", ""] and t["idle_fee"].iloc[0] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("idle", "message"),
    [
        ({"fee_years": 2, "recovery_years": 2}, "idle.recovery_years 应大于 idle.fee_years（2），现为 2"),
        ({"fee_years": 1.5}, "idle.fee_years 应为整年数，现为 1.5"),
        ({"fee_share": 1.2}, "idle.fee_share 不能大于 1"),
        ({"fee_years": 0}, "idle.fee_years 不能小于 1"),
    ],
)
def test_idle_rules_refused(idle, message):
    with pytest.raises(RuleError, match=message):
        rule_set_from_dict({"name": "t", "title": "t", "idle": idle,
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})


# --- 低效 --------------------------------------------------------------------------------

def _efficiency(rows: dict[str, dict]) -> tuple[pd.DataFrame, pd.Series]:
    base = {"evaluated": True, "tax_per_mu": 50.0, "plot_ratio": 1.5, "building_count": 1,
            "class": "B", "holder_enterprise_name": "某公司", "division": "38"}
    frame = pd.DataFrame([{"parcel_id": pid, **base, **fields} for pid, fields in rows.items()])
    frame["class"] = frame["class"].astype("string")
    return frame.drop(columns="division"), frame["division"].astype("string")


def test_tax_per_mu_under_the_default_guideline(rules):
    p, div = _efficiency({
        "T1": {"tax_per_mu": 4.99},
        "T2": {"tax_per_mu": 5.0},  # at the guideline
        "T3": {"tax_per_mu": 1.0, "evaluated": False},  # no figures for the year
        "T4": {"tax_per_mu": np.nan},
        "T5": {"tax_per_mu": -2.0},
    })
    flags = inefficient_flags(p, rules, div)
    assert _rules_of(flags) == {"T1": ["亩均税收低于指南"], "T5": ["亩均税收低于指南"]}
    t1 = flags.set_index("parcel_id").loc["T1"]
    assert t1["kind_label"] == "低效" and t1["value"] == 4.99 and t1["threshold"] == 5.0
    assert t1["reason"] == "亩均税收 4.99 万元/亩 低于行业（38）指南 5.0 万元/亩"


def test_tax_per_mu_guideline_per_industry():
    r = rule_set_from_dict({"name": "t", "title": "t", "inefficient": {
        "tax_per_mu_min": {"default": 5.0, "17": 8.0}, "plot_ratio_min": False, "d_class": False},
        "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    p, div = _efficiency({
        "A": {"tax_per_mu": 7.0, "division": "17"},  # under 8
        "B": {"tax_per_mu": 7.0, "division": "38"},  # above the default 5
        "C": {"tax_per_mu": 4.0, "division": None},  # no industry: default
    })
    flags = inefficient_flags(p, r, div)
    assert flags.set_index("parcel_id")["threshold"].to_dict() == {"A": 8.0, "C": 5.0}
    assert "行业（—）" in flags.set_index("parcel_id").loc["C", "reason"]


def test_no_default_guideline_flags_only_listed_industries():
    r = rule_set_from_dict({"name": "t", "title": "t", "inefficient": {
        "tax_per_mu_min": {"17": 8.0}, "plot_ratio_min": False, "d_class": False},
        "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    p, div = _efficiency({"A": {"tax_per_mu": 1.0, "division": "38"}, "B": {"tax_per_mu": 1.0, "division": "17"}})
    assert _rules_of(inefficient_flags(p, r, div)) == {"B": ["亩均税收低于指南"]}


def test_plot_ratio_under_one_except_exempt_industries(rules):
    p, div = _efficiency({
        "F1": {"plot_ratio": 0.99},
        "F2": {"plot_ratio": 1.0},
        "F3": {"plot_ratio": 0.5, "division": "26"},  # 化学原料: exempt
        "F4": {"plot_ratio": 0.5, "division": "31"},  # 黑色金属冶炼: exempt
        "F5": {"plot_ratio": 0.0, "building_count": 0},  # unbuilt: not a plot-ratio matter
        "F6": {"plot_ratio": np.nan},
    })
    flags = inefficient_flags(p, rules, div)
    assert _rules_of(flags) == {"F1": ["容积率偏低"]}
    assert flags.iloc[0]["reason"] == "容积率 0.99 低于 1"
    assert flags.iloc[0]["threshold"] == 1.0


def test_d_class_holder(rules):
    p, div = _efficiency({"D1": {"class": "D", "holder_enterprise_name": "丁公司"}, "D2": {"class": None},
                          "D3": {"class": "C"}})
    flags = inefficient_flags(p, rules, div)
    assert _rules_of(flags) == {"D1": ["权利人为D类企业"]}
    assert flags.iloc[0]["reason"] == "权利人 丁公司 评为 D 类（倒逼整治）"
    assert np.isnan(flags.iloc[0]["value"])


def test_d_class_reason_falls_back_to_the_parcels_holder_name(rules):
    p, div = _efficiency({"D1": {"class": "D"}})
    p = p.drop(columns="holder_enterprise_name").assign(holder_name="登记权利人")
    assert "登记权利人" in inefficient_flags(p, rules, div).iloc[0]["reason"]


def test_d_class_without_any_name_column(rules):
    p, div = _efficiency({"D1": {"class": "D"}})
    flags = inefficient_flags(p.drop(columns="holder_enterprise_name"), rules, div)
    assert _rules_of(flags) == {"D1": ["权利人为D类企业"]}


def test_rules_can_switch_inefficiency_off():
    r = rule_set_from_dict({"name": "t", "title": "t", "inefficient": {"plot_ratio_min": False, "d_class": False},
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    p, div = _efficiency({"X": {"class": "D", "plot_ratio": 0.1, "tax_per_mu": 0.0}})
    flags = inefficient_flags(p, r, div)
    assert flags.empty and list(flags.columns) == COLUMNS


def test_several_inefficiency_flags_on_one_parcel(rules):
    p, div = _efficiency({"M": {"class": "D", "plot_ratio": 0.6, "tax_per_mu": 1.0}})
    assert _rules_of(inefficient_flags(p, rules, div)) == {"M": ["亩均税收低于指南", "容积率偏低", "权利人为D类企业"]}


# --- 不达标 ------------------------------------------------------------------------------

def test_noncompliance_flags_from_failed_checks():
    control = control_rules_from_dict({"name": "c", "title": "控制", "edition": "GB/T 4754-2002",
                                       "limits": {"building_coefficient": [">=", 0.3]},
                                       "plot_ratio_min": {"39": 0.7}})
    p = pd.DataFrame({"parcel_id": ["a", "b", "c"], "building_count": [1, 1, 1],
                      "plot_ratio": [0.65, 0.8, np.nan], "building_coefficient": [0.25, 0.3, 0.1]})
    checks = compliance(p, control, pd.Series(["39", "39", "39"]), p, AS_OF)
    flags = noncompliance_flags(checks)
    assert list(flags.columns) == COLUMNS
    assert sorted(zip(flags["parcel_id"], flags["rule"], strict=True)) == [
        ("a", "容积率不达标"), ("a", "建筑系数不达标"), ("c", "建筑系数不达标")]
    assert set(flags["kind"]) == {"noncompliant"} and set(flags["kind_label"]) == {FLAG_KINDS["noncompliant"]}
    a = flags[(flags["parcel_id"] == "a") & (flags["rule"] == "建筑系数不达标")].iloc[0]
    assert a["reason"] == "建筑系数 0.25，要求 ≥ 30.0%（控制指标（控制））"
    assert a["value"] == 0.25 and a["threshold"] == 0.3
    far = flags[(flags["parcel_id"] == "a") & (flags["rule"] == "容积率不达标")].iloc[0]
    assert far["reason"] == "容积率 0.65，要求 ≥ 0.7（控制指标（控制））"
    # no data (c's plot ratio) is not a failure
    assert not ((flags["parcel_id"] == "c") & (flags["rule"] == "容积率不达标")).any()


def test_noncompliance_flags_from_checks_held_as_categories():
    """The judging draws the flags from the checks' parts, whose repeated texts are
    categories: the same flags as from the checks as text."""
    control = control_rules_from_dict({"name": "c", "title": "控制", "edition": "GB/T 4754-2002",
                                       "limits": {"building_coefficient": [">=", 0.3], "admin_share": ["<=", 0.07]},
                                       "plot_ratio_min": {"39": 0.7}})
    p = pd.DataFrame({"parcel_id": ["a", "b", "c", "d"], "building_count": [1, 1, 1, 0],
                      "plot_ratio": [0.65, 0.8, np.nan, 0.1], "building_coefficient": [0.25, 0.3, 0.1, 0.0],
                      "admin_share": [0.1, 0.05, 0.2, np.nan]})
    division = pd.Series(["39", "39", "39", "39"])
    parts = pd.concat(list(compliance_parts(p, control, division, p, AS_OF)), ignore_index=True)
    assert isinstance(parts["label"].dtype, pd.CategoricalDtype)
    got = noncompliance_flags(parts)
    pd.testing.assert_frame_equal(got, noncompliance_flags(compliance(p, control, division, p, AS_OF)))
    assert len(got) == 5 and got["reason"].notna().all()
    assert got["rule"].tolist() == ["建筑系数不达标", "建筑系数不达标", "行政办公及生活服务设施用地比重不达标",
                                    "行政办公及生活服务设施用地比重不达标", "容积率不达标"]
    assert got["reason"].iloc[2] == "行政办公及生活服务设施用地比重 0.1，要求 ≤ 7.0%（控制指标（控制））"


def test_flags_keep_the_labels_of_their_parcels_rows(rules):
    """Each flag is on the label of the row of the parcel it marks, whatever the parcels' index,
    so the judging finds its parcel without matching ids."""
    p = _parcels({"A": {"agreed_start": "2023-01-01"}, "B": {}, "C": {"agreed_start": "2024-01-01"}})
    p.index = [30, 10, 20]
    flags = idle_flags(p, rules, AS_OF)
    assert flags.index.tolist() == [30, 20] and flags["parcel_id"].tolist() == ["A", "C"]
    control = control_rules_from_dict({"name": "c", "title": "控制", "edition": "GB/T 4754-2002",
                                       "limits": {"building_coefficient": [">=", 0.3]}})
    q = pd.DataFrame({"parcel_id": ["a", "b", "c"], "building_count": [1, 0, 1], "building_coefficient": [0.2, 0.0, 0.1]},
                     index=[7, 8, 9])
    parts = list(compliance_parts(q, control, pd.Series(["39"] * 3, index=q.index), q, AS_OF))
    assert parts[0].index.tolist() == [7, 9]  # (b is not built: not checked)
    assert noncompliance_flags(parts[0]).index.tolist() == [7, 9]
    assert compliance(q, control, pd.Series(["39"] * 3, index=q.index), q, AS_OF).index.tolist() == [0, 1]


def test_no_failed_checks_no_flags():
    checks = pd.DataFrame({"parcel_id": ["a"], "label": ["容积率"], "measured": [1.0], "required": [0.7],
                           "required_text": ["≥ 0.7"], "source": ["控制指标"], "status": ["达标"]})
    flags = noncompliance_flags(checks)
    assert flags.empty and list(flags.columns) == COLUMNS
