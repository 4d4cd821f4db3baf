"""Shipped rule sets (layers/rules/*.toml), the industry concordance and veto lists."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from mujun.geo.measures import MeasureRules
from mujun.geo.redline import RedlineRules
from mujun.geo.rules import ControlRules, Indicator, RuleError, RuleSet
from mujun.geo.standard_land import StandardLandRules
from mujun.geo.zones import ZoneRules
from mujun.layers.rulesets import (
    RULES_DIR,
    available_rules,
    industry_concordance,
    load_control_rules,
    load_measure_rules,
    load_redline_rules,
    load_rule_set,
    load_standard_land_rules,
    load_zone_rules,
    read_veto,
)

# domain.md, 工业项目建设用地控制指标 (2008): minimum plot ratio by GB/T 4754-2002 division
GB2008_PLOT_RATIO_MIN = {
    **{d: 1.0 for d in ("13", "14", "15", "16", "18", "19", "24", "30", "40", "41", "42")},
    **{d: 0.8 for d in ("17", "20", "21", "22", "23", "28", "29")},
    **{d: 0.7 for d in ("27", "31", "34", "35", "36", "37", "39", "43")},
    **{d: 0.6 for d in ("26", "32", "33")},
    "25": 0.5,
}


def test_every_shipped_file_is_listed_and_loads():
    infos = {i.name: i for i in available_rules()}
    assert set(infos) == {"gb-2008", "gb-2023", "huangyan-2022", "zhejiang-default", "measures-example",
                          "standard-land-example", "zones-example", "redline-example"}
    assert {n: i.kind for n, i in infos.items()} == {
        "gb-2008": "control", "gb-2023": "control",
        "huangyan-2022": "evaluation", "zhejiang-default": "evaluation", "measures-example": "measures",
        "standard-land-example": "standard_land", "zones-example": "zones", "redline-example": "redline",
    }
    assert len(list(RULES_DIR.glob("*.toml"))) == len(infos)
    for name, info in infos.items():
        assert info.path.stem == name  # a file is found by the name written inside it
        assert info.title
        load, cls = {"evaluation": (load_rule_set, RuleSet), "control": (load_control_rules, ControlRules),
                     "measures": (load_measure_rules, MeasureRules),
                     "standard_land": (load_standard_land_rules, StandardLandRules),
                     "zones": (load_zone_rules, ZoneRules),
                     "redline": (load_redline_rules, RedlineRules)}[info.kind]
        loaded = load(name)
        assert loaded.name == name
        assert isinstance(loaded, cls)
        assert loaded.verified == info.verified


def test_defaults_are_zhejiang_and_gb_2008():
    assert load_rule_set().name == "zhejiang-default"
    assert load_control_rules().name == "gb-2008"


def test_gb_2023_is_marked_unverified_and_gb_2008_verified():
    infos = {i.name: i for i in available_rules()}
    assert infos["gb-2023"].verified is False
    assert load_control_rules("gb-2023").verified is False
    assert "未核实" in load_control_rules("gb-2023").title
    assert load_control_rules("gb-2008").verified is True
    assert load_control_rules("gb-2023").limits["building_coefficient"] == (">=", 0.40)


def test_gb_2008_matches_the_2008_standard():
    c = load_control_rules("gb-2008")
    assert c.edition == "GB/T 4754-2002"
    assert c.plot_ratio_min == GB2008_PLOT_RATIO_MIN
    assert c.limits == {"building_coefficient": (">=", 0.30), "admin_share": ("<=", 0.07)}


def test_huangyan_2022_weights_and_benchmarks():
    r = load_rule_set("huangyan-2022")
    assert r.groups["above_scale"] == (
        Indicator("tax_per_mu", 30.0, 24.097),
        Indicator("value_added_per_mu", 20.0, 136.16),
        Indicator("va_per_energy", 20.0, 2.694),
        Indicator("va_per_emission", 10.0, 4929.81),
        Indicator("labour_productivity", 10.0, 18.14),
        Indicator("rd_intensity", 10.0, 3.02),
    )
    assert r.groups["below_scale"] == (
        Indicator("tax_per_mu", 50.0, 11.5932),
        Indicator("tax_per_kwh", 50.0, 0.2352),
    )
    assert sum(i.weight for i in r.groups["above_scale"]) == 100
    assert r.min_land_mu == {"above_scale": 0.0, "below_scale": 3.0}
    assert r.new_production_years == 1
    assert all(i.floor == 0.0 and i.cap is None for inds in r.groups.values() for i in inds)
    assert r.classes.method == "shares"
    assert r.classes.shares == {"A": 0.10, "B": 0.35, "C": 0.45, "D": 0.10}
    assert r.classes.names == {"A": "优先发展", "B": "提升发展", "C": "调控帮扶", "D": "倒逼整治"}


def test_zhejiang_default_uses_population_benchmarks_with_huangyan_weights():
    z = load_rule_set("zhejiang-default")
    h = load_rule_set("huangyan-2022")
    for g in ("above_scale", "below_scale"):
        assert all(i.benchmark is None for i in z.groups[g])
        assert [(i.key, i.weight) for i in z.groups[g]] == [(i.key, i.weight) for i in h.groups[g]]
    assert z.idle_developed_share == pytest.approx(1 / 3, abs=1e-15)
    assert z.idle_investment_share == 0.25
    assert z.low_plot_ratio == 1.0
    assert z.low_tax_per_mu == {"default": 5.0}


def test_load_by_path(tmp_path):
    shipped = RULES_DIR / "huangyan-2022.toml"
    copy = tmp_path / "本地规则.toml"
    copy.write_bytes(shipped.read_bytes())
    assert load_rule_set(copy) == load_rule_set("huangyan-2022")
    assert load_rule_set(str(copy)).name == "huangyan-2022"


def test_unknown_shipped_name_lists_the_available_ones():
    with pytest.raises(RuleError, match="没有名为 'taizhou-2030' 的评价规则；可用：huangyan-2022, zhejiang-default"):
        load_rule_set("taizhou-2030")
    with pytest.raises(RuleError, match="没有名为 'gb-1999' 的用地控制指标；可用：gb-2008, gb-2023"):
        load_control_rules("gb-1999")


def test_a_name_of_the_other_kind_is_not_found():
    with pytest.raises(RuleError, match="'gb-2008' 的评价规则"):
        load_rule_set("gb-2008")
    with pytest.raises(RuleError, match="'zhejiang-default' 的用地控制指标"):
        load_control_rules("zhejiang-default")


def test_missing_toml_path(tmp_path):
    with pytest.raises(RuleError, match="不存在"):
        load_rule_set(tmp_path / "nope.toml")


def test_concordance_2017_to_2002():
    c = industry_concordance()
    assert c["group"] == {"291": "29", "292": "30"}
    # renumbered divisions shift by one from 30 (2017 非金属矿物 = 2002 31) onwards
    assert {k: c["division"][k] for k in ("30", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42")} == {
        "30": "31", "33": "34", "34": "35", "35": "36", "36": "37", "37": "37",
        "38": "39", "39": "40", "40": "41", "41": "42", "42": "43",
    }
    assert c["division"]["29"] == "" and c["division"]["43"] == ""
    # divisions 13-28 keep their numbers, so they need no entry
    assert not any(f"{d:02d}" in c["division"] for d in range(13, 29))


def _veto_csv(path, rows, encoding="utf-8-sig"):
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_read_veto_csv(tmp_path, encoding):
    p = _veto_csv(tmp_path / "veto.csv", [
        ["统一社会信用代码", "原因"],
        [" 91330602abc ", "重大安全生产事故"],
        ["", "空行"],
        ["91330602XYZ", "环境违法"],
    ], encoding)
    assert read_veto(p) == {"91330602ABC": "重大安全生产事故", "91330602XYZ": "环境违法"}


def test_read_veto_xlsx_with_other_headers(tmp_path):
    p = tmp_path / "veto.xlsx"
    pd.DataFrame({"信用代码": ["91330602abc"], "否决原因": ["重大安全生产事故"]}).to_excel(p, index=False)
    assert read_veto(p) == {"91330602ABC": "重大安全生产事故"}


def test_read_veto_refuses_missing_columns_and_files(tmp_path):
    p = _veto_csv(tmp_path / "veto.csv", [["企业名称", "原因"], ["甲", "事故"]])
    with pytest.raises(RuleError, match="统一社会信用代码.*原因"):
        read_veto(p)
    with pytest.raises(RuleError, match="不存在"):
        read_veto(tmp_path / "none.csv")
