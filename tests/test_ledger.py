"""The 腾笼换鸟 ledger: mujun.geo.ledger (stages, before/after, totals), the ``supplies`` import,
the service and CLI over the sample, and the /ledger page."""

from __future__ import annotations

import math
import re

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import add_users, login, xlsx_rows
from shapely.geometry import box

from mujun.cli import main
from mujun.geo.errors import MujunError
from mujun.geo.ledger import BASES, STAGES, ledger_rows, ledger_totals
from mujun.layers.importer import import_layer
from mujun.layers.review import save_decision
from mujun.layers.sample import NEW_HOLDER_YEAR, RECOVERY_DECISION_YEAR, SAMPLE_REVIEWER
from mujun.layers.workspace import Workspace, result_table
from mujun.service import LEDGER_HEADERS, ledger
from mujun.webapp import create_app

XSS = "<script>alert('x')</script>"


# -- unit: hand-made frames ------------------------------------------------------------------

def _decisions() -> pd.DataFrame:
    return pd.DataFrame({
        "parcel_id": ["P1", "P2", "P3", "P4", "P5", "P1"],
        "year": [2023, 2023, 2023, 2023, 2024, 2024],
        "status": ["认定低效", "认定闲置", "认定闲置", "不予认定", "认定低效", "认定低效"],
        "measure": ["协议收回", "依法收回", "依法收回", "协议收回", "协议收回", "协议收回"],
        "decided_at": "2024-01-05T10:00:00", "decided_by": "甲"})


def _supplies() -> pd.DataFrame:
    return pd.DataFrame({
        "parcel_id": ["P1", "P3"], "recovered_date": pd.to_datetime(["2024-03-01", "2024-05-01"]),
        "recovered_mu": [None, 8.0], "recovery_method": ["协议收回", "依法收回"],
        "supply_date": pd.to_datetime(["2024-06-01", None]), "new_holder_code": ["NEW1", None],
        "new_holder_name": ["新一", None], "supply_method": ["挂牌出让", None], "price": [300.0, None]})


def _stored() -> pd.DataFrame:
    rows = []

    def add(pid, year, code, name, mu, tax, va):
        rows.append({"parcel_id": pid, "year": year, "holder_code": code, "holder_name": name, "district_id": "1",
                     "district_name": "越城区", "area_mu": mu, "evaluated_mu": mu if tax is not None else 0.0,
                     "tax": tax, "value_added": va, "tax_per_mu": None if tax is None else tax / mu,
                     "value_added_per_mu": None if va is None else va / mu})

    add("P1", 2023, "OLD1", "旧一", 20.0, 40.0, 200.0)
    add("P1", 2024, "OLD1", "旧一", 20.0, 30.0, 150.0)
    add("P1", 2025, "NEW1", "新一", 20.0, 400.0, 1600.0)
    add("P2", 2023, "OLD2", "旧二", 10.0, None, None)  # idle: its holder has no figures
    add("P2", 2024, "OLD2", "旧二", 10.0, None, None)
    add("P2", 2025, "NEW2", "新二", 10.0, 150.0, 500.0)  # supplied between imports, no record
    add("P3", 2023, "OLD3", "旧三", 8.0, 8.0, 40.0)
    add("P4", 2023, "OLD4", "旧四", 5.0, 5.0, 5.0)
    add("P5", 2024, "OLD5", "旧五", 4.0, 2.0, 8.0)
    add("P5", 2025, "OLD5", "旧五", 4.0, 2.0, 8.0)
    return pd.DataFrame(rows)


@pytest.fixture
def rows() -> pd.DataFrame:
    return ledger_rows(_decisions(), _supplies(), _stored()).set_index("parcel_id")


def test_decided_parcels_enter_once_with_their_first_decision(rows):
    assert sorted(rows.index) == ["P1", "P2", "P3", "P5"]  # P4: 不予认定
    assert rows.loc["P1", "year"] == 2023 and rows.loc["P5", "year"] == 2024


def test_recovered_parcel_supplied_by_record_followed_through(rows):
    r = rows.loc["P1"]
    assert r["stage"] == "yielding" and r["stage_label"] == STAGES["yielding"]
    assert (r["holder_code"], r["holder_name"]) == ("OLD1", "旧一")
    assert r["recovered_date"] == pd.Timestamp("2024-03-01") and r["recovered_mu"] == 20.0  # blank: the parcel's
    assert r["supply_basis"] == BASES["record"] and r["supply_year"] == 2024
    assert (r["new_holder_code"], r["new_holder_name"], r["price"]) == ("NEW1", "新一", 300.0)
    assert r["after_year"] == 2025
    assert r["tax_per_mu_before"] == 2.0 and r["tax_per_mu_after"] == 20.0 and r["tax_per_mu_change"] == 18.0
    assert r["value_added_per_mu_before"] == 10.0 and r["value_added_per_mu_after"] == 80.0


