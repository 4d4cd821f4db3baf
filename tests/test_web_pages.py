"""Pages of the web app: 总览, 平台, 园区, 地块, 企业, 行政区 — figures, links, 404s, escaping, offline."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from conftest import map_popups

from mujun.layers.workspace import Workspace
from mujun.webapp import charts
from mujun.webapp.formatting import number, percent

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
HREF = re.compile(r'href="([^"]*)"')


# -- helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables(sample_workspace):
    """The latest evaluated year's result tables of the sample, read straight from the file."""
    ws = sample_workspace
    year = max(int(y) for y in ws.meta()["evaluated_years"].split(","))
    read = {name: ws.read(f"result_{name}", where=f"year = {year}")
            for name in ("enterprise", "parcel", "park", "platform", "district", "flag", "compliance")}
    return {"year": year, "enterprise_all": ws.read("result_enterprise"), "building": ws.read("result_building"),
            **read}


@pytest.fixture(scope="module")
def page(web_app):
    """``page(url)``: the HTML of a page of the sample app, each URL fetched once per module."""
    client, seen = web_app.test_client(), {}

    def get(url: str, status: int = 200) -> str:
        if url not in seen:
            seen[url] = _page(client, url, status)
        return seen[url]

    return get


def _page(client, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, url
    return r.get_data(as_text=True)


def _table(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start:html.index("</table>", start)]


def _hrefs(html: str) -> set[str]:
    return {h.split("?")[0] for h in HREF.findall(html)}


def _script(html: str) -> str:
    """The map's script, with the JSON escapes of ``|tojson`` decoded."""
    start = html.index("L.map(")
    end = html.find("</script>", start)
    script = html[start:end if end >= 0 else html.index("</body>", start)]
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), script)


def _above_scale_per_mu(enterprises: pd.DataFrame, amount: str) -> float:
    """Σ amount / Σ land of 规上 enterprises with land and that amount (ratio of sums)."""
    e = enterprises[enterprises["above_scale"].fillna(False).astype(bool)]
    e = e[(e["land_mu"] > 0) & e[amount].notna()]
    return float(e[amount].sum() / e["land_mu"].sum())


def _parcel_case(tables) -> pd.Series:
    """A flagged parcel with buildings and compliance checks, whose holder has figures and
    holds other parcels too."""
    p = tables["parcel"]
    checked = set(tables["compliance"]["parcel_id"])
    several = p["holder_code"].map(p["holder_code"].value_counts()).fillna(0) > 1
    ok = (p["flags"].notna() & p["holder_code"].notna() & p["evaluated"].astype(bool) & (p["building_count"] > 0)
          & p["parcel_id"].isin(checked) & several)
    return p[ok].sort_values("parcel_id").iloc[0]


# -- 总览 -------------------------------------------------------------------------------------

def _price_level(year: int) -> float:
    from mujun.geo.prices import price_levels
    from mujun.layers.rulesets import load_price_index

    return float(price_levels(load_price_index())[year])


def test_dashboard_headline_figures_against_targets(page, tables):
    html = page("/")
    assert "<title>总览" in html
    e = tables["enterprise"]
    level = _price_level(tables["year"])
    va = _above_scale_per_mu(e, "value_added")
    tax = _above_scale_per_mu(e, "tax")
    for key, value, target in (("value_added", va, 150), ("tax", tax, 37)):
        card = html[html.index(f'id="kpi-above_scale_{key}_per_mu"'):]
        card = card[:card.index("progress-bar")]
        # both the current-price and the 2019-price figure; completion at 2019 prices
        assert f"{value:,.2f}" in card and f"{value / level:,.2f}" in card
        assert f"{value / level / target * 100:.1f}%" in card
        assert "2019 年不变价" in card
    assert "规上亩均增加值" in html and "规上亩均税收" in html and "万元/亩" in html


