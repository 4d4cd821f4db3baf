"""Measures on the sample workspace: the service, ``mujun measures``, its export and the pages."""

from __future__ import annotations

import csv

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import xlsx_rows

from mujun.cli import main
from mujun.geo.measures import AGENCIES
from mujun.service import measures


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def sample_measures(sample_workspace):
    return measures(sample_workspace)


def test_every_classified_firm_gets_its_class_measures(sample_workspace, sample_measures):
    m = sample_measures
    stored = sample_workspace.read("result_enterprise", where=f"year = {m.year}")
    classified = stored[stored["class"].notna()]
    rows = m.rows
    assert set(rows["credit_code"]) == set(classified["credit_code"])
    d = rows[rows["measure_id"] == "electricity"]
    assert len(d) == int((classified["class"] == "D").sum())
    # 金额 = 标准 × 计费基数: 元/千瓦时 × 万千瓦时 is 万元
    assert (d["amount"] - d["rate"] * d["base_value"]).abs().max() < 1e-9
    assert set(d["rate"]) <= {0.3, 0.4}


def test_consecutive_d_firms_pay_the_higher_rate(sample_workspace, sample_measures):
    stored = sample_workspace.read("result_enterprise")
    wide = stored.pivot_table(index="credit_code", columns="year", values="class", aggfunc="first").fillna("")
    y = sample_measures.year
    three = set(wide.index[(wide[[y - 2, y - 1, y]] == "D").all(axis=1)])
    d = sample_measures.rows[sample_measures.rows["measure_id"] == "electricity"]
    assert three, "the sample has firms three years in D"
    assert set(d.loc[d["rate"] == 0.4, "credit_code"]) == three


def test_firms_without_water_figures_are_listed_with_the_reason(sample_measures):
    w = sample_measures.rows[sample_measures.rows["measure_id"] == "water"]
    missing = w[w["base_value"].isna()]
    assert len(missing) and missing["amount"].isna().all()
    assert (missing["note"] == "缺少用水量，无法计算").all()
    # the sample's 用水量(吨) arrive as 万吨: 1 元/立方米 × x 万吨 = x 万元
    ok = w[w["base_value"].notna()]
    assert (ok["amount"] - ok["base_value"]).abs().max() < 1e-9


def test_cli_prints_totals_and_exports_a_sheet_per_agency(sample_workspace, sample_measures, tmp_path):
    out = tmp_path / "措施.xlsx"
    res = run("measures", "-w", str(sample_workspace.path), "--out", str(out))
    assert res.exit_code == 0, res.output
    total = sample_measures.rows.loc[sample_measures.rows["measure_id"].isin(["electricity", "electricity_c"]),
                                     "amount"].sum()
    assert "供电｜差别电价：" in res.output and f"金额 {total:,.2f} 万元" in res.output
    book = openpyxl.load_workbook(out, read_only=True)
    names = book.sheetnames
    book.close()
    assert names == ["汇总", *AGENCIES.values(), "说明"]
    power = xlsx_rows(out, "供电")
    head = list(power[0])
    for h in ("统一社会信用代码", "企业名称", "分类", "措施", "标准", "计费基数", "金额(万元)"):
        assert h in head
    summary = pd.DataFrame(xlsx_rows(out, "汇总")[1:], columns=xlsx_rows(out, "汇总")[0])
    assert {"全部", "越城区"} <= set(summary["行政区"])


def test_cli_csv_has_every_row(sample_workspace, sample_measures, tmp_path):
    out = tmp_path / "措施.csv"
    assert run("measures", "-w", str(sample_workspace.path), "--out", str(out)).exit_code == 0
    with out.open(encoding="utf-8-sig") as fh:
        assert sum(1 for _ in csv.reader(fh)) == len(sample_measures.rows) + 1


@pytest.mark.parametrize(("args", "message"), [
    (["--measures", "nope"], "错误：没有名为 'nope' 的差别化措施规则"),
    (["--year", "1999"], "错误：1999 年还没有评价结果"),
])
def test_cli_errors_are_one_line(sample_workspace, args, message):
    res = run("measures", "-w", str(sample_workspace.path), *args)
    assert res.exit_code == 2 and res.output.startswith(message) and res.output.count("\n") == 1


def test_rules_lists_the_measure_sets():
    res = run("rules")
    assert "差别化措施（mujun measures --measures）" in res.output and "measures-example" in res.output


def test_measures_page_and_downloads(client):
    page = client.get("/measures")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for part in ('id="by-agency"', 'id="by-class"', 'id="by-district"', "金额（万元）", "缺少计费基数（家）"):
        assert part in text
    xlsx = client.get("/measures/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx_rows(xlsx.data, "供电")[0][0] == "统一社会信用代码"
    assert client.get("/measures/export?format=pdf").status_code == 400
    assert client.get("/measures?measures=../../etc/passwd").status_code == 400


def test_enterprise_page_lists_its_measures(client, sample_measures):
    d = sample_measures.rows[sample_measures.rows["measure_id"] == "electricity"].iloc[0]
    text = client.get(f"/enterprises/{d['credit_code']}").get_data(as_text=True)
    assert 'id="measures"' in text and d["standard"] in text and f"{d['amount']:,.2f}" in text