def test_holder_change_between_imports_counts_as_supplied(rows):
    r = rows.loc["P2"]
    assert r["supply_basis"] == BASES["holder_change"] and pd.isna(r["supply_date"])
    assert r["supply_year"] == 2025 and r["new_holder_code"] == "NEW2"
    assert r["recovered_mu"] == 10.0 and pd.isna(r["recovered_date"])
    assert math.isnan(r["tax_per_mu_before"]) and r["tax_per_mu_after"] == 15.0 and r["stage"] == "yielding"


def test_stages_short_of_supply(rows):
    assert rows.loc["P3", "stage"] == "recovered" and rows.loc["P3", "recovered_mu"] == 8.0
    assert pd.isna(rows.loc["P3", "new_holder_code"]) and pd.isna(rows.loc["P3", "after_year"])
    assert rows.loc["P5", "stage"] == "decided" and pd.isna(rows.loc["P5", "recovered_mu"])


def test_totals_are_ratios_of_sums_over_the_land_yielding_again(rows):
    t = ledger_totals(rows.reset_index())
    assert t["district_name"].tolist() == ["越城区", "合计", "越城区", "合计"]
    y23 = t[(t["year"] == 2023) & (t["district_name"] == "合计")].iloc[0]
    assert (y23["parcels"], y23["recovered"], y23["supplied"], y23["yielding"]) == (3, 3, 2, 2)
    assert y23["decided_mu"] == 38.0 and y23["recovered_mu"] == 38.0 and y23["supplied_mu"] == 30.0
    # P1 and P2 (30 亩): before 40 万元 (P2 none), after 400 + 150
    assert y23["tax_per_mu_before"] == pytest.approx(40.0 / 30.0)
    assert y23["tax_per_mu_after"] == pytest.approx(550.0 / 30.0)
    assert y23["tax_per_mu_after"] != pytest.approx((20.0 + 15.0) / 2)  # not a mean of the ratios
    assert y23["value_added_per_mu_after"] == pytest.approx(2100.0 / 30.0)
    y24 = t[(t["year"] == 2024) & (t["district_name"] == "合计")].iloc[0]
    assert y24["yielding"] == 0 and math.isnan(y24["tax_per_mu_after"])


def test_without_decisions_or_records_the_ledger_is_empty():
    empty = ledger_rows(_decisions().iloc[0:0], None, _stored())
    assert empty.empty and ledger_totals(empty).empty
    no_record = ledger_rows(_decisions(), None, _stored()).set_index("parcel_id")
    assert no_record.loc["P3", "stage"] == "decided"  # no record and no later holder: only decided
    # without its record P1's new holder is still seen, in the year of its first result
    assert no_record.loc["P1", "supply_basis"] == BASES["holder_change"] and no_record.loc["P1", "supply_year"] == 2025


def test_records_with_only_the_required_fields():
    minimal = pd.DataFrame({"parcel_id": ["P3"], "recovered_date": pd.to_datetime(["2024-05-01"])})
    r = ledger_rows(_decisions(), minimal, _stored()).set_index("parcel_id").loc["P3"]
    assert r["stage"] == "recovered" and r["recovered_mu"] == 8.0 and pd.isna(r["recovery_method"])


# -- import of 收回与再供应 records ------------------------------------------------------------

@pytest.fixture
def tiny(tmp_path) -> Workspace:
    """A workspace with three parcels (S1–S3) and nothing else."""
    ws = Workspace(tmp_path / "tiny.gpkg")
    gdf = gpd.GeoDataFrame({"宗地编号": ["S1", "S2", "S3"], "权利人": ["甲", "乙", "丙"]},
                           geometry=[box(120.5 + 0.003 * i, 30.0, 120.502 + 0.003 * i, 30.002) for i in range(3)],
                           crs="EPSG:4490")
    gdf.to_file(tmp_path / "地块.geojson", driver="GeoJSON")
    import_layer(ws, "parcels", tmp_path / "地块.geojson", progress=False)
    return ws


def _csv(tmp_path, text: str):
    p = tmp_path / "供地记录.csv"
    p.write_text(text, encoding="utf-8-sig")
    return p


GOOD = ("宗地编号,收回日期,收回面积(平方米),收回方式,供地日期,受让人统一社会信用代码,受让人,供地方式,出让价款(万元)\n"
        "S1,2024-03-01,6666.7,协议收回,2024-06-01,91330600MA2AAAAAA1,新企业,挂牌出让,300\n"
        "S2,2024年4月1日,,依法收回,,,,,\n")