def test_dashboard_targets_table_in_current_and_2019_prices(page, tables):
    html = _table(page("/"), "targets")
    level = _price_level(tables["year"])
    e = tables["enterprise"]
    e = e[e["above_scale"].fillna(False).astype(bool)]

    def ratio(num: str, den: str, factor: float = 1.0) -> float:
        use = e[num].notna() & e[den].notna()
        return float(e.loc[use, num].sum() / e.loc[use, den].sum() * factor)

    rows = {key: html[html.index(f'id="target-{key}"'):] for key in (
        "value_added_per_mu", "tax_per_mu", "labour_productivity", "value_added_rate", "rd_intensity",
        "water_per_value_added")}
    rows = {k: v[:v.index("</tr>")] for k, v in rows.items()}
    lp = ratio("value_added", "employees")
    assert f"{lp:,.2f}" in rows["labour_productivity"] and f"{lp / level:,.2f}" in rows["labour_productivity"]
    assert "35.00" in rows["labour_productivity"] and "23.10" in rows["labour_productivity"]
    rate = ratio("value_added", "output_value", 100)  # a ratio of two amounts: the same at 2019 prices
    assert rows["value_added_rate"].count(f"{rate:,.2f}") == 2
    rd = ratio("rd_expense", "revenue", 100)
    assert rows["rd_intensity"].count(f"{rd:,.2f}") == 2 and "2.44" in rows["rd_intensity"]
    w = ratio("water", "value_added", 1e4)
    assert f"{w:,.2f}" in rows["water_per_value_added"] and f"{w * level:,.2f}" in rows["water_per_value_added"]
    assert "≤ 20.00" in rows["water_per_value_added"] and "立方米/万元" in rows["water_per_value_added"]
    assert "示例值" in page("/") and "浙委办发〔2020〕8号" in page("/")


def test_dashboard_deflator_setting(sample_workspace, tmp_path):
    from mujun.webapp import create_app

    year = max(int(y) for y in sample_workspace.meta()["evaluated_years"].split(","))
    f = tmp_path / "flat.toml"
    rows = "\n".join(f"{y} = {125.0 if y == year else 100.0}" for y in range(2020, year + 1))
    f.write_text(f'name = "flat"\ntitle = "本地价格指数"\nbase_year = 2019\nexample = false\n'
                 f'source = "本地统计公报"\n[index]\n{rows}\n', encoding="utf-8")
    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True,
                      "DEFLATOR": str(f)})
    html = _page(app.test_client(), "/")
    e = sample_workspace.read("result_enterprise", where=f"year = {year}")
    tax = _above_scale_per_mu(e, "tax")
    card = html[html.index('id="kpi-above_scale_tax_per_mu"'):]
    assert f"{tax / 1.25:,.2f}" in card[:card.index("progress-bar")]
    assert "本地价格指数" in html and "本地统计公报" in html and "价格指数为示例值" not in html


def test_dashboard_of_a_year_the_price_index_lacks_shows_current_prices(sample_workspace, tmp_path):
    from mujun.webapp import create_app

    year = max(int(y) for y in sample_workspace.meta()["evaluated_years"].split(","))
    f = tmp_path / "short.toml"  # ends the year before the evaluated one
    rows = "\n".join(f"{y} = 101.0" for y in range(2020, year))
    f.write_text(f'name = "short"\nbase_year = 2019\nexample = false\nsource = "本地统计公报"\n[index]\n{rows}\n',
                 encoding="utf-8")
    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True,
                      "DEFLATOR": str(f)})
    html = _page(app.test_client(), "/")  # 200, not an error page
    e = sample_workspace.read("result_enterprise", where=f"year = {year}")
    assert f"{_above_scale_per_mu(e, 'tax'):,.2f}" in html
    assert f"价格指数没有 {year} 年，该年只显示当年价" in html


def test_dashboard_district_filter(page, tables):
    d = tables["district"].sort_values("district_id").iloc[1]
    html = page(f"/?district={d['district_id']}&year={tables['year']}")
    e = tables["enterprise"]
    e = e[e["district_id"] == d["district_id"]]
    assert f"{_above_scale_per_mu(e, 'tax'):,.2f}" in html
    assert f"总览 · {d['name']}" in html
    # an unknown district is refused with a Chinese message
    assert "没有行政区代码" in page("/?district=999999", 400)


