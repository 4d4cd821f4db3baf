"""Every page of the web app in headless Chromium, served by waitress over the sample.

Debian's ``/usr/bin/chromium`` driven by Playwright (``apt-get install chromium``; never
``playwright install``). Each test fails on a console error, a page error, a failed response
from the app or a request to any host but the app: the app must work offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import shapely
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, sync_playwright

from mujun.service import ranking
from mujun.webapp import create_app
from mujun.webapp.serve import running

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


# -- the app, the browser and what the pages ask for -------------------------------------------

@dataclass(frozen=True)
class Sample:
    """Ids of one parcel of the sample and of everything it belongs to."""

    parcel_id: str
    platform_id: str
    park_id: str
    district_id: str
    holder_code: str
    lat: float  # a point inside the parcel, off its buildings
    lon: float


@pytest.fixture(scope="module")
def sample(sample_workspace) -> Sample:
    """A large parcel in a platform and a park, with a holder and buildings."""
    ws = sample_workspace
    year = int(ws.meta()["evaluated_years"].split(",")[-1])
    parcels = ws.read("result_parcel", where=f"year = {year}")
    ok = (parcels["platform_id"].notna() & parcels["park_id"].notna() & parcels["holder_code"].notna()
          & (parcels["building_count"] > 0))
    row = parcels[ok].sort_values(["area_mu", "parcel_id"], ascending=[False, True]).iloc[0]
    buildings = ws.read("result_building")
    built = shapely.union_all(buildings.loc[buildings["parcel_id"] == row["parcel_id"], "geometry"].to_numpy())
    free = shapely.difference(row.geometry, built).buffer(-2e-5)  # about 2 m inside, clear of buildings
    point = shapely.point_on_surface(free if not free.is_empty else row.geometry)
    return Sample(str(row["parcel_id"]), str(row["platform_id"]), str(row["park_id"]), str(row["district_id"]),
                  str(row["holder_code"]), point.y, point.x)


@pytest.fixture(scope="module")
def base_url(sample_workspace):
    """The app over the sample on waitress, on a free local port (``http://127.0.0.1:PORT``)."""
    app = create_app({"WORKSPACE": str(sample_workspace.path), "PUBLIC_READ": True})
    with running(app, "127.0.0.1", 0) as url:
        yield url.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A page in its own browser context that records what it requests and logs."""

    def __init__(self, browser: Browser, base_url: str):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                           locale="zh-CN")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.checked = False
        # anything for another host is refused at once (and reported), never waited for
        self.context.route(lambda url: not self._local(url), lambda route: route.abort())
        self.page: Page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("response", self._response)
        # an alert() can only come from data run as script (an escaping bug)
        self.page.on("dialog", self._dialog)

    def _local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return f"{parts.scheme}://{parts.netloc}" == self.base_url

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _dialog(self, dialog) -> None:
        self.problems.append(f"dialog opened: {dialog.type} {dialog.message!r}")
        dialog.dismiss()

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base_url + path, wait_until="load")
        assert response is not None and response.ok, f"{path}: HTTP {response.status if response else '—'}"
        return self.page

    def assert_clean(self) -> None:
        self.checked = True
        foreign = sorted({u for u in self.requests if not self._local(u)})
        assert not foreign, f"requests to hosts other than the app: {foreign}"
        assert not self.problems, "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, base_url):
    t = Tab(browser, base_url)
    yield t
    try:
        if not t.checked:  # a test that stopped before its own check
            t.assert_clean()
    finally:
        t.close()


# -- the pages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageSpec:
    path: str
    layers: tuple[str, ...]  # names in window.mujunLayers, each with features once loaded
    toggle: str  # a layer the layer control switches
    parcels: str | None = None  # the layer holding the sample parcel
    lazy: tuple[str, ...] = ()  # layers loaded by bounding box once zoomed in


def _pages(s: Sample) -> dict[str, PageSpec]:
    return {
        "dashboard": PageSpec("/", ("行政区", "园区", "万亩千亿平台"), "园区"),
        "map": PageSpec("/map", ("行政区", "园区", "万亩千亿平台", "地块"), "园区", "地块", lazy=("地块",)),
        "platform": PageSpec(f"/platforms/{quote(s.platform_id)}", ("平台范围", "地块"), "平台范围", "地块"),
        "park": PageSpec(f"/parks/{quote(s.park_id)}", ("园区范围", "地块"), "园区范围", "地块"),
        "district": PageSpec(f"/districts/{quote(s.district_id)}", ("行政区范围", "地块"), "行政区范围", "地块"),
        "parcel": PageSpec(f"/parcels/{quote(s.parcel_id)}", ("本地块", "周边地块", "建筑物"), "周边地块", "本地块"),
        "enterprise": PageSpec(f"/enterprises/{quote(s.holder_code)}", ("企业地块",), "企业地块", "企业地块"),
    }


PAGE_NAMES = ("dashboard", "map", "platform", "park", "district", "parcel", "enterprise")

_MAP_STATE = """() => {
  const m = window.mujunMap;
  if (!m) { return null; }
  const size = m.getSize();
  const layers = {};
  for (const [name, layer] of Object.entries(window.mujunLayers || {})) {
    layers[name] = {shown: m.hasLayer(layer), features: layer.getLayers ? layer.getLayers().length : -1};
  }
  return {width: size.x, height: size.y, containers: document.querySelectorAll(".leaflet-container").length,
          paths: document.querySelectorAll(".leaflet-overlay-pane path").length, layers: layers};
}"""


def _map_state(page: Page) -> dict:
    page.wait_for_function("() => window.mujunMap !== undefined && window.mujunLayers !== undefined")
    state = page.evaluate(_MAP_STATE)
    assert state is not None
    return state


def _check_map_and_layers(page: Page, spec: PageSpec) -> None:
    """The Leaflet map is there, has a size and shows the page's layers with their features."""
    state = _map_state(page)
    assert state["containers"] >= 1
    assert state["width"] > 100 and state["height"] > 100, state
    missing = [n for n in spec.layers if n not in state["layers"]]
    assert not missing, f"layers {missing} missing; the page has {list(state['layers'])}"
    for layer in spec.layers:
        if layer not in spec.lazy:
            assert state["layers"][layer]["features"] > 0, f"layer {layer} has no features: {state['layers']}"
    assert state["paths"] > 0, "nothing drawn on the map"


def _check_parcel_popup(page: Page, spec: PageSpec, sample: Sample) -> None:
    """Zoomed in on the sample parcel, a click on it opens its popup with a link to its page."""
    page.evaluate("""() => { window.__parcelsLoaded = 0;
        window.mujunMap.on("mujun:parcelsloaded", () => { window.__parcelsLoaded += 1; }); }""")
    page.locator(".leaflet-container").first.scroll_into_view_if_needed()
    page.evaluate("([lat, lon]) => window.mujunMap.setView([lat, lon], 17, {animate: false})",
                  [sample.lat, sample.lon])
    has_parcel = """([layer, id]) => window.mujunLayers[layer].getLayers()
        .some(f => f.feature && (f.feature.id === id || f.feature.properties.parcel_id === id))"""
    page.wait_for_function(has_parcel, arg=[spec.parcels, sample.parcel_id])
    if spec.parcels in spec.lazy:
        assert page.evaluate("() => window.__parcelsLoaded") >= 1, "no mujun:parcelsloaded event"
    x, y = page.evaluate("""([lat, lon]) => {
        const p = window.mujunMap.latLngToContainerPoint([lat, lon]);
        const box = window.mujunMap.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [sample.lat, sample.lon])
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content")
    try:
        popup.wait_for(state="visible", timeout=5_000)
    except Exception:
        hit = page.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y); "
                            "return e ? e.outerHTML.slice(0, 200) : null; }", [x, y])
        raise AssertionError(f"no popup after clicking the parcel at ({x:.0f}, {y:.0f}); the click hit {hit}") from None
    assert sample.parcel_id in popup.inner_text()
    assert popup.locator(f'a[href="/parcels/{quote(sample.parcel_id)}"]').count() >= 1
    page.keyboard.press("Escape")


def _check_layer_control(page: Page, spec: PageSpec) -> None:
    """Clicking a layer's name in the layer control hides it, clicking again shows it."""
    control = page.locator(".leaflet-control-layers")
    assert control.count() >= 1, f"no layer control on {spec.path}"
    if "leaflet-control-layers-expanded" not in (control.first.get_attribute("class") or ""):
        control.first.hover()  # a collapsed control opens under the pointer
    label = page.locator(".leaflet-control-layers label").filter(
        has_text=re.compile(rf"^\s*{re.escape(spec.toggle)}\s*$"))
    assert label.count() == 1, f"no entry '{spec.toggle}' in the layer control of {spec.path}"
    shown = "name => window.mujunMap.hasLayer(window.mujunLayers[name])"
    before = page.evaluate(shown, spec.toggle)
    label.click()
    assert page.evaluate(shown, spec.toggle) is (not before), f"'{spec.toggle}' did not switch"
    label.click()
    assert page.evaluate(shown, spec.toggle) is before, f"'{spec.toggle}' did not switch back"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_page_map_layers_popup_and_layer_control(tab, sample, name):
    """Each page with a map, loaded once: map and layers, a parcel's popup, the layer control."""
    spec = _pages(sample)[name]
    page = tab.open(spec.path)
    _check_map_and_layers(page, spec)
    assert page.title().endswith("mujun 亩均论英雄")
    if spec.parcels is not None:
        _check_parcel_popup(page, spec, sample)
    _check_layer_control(page, spec)
    tab.assert_clean()


# -- rankings ----------------------------------------------------------------------------------

_TABLE = """() => {
  const table = [...document.querySelectorAll("table")]
    .find(t => [...t.querySelectorAll("thead th")].some(th => th.innerText.trim() === "排名"));
  if (!table) { return null; }
  const heads = [...table.querySelectorAll("thead th")].map(th => th.innerText.trim());
  return [...table.querySelectorAll("tbody tr")].map(tr => {
    const row = {};
    [...tr.cells].forEach((td, i) => { row[heads[i]] = td.innerText.trim(); });
    return row; });
}"""


def _rows(page: Page) -> list[dict[str, str]]:
    rows = page.evaluate(_TABLE)
    assert rows is not None, "no ranking table (a table with the header 排名)"
    return rows


def _submit(page: Page) -> None:
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="筛选").click()


def test_rankings_filter_by_class(tab):
    page = tab.open("/rankings")
    before = _rows(page)
    assert before and len({r["分类"] for r in before}) >= 1
    page.locator("label", has_text=re.compile(r"^\s*D\s*$")).click()
    _submit(page)
    assert "class=D" in page.url
    after = _rows(page)
    assert after, "no rows for class D"
    assert [r["统一社会信用代码"] for r in after] != [r["统一社会信用代码"] for r in before]
    assert {r["分类"] for r in after} == {"D"}
    tab.assert_clean()


def test_rankings_filter_by_district(tab, sample_workspace, sample):
    page = tab.open("/rankings")
    before = _rows(page)
    name = sample_workspace.read("districts").set_index("district_id").loc[sample.district_id, "name"]
    page.get_by_label("行政区").select_option(label=name)
    _submit(page)
    after = _rows(page)
    assert after and [r["统一社会信用代码"] for r in after] != [r["统一社会信用代码"] for r in before]
    district_column = next(k for k in after[0] if k.startswith("行政区"))
    assert {r[district_column] for r in after} == {name}
    tab.assert_clean()


def test_rankings_export_downloads_a_valid_xlsx(tab, sample_workspace, tmp_path):
    page = tab.open("/rankings?class=D")
    with page.expect_download() as info:
        page.locator("a", has_text=re.compile(r"^\s*XLSX\s*$")).click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "ranking.xlsx"
    download.save_as(path)
    wb = load_workbook(path)
    try:
        ws = wb.worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
    finally:
        wb.close()
    headers = [str(h) for h in rows[0]]
    assert "排名" in headers
    expected, _ = ranking(sample_workspace, "enterprise", "score", classes=("D",))
    assert len(rows) - 1 == len(expected)
    assert {r[headers.index("分类")] for r in rows[1:]} == {"D"}
    tab.assert_clean()


def test_a_request_to_another_host_is_caught(tab):
    """The guard every test relies on: a request off the app is refused and reported.

    The app's pages refuse it themselves (Content-Security-Policy: connect-src 'self'), which
    shows as a console error; the guard is tried from a blank page, where no policy applies."""
    page = tab.open("/api/config")
    page.evaluate("() => fetch('http://192.0.2.1/tile.png').catch(() => null)")
    assert any("Content Security Policy" in p for p in tab.problems), tab.problems
    assert not any(u.startswith("http://192.0.2.1") for u in tab.requests)  # never left the page
    tab.problems.clear()
    page.goto("about:blank")
    page.evaluate("() => fetch('http://192.0.2.1/tile.png').catch(() => null)")
    with pytest.raises(AssertionError, match="hosts other than the app: \\['http://192.0.2.1/tile.png'\\]"):
        tab.assert_clean()


@pytest.fixture
def framer(base_url):
    """``framer(path)``: the URL of a page on another port of this host that frames ``path`` of the app."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import unquote

    class Framer(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            body = f'<!doctype html><iframe id="f" src="{base_url}{unquote(self.path)}"></iframe>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Framer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_pages_are_framed_only_by_the_app_itself(browser, base_url, framer):
    """A page on another port of the same host cannot frame the app (frame-ancestors 'self',
    X-Frame-Options SAMEORIGIN); an iframe of the app in its own page still loads."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(framer("/login"), wait_until="load")
        assert page.frame_locator("#f").locator("#login-form").count() == 0, "framed by another origin"
        assert not [f for f in page.frames if f.url.startswith(base_url)]
        page.goto(base_url + "/login", wait_until="load")  # the same origin may frame it
        page.evaluate("""() => new Promise(done => { const f = document.createElement("iframe");
            f.id = "f"; f.onload = done; f.src = "/login"; document.body.append(f); })""")
        assert page.frame_locator("#f").locator("#login-form").count() == 1, "not framed by the app itself"
    finally:
        context.close()


# -- parcel tiles ------------------------------------------------------------------------------

_TILE_SRCS = """() => [...document.querySelectorAll(".leaflet-tile-pane img.leaflet-tile-loaded")]
    .map(img => img.src).filter(src => src.includes("/tiles/parcels/"))"""


def test_map_draws_parcel_tiles_below_the_vector_zoom_and_identifies_clicks(tab, sample, sample_workspace):
    """Zoomed out, parcels are PNG tiles from the app; a click on one opens its popup (identify);
    zoomed in, the tiles give way to the vector layer."""
    parcels = sample_workspace.read("result_parcel", where=f"year = {int(sample_workspace.meta()['evaluated_years'].split(',')[-1])}")
    geom = parcels.loc[parcels["parcel_id"] == sample.parcel_id, "geometry"].iloc[0]
    # well inside the parcel: a click at zoom 13 lands within a pixel (~15 m) of the point
    inner = next(g for g in (shapely.buffer(geom, -d) for d in (3e-4, 2e-4, 1e-4, 0.0)) if not g.is_empty)
    point = shapely.point_on_surface(inner)
    page = tab.open("/map")
    _map_state(page)
    page.locator(".leaflet-container").first.scroll_into_view_if_needed()
    page.evaluate("([lat, lon]) => window.mujunMap.setView([lat, lon], 13, {animate: false})", [point.y, point.x])
    page.wait_for_function(f"() => ({_TILE_SRCS})().length > 0")
    srcs = page.evaluate(_TILE_SRCS)
    assert all(s.startswith(f"{tab.base_url}/tiles/parcels/") and "/13/" in s for s in srcs), srcs
    assert page.evaluate("() => window.mujunMap.hasLayer(window.mujunParcelTiles)")
    x, y = page.evaluate("""([lat, lon]) => {
        const p = window.mujunMap.latLngToContainerPoint([lat, lon]);
        const box = window.mujunMap.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [point.y, point.x])
    page.mouse.click(x, y)
    page.wait_for_function("""id => { const p = document.querySelector(".leaflet-popup-content");
        return p !== null && p.innerText.includes(id); }""", arg=sample.parcel_id, timeout=5_000)
    popup = page.locator(".leaflet-popup-content")
    assert popup.locator(f'a[href="/parcels/{quote(sample.parcel_id)}"]').count() >= 1
    assert any("/tiles/identify?" in u for u in tab.requests)
    page.evaluate("([lat, lon]) => window.mujunMap.setView([lat, lon], 16, {animate: false})", [point.y, point.x])
    assert not page.evaluate("() => window.mujunMap.hasLayer(window.mujunParcelTiles)")
    page.wait_for_function("() => window.mujunLayers['地块'].getLayers().length > 0")
    tab.assert_clean()


@pytest.mark.parametrize(("path", "features"), [("/api/collections/parks-2025/items?f=html", 12),
                                                ("/api/collections/parks/items/PK01", 1)])
def test_ogc_api_pages_draw_their_features_with_the_apps_leaflet(tab, path, features):
    page = tab.open(path)  # the browser's Accept asks for HTML
    page.wait_for_function("n => document.querySelectorAll('#ogc-map path.leaflet-interactive').length === n",
                           arg=features)
    assert page.locator("script[src*='/vendor/leaflet/leaflet.js']").count() == 1
    tab.assert_clean()