def test_supplies_import_maps_headers_and_converts_the_area(tiny, tmp_path):
    res = import_layer(tiny, "supplies", _csv(tmp_path, GOOD), progress=False)
    assert "已导入 2 条收回与再供应记录" in res.summary()[0]
    stored = tiny.read("supplies").set_index("parcel_id")
    assert stored.loc["S1", "recovered_mu"] == pytest.approx(10.0, abs=1e-3)  # 6666.7 m² → 亩
    assert stored.loc["S1", "supply_date"] == pd.Timestamp("2024-06-01")
    assert stored.loc["S2", "recovered_date"] == pd.Timestamp("2024-04-01") and pd.isna(stored.loc["S2", "supply_date"])
    again = import_layer(tiny, "supplies", _csv(tmp_path, GOOD), progress=False)
    assert "替换了工作空间中原有的 2 条收回与再供应记录" in again.report.lines


@pytest.mark.parametrize(("text", "message"), [
    ("宗地编号,收回日期\nS1,2024-03-01\nX9,2024-03-01\nX8,2024-03-01\n",
     r"2 个宗地编号不在地块图层中，如 X9（第 3、4 行）"),
    ("宗地编号,收回日期,供地日期,受让人\nS1,2024-03-01,2024-01-01,新企业\n", r"供地日期早于收回日期，第 2 行"),
    ("宗地编号,收回日期,供地日期\nS1,2024-03-01,2024-06-01\n", r"有供地日期但没有受让人.*第 2 行"),
    ("宗地编号,收回日期,受让人\nS1,2024-03-01,新企业\n", r"有受让人但没有供地日期.*第 2 行"),
    ("宗地编号,收回日期,收回方式\nS1,2024-03-01,拍卖\n", r"收回方式 应为 协议收回 或 依法收回，第 2 行"),
    ("宗地编号,收回日期\nS1,2024-03-01\nS1,2024-05-01\n", r"宗地编号 重复"),
    ("宗地编号,供地日期\nS1,2024-03-01\n", r"缺少必需字段 收回日期"),
])
def test_bad_supply_records_are_refused_in_one_line(tiny, tmp_path, text, message):
    before = tiny.path.read_bytes()
    with pytest.raises(MujunError, match=message) as err:
        import_layer(tiny, "supplies", _csv(tmp_path, text), progress=False)
    assert "\n" not in str(err.value)
    assert tiny.path.read_bytes() == before and not tiny.has("supplies")


def test_supply_records_need_a_parcels_layer(tmp_path):
    with pytest.raises(MujunError, match="还没有地块图层"):
        import_layer(Workspace(tmp_path / "none.gpkg"), "supplies", _csv(tmp_path, GOOD), progress=False)


# -- service and CLI over the sample ---------------------------------------------------------

@pytest.fixture(scope="module")
def sample_ledger(sample_workspace):
    return ledger(sample_workspace)


def test_sample_ledger_follows_every_decided_parcel(sample_workspace, sample_ledger):
    rows = sample_ledger.rows
    assert len(rows) >= 12 and rows["district_name"].nunique() == 6
    assert (rows["year"] == RECOVERY_DECISION_YEAR).all() and (rows["decided_by"] == SAMPLE_REVIEWER).all()
    counts = rows["stage"].value_counts()
    assert counts["yielding"] >= 10 and counts.get("recovered", 0) >= 1 and counts.get("decided", 0) >= 1
    assert set(rows["supply_basis"].dropna()) == set(BASES.values())
    assert not sample_ledger.unmatched and set(sample_ledger.outlines["parcel_id"]) == set(rows["parcel_id"])


def test_sample_before_and_after_are_the_stored_results(sample_workspace, sample_ledger):
    rows = sample_ledger.rows[sample_ledger.rows["supply_basis"].eq(BASES["record"]).fillna(False)]
    ids = ", ".join(f"'{i}'" for i in rows["parcel_id"])
    stored = sample_workspace.read(result_table("parcel"), where=f"parcel_id IN ({ids})").set_index(["parcel_id", "year"])
    supplies = sample_workspace.read("supplies").set_index("parcel_id")
    for r in rows.itertuples():
        old = stored.loc[(r.parcel_id, RECOVERY_DECISION_YEAR)]
        new = stored.loc[(r.parcel_id, NEW_HOLDER_YEAR)]
        assert r.holder_code == old["holder_code"] != new["holder_code"] == r.new_holder_code
        assert new["holder_code"] == supplies.loc[r.parcel_id, "new_holder_code"]
        assert r.after_year == NEW_HOLDER_YEAR and r.tax_per_mu_after == new["tax_per_mu"]
        assert (pd.isna(old["tax_per_mu"]) and pd.isna(r.tax_per_mu_before)) or r.tax_per_mu_before == old["tax_per_mu"]
    total = sample_ledger.totals[sample_ledger.totals["district_name"] == "合计"].iloc[0]
    y = sample_ledger.rows[sample_ledger.rows["stage"] == "yielding"]
    assert total["tax_per_mu_after"] == pytest.approx(y["tax_after"].sum() / y["area_mu"].sum())
    assert total["tax_per_mu_before"] == pytest.approx(y["tax_before"].fillna(0).sum() / y["area_mu"].sum())
    assert total["tax_per_mu_after"] > 10 * total["tax_per_mu_before"]