def test_dashboard_class_shares(page, tables):
    html = _table(page("/"), "class-shares")
    e = tables["enterprise"]
    for group in ("above_scale", "below_scale"):
        part = e[(e["group"] == group) & e["class"].notna()]
        share = (part["class"] == "D").mean()
        assert f"{share * 100:.1f}%" in html
    counts = e[e["group"] == "above_scale"]["class"].value_counts()
    for cls, name in (("A", "优先发展"), ("B", "提升发展"), ("C", "调控帮扶"), ("D", "倒逼整治")):
        assert name in html
        assert f">{counts[cls]}<" in html


def test_dashboard_links_every_district_park_and_platform(page, tables):
    html = page("/")
    districts = _hrefs(_table(html, "district-ranking"))
    assert districts == {f"/districts/{i}" for i in tables["district"]["district_id"]}
    parks = _hrefs(_table(html, "park-ranking"))
    assert parks == {f"/parks/{i}" for i in tables["park"]["park_id"]}
    platforms = _hrefs(_table(html, "platforms"))
    assert platforms == {f"/platforms/{i}" for i in tables["platform"]["platform_id"]}
    # the district ranking is by 亩均税收, highest first
    best = tables["district"].sort_values("tax_per_mu", ascending=False).iloc[0]
    assert _table(html, "district-ranking").index(best["name"]) < _table(html, "district-ranking").index(
        tables["district"].sort_values("tax_per_mu").iloc[0]["name"])
    # platforms against 1000 亿元
    for _, p in tables["platform"].iterrows():
        assert f"{p['output_yi']:,.1f}" in html
        assert f"{p['output_yi'] / 1000 * 100:.1f}%" in html


def test_dashboard_trend_chart_is_inline_svg(page, tables):
    html = page("/")
    assert html.count('<svg class="mujun-chart"') >= 2
    assert not re.search(r'<(?:img|object|embed|iframe)[^>]*\.svg', html)
    trend = _table(html, "trend")
    all_years = tables["enterprise_all"]
    for year, part in all_years.groupby("year"):
        assert f"<td>{year}</td>" in trend
        assert f"{_above_scale_per_mu(part, 'tax'):,.2f}" in trend
        assert f"{_above_scale_per_mu(part, 'tax') / _price_level(year):,.2f}" in trend
    # the map of districts, parks and platforms is on the page
    assert "mujun.dataLayer" in html and "L.map(" in html


# -- 平台, 园区, 行政区 ---------------------------------------------------------------------------

def test_platform_page(page, tables):
    p = tables["platform"].sort_values("platform_id").iloc[0]
    html = page(f"/platforms/{p['platform_id']}")
    assert f"<title>平台 · {p['name']}" in html
    parcels = tables["parcel"][tables["parcel"]["platform_id"] == p["platform_id"]]
    assert f"{parcels['output_value'].sum() / 10000:,.1f}" in html  # output, 亿元
    assert f"{parcels.loc[parcels['idle'], 'area_mu'].sum():,.1f}" in html  # idle land, 亩
    assert f"{p['unsupplied_mu']:,.1f}" in html and f"{p['lead_share'] * 100:.1f}%" in html
    assert "1,000" in html and "亿元" in html and "10,000" in html
    # the parcels holding it back: every flagged parcel, largest first, linked
    flagged = parcels[parcels["flags"].notna()].sort_values("area_mu", ascending=False)
    table = _table(html, "flagged")
    assert _hrefs(table) >= {f"/parcels/{i}" for i in flagged["parcel_id"]}
    first, second = flagged["parcel_id"].iloc[0], flagged["parcel_id"].iloc[1]
    assert table.index(first) < table.index(second)
    reason = tables["flag"][tables["flag"]["parcel_id"] == first]["reason"].iloc[0]
    assert reason.replace("<", "&lt;").replace(">", "&gt;") in table
    assert '<svg class="mujun-chart"' in html  # land status chart


