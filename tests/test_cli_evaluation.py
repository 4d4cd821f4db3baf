"""The judgement side of the CLI and service: rule sets, classes, flags, filtered rankings."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import xlsx_rows

from mujun.cli import main
from mujun.layers.sample import YEARS
from mujun.layers.workspace import Workspace, result_table


@pytest.fixture
def ws_copy(sample_workspace, tmp_path):
    dst = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, dst)
    return dst


def _rows(path):
    return xlsx_rows(path)


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_rules_lists_shipped_rule_sets():
    res = run("rules")
    assert res.exit_code == 0
    for name in ("zhejiang-default", "huangyan-2022", "gb-2008", "gb-2023"):
        assert name in res.output
    assert "未核实" in res.output


def test_evaluate_prints_class_shares_and_flag_counts(ws_copy):
    res = run("evaluate", "-w", str(ws_copy), "--rules", "huangyan-2022", "--control", "gb-2023")
    assert res.exit_code == 0, res.output
    assert "huangyan-2022" in res.output and "gb-2023" in res.output
    assert "规上分类：A" in res.output and "规下分类：A" in res.output
    assert "闲置" in res.output and "低效" in res.output and "亿元" in res.output
    ent = Workspace(ws_copy).read(result_table("enterprise"), where=f"year = {YEARS[-1]}")
    assert set(ent["rule_set"].dropna()) == {"huangyan-2022"}


def test_class_shares_on_the_sample(sample_workspace):
    ent = sample_workspace.read(result_table("enterprise"), where=f"year = {YEARS[-1]}")
    for _, g in ent[ent["class"].notna()].groupby("group"):
        share = g["class"].value_counts(normalize=True)
        assert share.get("A", 0) <= 0.10 + 1e-9
        assert share.get("A", 0) + share.get("B", 0) <= 0.45 + 1e-9
        assert share.get("D", 0) >= 0.10 - 1e-9
        assert abs(share.get("C", 0) - 0.45) < 0.02
    names = dict(zip(ent["class"], ent["class_name"], strict=True))
    assert names["A"] == "优先发展" and names["D"] == "倒逼整治"
    # every later year carries a class change against the year before
    assert ent["class_change"].isin(["升", "降", "持平", "新参评"]).sum() == ent["class"].notna().sum()


def test_veto_file_forces_d(ws_copy, tmp_path):
    ent = Workspace(ws_copy).read(result_table("enterprise"), where=f"year = {YEARS[-1]}")
    best = ent.sort_values("score", ascending=False).iloc[0]
    assert best["class"] == "A"
    veto = tmp_path / "veto.csv"
    with veto.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([["统一社会信用代码", "原因"], [best["credit_code"], "重大安全生产事故"]])
    res = run("evaluate", "-w", str(ws_copy), "--veto", str(veto))
    assert res.exit_code == 0, res.output
    after = Workspace(ws_copy).read(result_table("enterprise"), where=f"year = {YEARS[-1]}").set_index("credit_code")
    assert after.loc[best["credit_code"], "class"] == "D"
    assert after.loc[best["credit_code"], "veto_reason"] == "重大安全生产事故"


@pytest.mark.parametrize("args,message", [
    (["evaluate", "--rules", "no-such-rules"], "没有名为 'no-such-rules' 的评价规则"),
    (["evaluate", "--rules", "gb-2008"], "没有名为 'gb-2008' 的评价规则"),
    (["evaluate", "--as-of", "yesterday-ish"], "无法识别日期"),
    (["rank", "--class", "E"], "分类应为 A、B、C、D"),
    (["rank", "--district", "杭州市"], "没有行政区 '杭州市'"),
    (["flags", "--year", "1999"], ""),
])
def test_judgement_errors(ws_copy, args, message):
    before = ws_copy.read_bytes()
    res = run(*args, "-w", str(ws_copy))
    if args[0] == "flags":
        assert res.exit_code == 0 and "0 宗" in res.output
        return
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert ws_copy.read_bytes() == before


def test_bad_rule_file_names_the_key(ws_copy, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntitle = "x"\n[groups.above_scale]\nindicators = [{ key = "tax_per_mu", weight = "三十" }]\n',
                   encoding="utf-8")
    res = run("evaluate", "-w", str(ws_copy), "--rules", str(bad))
    assert res.exit_code == 2
    assert "groups.above_scale.indicators[0].weight" in res.stderr


def test_rank_filters_and_export_carry_score_and_class(sample_workspace, tmp_path):
    out = tmp_path / "d.xlsx"
    res = run("rank", "-w", str(sample_workspace.path), "--by", "score", "--class", "D", "--district", "柯桥区",
              "--out", str(out))
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    head = list(rows[0])
    for h in ("排名", "综合得分", "分类", "分类名称", "统一社会信用代码", "行政区"):
        assert h in head
    cls = [r[head.index("分类")] for r in rows[1:]]
    assert cls and set(cls) == {"D"}
    assert {r[head.index("行政区")] for r in rows[1:]} == {"柯桥区"}
    scores = [r[head.index("综合得分")] for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)


def test_parcel_export_carries_flags(sample_workspace, tmp_path):
    out = tmp_path / "p.csv"
    res = run("rank", "-w", str(sample_workspace.path), "--level", "parcel", "--by", "tax_per_mu", "--ascending",
              "--out", str(out))
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert "标记" in rows[0] and "标记原因" in rows[0] and "分类" in rows[0]
    assert any(r["标记"] for r in rows)


def test_flags_lists_reasons_and_exports(sample_workspace, tmp_path):
    out = tmp_path / "idle.xlsx"
    res = run("flags", "-w", str(sample_workspace.path), "--kind", "idle", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "闲置" in res.output and "未开工" in res.output
    rows = _rows(out)
    head = list(rows[0])
    assert "原因" in head and "宗地编号" in head and "标记类型" in head
    assert {r[head.index("标记类型")] for r in rows[1:]} == {"闲置"}


def test_idle_land_of_the_sample_by_measure(sample_workspace, tmp_path):
    """令第53号 on the sample's last year: the tiers, their fee, the exemptions, the site checks."""
    year = YEARS[-1]
    par = sample_workspace.read(result_table("parcel"), where=f"year = {year}").set_index("parcel_id")
    flags = sample_workspace.read(result_table("flag"), where=f"year = {year}")
    unstarted = par.loc[flags.loc[flags["rule"] == "未动工满一年", "parcel_id"]]
    # the idle parcels the sample takes back and supplies again in 2024 have started by then
    # (mujun.layers.sample.recovery_sample)
    assert len(unstarted) == 196
    # two full calendar years after the agreed start by 31 December: 143 (one more is 730 days
    # after a start on 2024-01-01, but 2024 has 366 days); six of them have an exemption
    two_years = unstarted["agreed_start"] + pd.DateOffset(years=2) <= pd.Timestamp(f"{year}-12-31")
    assert int(two_years.sum()) == 143
    assert unstarted["idle_tier"].value_counts().to_dict() == {"recovery": 137, "fee": 53, "suspended": 6}
    assert unstarted["idle_exemption"].notna().sum() == 6
    assert unstarted.loc[unstarted["idle_exemption"].notna(), "idle_tier"].eq("suspended").all()
    # the fee is 20 % of the transfer price, in the fee tier only
    fee = par[par["idle_tier"] == "fee"]
    assert ((fee["idle_fee"] - 0.2 * fee["land_price"]).abs() < 0.006).all()
    assert par.loc[par["idle_tier"] != "fee", "idle_fee"].isna().all()
    # imagery bare over buildings covering at least 30 %: checked on site, not idle
    checks = par[par["site_check"].astype(bool)]
    assert len(checks) > 0 and (checks["building_coefficient"] >= 0.30).all()
    assert not checks["idle"].astype(bool).any()

    res = run("flags", "-w", str(sample_workspace.path), "--kind", "idle")
    assert res.exit_code == 0, res.output
    total = fee["idle_fee"].sum()
    assert f"征缴土地闲置费 {len(fee)} 宗（{fee['area_mu'].sum():,.1f} 亩），土地闲置费 {total:,.1f} 万元" in res.output
    assert f"，土地闲置费 {total:,.1f} 万元\n" in res.output.split("合计")[1]
    recovery = par[par["idle_tier"] == "recovery"]  # the unstarted and the stalled
    assert f"无偿收回候选 {len(recovery)} 宗（{recovery['area_mu'].sum():,.1f} 亩）" in res.output
    assert "暂停处置 6 宗" in res.output
    out = tmp_path / "checks.csv"
    res = run("flags", "-w", str(sample_workspace.path), "--kind", "site_check", "--out", str(out))
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(checks) and {r["标记类型"] for r in rows} == {"需现场核查"}
    # shares are written as percentages in CSV
    assert all(float(r["建筑系数(%)"]) >= 30.0 and float(r["影像建成比例(%)"]) <= 10.0 for r in rows)


