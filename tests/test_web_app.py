"""The app factory, settings and error mapping."""

from __future__ import annotations

import pytest

from mujun.geo.errors import InputError, WorkspaceError
from mujun.webapp import create_app, settings


def test_settings_from_environment():
    env = {"MUJUN_WORKSPACE": "/data/w.gpkg", "MUJUN_BASEMAP": "tianditu", "MUJUN_BASEMAP_GCJ02": "true",
           "MUJUN_MAX_EMBED_FEATURES": "500", "OTHER": "x"}
    got = settings.from_env(env)
    assert got == {"WORKSPACE": "/data/w.gpkg", "BASEMAP": "tianditu", "BASEMAP_GCJ02": True,
                   "MAX_EMBED_FEATURES": 500}


def test_factory_config_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MUJUN_WORKSPACE", "/from/env.gpkg")
    app = create_app({"WORKSPACE": str(tmp_path / "given.gpkg")})
    assert app.config["WORKSPACE"].endswith("given.gpkg")
    assert app.config["SECRET_KEY"] and len(app.config["SECRET_KEY"]) >= 32
    assert create_app({"WORKSPACE": str(tmp_path / "x.gpkg")}).config["SECRET_KEY"] != app.config["SECRET_KEY"]


@pytest.fixture
def err_app(tmp_path):
    app = create_app({"WORKSPACE": str(tmp_path / "none.gpkg"), "TESTING": False, "PUBLIC_READ": True})

    @app.route("/api/boom-input")
    def _api_input():
        raise InputError("参数不对")

    @app.route("/boom-workspace")
    def _ws():
        raise WorkspaceError("没有数据")

    @app.route("/boom")
    def _boom():
        raise RuntimeError("secret internal detail")

    return app


def test_errors_map_to_json_under_api_and_pages_elsewhere(err_app):
    c = err_app.test_client()
    r = c.get("/api/boom-input")
    assert r.status_code == 400
    assert r.json == {"error": {"status": 400, "title": "请求有误", "message": "参数不对"}}
    r = c.get("/boom-workspace")
    assert r.status_code == 404 and "没有数据" in r.get_data(as_text=True)
    r = c.get("/boom")
    body = r.get_data(as_text=True)
    assert r.status_code == 500 and "意外错误" in body
    assert "secret internal detail" not in body and "Traceback" not in body
    assert c.get("/api/no-such-route").json["error"]["status"] == 404


def test_missing_workspace_is_a_clear_page(err_app):
    r = err_app.test_client().get("/map")
    assert r.status_code == 404
    assert "不存在" in r.get_data(as_text=True)


def test_errors_show_file_names_not_server_paths(err_app, tmp_path):
    @err_app.route("/api/boom-raster")
    def _raster():
        raise InputError("找不到栅格文件 /srv/影像/建成区.tif；请检查路径")

    @err_app.route("/boom-windows")
    def _windows():
        raise WorkspaceError(r"工作空间 D:\数据\亩均.gpkg 中没有 'parcels'；请先运行 mujun import parcels 文件")

    c = err_app.test_client()
    for url in ("/map", "/api/years"):  # the workspace's own path, on a page and in JSON
        r = c.get(url)
        text = r.get_data(as_text=True) if r.json is None else r.json["error"]["message"]
        assert r.status_code == 404 and "工作空间 none.gpkg 不存在" in text and str(tmp_path) not in text, text
    assert c.get("/api/boom-raster").json["error"]["message"] == "找不到栅格文件 建成区.tif；请检查路径"
    body = c.get("/boom-windows").get_data(as_text=True)
    assert "工作空间 亩均.gpkg 中没有 &#39;parcels&#39;" in body and "数据" not in body


def _csp(response) -> dict[str, list[str]]:
    return {name: sources.split() for name, _, sources in
            (d.strip().partition(" ") for d in response.headers["Content-Security-Policy"].split(";"))}


def test_security_headers_on_every_response(review_app):
    """Pages, redirects, assets, JSON and errors: no framing from another origin (another
    port of this host included), no MIME sniffing, no referrer to other sites, and scripts
    only from the app."""
    c = review_app.test_client()
    for url in ("/review", "/login", "/static/mujun.css", "/vendor/leaflet/leaflet.js", "/api/years", "/no-such-page"):
        r = c.get(url)
        r.close()  # a file's body is never read here
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN", url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Referrer-Policy"] == "same-origin", url
        csp = _csp(r)
        assert csp["frame-ancestors"] == ["'self'"] and csp["default-src"] == ["'self'"], url
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"], url
        assert [s for s in csp["script-src"] if not s.startswith("'nonce-")] == ["'self'"], url
        assert csp["connect-src"] == ["'self'"] and csp["img-src"] == ["'self'", "data:"], url


@pytest.mark.parametrize(("config", "source"), [
    ({"BASEMAP": "tianditu", "TIANDITU_TOKEN": "abc"}, "https://*.tianditu.gov.cn"),
    ({"BASEMAP": "xyz", "BASEMAP_URL": "http://tiles.intranet.local:8080/{z}/{x}/{y}.png"},
     "http://tiles.intranet.local:8080"),
    ({"BASEMAP": "xyz", "BASEMAP_URL": "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}"},
     "https://*.is.autonavi.com"),
])
def test_csp_lets_the_configured_basemap_tiles_in(sample_workspace, config, source):
    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True, **config})
    assert _csp(app.test_client().get("/api/config"))["img-src"] == ["'self'", "data:", source]


def test_gcj02_basemap_warns_that_cadastral_data_is_offset(sample_workspace):
    warn = "GCJ-02"
    plain = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True})
    assert warn not in plain.test_client().get("/map").get_data(as_text=True)
    gaode = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True, "BASEMAP": "xyz",
                        "BASEMAP_URL": "http://tiles.intranet.local/{z}/{x}/{y}.png", "BASEMAP_GCJ02": True})
    body = gaode.test_client().get("/map").get_data(as_text=True)
    assert warn in body and "偏移" in body
    assert "http://tiles.intranet.local/{z}/{x}/{y}.png" in body