def test_park_page(page, tables):
    park = tables["park"].sort_values("park_id").iloc[0]
    html = page(f"/parks/{park['park_id']}")
    assert f"<title>园区 · {park['name']}" in html
    parcels = tables["parcel"][tables["parcel"]["park_id"] == park["park_id"]]
    ev = parcels[parcels["evaluated"]]
    assert f"{ev['tax'].sum() / ev['evaluated_mu'].sum():,.2f}" in html  # 亩均税收, ratio of sums
    assert f"{park['building_coefficient'] * 100:.1f}%" in html
    enterprises = tables["enterprise"][tables["enterprise"]["park_id"] == park["park_id"]]
    assert _hrefs(_table(html, "enterprises")) == {f"/enterprises/{c}" for c in enterprises["credit_code"]}
    assert len(_hrefs(_table(html, "flagged")) & {f"/parcels/{i}" for i in parcels["parcel_id"]}) == \
        int(parcels["flags"].notna().sum())


def test_district_page(page, tables):
    d = tables["district"].sort_values("district_id").iloc[0]
    html = page(f"/districts/{d['district_id']}")
    assert f"<title>行政区 · {d['name']}" in html
    assert f"{d['tax_per_mu']:,.2f}" in html and f"{d['evaluated_mu']:,.1f}" in html
    parcels = tables["parcel"]
    in_district = parcels[parcels["district_id"] == d["district_id"]]
    parks = set(in_district["park_id"].dropna())
    assert {f"/parks/{i}" for i in parks} <= _hrefs(_table(html, "parks"))
    top = tables["enterprise"]
    top = top[(top["district_id"] == d["district_id"]) & (top["group"] == "above_scale")]
    best = top.sort_values("score", ascending=False).iloc[0]
    assert f"/enterprises/{best['credit_code']}" in _hrefs(_table(html, "top-enterprises-1"))


# -- 地块, 企业 -------------------------------------------------------------------------------

def test_parcel_page(page, tables):
    p = _parcel_case(tables)
    html = page(f"/parcels/{p['parcel_id']}")
    assert f"<title>地块 · {p['parcel_id']}" in html
    assert f'href="/enterprises/{p["holder_code"]}' in _table(html, "holder-figures") or \
        f'href="/enterprises/{p["holder_code"]}' in html[html.index('id="holder"'):]
    assert f"{p['area_mu']:,.2f} 亩" in html and f"{p['plot_ratio']:,.2f}" in html
    checks = tables["compliance"][tables["compliance"]["parcel_id"] == p["parcel_id"]]
    table = _table(html, "compliance")
    assert table.count("<tr>") - 1 == len(checks)
    for _, c in checks.iterrows():
        assert c["label"] in table and c["status"] in table
    flags = tables["flag"][tables["flag"]["parcel_id"] == p["parcel_id"]]
    for reason in flags["reason"]:
        assert reason.replace("<", "&lt;").replace(">", "&gt;") in _table(html, "flags")
    buildings = tables["building"][tables["building"]["parcel_id"] == p["parcel_id"]]
    assert _table(html, "buildings").count("<tr>") - 1 == len(buildings)
    assert f"{p['tax_gain']:,.2f} 万元" in _table(html, "whatif")
    script = _script(html)
    assert "周边地块" in script and "本地块" in script and "建筑物" in script


def test_enterprise_page(page, tables):
    code = _parcel_case(tables)["holder_code"]
    html = page(f"/enterprises/{code}")
    history = tables["enterprise_all"][tables["enterprise_all"]["credit_code"] == code].sort_values("year")
    latest = history.iloc[-1]
    assert f"<title>企业 · {latest['name']}" in html
    table = _table(html, "history")
    for _, row in history.iterrows():
        assert f"<td>{row['year']}</td>" in table
        per_mu = row["tax"] / row["land_mu"]
        assert f"{per_mu:,.2f}" in table
        if pd.notna(row["class"]):
            assert row["class_name"] in table
    held = tables["parcel"][tables["parcel"]["holder_code"] == code]
    assert _hrefs(_table(html, "parcels")) == {f"/parcels/{i}" for i in held["parcel_id"]}
    assert "mujun.dataLayer" in html