def test_platform_assessment_on_the_sample(sample_workspace):
    plat = sample_workspace.read(result_table("platform"), where=f"year = {YEARS[-1]}")
    assert (plat["planned_vs_guide"] > 1.0).all()  # 10,500 and 11,000 mu planned
    assert (plat["output_yi"] > 0).all() and (plat["output_yi"] < 1000).all()
    assert ((plat["gap_to_guide_yi"] - (1000 - plat["output_yi"])).abs() < 1e-6).all()
    assert plat["lead_share"].between(0.5, 1.0).all()
    assert (plat["unsupplied_mu"] > 0).all()
    total = plat["supplied_mu"] + plat["unsupplied_mu"]
    assert ((total - plat["parcel_mu"]).abs() < 1e-6).all()


def test_rules_compare_prints_the_migration_matrix_and_exports_the_movers(ws_copy, tmp_path):
    before = ws_copy.read_bytes()
    out = tmp_path / "变化.xlsx"
    res = run("rules", "compare", "zhejiang-default", "huangyan-2022", "-w", str(ws_copy), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert f"{YEARS[-1]} 年分类迁移：zhejiang-default（行）→ huangyan-2022（列）" in res.output
    assert "规上企业" in res.output and "规下企业" in res.output and "→ 不参评" in res.output
    assert ws_copy.read_bytes() == before  # evaluated without writing the workspace
    from mujun.service import compare_rules

    cmp = compare_rules(Workspace(ws_copy), "zhejiang-default", "huangyan-2022")
    total = cmp.matrix["all"]
    assert int(total.to_numpy().sum()) == len(cmp.firms)
    off_diagonal = int(total.to_numpy().sum() - np.trace(total.to_numpy()))
    assert off_diagonal == len(cmp.changed) > 0
    assert f"分类改变 {len(cmp.changed)} 家" in res.output
    rows = _rows(out)
    assert rows[0][:2] == ("统一社会信用代码", "企业名称")
    assert "分类（zhejiang-default）" in rows[0] and "分类（huangyan-2022）" in rows[0]
    assert len(rows) - 1 == len(cmp.changed)
    # the same rule set twice moves no one
    same = compare_rules(Workspace(ws_copy), "zhejiang-default", "zhejiang-default")
    assert same.changed.empty


def test_rules_compare_unknown_rule_set_is_one_line(ws_copy):
    res = run("rules", "compare", "zhejiang-default", "nowhere", "-w", str(ws_copy))
    assert res.exit_code == 2
    assert "没有名为 'nowhere' 的评价规则" in res.output and "Traceback" not in res.output
