"""Constant prices (geo/prices.py), the shipped price index and targets, and the target figures
of the service: hand-made indexes and frames, figures worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mujun.geo.errors import InputError
from mujun.geo.prices import (
    KPIS,
    PriceIndex,
    at_constant_prices,
    price_index_from_dict,
    price_levels,
    target_indicators,
    targets_from_dict,
)
from mujun.layers.rulesets import load_price_index, load_province_targets
from mujun.service import target_figures

# a hand-made index, 上年 = 100: 2020 −2 %, 2021 +10 %, 2022 +5 %
INDEX = {"name": "hand", "base_year": 2019, "index": {"2020": 98.0, "2021": 110.0, "2022": 105.0}}
# chained price levels, 2019 = 1: 0.98, 0.98 × 1.10 = 1.078, 1.078 × 1.05 = 1.1319
LEVELS = {2019: 1.0, 2020: 0.98, 2021: 1.078, 2022: 1.1319}


@pytest.fixture
def index() -> PriceIndex:
    return price_index_from_dict(INDEX, "hand.toml")


# -- the deflator -----------------------------------------------------------------------------

def test_price_levels_chain_the_yearly_index(index):
    levels = price_levels(index)
    assert levels.to_dict() == pytest.approx(LEVELS)


def test_price_levels_before_the_base_year():
    # 2019 = 90 (2018 → 2019 fell by 10 %): the 2018 level is 1 / 0.9 of 2019's
    p = price_index_from_dict({"base_year": 2019, "index": {"2019": 90.0, "2020": 98.0}})
    assert price_levels(p).to_dict() == pytest.approx({2018: 1 / 0.9, 2019: 1.0, 2020: 0.98})


def test_a_figure_in_2022_prices_divided_by_the_chained_index_is_the_2019_figure(index):
    # 1131.9 万元 of 2022 value added: 1131.9 / (0.98 × 1.10 × 1.05) = 1000 万元 at 2019 prices
    values = pd.Series([1131.9, 107.8, 98.0, 50.0, None], index=list("abcde"))
    years = pd.Series([2022, 2021, 2020, 2019, 2022], index=list("abcde"))
    out = at_constant_prices(values, years, index)
    assert out.index.tolist() == list("abcde")
    assert out.iloc[:4].tolist() == pytest.approx([1000.0, 100.0, 100.0, 50.0])
    assert math.isnan(out["e"])  # missing stays missing
    # one year for every value
    assert at_constant_prices(pd.Series([107.8]), 2021, index).tolist() == pytest.approx([100.0])


def test_a_year_the_index_lacks_is_refused_naming_it(index):
    with pytest.raises(InputError, match=r"价格指数 hand.toml 没有 2023 年（可折算年度 2019–2022）.*--deflator"):
        at_constant_prices(pd.Series([1.0, 2.0]), pd.Series([2022, 2023]), index)
    # a missing value needs no price level
    assert math.isnan(at_constant_prices(pd.Series([None]), pd.Series([2030]), index).iloc[0])


@pytest.mark.parametrize(("d", "message"), [
    ({"index": {"2020": 98.0, "2022": 105.0}}, r"缺少 2021 年；年份须逐年连续"),
    ({"index": {"2021": 110.0}}, r"接不到基年 2019；请从 2020 年起逐年填写"),
    ({"index": {"2020": 0}}, r"x.toml 的 \[index\] 的 2020 应为正数"),
    ({"index": {"2020": "98"}}, r"应为正数，现为 '98'"),
    ({"index": {"二〇二〇": 98.0}}, r"不是年份"),
    ({"index": {}}, r"\[index\] 缺失或为空"),
    ({"index": {"2020": 98.0}, "base_year": "2019"}, r"base_year 应为年份"),
    ({"index": {"2020": 98.0}, "rate": 1}, r"未知的键 rate"),
])
def test_invalid_index_files_are_refused(d, message):
    with pytest.raises(InputError, match=message):
        price_index_from_dict(d, "x.toml")


def test_shipped_index_is_marked_as_example_and_names_its_series():
    p = load_price_index()
    assert p.base_year == 2019 and p.example is True
    assert "工业生产者出厂价格指数" in p.series and "示例值" in p.source
    assert min(p.index) == 2020 and max(p.index) >= 2025
    assert price_levels(p)[2019] == 1.0


def test_deflator_file_replaces_the_index(tmp_path):
    f = tmp_path / "ppi.toml"
    f.write_text('name = "mine"\nbase_year = 2019\nexample = false\nsource = "本地统计公报"\n'
                 "[index]\n2020 = 100.0\n2021 = 125.0\n", encoding="utf-8")
    p = load_price_index(f)
    assert (p.name, p.example, p.file) == ("mine", False, "ppi.toml")
    assert price_levels(p)[2021] == pytest.approx(1.25)
    with pytest.raises(InputError, match="价格指数文件 .*none.toml 不存在"):
        load_price_index(tmp_path / "none.toml")
    bad = tmp_path / "ppi.csv"
    bad.write_text("年度,指数\n2020,98\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"ppi.csv 应为 .toml 文件"):
        load_price_index(bad)


def test_shipped_targets_are_the_appendix_figures():
    t = load_province_targets()
    assert list(t) == list(KPIS)
    assert {k: (v.value, v.op, v.baseline) for k, v in t.items()} == {
        "value_added_per_mu": (150.0, ">=", 122.0), "tax_per_mu": (37.0, ">=", 30.5),
        "labour_productivity": (35.0, ">=", 23.1), "value_added_rate": (24.0, ">=", None),
        "rd_intensity": (2.5, ">=", 2.44), "water_per_value_added": (20.0, "<=", None)}
    assert all("浙委办发〔2020〕8号" in v.source for v in t.values())


def test_targets_refuse_unknown_indicators():
    with pytest.raises(InputError, match=r"key 'jobs' 未知"):
        targets_from_dict({"targets": [{"key": "jobs", "target": 1}]}, "t.toml")
    with pytest.raises(InputError, match=r"op 应为"):
        targets_from_dict({"targets": [{"key": "tax_per_mu", "target": 1, "op": ">"}]}, "t.toml")


# -- the target indicators, ratios of sums ---------------------------------------------------

def _firms() -> pd.DataFrame:
    """Three 规上 firms in 2021 (price level 1.078): at 2019 prices a's value added is 1000 万元,
    b's 500 and c's 200; the totals in current prices are 1832.6 万元 of value added and
    7330.4 万元 of output."""
    return pd.DataFrame({
        "year": [2021, 2021, 2021],
        "value_added": [1078.0, 539.0, 215.6],
        "tax": [215.6, 107.8, 10.78],
        "land_mu": [10.0, 4.0, 0.0],          # c has no land: out of the per-mu figures
        "employees": [40.0, 20.0, None],      # c lacks employees: out of 全员劳动生产率
        "output_value": [4312.0, 2156.0, 862.4],
        "rd_expense": [100.0, None, 10.0],    # b lacks R&D
        "revenue": [4000.0, 2000.0, 1000.0],
        "water": [2.0, 1.0, 0.5],             # 万吨
    })


def test_target_indicators_are_ratios_of_sums_in_current_and_2019_prices(index):
    t = targets_from_dict({"targets": [{"key": k, "target": 1.0} for k in KPIS]})
    r = target_indicators(_firms(), index, t)
    level = 1.078
    # 亩均增加值: (1078 + 539) / (10 + 4) = 115.5; at 2019 prices 1500 / 14 = 107.142857
    assert r.loc["value_added_per_mu", "value"] == pytest.approx(1617 / 14)
    assert r.loc["value_added_per_mu", "value_constant"] == pytest.approx(1500 / 14)
    assert r.loc["value_added_per_mu", "firms"] == 2
    # 亩均税收: (215.6 + 107.8) / 14 = 23.1; at 2019 prices 300 / 14
    assert r.loc["tax_per_mu", "value"] == pytest.approx(323.4 / 14)
    assert r.loc["tax_per_mu", "value_constant"] == pytest.approx(300 / 14)
    # not the mean of the firms' ratios: (107.8 + 134.75) / 2 = 121.275
    assert r.loc["value_added_per_mu", "value"] != pytest.approx((107.8 + 134.75) / 2)
    # 全员劳动生产率: (1078 + 539) / 60 = 26.95 万元/人; at 2019 prices 1500 / 60 = 25
    assert r.loc["labour_productivity", ["value", "value_constant"]].tolist() == pytest.approx([26.95, 25.0])
    # 增加值率: 1832.6 / 7330.4 = 25 %, the same at 2019 prices (both sides deflated)
    assert r.loc["value_added_rate", ["value", "value_constant"]].tolist() == pytest.approx([25.0, 25.0])
    # R&D: (100 + 10) / (4000 + 1000) = 2.2 %; b is out of both sums
    assert r.loc["rd_intensity", ["value", "value_constant", "firms"]].tolist() == pytest.approx([2.2, 2.2, 2])
    # 用水: 3.5 万吨 = 35,000 m³ / 1832.6 万元 = 19.0985 m³/万元; at 2019 prices / 1700 万元 = 20.588
    assert r.loc["water_per_value_added", "value"] == pytest.approx(35000 / 1832.6)
    assert r.loc["water_per_value_added", "value_constant"] == pytest.approx(35000 / (1832.6 / level))
    assert r.loc["water_per_value_added", "numerator"] == pytest.approx(3.5)
    assert (r["missing"] == "").all()


def test_targets_are_met_at_2019_prices(index):
    # 亩均增加值 115.5 in current prices but 107.14 at 2019 prices: a target of 110 is missed
    # 用水 19.10 m³/万元 in current prices but 20.59 at 2019 prices: a ceiling of 20 is missed
    t = targets_from_dict({"targets": [{"key": "value_added_per_mu", "target": 110},
                                       {"key": "water_per_value_added", "target": 20, "op": "<="},
                                       {"key": "rd_intensity", "target": 2.0}]})
    r = target_indicators(_firms(), index, t)
    assert r["met"].tolist() == [False, False, True]
    assert r.loc["value_added_per_mu", "attainment"] == pytest.approx(1500 / 14 / 110)
    assert r.loc["water_per_value_added", "attainment"] == pytest.approx(20 / (35000 / 1700))
    assert r.loc["rd_intensity", "attainment"] == pytest.approx(1.1)


def test_missing_data_is_named_not_counted_as_zero(index):
    t = targets_from_dict({"targets": [{"key": "water_per_value_added", "target": 20, "op": "<="},
                                       {"key": "rd_intensity", "target": 2.5}]})
    firms = _firms().drop(columns=["water"]).assign(rd_expense=None)
    r = target_indicators(firms, index, t)
    assert r.loc["water_per_value_added", "missing"] == "water"
    assert r.loc["rd_intensity", "missing"] == "rd_expense"
    assert r["value"].isna().all() and r["value_constant"].isna().all() and r["met"].isna().all()
    assert r["firms"].tolist() == [0, 0]


def test_service_takes_above_scale_firms_and_water_from_the_enterprise_table(index):
    stored = _firms().drop(columns=["water"]).assign(
        credit_code=["A", "B", "C"], above_scale=[True, True, True])
    # a 规下 firm and another year's firm are left out
    stored = pd.concat([stored, stored.iloc[[0]].assign(credit_code="S", above_scale=False, value_added=1e6),
                        stored.iloc[[0]].assign(credit_code="A", year=2020)], ignore_index=True)
    table = pd.DataFrame({"credit_code": ["A", "B", "C", "S"], "year": 2021, "water": [2.0, 1.0, 0.5, 9.0]})
    res = target_figures(stored, 2021, table=table, deflator=index)
    assert res.year == 2021 and res.price_level == pytest.approx(1.078)
    assert res.table.loc["value_added_per_mu", "value"] == pytest.approx(1617 / 14)
    assert res.table.loc["water_per_value_added", "value"] == pytest.approx(35000 / 1832.6)
    assert list(res.table.index) == list(KPIS)  # the shipped targets


def test_sample_figures_at_2019_prices(sample_workspace):
    from mujun.service import stored_target_figures

    year = max(int(y) for y in sample_workspace.meta()["evaluated_years"].split(","))
    res = stored_target_figures(sample_workspace, year)
    e = sample_workspace.read("result_enterprise", where=f"year = {year}")
    e = e[e["above_scale"].fillna(False).astype(bool) & (e["land_mu"] > 0) & e["tax"].notna()]
    tax = e["tax"].sum() / e["land_mu"].sum()
    level = price_levels(load_price_index())[year]
    assert res.table.loc["tax_per_mu", "value"] == pytest.approx(tax)
    assert res.table.loc["tax_per_mu", "value_constant"] == pytest.approx(tax / level)
    assert res.table["missing"].eq("").all()  # the sample has every figure, 用水量 included


def test_the_evaluation_summary_has_the_stored_targets(sample_workspace, tmp_path):
    """The targets `mujun evaluate` prints come from the results it has just computed, not read
    back from the workspace: they are those of the stored results."""
    import shutil

    from mujun.layers.workspace import Workspace
    from mujun.service import evaluate, stored_target_figures

    ws = Workspace(tmp_path / "w.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    year = max(int(y) for y in ws.meta()["evaluated_years"].split(","))
    res = evaluate(ws, year, progress=False)
    pd.testing.assert_frame_equal(res.target_figures(year).table, stored_target_figures(ws, year).table)


# -- mujun evaluate --deflator ----------------------------------------------------------------

def test_evaluate_prints_the_targets_in_both_prices(sample_workspace, tmp_path):
    import shutil

    from click.testing import CliRunner

    from mujun.cli import main

    year = max(int(y) for y in sample_workspace.meta()["evaluated_years"].split(","))
    ws = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, ws)
    f = tmp_path / "flat.toml"
    rows = "\n".join(f"{y} = {125.0 if y == year else 100.0}" for y in range(2020, year + 1))
    f.write_text(f'name = "flat"\nbase_year = 2019\nexample = false\nsource = "本地统计公报"\n[index]\n{rows}\n',
                 encoding="utf-8")
    res = CliRunner().invoke(main, ["evaluate", "-w", str(ws), "--year", str(year), "--deflator", str(f)])
    assert res.exit_code == 0, res.output
    e = sample_workspace.read("result_enterprise", where=f"year = {year}")
    e = e[e["above_scale"].fillna(False).astype(bool) & (e["land_mu"] > 0) & e["tax"].notna()]
    tax = e["tax"].sum() / e["land_mu"].sum()
    assert f"{year} 年规上工业对照 2025 年目标（2019 年不变价 = 当年价 ÷ 价格水平 1.2500" in res.output
    assert f"亩均税收 当年价 {tax:,.2f} 万元/亩，2019 年价 {tax / 1.25:,.2f} 万元/亩；目标 ≥ 37 万元/亩" in res.output
    assert "单位增加值用水量 当年价" in res.output and "目标 ≤ 20 立方米/万元" in res.output


def test_evaluate_refuses_a_bad_deflator_before_evaluating(sample_workspace, tmp_path):
    import shutil

    from click.testing import CliRunner

    from mujun.cli import main

    ws = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, ws)
    before = ws.read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text("[index]\n2020 = 98.0\n2022 = 101.0\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["evaluate", "-w", str(ws), "--deflator", str(bad)])
    assert res.exit_code == 2
    assert "bad.toml 的 [index] 缺少 2021 年" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert ws.read_bytes() == before
