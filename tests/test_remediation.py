"""倒逼整治 over the years: D-class firms followed into the next year, on a hand-made population,
and the report command on the sample."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mujun.cli import main
from mujun.geo.remediation import NO_DISTRICT, d_class_follow_up, remediation_summary
from mujun.layers.workspace import result_table

YUE, KE = ("330602", "越城区"), ("330603", "柯桥区")


def _firm(code, district, rows):
    """rows: {year: (class, land_mu, tax_per_mu)}."""
    return [{"credit_code": code, "name": f"{code}公司", "district_id": district[0], "district_name": district[1],
             "year": y, "class": c, "land_mu": mu, "tax_per_mu": t} for y, (c, mu, t) in rows.items()]


@pytest.fixture
def population() -> pd.DataFrame:
    rows = [
        *_firm("a", YUE, {2023: ("D", 10.0, 1.0), 2024: ("C", 10.0, 6.0), 2025: ("B", 10.0, 9.0)}),
        *_firm("b", YUE, {2023: ("D", 20.0, 2.0), 2024: ("D", 20.0, 1.5), 2025: ("D", 20.0, 1.0)}),
        *_firm("c", YUE, {2023: ("D", 12.0, 0.5)}),  # gone in 2024
        *_firm("d", KE, {2024: ("D", 8.0, 0.2), 2025: (None, 8.0, np.nan)}),  # on the list, not classed
        *_firm("e", KE, {2025: ("D", 30.0, 0.1)}),  # D in the last year: nothing to follow
        *_firm("f", KE, {2023: ("B", 15.0, 20.0), 2024: ("D", 15.0, 3.0), 2025: ("A", 15.0, 40.0)}),
        *_firm("g", KE, {2023: ("D", 5.0, 4.0), 2024: ("C", 5.0, 4.5)}),
    ]
    return pd.DataFrame(rows)


def test_each_d_firm_one_year_on(population):
    f = d_class_follow_up(population).set_index(["credit_code", "year"])
    assert f["outcome_label"].to_dict() == {
        ("g", 2023): "提档", ("a", 2023): "提档", ("b", 2023): "仍为D", ("c", 2023): "退出",
        ("f", 2024): "提档", ("d", 2024): "退出", ("b", 2024): "仍为D",
    }
    assert f.loc[("a", 2023), "next_class"] == "C" and f.loc[("a", 2023), "next_year"] == 2024
    assert pd.isna(f.loc[("c", 2023), "next_class"]) and pd.isna(f.loc[("d", 2024), "next_class"])
    # the per-mu trend: 1.0 → 6.0 万元/亩 for a, 3.0 → 40.0 for f, unknown for a leaver
    assert f.loc[("a", 2023), "tax_per_mu_change"] == pytest.approx(5.0)
    assert f.loc[("f", 2024), "tax_per_mu_change"] == pytest.approx(37.0)
    assert f.loc[("b", 2024), "tax_per_mu_change"] == pytest.approx(-0.5)
    assert np.isnan(f.loc[("c", 2023), "tax_per_mu_change"])
    # the classes in every year from the D year on
    assert f.loc[("a", 2023), "class_path"] == "2023 D → 2024 C → 2025 B"
    assert f.loc[("b", 2023), "class_path"] == "2023 D → 2024 D → 2025 D"
    assert f.loc[("b", 2024), "class_path"] == "2024 D → 2025 D"
    assert f.loc[("f", 2024), "class_path"] == "2024 D → 2025 A"
    assert f.loc[("d", 2024), "class_path"] == "2024 D"
    assert ("e", 2025) not in f.index


def test_years_with_a_gap_are_not_followed(population):
    f = d_class_follow_up(population[population["year"] != 2024])
    assert f.empty


def test_review_decisions_on_the_firms_land(population):
    parcels = pd.DataFrame({"parcel_id": ["P1", "P2", "P3", "P1"], "year": [2023, 2023, 2023, 2024],
                            "holder_code": ["b", "b", "a", "b"]})
    decisions = pd.DataFrame({"parcel_id": ["P2", "P1", "P3", "P1", "P9"], "year": [2023, 2023, 2023, 2024, 2023],
                              "status": ["认定低效", "需现场核查", "不予认定", "认定低效", "认定闲置"],
                              "measure": ["整治提升", None, None, "协议收回", "限期开工"]})
    f = d_class_follow_up(population, parcels, decisions).set_index(["credit_code", "year"])
    assert f.loc[("b", 2023), "decisions"] == "P1 需现场核查；P2 认定低效·整治提升"
    assert f.loc[("b", 2023), "decision_count"] == 2
    assert f.loc[("b", 2024), "decisions"] == "P1 认定低效·协议收回"
    assert f.loc[("a", 2023), "decisions"] == "P3 不予认定"
    assert f.loc[("g", 2023), "decision_count"] == 0 and pd.isna(f.loc[("g", 2023), "decisions"])


def test_summary_by_district_and_year(population):
    s = remediation_summary(d_class_follow_up(population))
    cols = ["year", "district_name", "d_firms", "improved", "stayed", "left", "left_mu"]
    assert s[cols].values.tolist() == [
        [2023, "柯桥区", 1, 1, 0, 0, 0.0],
        [2023, "越城区", 3, 1, 1, 1, 12.0],  # c left with its 12 mu
        [2023, "合计", 4, 2, 1, 1, 12.0],
        [2024, "柯桥区", 2, 1, 0, 1, 8.0],  # d is on the 2025 list but not classed: left
        [2024, "越城区", 1, 0, 1, 0, 0.0],
        [2024, "合计", 3, 1, 1, 1, 8.0],
    ]
    # shares are ratios of the counts: 2 of 4 improved in 2023, 1 of 3 left in 2024
    assert s["improved_share"].tolist() == pytest.approx([1.0, 1 / 3, 0.5, 0.5, 0.0, 1 / 3])
    assert s.loc[5, "left_share"] == pytest.approx(1 / 3)


def test_firms_outside_every_district_are_counted(population):
    pop = population.copy()
    pop.loc[pop["credit_code"] == "c", ["district_id", "district_name"]] = None
    s = remediation_summary(d_class_follow_up(pop))
    first = s[s["year"] == 2023]
    assert first["district_name"].tolist() == ["柯桥区", "越城区", NO_DISTRICT, "合计"]
    assert first.set_index("district_name").loc[NO_DISTRICT, ["d_firms", "left", "left_mu"]].tolist() == [1, 1, 12.0]
    assert first.set_index("district_name").loc["合计", "d_firms"] == 4


# -- the command on the sample ---------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, list(args))


def test_remediation_command_on_the_sample(sample_workspace, tmp_path):
    ent = sample_workspace.read(result_table("enterprise"))
    d2023 = ent[(ent["year"] == 2023) & (ent["class"] == "D")]
    next_year = ent[ent["year"] == 2024].set_index("credit_code")["class"]
    nxt = d2023["credit_code"].map(next_year)
    improved = int(nxt.isin(["A", "B", "C"]).sum())
    left = d2023[nxt.isna()]
    out = tmp_path / "倒逼整治.csv"
    res = run("remediation", "-w", str(sample_workspace.path), "--out", str(out))
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["D类年度"] == "2023" and r["行政区"] == "合计")
    assert int(total["D类企业数(家)"]) == len(d2023)
    assert int(total["提档(家)"]) == improved
    assert int(total["退出(家)"]) == len(left)
    assert int(total["仍为D(家)"]) == len(d2023) - improved - len(left)
    assert float(total["退出企业用地(亩)"]) == pytest.approx(left["land_mu"].sum())
    assert {r["D类年度"] for r in rows} == {"2023", "2024"}  # 2025 has no year after it

    res = run("remediation", "-w", str(sample_workspace.path), "--firms", "--district", "越城区", "--top", "3")
    assert res.exit_code == 0, res.output
    assert "历年分类" in res.output and "2023 D → 2024" in res.output
    res = run("remediation", "-w", str(sample_workspace.path), "--district", "火星区")
    assert res.exit_code == 2 and "没有行政区 '火星区'" in res.output
