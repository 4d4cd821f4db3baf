"""The 排名 page and its exports: filters, sorting, paging, links, files, errors, escaping."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pyogrio
import pytest
from click.testing import CliRunner
from flask import url_for

from mujun.cli import main
from mujun.layers.workspace import Workspace
from mujun.service import ranking
from mujun.webapp import create_app

#: Pages the rankings link to, with stand-ins for those not (yet) in the app.
STAND_INS = {
    "details.enterprise": "/enterprises/<code>",
    "details.parcel": "/parcels/<parcel_id>",
    "details.park": "/parks/<park_id>",
    "details.platform": "/platforms/<platform_id>",
    "details.district": "/districts/<district_id>",
    "dashboard.index": "/",
}
DETAIL = {"enterprise": ("details.enterprise", "code", "credit_code"),
          "parcel": ("details.parcel", "parcel_id", "parcel_id"),
          "park": ("details.park", "park_id", "park_id"),
          "platform": ("details.platform", "platform_id", "platform_id"),
          "district": ("details.district", "district_id", "district_id")}
PAGE_SIZE = 50
XSS = "<img src=x onerror=alert(1)>"


def _app_for(path, base=None):
    """The app over ``path``, with stand-in pages for endpoints still missing."""
    app = base if base is not None and all(ep in base.view_functions for ep in STAND_INS) else \
        create_app({"WORKSPACE": str(path), "TESTING": True, "PUBLIC_READ": True})
    for endpoint, rule in STAND_INS.items():
        if endpoint not in app.view_functions:
            app.add_url_rule(rule, endpoint=endpoint, view_func=lambda **kw: "stand-in")
    return app


@pytest.fixture(scope="module")
def app(web_app, sample_workspace):
    return _app_for(sample_workspace.path, web_app)


@pytest.fixture
def client(app):
    return app.test_client()


def row_ids(text: str) -> list[str]:
    return [html.unescape(i) for i in re.findall(r'<tr data-id="([^"]*)"', text)]


def expected_ids(ws, level="enterprise", by=None, page=1, **kw) -> list[str]:
    by = by or {"enterprise": "score", "platform": "output_yi"}.get(level, "tax_per_mu")
    frame, _ = ranking(ws, level, by, **kw)
    id_col = DETAIL[level][2]
    return frame[id_col].astype(str).iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].tolist()


def get_ok(client, query) -> str:
    res = client.get("/rankings", query_string=query)
    assert res.status_code == 200, res.get_data(as_text=True)[:2000]
    return res.get_data(as_text=True)


def test_default_page_is_the_enterprise_ranking_by_score(client, sample_workspace):
    text = get_ok(client, {})
    assert row_ids(text) == expected_ids(sample_workspace)
    for header in ("排名", "统一社会信用代码", "企业名称", "综合得分", "亩均税收(万元/亩)", "用地面积(亩)"):
        assert f">{header}" in text or f"{header}\n" in text
    assert "2025 年企业排名" in text and "Traceback" not in text


@pytest.mark.parametrize(("query", "call"), [
    ({"level": "parcel"}, {"level": "parcel"}),
    ({"level": "park"}, {"level": "park"}),
    ({"level": "platform"}, {"level": "platform"}),
    ({"level": "district"}, {"level": "district"}),
    ({"class": ["B", "C"]}, {"classes": ("B", "C")}),
    ({"class": "d"}, {"classes": ("D",)}),
    ({"district": "越城区"}, {"district": "越城区"}),
    ({"district": "330603"}, {"district": "330603"}),
    ({"industry": "17"}, {"industry": "17"}),
    ({"year": "2023"}, {"year": 2023}),
    ({"by": "tax_per_mu", "asc": "1"}, {"by": "tax_per_mu", "ascending": True}),
    ({"page": "2"}, {"page": 2}),
    ({"level": "parcel", "class": "D", "district": "柯桥区", "industry": "3", "by": "area_mu"},
     {"level": "parcel", "classes": ("D",), "district": "柯桥区", "industry": "3", "by": "area_mu"}),
])
def test_filters_change_the_rows_as_the_service_does(client, sample_workspace, query, call):
    ids = row_ids(get_ok(client, query))
    assert ids == expected_ids(sample_workspace, **call)
    assert ids and ids != expected_ids(sample_workspace)


@pytest.mark.parametrize("level", ["district", "park", "platform"])
def test_zone_levels_offer_and_rank_by_the_composite_score(client, sample_workspace, level):
    text = get_ok(client, {"level": level})
    assert '<option value="composite">区域综合得分</option>' in text
    text = get_ok(client, {"level": level, "by": "composite"})
    assert '<option value="composite" selected>区域综合得分</option>' in text
    assert row_ids(text) == expected_ids(sample_workspace, level=level, by="composite")
    frame, _ = ranking(sample_workspace, level, "composite")
    assert frame["composite"].is_monotonic_decreasing and len(row_ids(text)) == min(len(frame), PAGE_SIZE)


def test_enterprise_level_offers_no_zone_composite(client):
    assert 'value="composite"' not in get_ok(client, {"level": "enterprise"})


def test_filtered_rows_satisfy_the_filter(client, sample_workspace):
    text = get_ok(client, {"class": "A", "district": "诸暨市"})
    frame, _ = ranking(sample_workspace, "enterprise", "score")
    chosen = frame.set_index("credit_code").loc[row_ids(text)]
    assert set(chosen["class"]) == {"A"} and set(chosen["district_name"]) == {"诸暨市"}


def _header_link(text: str, field: str) -> str:
    m = re.search(rf'data-field="{field}"[^>]*>\s*<a href="([^"]+)"', text)
    assert m, f"no sort link on {field}"
    return html.unescape(m.group(1))


def test_column_headers_sort_and_toggle_the_order(client, sample_workspace):
    text = get_ok(client, {"district": "上虞区"})
    link = _header_link(text, "tax_per_mu")
    assert "by=tax_per_mu" in link and "asc" not in link and "district=" in link
    text = client.get(link).get_data(as_text=True)
    assert row_ids(text) == expected_ids(sample_workspace, by="tax_per_mu", district="上虞区")
    link = _header_link(text, "tax_per_mu")
    assert "asc=1" in link
    text = client.get(link).get_data(as_text=True)
    assert row_ids(text) == expected_ids(sample_workspace, by="tax_per_mu", district="上虞区", ascending=True)
    assert "从低到高" in text
    # identity columns are not sortable
    assert not re.search(r'data-field="credit_code"[^>]*>\s*<a ', text)


def test_pages_continue_and_a_page_past_the_end_shows_the_last(client, sample_workspace):
    query = {"district": "新昌县", "class": "A"}
    frame, _ = ranking(sample_workspace, "enterprise", "score", district="新昌县", classes=("A",))
    last = -(-len(frame) // PAGE_SIZE)
    assert last >= 2
    first_page = get_ok(client, query)
    assert re.search(r'href="[^"]*page=2[&"]', first_page)
    pages = [row_ids(get_ok(client, {**query, "page": p})) for p in range(1, last + 1)]
    assert sum(pages, []) == frame["credit_code"].astype(str).tolist()
    assert row_ids(get_ok(client, {**query, "page": 999})) == pages[-1]


@pytest.mark.parametrize("level", list(DETAIL))
def test_every_row_links_to_its_own_page(app, client, level):
    text = get_ok(client, {"level": level})
    rows = [(html.unescape(i), html.unescape(h)) for i, h in re.findall(r'<tr data-id="([^"]*)" data-href="([^"]*)"', text)]
    assert len(rows) == len(row_ids(text)) > 0
    endpoint, arg, _ = DETAIL[level]
    with app.test_request_context():
        for row_id, href in rows:
            assert href == url_for(endpoint, **{arg: row_id})
            assert f'<a href="{html.escape(href)}">' in text


def test_level_tabs_keep_only_the_filters_a_level_has(client):
    text = get_ok(client, {"class": "A", "district": "越城区", "year": "2024"})
    tab = html.unescape(re.search(r'href="([^"]*)" data-level="park"', text).group(1))
    assert "level=park" in tab and "year=2024" in tab and "class" not in tab and "district" not in tab
    tab = html.unescape(re.search(r'href="([^"]*)" data-level="parcel"', text).group(1))
    assert "class=A" in tab and "district=" in tab


def _download(client, query, fmt):
    res = client.get("/rankings/export", query_string={**query, "format": fmt})
    assert res.status_code == 200, res.get_data(as_text=True)[:2000]
    return res


def _sheet(data) -> list[list]:
    wb = openpyxl.load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data, read_only=True)
    try:
        assert wb.sheetnames[1] == "说明"
        return [list(r) for r in wb[wb.sheetnames[0]].iter_rows(values_only=True)]
    finally:
        wb.close()


def test_xlsx_export_is_the_file_of_mujun_rank(client, sample_workspace, tmp_path):
    query = {"district": "越城区", "class": "A"}
    res = _download(client, query, "xlsx")
    assert res.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = res.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "filename*=UTF-8''" + quote("2025年企业排名_综合得分.xlsx") in disposition
    rows = _sheet(res.data)
    header, body = rows[0], rows[1:]
    assert header[:2] == ["排名", "统一社会信用代码"] and "综合得分" in header and "亩均税收(万元/亩)" in header
    frame, _ = ranking(sample_workspace, "enterprise", "score", classes=("A",), district="越城区")
    assert [r[1] for r in body] == frame["credit_code"].tolist()
    assert [r[0] for r in body] == frame["rank"].tolist()
    out = tmp_path / "cli.xlsx"
    cli = CliRunner().invoke(main, ["rank", "-w", str(sample_workspace.path), "--by", "score", "--class", "A",
                                    "--district", "越城区", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert _sheet(out.read_bytes()) == rows


def test_xlsx_header_names_the_indicator_with_its_unit(client, sample_workspace):
    res = _download(client, {"level": "parcel", "by": "plot_ratio", "asc": "1", "district": "嵊州市", "class": "D"},
                    "xlsx")
    assert quote("2025年地块排名_容积率.xlsx") in res.headers["Content-Disposition"]
    header, *body = _sheet(res.data)
    assert header[:2] == ["排名", "宗地编号"]
    assert {"权利人", "统一社会信用代码", "容积率", "用地面积(亩)"} <= set(header)
    frame, _ = ranking(sample_workspace, "parcel", "plot_ratio", ascending=True, district="嵊州市", classes=("D",))
    assert [r[1] for r in body] == frame["parcel_id"].tolist()


def test_csv_export_is_utf8_with_bom(client, sample_workspace):
    res = _download(client, {"level": "park", "by": "value_added_per_mu"}, "csv")
    assert res.mimetype == "text/csv" and res.data.startswith(b"\xef\xbb\xbf")
    assert quote("2025年园区排名_亩均增加值.csv") in res.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(res.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "园区代码", "园区名称"] and "亩均增加值(万元/亩)" in rows[0]
    frame, _ = ranking(sample_workspace, "park", "value_added_per_mu")
    assert [r[1] for r in rows[1:]] == frame["park_id"].tolist()


def test_geopackage_export_has_canonical_fields_and_geometry(client, sample_workspace, tmp_path):
    res = _download(client, {"level": "parcel", "district": "越城区", "class": "B"}, "gpkg")
    assert res.mimetype == "application/geopackage+sqlite3"
    path = tmp_path / "export.gpkg"
    path.write_bytes(res.data)
    got = pyogrio.read_dataframe(path)
    frame, _ = ranking(sample_workspace, "parcel", "tax_per_mu", classes=("B",), district="越城区")
    assert {"rank", "parcel_id", "holder_code", "tax_per_mu", "area_mu", "year"} <= set(got.columns)
    assert got["parcel_id"].tolist() == frame["parcel_id"].tolist()
    assert got.crs.to_epsg() == 4490 and not got.geometry.is_empty.any()
    assert set(got.geom_type) == {"MultiPolygon"}


def test_exports_leave_no_temporary_files(client, tmp_path, monkeypatch):
    # a temporary folder of this test's own: the system's is shared with the other test workers,
    # whose exports come and go in it meanwhile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    real = tempfile.TemporaryDirectory

    def spy(*args, **kwargs):
        folder = real(*args, **kwargs)
        made.append(folder.name)
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    for fmt in ("csv", "gpkg"):
        _download(client, {"level": "district"}, fmt)
    assert made and all(Path(m).parent == tmp_path and "mujun-export-" in m for m in made)
    assert list(tmp_path.glob("mujun-export-*")) == []


@pytest.mark.parametrize(("path", "query", "message"), [
    ("/rankings", {"level": "county"}, "未知的排名层级 'county'"),
    ("/rankings", {"by": "happiness"}, "无法按 'happiness' 排名"),
    ("/rankings", {"district": "火星区"}, "没有行政区 '火星区'"),
    ("/rankings", {"class": "E"}, "分类应为 A、B、C、D"),
    ("/rankings", {"year": "今年"}, "年度应为整数"),
    ("/rankings", {"year": "1999"}, "没有 1999 年的评价结果"),
    ("/rankings", {"asc": "yes"}, "asc 应为 0"),
    ("/rankings", {"page": "0"}, "页码应 ≥ 1"),
    ("/rankings", {"level": "park", "industry": "17"}, "园区结果没有行业代码"),
    ("/rankings/export", {"format": "pdf"}, "未知的导出格式 'pdf'"),
    ("/rankings/export", {"format": "xlsx", "level": "county"}, "未知的排名层级"),
    ("/rankings/export", {"format": "csv", "by": "happiness"}, "无法按 'happiness' 排名"),
])
def test_bad_filters_give_the_chinese_error_page(client, path, query, message):
    res = client.get(path, query_string=query)
    text = html.unescape(res.get_data(as_text=True))
    assert res.status_code == 400 and res.mimetype == "text/html"
    assert "请求有误" in text and message in text and "Traceback" not in text


@pytest.fixture(scope="module")
def xss_app(sample_workspace, tmp_path_factory):
    """A copy of the sample whose best enterprise of the latest year is named like an attack."""
    path = tmp_path_factory.mktemp("xss") / "xss.gpkg"
    shutil.copyfile(sample_workspace.path, path)
    ws = Workspace(path)
    top, year = ranking(ws, "enterprise", "score")
    code = top["credit_code"].iloc[0]
    table = ws.read("result_enterprise")
    table.loc[table["credit_code"] == code, "name"] = XSS
    parcels = ws.read("result_parcel")
    parcels.loc[parcels["holder_code"] == code, "holder_name"] = XSS
    ws.write({"result_enterprise": table, "result_parcel": parcels})
    return _app_for(path), code


def test_a_hostile_enterprise_name_shows_as_text(xss_app):
    app, code = xss_app
    client = app.test_client()
    text = get_ok(client, {})
    assert row_ids(text)[0] == code
    assert html.escape(XSS, quote=False) in text and XSS not in text
    text = get_ok(client, {"level": "parcel", "by": "score"})
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img src" not in text
    # JSON carries the name as data, not markup
    item = client.get("/api/rankings", query_string={"page_size": 1}).get_json()["items"][0]
    assert item["name"] == XSS


def test_ranking_page_size_comes_from_the_config(sample_workspace):
    app = _app_for(sample_workspace.path)
    app.config["RANKING_PAGE_SIZE"] = 7
    text = get_ok(app.test_client(), {"level": "park"})
    frame, _ = ranking(sample_workspace, "park", "tax_per_mu")
    assert row_ids(text) == frame["park_id"].head(7).tolist()
    assert "每页 7 条" in text
