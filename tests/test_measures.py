"""Measures by class (geo/measures.py): arithmetic and units checked against figures worked out
by hand, the missing-base reason, the consecutive-D rate and the rule file checks."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from mujun.geo.measures import (
    amount_factor,
    consecutive_years,
    measure_rows,
    measure_rules_from_dict,
    measure_summary,
    measure_totals,
)
from mujun.geo.rules import RuleError
from mujun.layers.rulesets import load_measure_rules, measure_bases

BASES = {"electricity": ("用电量", "万千瓦时"), "water": ("用水量", "万吨"), "gas": ("用气量", "万立方米"),
         "energy_tce": ("综合能耗", "吨标准煤"), "owned_mu": ("自有用地面积", "亩")}


def _rules(*measures: dict) -> object:
    return measure_rules_from_dict({"name": "t", "title": "测试", "measures": list(measures)}, BASES, "t.toml")


ELEC_D = {"id": "e", "title": "差别电价", "agency": "power", "kind": "surcharge", "classes": ["D"],
          "base": "electricity", "rate": 0.3, "unit": "元/千瓦时", "source": "海宁 2025 征求意见稿",
          "consecutive": {"years": 3, "rate": 0.4}}


def _firms(**cols) -> pd.DataFrame:
    base = {"credit_code": ["a", "b", "c"], "name": ["甲", "乙", "丙"], "class": ["D", "D", "A"],
            "above_scale": [True, False, True], "district_name": ["越城区", "越城区", "柯桥区"]}
    base.update(cols)
    return pd.DataFrame(base)


@pytest.mark.parametrize(("rate_unit", "base_unit", "factor"), [
    ("元/千瓦时", "万千瓦时", 1.0),            # 元/kWh × 10⁴ kWh = 10⁴ 元 = 1 万元
    ("元/万千瓦时", "万千瓦时", 1e-4),
    ("万元/万千瓦时", "万千瓦时", 1.0),
    ("元/立方米", "万立方米", 1.0),
    ("元/吨", "万吨", 1.0),
    ("元/立方米", "万吨", 1.0),                # water: 1 吨 = 1 立方米
    ("元/平方米", "亩", 10000 / 15 / 1e4),     # 1 亩 = 666.67 m²
    ("元/吨标准煤", "吨标准煤", 1e-4),
])
def test_amount_factor_converts_units(rate_unit, base_unit, factor):
    assert amount_factor(rate_unit, base_unit) == pytest.approx(factor)


@pytest.mark.parametrize(("rate_unit", "base_unit"), [("元/吨", "万立方米"), ("元/千瓦时", "亩"), ("美元/千瓦时", "万千瓦时")])
def test_amount_factor_refuses_units_that_do_not_fit(rate_unit, base_unit):
    with pytest.raises(ValueError):
        amount_factor(rate_unit, base_unit)


def test_electricity_surcharge_is_rate_times_base():
    # 0.3 元/kWh × 120 万kWh = 360,000 元 = 36 万元; 0.3 × 45.5 万kWh = 13.65 万元
    rows = measure_rows(_firms(electricity=[120.0, 45.5, 300.0]), _rules(ELEC_D), 2025)
    assert rows["credit_code"].tolist() == ["a", "b"]  # the A-class firm is not charged
    assert rows["amount"].tolist() == pytest.approx([36.0, 13.65])
    assert rows["standard"].tolist() == ["0.3 元/千瓦时", "0.3 元/千瓦时"]
    assert rows["charge_base"].tolist() == ["120 万千瓦时", "45.5 万千瓦时"]
    assert rows["agency"].tolist() == ["供电", "供电"]


def test_rate_per_wan_kwh_gives_the_same_money():
    m = dict(ELEC_D, rate=3000.0, unit="元/万千瓦时")  # 3000 元/万kWh = 0.3 元/kWh
    m.pop("consecutive")
    rows = measure_rows(_firms(electricity=[120.0, 45.5, 1.0]), _rules(m), 2025)
    assert rows["amount"].tolist() == pytest.approx([36.0, 13.65])


def test_a_firm_without_the_base_figure_is_listed_with_the_reason_never_as_zero():
    water = {"id": "w", "title": "差别水价", "agency": "water", "kind": "surcharge", "classes": ["D"],
             "base": "water", "rate": 1.5, "unit": "元/立方米", "source": "示例"}
    rows = measure_rows(_firms(water=[2.0, np.nan, 1.0]), _rules(water), 2025).set_index("credit_code")
    assert rows.loc["a", "amount"] == pytest.approx(3.0)  # 1.5 元/m³ × 2 万吨 = 3 万元
    assert math.isnan(rows.loc["b", "amount"])
    assert rows.loc["b", "note"] == "缺少用水量，无法计算"
    assert rows.loc["b", "charge_base"] == "—"
    # no column at all: every firm lacks the figure
    rows = measure_rows(_firms(), _rules(water), 2025)
    assert rows["amount"].isna().all() and (rows["note"] == "缺少用水量，无法计算").all()
    # totals add what was computed and count the rest
    t = measure_totals(measure_rows(_firms(water=[2.0, np.nan, 1.0]), _rules(water), 2025), ["agency"])
    assert t.to_dict("records") == [{"agency": "供水", "enterprise_count": 2, "amount": pytest.approx(3.0),
                                     "quantity": pytest.approx(np.nan, nan_ok=True), "missing_count": 1}]


def test_a_group_whose_firms_all_lack_the_figure_has_no_sum():
    water = {"id": "w", "title": "差别水价", "agency": "water", "kind": "surcharge", "classes": ["D"],
             "base": "water", "rate": 1.5, "unit": "元/立方米", "source": "示例"}
    rows = measure_rows(_firms(water=[np.nan, np.nan, 1.0]), _rules(water), 2025)
    assert math.isnan(measure_totals(rows, ["agency"])["amount"].iloc[0])


def test_consecutive_years_counts_the_run_ending_in_the_year():
    h = pd.DataFrame({"credit_code": ["a"] * 3 + ["b"] * 3 + ["c"] * 2 + ["d"],
                      "year": [2023, 2024, 2025, 2023, 2024, 2025, 2024, 2025, 2025],
                      "class": ["D", "D", "D", "D", "C", "D", "D", "D", "B"]})
    assert consecutive_years(h, 2025, ("D",)).to_dict() == {"a": 3, "b": 1, "c": 2, "d": 0}
    assert consecutive_years(h, 2024, ("D",)).to_dict() == {"a": 2, "b": 0, "c": 1}  # d has no class before 2025


def test_third_d_year_in_a_row_pays_the_higher_rate():
    history = pd.DataFrame({"credit_code": ["a", "a", "a", "b", "b", "b"], "year": [2023, 2024, 2025] * 2,
                            "class": ["D", "D", "D", "C", "D", "D"]})
    firms = _firms(electricity=[100.0, 100.0, 1.0])
    rows = measure_rows(firms, _rules(ELEC_D), 2025, history).set_index("credit_code")
    assert rows.loc["a", "rate"] == 0.4 and rows.loc["a", "amount"] == pytest.approx(40.0)
    assert rows.loc["a", "note"] == "连续 3 年及以上为 D 类，按 0.4 元/千瓦时"
    assert rows.loc["b", "rate"] == 0.3 and rows.loc["b", "amount"] == pytest.approx(30.0)  # two years only
    # without the earlier years' classes, every firm is in its first year
    rows = measure_rows(firms, _rules(ELEC_D), 2025)
    assert rows["rate"].tolist() == [0.3, 0.3]


def test_land_use_tax_reduction_is_a_share_of_the_tax_due():
    tax = {"id": "t", "title": "城镇土地使用税减免", "agency": "tax", "kind": "tax_reduction", "classes": ["A"],
           "base": "owned_mu", "share": 0.5, "tax_rate": 6.0, "tax_unit": "元/平方米", "source": "示例"}
    # 30 亩 = 20,000 m²; × 6 元/m² = 120,000 元 = 12 万元 due; half of it = 6 万元
    rows = measure_rows(_firms(owned_mu=[10.0, 10.0, 30.0]), _rules(tax), 2025)
    assert rows["credit_code"].tolist() == ["c"]
    assert rows["amount"].iloc[0] == pytest.approx(6.0)
    assert rows["standard"].iloc[0] == "减免 50%（税额标准 6 元/平方米）"
    assert rows["charge_base"].iloc[0] == "应纳税额 12 万元（自有用地面积 30 亩）"


def test_scope_and_non_monetary_measures_show_a_treatment():
    quota = {"id": "q", "title": "用能指标", "agency": "power", "kind": "energy_quota", "classes": ["D"],
             "scope": "above_scale", "base": "energy_tce", "share": 0.1, "treatment": "核减用能指标", "source": "示例"}
    credit = {"id": "c", "title": "差别化信贷", "agency": "finance", "kind": "credit", "classes": ["D"],
              "treatment": "压降", "source": "示例"}
    rows = measure_rows(_firms(energy_tce=[500.0, 80.0, 10.0]), _rules(quota, credit), 2025)
    q = rows[rows["measure_id"] == "q"]
    assert q["credit_code"].tolist() == ["a"]  # b is 规下
    assert q["quantity"].tolist() == pytest.approx([50.0]) and q["quantity_unit"].tolist() == ["吨标准煤"]
    assert q["amount"].isna().all()
    c = rows[rows["measure_id"] == "c"]
    assert c["credit_code"].tolist() == ["a", "b"] and (c["treatment"] == "压降").all() and c["amount"].isna().all()


def test_summary_has_a_row_for_all_districts_and_each_district():
    rows = measure_rows(_firms(electricity=[120.0, 45.5, 1.0], district_name=["越城区", "柯桥区", "柯桥区"]),
                        _rules(ELEC_D), 2025)
    s = measure_summary(rows).set_index("district_name")
    assert s.loc["全部", "amount"] == pytest.approx(49.65)
    assert s.loc["越城区", "amount"] == pytest.approx(36.0) and s.loc["柯桥区", "amount"] == pytest.approx(13.65)
    assert s.loc["全部", "enterprise_count"] == 2


@pytest.mark.parametrize(("change", "message"), [
    ({"unit": "元/立方米"}, "measures[0].unit 为 '元/立方米'，与计费基数的单位 万千瓦时 不相符"),
    ({"agency": "police"}, "measures[0].agency 为 'police'；可用：power（供电）"),
    ({"classes": ["E"]}, "measures[0].classes 应为分类的列表"),
    ({"base": "tax"}, "measures[0].base 为 'tax'；可用的计费基数"),
    ({"rate": -1}, "measures[0].rate 不能小于 0"),
    ({"consecutive": {"years": 1, "rate": 0.4}}, "measures[0].consecutive.years 应为不小于 2 的整数"),
    ({"colour": "red"}, "measures[0] 有未知的键 colour"),
])
def test_invalid_measures_are_refused_naming_the_key(change, message):
    with pytest.raises(RuleError, match="^" + re.escape("规则文件 t.toml 的 " + message)):
        _rules(dict(ELEC_D, **change))


def test_duplicate_ids_are_refused():
    with pytest.raises(RuleError, match="措施 id 重复：e"):
        _rules(ELEC_D, ELEC_D)


def test_shipped_set_names_its_sources_and_marks_example_values():
    rules = load_measure_rules()
    assert rules.name == "measures-example" and rules.verified is False
    by_id = {m.id: m for m in rules.measures}
    e = by_id["electricity"]
    assert (e.rate, e.unit, e.consecutive_years, e.consecutive_rate) == (0.3, "元/千瓦时", 3, 0.4)
    assert e.example is False and "海宁" in e.source
    assert all(m.source for m in rules.measures)
    assert all(m.example for m in rules.measures if m.id != "electricity")
    assert {m.agency for m in rules.measures} == {"power", "water", "gas", "environment", "tax", "finance", "land"}
    assert measure_bases()["water"] == ("用水量", "万吨") and measure_bases()["gas"] == ("用气量", "万立方米")


def test_a_missing_measure_set_lists_the_shipped_ones():
    with pytest.raises(RuleError, match="没有名为 'nope' 的差别化措施规则；可用：measures-example"):
        load_measure_rules("nope")