def test_sample_ledger_filters(sample_workspace, sample_ledger):
    one = ledger(sample_workspace, district="越城区")
    assert set(one.rows["district_name"]) == {"越城区"} and len(one.rows) == (sample_ledger.rows["district_name"] == "越城区").sum()
    with pytest.raises(MujunError, match="1999 年没有协议收回、依法收回的决定"):
        ledger(sample_workspace, year=1999)
    with pytest.raises(MujunError, match="台账中没有行政区 '火星区'"):
        ledger(sample_workspace, district="火星区")


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_prints_totals_and_parcels_and_exports(sample_workspace, sample_ledger, tmp_path):
    out = tmp_path / "台账.xlsx"
    res = _run("ledger", "-w", str(sample_workspace.path), "--out", str(out))
    assert res.exit_code == 0, res.output
    total = sample_ledger.totals[sample_ledger.totals["district_name"] == "合计"].iloc[0]
    line = next(li for li in res.output.splitlines() if li.lstrip().startswith("2023  合计"))
    assert f"{total['tax_per_mu_after']:,.2f}" in line and f"{total['recovered_mu']:,.2f}" in line
    assert LEDGER_HEADERS["tax_per_mu_before"] in res.output and f"逐宗台账（{len(sample_ledger.rows)} 宗）" in res.output
    sheets = {name: xlsx_rows(out, name) for name in ("汇总", "逐宗台账", "说明")}
    assert "再供应后亩均税收(万元/亩)" in sheets["汇总"][0] and len(sheets["逐宗台账"]) == len(sample_ledger.rows) + 1
    assert any("口径" in (r[0] or "") for r in sheets["说明"])


def test_cli_without_decisions_says_so(tiny):
    res = _run("ledger", "-w", str(tiny.path))
    assert res.exit_code == 0 and res.output.startswith("还没有协议收回、依法收回的审核决定")


# -- the page ------------------------------------------------------------------------------

def test_ledger_page_shows_the_service_figures(review_app, review_workspace):
    c = review_app.test_client()
    assert c.get("/ledger").status_code == 302  # closed to anonymous users
    login(c, "viewer")
    page = c.get("/ledger").get_data(as_text=True)
    led = ledger(review_workspace)
    total = led.totals[led.totals["district_name"] == "合计"].iloc[0]
    row = re.search(r'<tr class="font-weight-bold">(.*?)</tr>', page, re.S).group(1)
    for col in ("tax_per_mu_before", "tax_per_mu_after", "supplied_mu", "value_added_per_mu_after"):
        assert f"{total[col]:,.2f}" in row
    assert page.count('<a href="/parcels/') >= len(led.rows) and '"_tooltip"' in page and 'class="mujun-map"' in page
    assert c.get("/ledger/export?format=csv").status_code == 200


def test_ledger_page_escapes_user_strings(fresh_review_workspace, tmp_path):
    ws = fresh_review_workspace
    pid = ws.read(result_table("parcel"), where=f"year = {RECOVERY_DECISION_YEAR}")["parcel_id"].iloc[0]
    save_decision(ws, pid, RECOVERY_DECISION_YEAR, status="认定低效", measure="协议收回", deadline="2099-12-31",
                  comment="核实", base_version=0, user="rev1")
    src = tmp_path / "供地记录.csv"
    src.write_text(f"宗地编号,收回日期,供地日期,受让人\n{pid},2024-01-01,2024-02-01,\"{XSS}\"\n", encoding="utf-8-sig")
    import_layer(ws, "supplies", src, progress=False)
    c = create_app({"WORKSPACE": str(ws.path), "TESTING": True}).test_client()
    login(c, "viewer")
    page = c.get("/ledger").get_data(as_text=True)
    assert page.count(XSS) == 0 and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert c.get(f"/ledger?district={XSS}").status_code == 400


def test_ledger_page_without_decisions_says_so(tiny):
    c = create_app({"WORKSPACE": str(add_users(tiny).path), "TESTING": True}).test_client()
    login(c, "viewer")
    r = c.get("/ledger")
    assert r.status_code == 200 and 'id="empty"' in r.get_data(as_text=True)
