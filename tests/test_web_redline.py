"""The 工业用地红线 page /redline: figures equal the service's, years, downloads, escaping, access."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import login, map_popups, xlsx_rows

from mujun.layers.workspace import Workspace
from mujun.service import redline
from mujun.webapp.formatting import number, percent

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture(scope="module")
def expected(sample_workspace):
    return redline(sample_workspace)


def _page(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def _table(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start:html.index("</table>", start)]


def _cells(row_html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html, re.S)]




def test_page_figures_are_the_services(client, expected):
    html = _page(client, "/redline")
    t = expected.table
    city = t[t["level"] == "city"].iloc[0]
    assert re.search(r'id="city-industrial">\s*' + re.escape(number(city["industrial_km2"])), html)
    assert f'id="city-share">{percent(city["industrial_share"], 2)}<' in html
    assert f'id="city-new-share">{percent(city["new_industrial_share"], 2)}<' in html
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", _table(html, "stock"), re.S)[1:]
    assert len(rows) == len(t)
    for row, (_, d) in zip(rows, t.iterrows(), strict=True):
        cells = _cells(row)
        assert cells[0] == d["name"]
        assert cells[1:4] == [number(d["industrial_km2"]), number(d["urban_construction_km2"]),
                              percent(d["industrial_share"], 2)]
        assert cells[7] == ("达标" if d["industrial_share_ok"] else "未达标")
    new_rows = re.findall(r"<tr[^>]*>(.*?)</tr>", _table(html, "new-land"), re.S)[1:]
    for row, (_, d) in zip(new_rows, t.iterrows(), strict=True):
        assert _cells(row)[3] == percent(d["new_industrial_share"], 2)
    converted = _table(html, "converted")
    assert all(pid in converted for pid in expected.converted["parcel_id"])
    assert "2025 年新增" in html and 'id="example-note"' in html
    assert 'href="/redline"' in html  # the nav link
    names = {n for p in map_popups(html) for n in re.findall("工业产业单元", p)}
    assert names  # units drawn on the map


def test_page_of_another_year(client, sample_workspace):
    html = _page(client, "/redline?year=2023")
    city = redline(sample_workspace, 2023).table.iloc[-1]
    assert f'id="city-new-share">{percent(city["new_industrial_share"], 2)}<' in html
    assert '<option value="2023" selected>' in html
    # a year the land-use layer lacks shows the latest
    assert '<option value="2025" selected>' in _page(client, "/redline?year=1999")


def test_downloads_are_the_cli_export(client, expected):
    r = client.get("/redline/export?format=xlsx&year=2025")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    rows = xlsx_rows(r.data, "工业用地红线")
    assert rows[-1][0] == "全市" and rows[-1][2] == pytest.approx(expected.table.iloc[-1]["industrial_km2"])
    r = client.get("/redline/export?format=csv")
    assert r.status_code == 200 and r.data.decode("utf-8-sig").startswith("区域,")
    assert client.get("/redline/export?format=exe").status_code == 400


def test_page_escapes_unit_names_and_reasons(sample_workspace, expected, tmp_path):
    from mujun.webapp import create_app

    path = tmp_path / "hostile.gpkg"
    shutil.copyfile(sample_workspace.path, path)
    ws = Workspace(path)
    units = ws.read("units")
    hit = expected.converted["unit_id"].iloc[0]
    units.loc[units["unit_id"] == hit, "name"] = XSS
    ws.write({"units": units})
    client = create_app({"WORKSPACE": str(path), "TESTING": True, "PUBLIC_READ": True}).test_client()
    html = _page(client, "/redline")
    assert XSS not in html
    assert XSS_ESCAPED in _table(html, "converted")
    popups = map_popups(html)
    assert any(XSS_ESCAPED in p for p in popups) and not any(XSS in p for p in popups)


def test_page_needs_a_login_and_a_viewer_may_read(review_app):
    client = review_app.test_client()
    assert client.get("/redline").status_code == 302
    login(client, "viewer")
    assert client.get("/redline").status_code == 200


def test_without_a_land_use_layer_the_page_says_what_to_import(sample_workspace, tmp_path):
    from mujun.layers.importer import import_layer
    from mujun.webapp import create_app

    ws = Workspace(tmp_path / "districts-only.gpkg")
    import_layer(ws, "districts", sample_workspace.path.with_name("sample-sample") / "行政区.geojson", progress=False)
    client = create_app({"WORKSPACE": str(ws.path), "TESTING": True, "PUBLIC_READ": True}).test_client()
    r = client.get("/redline")
    assert r.status_code == 404 and "mujun import landuse" in r.get_data(as_text=True)
