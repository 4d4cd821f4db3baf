"""Composite evaluation of zones and the 四提升两降低 table (geo/zones.py), against figures
worked out by hand on a small made-up set of two districts over two years."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from mujun.geo.rules import RuleError
from mujun.geo.zones import trend_table, zone_composite, zone_indicators, zone_rules_from_dict
from mujun.layers.rulesets import load_zone_rules

# district sums (from result_district): 2024 a 20 / b 10 万元/亩 tax, 2025 a 22 (+10 %) / b 15 (+50 %)
ZONES = pd.DataFrame({
    "district_id": ["a", "b", "a", "b"], "name": ["甲区", "乙区", "甲区", "乙区"], "year": [2024, 2024, 2025, 2025],
    "tax": [200.0, 100.0, 220.0, 150.0], "value_added": [1000.0, 600.0, 1000.0, 900.0],
    "output_value": [4000.0, 2000.0, 4400.0, 3600.0], "evaluated_mu": [10.0, 10.0, 10.0, 10.0],
})
# the firms: a1 (D in 2024) improves to C, b1 stays D, b2 (D) leaves; a2's energy is missing in 2024
FIRMS = pd.DataFrame({
    "credit_code": ["a1", "a2", "b1", "b2", "a1", "a2", "b1", "b3"],
    "year": [2024] * 4 + [2025] * 4,
    "district_id": ["a", "a", "b", "b", "a", "a", "b", "b"],
    "district_name": ["甲区", "甲区", "乙区", "乙区", "甲区", "甲区", "乙区", "乙区"],
    "class": ["D", "B", "D", "D", "C", "A", "D", "B"],
    "land_mu": [4.0, 6.0, 5.0, 5.0, 4.0, 6.0, 5.0, 5.0],
    "tax_per_mu": [1.0, 30.0, 2.0, 3.0, 10.0, 30.0, 2.0, 25.0],
    "value_added": [400.0, 600.0, 300.0, 300.0, 400.0, 600.0, 450.0, 450.0],
    "output_value": [1600.0, 2400.0, 1000.0, 1000.0, 1760.0, 2640.0, 1800.0, 1800.0],
    "energy_tce": [200.0, 0.0, 100.0, 150.0, 100.0, 300.0, 150.0, 150.0],
    "emissions": [0.1, 0.2, 0.1, None, 0.1, 0.3, 0.2, 0.1],
})
RULES = zone_rules_from_dict({
    "name": "t", "title": "测试",
    "zone_indicators": [
        {"key": "tax_per_mu", "weight": 40},
        {"key": "tax_per_mu_growth", "weight": 20, "method": "minmax", "base": 0.2},
        {"key": "d_land_improved_share", "weight": 20, "method": "minmax", "base": 0.2},
        {"key": "va_per_energy", "weight": 20, "cap": 2},
    ],
    "trends": [
        {"title": "亩产效益", "direction": "up", "key": "tax_per_mu"},
        {"title": "产值占比", "direction": "up", "key": "output_share"},
        {"title": "特色产业占比", "direction": "up", "key": "lead_share", "lacking": "只有平台有主导产业"},
        {"title": "高新技术产业占比", "direction": "up", "lacking": "没有高新技术企业标识"},
        {"title": "单位能耗", "direction": "down", "key": "energy_per_va"},
    ],
})


@pytest.fixture
def indicators() -> pd.DataFrame:
    return zone_indicators(ZONES, FIRMS, "district").set_index(["district_id", "year"])


def test_indicators_are_ratios_of_sums(indicators):
    a, b = indicators.loc[("a", 2025)], indicators.loc[("b", 2025)]
    assert a["tax_per_mu"] == pytest.approx(22.0)
    assert a["tax_per_mu_growth"] == pytest.approx(0.1)  # 22 / 20 − 1
    assert b["tax_per_mu_growth"] == pytest.approx(0.5)  # 15 / 10 − 1
    assert b["value_added_per_mu_growth"] == pytest.approx(0.5)  # 90 / 60 − 1
    # energy: Σ VA ÷ Σ tce over the firms with an energy figure
    assert a["va_per_energy"] == pytest.approx(1000 / 400)
    assert a["energy_per_va"] == pytest.approx(0.4)
    assert b["va_per_energy"] == pytest.approx(900 / 300)
    assert indicators.loc[("a", 2024), "va_per_energy"] == pytest.approx(400 / 200)  # a2 has no energy in 2024
    assert indicators.loc[("b", 2024), "va_per_emission"] == pytest.approx(300 / 0.1)  # b2 has no emissions
    assert a["va_per_emission"] == pytest.approx(1000 / 0.4)
    # output share of all firms' output: 4400 / 8000
    assert a["output_share"] == pytest.approx(0.55)
    assert indicators.loc[("a", 2024), "output_share"] == pytest.approx(4000 / 6000)
    # D land: a's D firm of 2024 (4 亩) improved; b's two (5 + 5 亩) stayed or left
    assert (a["d_mu"], a["d_improved_mu"], a["d_land_improved_share"]) == (4.0, 4.0, 1.0)
    assert (b["d_mu"], b["d_improved_mu"], b["d_land_improved_share"]) == (10.0, 0.0, 0.0)
    # the first year has no previous year to compare with
    assert math.isnan(indicators.loc[("a", 2024), "tax_per_mu_growth"])
    assert math.isnan(indicators.loc[("a", 2024), "d_land_improved_share"])


def test_idle_land_disposed_of_from_the_review_decisions():
    idle = pd.DataFrame({"parcel_id": ["p1", "p2", "p3", "p4"], "year": [2025, 2025, 2025, 2024],
                         "district_id": ["a", "a", "b", "a"], "area_mu": [6.0, 4.0, 5.0, 8.0]})
    decisions = pd.DataFrame({"parcel_id": ["p1", "p2", "p3", "p4"], "year": [2025, 2025, 2025, 2025],
                              "measure": ["协议收回", "限期开工", "依法收回", "依法收回"]})
    z = zone_indicators(ZONES, FIRMS, "district", idle, decisions).set_index(["district_id", "year"])
    # a: 6 of its 10 idle 亩 recovered by agreement; p2's 限期开工 does not dispose of it
    assert z.loc[("a", 2025), ["idle_parcel_mu", "idle_disposed_mu", "idle_disposed_share"]].tolist() == [10.0, 6.0, 0.6]
    assert z.loc[("b", 2025), "idle_disposed_share"] == 1.0
    # p4 was idle in 2024 but decided in 2025: no decision that year
    assert z.loc[("a", 2024), "idle_disposed_share"] == 0.0
    assert math.isnan(z.loc[("b", 2024), "idle_disposed_share"])  # no idle land
    # without any decision on record the share is missing, not 0
    assert zone_indicators(ZONES, FIRMS, "district", idle, decisions.iloc[:0])["idle_disposed_share"].isna().all()


def test_composite_against_hand_figures():
    c = zone_composite(zone_indicators(ZONES, FIRMS, "district"), RULES, "district").set_index(["district_id", "year"])
    a, b = c.loc[("a", 2025)], c.loc[("b", 2025)]
    # tax per mu: benchmark Σ tax ÷ Σ mu = 370 / 20 = 18.5
    assert a["score_tax_per_mu"] == pytest.approx(40 * 22 / 18.5)
    assert b["score_tax_per_mu"] == pytest.approx(40 * 15 / 18.5)
    # growth min–max: the lowest gets base × weight, the highest the weight
    assert (a["score_tax_per_mu_growth"], b["score_tax_per_mu_growth"]) == pytest.approx((4.0, 20.0))
    assert (a["score_d_land_improved_share"], b["score_d_land_improved_share"]) == pytest.approx((20.0, 4.0))
    # energy: benchmark Σ VA ÷ Σ tce = 1900 / 700
    assert a["score_va_per_energy"] == pytest.approx(20 * 2.5 * 700 / 1900)
    assert b["score_va_per_energy"] == pytest.approx(20 * 3.0 * 700 / 1900)
    assert a["composite"] == pytest.approx(89.98862, abs=1e-4)
    assert b["composite"] == pytest.approx(78.53770, abs=1e-4)
    assert (a["composite_rank"], b["composite_rank"]) == (1, 2)
    assert a["composite_weight"] == 100.0
    # 2024: no growth and no D follow-up yet: those indicators are left out (weight 60)
    a24, b24 = c.loc[("a", 2024)], c.loc[("b", 2024)]
    assert a24["composite_weight"] == 60.0
    assert a24["composite"] == pytest.approx(40 * 20 / 15 + 20 * 2.0 * 450 / 1000)  # 53.33 + 18
    assert b24["composite"] == pytest.approx(40 * 10 / 15 + 20 * 2.4 * 450 / 1000)  # 26.67 + 21.6


def test_missing_value_takes_the_mean_score_and_caps_hold():
    z = pd.DataFrame({"district_id": ["a", "b", "c"], "year": 2025, "tax": [300.0, 100.0, 0.0],
                      "evaluated_mu": [10.0, 10.0, 10.0], "tax_per_mu": [30.0, 10.0, 0.0],
                      "energy_value_added": [100.0, 300.0, 0.0], "energy_tce": [10.0, 100.0, 0.0],
                      "va_per_energy": [10.0, 3.0, None]})
    rules = zone_rules_from_dict({"name": "t", "title": "t", "zone_indicators": [
        {"key": "tax_per_mu", "weight": 50, "cap": 1.2}, {"key": "va_per_energy", "weight": 50}]})
    c = zone_composite(z, rules, "district").set_index("district_id")
    # tax benchmark 400 / 30 = 13.33: a's 50 × 30 / 13.33 = 112.5 is capped at 1.2 × 50
    assert c.loc["a", "score_tax_per_mu"] == 60.0
    assert c.loc["c", "score_tax_per_mu"] == 0.0
    # energy benchmark over a and b only: 400 / 110; c, without a figure, gets the mean of a and b
    sa, sb = 50 * 10 * 110 / 400, 50 * 3 * 110 / 400
    assert c.loc["a", "score_va_per_energy"] == pytest.approx(sa)
    assert c.loc["c", "score_va_per_energy"] == pytest.approx((sa + sb) / 2)


def test_minmax_when_every_zone_is_equal_gives_the_full_weight():
    z = pd.DataFrame({"park_id": ["p", "q"], "year": 2025, "tax_per_mu_growth": [0.1, 0.1]})
    rules = zone_rules_from_dict({"name": "t", "title": "t", "zone_indicators": [
        {"key": "tax_per_mu_growth", "weight": 30, "method": "minmax"}]})
    assert zone_composite(z, rules, "park")["composite"].tolist() == [30.0, 30.0]


def test_trend_table_of_a_zone(indicators):
    t = trend_table(indicators.reset_index(), RULES, "a", 2025, "district").set_index("title")
    assert t.loc["亩产效益", ["previous", "value", "change"]].tolist() == pytest.approx([20.0, 22.0, 2.0])
    assert t.loc["亩产效益", "change_share"] == pytest.approx(0.1)
    assert bool(t.loc["亩产效益", "right_way"]) is True
    assert t.loc["产值占比", "change"] == pytest.approx(0.55 - 4000 / 6000)
    assert bool(t.loc["产值占比", "right_way"]) is False
    # 单位能耗 should fall: 0.5 → 0.4 吨标准煤/万元 is the right way
    assert t.loc["单位能耗", ["previous", "value"]].tolist() == pytest.approx([0.5, 0.4])
    assert bool(t.loc["单位能耗", "right_way"]) is True
    assert t.loc["特色产业占比", "lacking"] == "只有平台有主导产业"  # no lead_share for districts
    assert t.loc["高新技术产业占比", "lacking"] == "没有高新技术企业标识"
    assert pd.isna(t.loc["高新技术产业占比", "right_way"])
    first = trend_table(indicators.reset_index(), RULES, "a", 2024, "district").set_index("title")
    assert pd.isna(first.loc["亩产效益", "right_way"])  # no 2023 to compare with


@pytest.mark.parametrize(("change", "message"), [
    ({"zone_indicators": [{"key": "nope", "weight": 1}]}, r"zone_indicators\[0\].key 为 'nope'，不是可用的区域指标"),
    ({"zone_indicators": [{"key": "tax_per_mu_growth", "weight": 1}]}, r"是增长率，可能为负：请用 method = \"minmax\""),
    ({"zone_indicators": [{"key": "tax_per_mu", "weight": 1, "method": "rank"}]}, r"method 应为"),
    ({"trends": [{"title": "x", "direction": "sideways", "key": "tax_per_mu"}]}, r"trends\[0\].direction 应为"),
    ({"trends": [{"title": "x", "direction": "up"}]}, r"trends\[0\] 没有 key 时须用 lacking"),
    ({"weights": {}}, r"未知的键 weights"),
])
def test_invalid_rules_are_refused_naming_the_key(change, message):
    d = {"name": "t", "title": "t", "zone_indicators": [{"key": "tax_per_mu", "weight": 1}], **change}
    with pytest.raises(RuleError, match=message):
        zone_rules_from_dict(d, "z.toml")


def test_shipped_rules_name_their_sources():
    r = load_zone_rules()
    assert r.name == "zones-example" and not r.verified
    assert sum(i.weight for i in r.indicators) == 100
    assert all(i.source and i.example for i in r.indicators)
    assert [t.title for t in r.trends] == ["亩产效益", "产值占比", "特色产业占比", "高新技术产业占比", "单位能耗", "单位排放"]
    assert [t.direction for t in r.trends] == ["up"] * 4 + ["down"] * 2
    assert next(t for t in r.trends if t.title == "高新技术产业占比").key is None


# -- on the sample ------------------------------------------------------------------------------

def test_rank_districts_by_composite(sample_workspace):
    from mujun.service import ranking, zone_evaluation

    frame, year = ranking(sample_workspace, "district", "composite")
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert frame["composite"].is_monotonic_decreasing
    every = zone_evaluation(sample_workspace, "district")
    assert frame.set_index("district_id")["composite"].to_dict() == pytest.approx(
        every[every["year"] == year].set_index("district_id")["composite"].to_dict())
    with pytest.raises(Exception, match="composite"):
        ranking(sample_workspace, "district", "no_such_field")


def test_cli_rank_park_by_composite(sample_workspace):
    from mujun.cli import main

    r = CliRunner().invoke(main, ["rank", "--workspace", str(sample_workspace.path), "--level", "park",
                                  "--by", "composite", "--top", "3"])
    assert r.exit_code == 0, r.output
    assert "区域综合得分" in r.output
    rows = [line.split() for line in r.output.splitlines() if line.startswith(" ")]
    assert [row[0] for row in rows] == ["1", "2", "3"]


def test_zone_pages_show_the_composite_and_the_trends(client, sample_workspace):
    parks = sample_workspace.read("result_park")
    park_id = parks["park_id"].iloc[0]
    html = client.get(f"/parks/{park_id}").get_data(as_text=True)
    assert 'id="composite"' in html and "区域综合得分" in html
    assert 'id="trends"' in html and "四提升两降低" in html
    assert "数据缺：企业数据没有高新技术企业（产业）标识" in html
    platform_id = sample_workspace.read("result_platform")["platform_id"].iloc[0]
    html = client.get(f"/platforms/{platform_id}").get_data(as_text=True)
    assert 'id="trends"' in html and "主导产业占比" in html
    district_id = sample_workspace.read("result_district")["district_id"].iloc[0]
    html = client.get(f"/districts/{district_id}").get_data(as_text=True)
    assert 'id="composite"' in html and 'id="trends"' not in html


def test_idle_land_disposed_of_on_a_workspace_with_decisions(fresh_review_workspace):
    from mujun.layers.review import save_decision
    from mujun.service import zone_evaluation

    ws = fresh_review_workspace
    before = zone_evaluation(ws, "district")
    # the sample's 协议收回/依法收回 decisions are for 2023: none in 2025 yet
    assert before.loc[before["year"] == 2025, "idle_disposed_mu"].eq(0).all()
    idle = pd.DataFrame(ws.read("result_parcel", where="idle = 1 AND year = 2025").drop(columns="geometry"))
    parcel = idle.sort_values("parcel_id").iloc[0]
    save_decision(ws, parcel["parcel_id"], 2025, status="认定闲置", measure="依法收回", deadline="2099-12-31", comment="测试",
                  base_version=0, user="rev1")
    z = zone_evaluation(ws, "district")
    row = z[(z["district_id"] == parcel["district_id"]) & (z["year"] == 2025)].iloc[0]
    in_district = idle[idle["district_id"] == parcel["district_id"]]
    assert row["idle_disposed_mu"] == pytest.approx(parcel["area_mu"])
    assert row["idle_disposed_share"] == pytest.approx(parcel["area_mu"] / in_district["area_mu"].sum())
    assert row["score_idle_disposed_share"] == pytest.approx(5.0)  # the highest share gets the full weight
