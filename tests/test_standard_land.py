"""标准地 indicator sets: percentiles of the right population, control floors, widening to the city."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import xlsx_rows

from mujun.cli import main
from mujun.geo.errors import InputError
from mujun.geo.rules import RuleError, control_rules_from_dict
from mujun.geo.standard_land import StandardLandRules, standard_land, standard_land_rules_from_dict
from mujun.layers.rulesets import industry_concordance, load_control_rules, load_standard_land_rules

RULES = StandardLandRules("t", "测试", percentile=60.0, min_firms=5)
# keyed on the data's edition, so the division asked for is the one looked up
CONTROL = control_rules_from_dict({"name": "c", "title": "测试控制指标", "edition": "GB/T 4754-2017",
                                   "plot_ratio_min": {"17": 1.2}})


def _firms() -> pd.DataFrame:
    """甲区: ten firms of division 17 (亩均税收 1…10) and one of 18; 乙区: three of 17 and one of 18."""
    n17 = 10
    return pd.DataFrame({
        "credit_code": [f"A{i}" for i in range(n17)] + ["AX", "B0", "B1", "B2", "BX"],
        "district_id": ["1"] * 11 + ["2"] * 4,
        "district_name": ["甲区"] * 11 + ["乙区"] * 4,
        "industry_code": ["1711"] * n17 + ["1810", "1752", "1752", "1762", "1810"],
        "tax_per_mu": [float(v) for v in range(1, 11)] + [500.0, 100.0, 200.0, 300.0, 900.0],
        "value_added_per_mu": [10.0 * v for v in range(1, 11)] + [5000.0, 1000.0, 2000.0, 3000.0, 9000.0],
        "va_per_energy": [None] * 15,
    })


def _parcels() -> pd.DataFrame:
    """Parcels of 甲区's firms A0–A4 (A4's unbuilt), one of the 18 firm, and one of each 乙区 firm."""
    return pd.DataFrame({
        "parcel_id": ["p0", "p1", "p2", "p3", "p4", "px", "q0", "q1", "q2"],
        "holder_code": ["A0", "A1", "A2", "A3", "A4", "AX", "B0", "B1", "B2"],
        "district_id": ["1"] * 6 + ["2"] * 3,
        "building_count": [1, 2, 1, 3, 0, 1, 1, 1, 1],
        "plot_ratio": [0.6, 0.8, 1.0, 1.4, 0.0, 5.0, 2.0, 2.2, 2.4],
        "investment_intensity": [100.0, 200.0, None, 400.0, 300.0, 9000.0, 500.0, 600.0, 700.0],
    })


def _set(district="甲区", firms=None, parcels=None, **kw):
    kw = {"rules": RULES, "control": CONTROL, "concordance": {}, **kw}
    return standard_land(_firms() if firms is None else firms, _parcels() if parcels is None else parcels,
                         district=district, division="17", **kw)


def _row(res, indicator: str) -> pd.Series:
    return res.table.set_index("indicator").loc[indicator]


def test_firm_values_are_the_percentiles_of_the_districts_industry():
    res = _set()
    assert not res.widened and res.district_firms == 10 and res.population_firms == 10
    tax = _row(res, "tax_per_mu")
    # 1…10, linear between ranks: P25 at rank 2.25 → 3.25, P50 → 5.5, P75 at 6.75 → 7.75, P60 at 5.4 → 6.4
    assert tax["count"] == 10
    assert (tax["p25"], tax["p50"], tax["p75"]) == pytest.approx((3.25, 5.5, 7.75))
    assert tax["chosen"] == pytest.approx(6.4) and tax["value"] == pytest.approx(6.4)
    assert tax["label"] == "亩均税收" and tax["unit"] == "万元/亩" and tax["basis"] == "企业（家）"
    assert _row(res, "value_added_per_mu")["value"] == pytest.approx(64.0)
    # the 18 firm (500) and 乙区's firms (100–300) are not in it


def test_parcel_values_come_from_the_firms_parcels_and_plot_ratio_from_built_ones():
    res = _set()
    far = _row(res, "plot_ratio")
    # p0–p3 built (0.6, 0.8, 1.0, 1.4); p4 is bare, px belongs to an 18 firm
    assert far["count"] == 4 and far["basis"] == "地块（宗）"
    assert far["p50"] == pytest.approx(0.9)
    assert far["chosen"] == pytest.approx(0.96)  # rank 1.8: 0.8 + 0.8 × 0.2
    inv = _row(res, "investment_intensity")
    # 100, 200, 400 and the bare parcel's 300 (p2 has no investment); P60 at rank 1.8 → 200 + 0.8 × 100
    assert inv["count"] == 4 and inv["chosen"] == pytest.approx(280.0) and inv["value"] == pytest.approx(280.0)


def test_plot_ratio_is_never_below_the_control_minimum():
    res = _set()
    far = _row(res, "plot_ratio")
    assert far["chosen"] == pytest.approx(0.96)
    assert far["minimum"] == 1.2 and far["value"] == 1.2 and far["raised"]
    assert "下限" in far["note"]
    # a higher percentile above the floor is kept: P90 at rank 2.7 → 1.0 + 0.7 × 0.4 = 1.28
    high = _row(_set(percentile=90), "plot_ratio")
    assert high["value"] == pytest.approx(1.28) and not high["raised"]


def test_investment_floor_from_the_control_rules_or_a_note_that_there_is_none():
    res = _set()
    assert pd.isna(_row(res, "investment_intensity")["minimum"])
    assert any("未规定投资强度下限" in n for n in res.notes)
    control = control_rules_from_dict({"name": "c", "title": "t", "edition": "GB/T 4754-2017",
                                       "limits": {"investment_intensity": [">=", 300.0]}})
    res = _set(control=control)
    inv = _row(res, "investment_intensity")
    assert inv["minimum"] == 300.0 and inv["value"] == 300.0 and inv["raised"]
    assert not any("投资强度下限" in n for n in res.notes)


def test_gb_2008_floor_is_read_on_the_2002_division():
    # 2017 division 39 (计算机、通信和其他电子设备) is 2002 division 40: 容积率 ≥ 1.0
    firms = _firms().assign(industry_code=lambda f: f["industry_code"].str.replace("17", "39", regex=False))
    res = standard_land(firms, _parcels(), district="甲区", division="39", rules=RULES,
                        control=load_control_rules("gb-2008"), concordance=industry_concordance())
    assert res.divisions_2002 == ["40"]
    far = _row(res, "plot_ratio")
    assert far["minimum"] == 1.0 and far["value"] == 1.0
    # textiles keep their number: 17 → 0.8
    res = standard_land(_firms(), _parcels(), district="甲区", division="17", rules=RULES,
                        control=load_control_rules("gb-2008"), concordance=industry_concordance())
    assert _row(res, "plot_ratio")["minimum"] == 0.8 and _row(res, "plot_ratio")["value"] == pytest.approx(0.96)


def test_a_small_district_is_widened_to_the_city():
    res = _set(district="乙区")
    assert res.widened and res.district_firms == 3 and res.population_firms == 13
    assert res.scope.startswith("全市")
    assert "少于 5 家" in res.notes[0] and "扩大到全市" in res.notes[0]
    tax = _row(res, "tax_per_mu")
    # 1…10, 100, 200, 300: P60 at rank 7.2 → 8 + 0.2 × 1 = 8.2; P75 at rank 9 → 10
    assert tax["count"] == 13 and tax["chosen"] == pytest.approx(8.2) and tax["p75"] == pytest.approx(10.0)
    far = _row(res, "plot_ratio")
    # every district's built parcels of division 17: 0.6, 0.8, 1.0, 1.4, 2.0, 2.2, 2.4 → P60 at rank 3.6
    assert far["count"] == 7 and far["chosen"] == pytest.approx(1.4 + 0.6 * 0.6)
    # with a lower bar the district keeps its own firms
    own = _set(district="乙区", rules=StandardLandRules("t", "测试", 60.0, 3))
    assert not own.widened and _row(own, "tax_per_mu")["count"] == 3
    assert _row(own, "tax_per_mu")["chosen"] == pytest.approx(220.0)  # 100, 200, 300: rank 1.2


def test_an_indicator_without_data_is_not_proposed():
    va = _row(_set(), "va_per_energy")
    assert va["count"] == 0 and pd.isna(va["value"]) and va["note"] == "没有数据，不提出"
    assert va["unit"] == "万元/吨标准煤"


def test_district_by_code_and_unknown_inputs_are_refused():
    assert _set(district="1").district_name == "甲区"
    with pytest.raises(InputError, match="没有行政区 '丙区'.*可用：乙区、甲区"):
        _set(district="丙区")
    with pytest.raises(InputError, match="两位 GB/T 4754-2017 大类代码.*'171'"):
        standard_land(_firms(), _parcels(), district="甲区", division="171", rules=RULES, control=CONTROL,
                      concordance={})
    with pytest.raises(InputError, match="没有行业 33 的参评企业"):
        standard_land(_firms(), _parcels(), district="甲区", division="33", rules=RULES, control=CONTROL,
                      concordance={})
    with pytest.raises(InputError, match="分位数应在 0 到 100 之间"):
        _set(percentile=120)


def test_shipped_rules_are_example_values():
    r = load_standard_land_rules()
    assert (r.name, r.percentile, r.min_firms, r.verified) == ("standard-land-example", 60.0, 10, False)
    assert "示例值" in r.source
    with pytest.raises(RuleError, match="standard_land.min_firms 应为不小于 1 的整数"):
        standard_land_rules_from_dict({"name": "t", "title": "t", "standard_land": {"percentile": 60, "min_firms": 0}})
    with pytest.raises(RuleError, match="未知的键 share"):
        standard_land_rules_from_dict({"name": "t", "title": "t",
                                       "standard_land": {"percentile": 60, "min_firms": 5, "share": 1}})


def test_sample_set_matches_its_population(sample_workspace):
    from mujun.service import standard_land_set

    ws = sample_workspace
    res, year, _ = standard_land_set(ws, "柯桥区", "17")
    firms = ws.read("result_enterprise", where=f"year = {year}")
    pop = firms[firms["evaluated_in_score"].astype(bool) & firms["district_name"].eq("柯桥区")
                & firms["industry_code"].str.startswith("17")]
    assert not res.widened and res.district_firms == len(pop) >= 10
    tax = _row(res, "tax_per_mu")
    assert tax["count"] == pop["tax_per_mu"].notna().sum()
    assert tax["chosen"] == pytest.approx(pop["tax_per_mu"].quantile(0.6))
    far = _row(res, "plot_ratio")
    assert far["minimum"] == 0.8 and far["value"] >= 0.8


def test_cli_prints_the_set_and_exports_it(sample_workspace, tmp_path):
    ws = tmp_path / "ws.gpkg"
    shutil.copy(sample_workspace.path, ws)
    out = tmp_path / "标准地.xlsx"
    res = CliRunner().invoke(main, ["standard-land", "-w", str(ws), "--district", "柯桥区", "--industry", "17",
                                    "--percentile", "75", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "第 75 百分位数" in res.output and "未扩大到全市" in res.output
    assert "容积率" in res.output and "万元/亩" in res.output and "未规定投资强度下限" in res.output
    rows = xlsx_rows(out)
    assert rows[0][:4] == ("指标", "单位", "样本", "样本数") and "P75" in rows[0] and "建议值" in rows[0]
    assert len(rows) == 6
    bad = CliRunner().invoke(main, ["standard-land", "-w", str(ws), "--district", "柯桥区", "--industry", "1x"])
    assert bad.exit_code == 2 and "两位" in bad.output