def test_large_parcel_layers_load_by_bounding_box(sample_workspace, tables):
    from mujun.webapp import create_app

    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True,
                      "MAX_EMBED_FEATURES": 50})
    pid = tables["platform"]["platform_id"].iloc[0]
    html = _page(app.test_client(), f"/platforms/{pid}?color=tax_per_mu")
    assert "mujun.bboxLayer" in html
    assert f"/api/layers/parcels?year={tables['year']}\\u0026color=tax_per_mu" in html
    assert not any("mujun-parcel-link" in p for p in map_popups(html))  # only the platform outline is embedded


@pytest.mark.parametrize("url", ["/platforms/PF99", "/parks/NOPE", "/parcels/NOPE", "/enterprises/NOPE",
                                 "/districts/000000"])
def test_unknown_ids_are_404(page, url):
    html = page(url, 404)
    assert "没有找到" in html and "该页面或数据不存在" in html


def test_pages_refer_to_no_other_host(page, tables):
    p = _parcel_case(tables)
    urls = ["/", f"/platforms/{tables['platform']['platform_id'].iloc[0]}",
            f"/parks/{tables['park']['park_id'].iloc[0]}", f"/districts/{tables['district']['district_id'].iloc[0]}",
            f"/parcels/{p['parcel_id']}", f"/enterprises/{p['holder_code']}"]
    for url in urls:
        html = page(url)
        assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', html, re.I), url
        assert not re.search(r"https?://", _script(html)), url
        assert not re.search(r"https?://", html), url


def test_inline_scripts_carry_the_responses_csp_nonce(web_app, tables):
    """The Content-Security-Policy runs no inline script but the page's own (by nonce) and
    no inline event handler; every page with a map is built that way."""
    p = _parcel_case(tables)
    client = web_app.test_client()
    for url in ["/", "/map", "/rankings", f"/platforms/{tables['platform']['platform_id'].iloc[0]}",
                f"/parcels/{p['parcel_id']}", f"/enterprises/{p['holder_code']}"]:
        r = client.get(url)
        html = r.get_data(as_text=True)
        csp = dict(d.strip().split(" ", 1) for d in r.headers["Content-Security-Policy"].split(";"))
        scripts = re.findall(r"<script\b([^>]*)>", html)
        inline = [attrs for attrs in scripts if "src=" not in attrs]
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"], url
        for attrs in inline:
            nonce = re.search(r'nonce="([^"]+)"', attrs)
            assert nonce and f"'nonce-{nonce.group(1)}'" in csp["script-src"].split(), (url, attrs)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url


# -- escaping --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(sample_workspace, tmp_path_factory, tables):
    """A copy of the sample whose names and one parcel id are HTML, and a client over it."""
    from mujun.webapp import create_app

    path = tmp_path_factory.mktemp("hostile") / "hostile.gpkg"
    shutil.copyfile(sample_workspace.path, path)
    ws = Workspace(path)
    case = _parcel_case(tables)
    code = case["holder_code"]
    enterprises = ws.read("result_enterprise")
    enterprises.loc[enterprises["credit_code"] == code, "name"] = XSS
    parcels = ws.read("result_parcel")
    parcels.loc[parcels["holder_code"] == code, "holder_name"] = XSS
    other = parcels.loc[(parcels["holder_code"] == code) & (parcels["parcel_id"] != case["parcel_id"]), "parcel_id"]
    renamed = other.iloc[0] if len(other) else None
    if renamed is not None:
        parcels.loc[parcels["parcel_id"] == renamed, "parcel_id"] = XSS
    parks = ws.read("result_park")
    parks.loc[parks["park_id"] == parks["park_id"].iloc[0], "name"] = XSS
    districts = ws.read("result_district")
    districts.loc[districts["district_id"] == districts["district_id"].iloc[0], "name"] = XSS
    ws.write({"result_enterprise": enterprises, "result_parcel": parcels, "result_park": parks,
              "result_district": districts})
    app = create_app({"WORKSPACE": str(path), "TESTING": True, "PUBLIC_READ": True})
    return {"client": app.test_client(), "parcel": case["parcel_id"], "code": code, "renamed": renamed}




def _assert_escaped(html: str) -> None:
    """The hostile string shows as text in the page and in the map's popups and tooltips."""
    assert XSS not in html
    assert XSS_ESCAPED in html
    popups = map_popups(html)
    assert any(XSS_ESCAPED in p for p in popups)
    assert not any(XSS in p for p in popups)


def test_dashboard_escapes_names(hostile):
    html = _page(hostile["client"], "/")
    _assert_escaped(html)
    assert XSS_ESCAPED in _table(html, "district-ranking") and XSS_ESCAPED in _table(html, "park-ranking")


def test_parcel_page_escapes_holder_name(hostile):
    html = _page(hostile["client"], f"/parcels/{hostile['parcel']}")
    _assert_escaped(html)
    assert XSS_ESCAPED in html[html.index('id="holder"'):]


def test_parcel_page_with_a_hostile_id(hostile):
    if hostile["renamed"] is None:
        pytest.skip("the holder has a single parcel")
    from urllib.parse import quote

    html = _page(hostile["client"], "/parcels/" + quote(XSS))
    _assert_escaped(html)
    assert f"<title>地块 · {XSS_ESCAPED}" in html


def test_enterprise_page_escapes_name_and_parcel_ids(hostile):
    html = _page(hostile["client"], f"/enterprises/{hostile['code']}")
    _assert_escaped(html)
    assert f"<title>企业 · {XSS_ESCAPED}" in html
    if hostile["renamed"] is not None:
        assert XSS_ESCAPED in _table(html, "parcels")
        assert "/parcels/%3Cimg%20src=x%20onerror=alert(1)%3E" in html


# -- charts and formatting -------------------------------------------------------------------

def test_line_chart_is_inline_svg_with_text():
    svg = charts.line_chart([2023, 2024, 2025], {"规上": [25.1, float("nan"), 27.3]}, title="规上亩均税收",
                            unit="万元/亩", target=37, target_label="2025 年目标")
    assert svg.startswith('<svg class="mujun-chart"') and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "http" not in svg
    assert "规上亩均税收（万元/亩）" in svg  # text kept as text, drawn with the browser's fonts
    assert "<text" in svg


def test_charts_on_one_page_have_distinct_ids():
    a = charts.stacked_bars({"规上企业": {"A": 0.1, "B": 0.9}}, {"A": "#1a9850", "B": "#91cf60"},
                            title="分类", percent=True)
    b = charts.stacked_bars({"平台地块": {"已建": 600.0, "未建": 30.0}}, {"已建": "#31a354", "未建": "#bdbdbd"},
                            title="土地", unit="亩")
    ids = re.findall(r'\bid="([^"]+)"', a) + re.findall(r'\bid="([^"]+)"', b)
    assert len(ids) == len(set(ids))
    assert "10%" in a and "已建 600" in b


@pytest.mark.parametrize("odd", ["园区$x^$1", "ZJ$x^2$01"])  # mathtext refuses the first, typesets the second
def test_charts_draw_dollar_signs_from_data_as_text(odd):
    """A name or parcel id with ``$`` is drawn as the text it is, never parsed as mathtext."""
    import geopandas as gpd
    import shapely

    parcel = gpd.GeoDataFrame(geometry=[shapely.box(120.5, 30.0, 120.502, 30.002)], crs=4490)
    svgs = [
        charts.line_chart([2024, 2025], {odd: [1.0, 2.0]}, title=odd),
        charts.stacked_bars({odd: {"A": 0.4, odd: 0.6}}, {"A": "#1a9850", odd: "#91cf60"}, title=odd, percent=True),
        charts.parcel_sketch(parcel, parcel.iloc[:0], None, title=f"地块 {odd} 示意图"),
    ]
    for svg in svgs:
        texts = re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)
        assert any(odd in t for t in texts), texts


def test_number_formats():
    assert number(1234.5678) == "1,234.57" and number(None) == "—" and number(float("nan")) == "—"
    assert number(pd.NA) == "—" and number(3, 0) == "3"
    assert percent(0.1234) == "12.3%" and percent(None) == "—"
