"""Map builders: local assets only, basemaps, class breaks, colours, escaping."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from flask import Flask

from mujun.webapp import assets, maps


@pytest.fixture
def ctx():
    app = Flask("webapp")  # static folder and url_for like the real app
    app.register_blueprint(assets.bp)
    with app.test_request_context("/"):
        yield app


def _parcels():
    geoms = [shapely.box(500000 + i * 100, 3300000, 500090 + i * 100, 3300090) for i in range(4)]
    gdf = gpd.GeoDataFrame({
        "parcel_id": ["P1", "P2", "P3", "<b>P4</b>"],
        "holder_name": ["甲厂", "<img src=x onerror=alert(1)>", None, "丁"],
        "holder_code": ["A", "B", None, "D"],
        "area_mu": [12.15, 12.15, 12.15, 12.15],
        "tax_per_mu": [1.0, 10.0, None, 40.0],
        "class": ["A", "D", None, "B"],
        "flags": [None, "闲置、低效", "低效", "不达标"],
    }, geometry=geoms, crs=4549)
    return gdf.to_crs(4490)


def _html(m) -> str:
    parts = maps.render(m)
    return str(parts["header"]) + str(parts["html"]) + str(parts["script"])


def test_base_map_uses_only_local_assets(ctx):
    m = maps.base_map((120.5, 29.9, 120.7, 30.1), {"BASEMAP": "none"})
    html = _html(m)
    assert "/vendor/leaflet/leaflet.js" in html and "/static/mujun-map.js" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)[:3]
    assert "window.mujunMap" in html
    assert "L.tileLayer" not in html  # no basemap by default


def test_basemaps_by_configuration(ctx):
    html = _html(maps.base_map((120, 29, 121, 30), {"BASEMAP": "tianditu", "TIANDITU_TOKEN": "abc123"}))
    assert "tianditu.gov.cn/vec_w" in html and "tk=abc123" in html and "cva_w" in html
    html = _html(maps.base_map((120, 29, 121, 30), {"BASEMAP": "xyz", "BASEMAP_URL": "http://tiles.local/{z}/{x}/{y}.png"}))
    assert "http://tiles.local/{z}/{x}/{y}.png" in html
    # tianditu without a token falls back to no basemap rather than a broken one
    assert "tianditu" not in _html(maps.base_map((120, 29, 121, 30), {"BASEMAP": "tianditu"}))


def test_breaks_are_quantiles():
    values = pd.Series(np.arange(1, 101, dtype=float))
    b = maps.breaks(values, 5)
    np.testing.assert_allclose(b, np.quantile(values, [0.2, 0.4, 0.6, 0.8, 1.0]))
    assert maps.breaks(pd.Series([3.0, 3.0, None])) == [3.0]
    assert maps.breaks(pd.Series([None, None], dtype="float64")) == []


@pytest.mark.parametrize("seed", range(6))
def test_breaks_are_mapclassifys_value_for_value(seed):
    from mapclassify.classifiers import quantile

    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=int(rng.integers(5, 3000))) * [1e-3, 1.0, 1e6][seed % 3]
    if seed % 3 == 1:  # ties
        values = np.round(values, 1)
    ours, theirs = maps.breaks(pd.Series(values)), [float(b) for b in quantile(values, k=5)]
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)  # NumPy's and scipy's interpolation round alike


def test_colours_by_value_class_and_flag():
    p = _parcels()
    colors = maps.styled_parcels(p, "tax_per_mu", [5.0, 20.0, 50.0])
    assert colors.iloc[2] == maps.NO_DATA
    assert colors.iloc[0] != colors.iloc[1] != colors.iloc[3]
    by_class = maps.styled_parcels(p, "class")
    assert by_class.tolist() == [maps.CLASS_COLORS["A"], maps.CLASS_COLORS["D"], maps.NO_DATA, maps.CLASS_COLORS["B"]]
    by_flag = maps.styled_parcels(p, "flags")
    assert by_flag.tolist() == [maps.NO_DATA, maps.FLAG_COLORS["idle"], maps.FLAG_COLORS["inefficient"],
                               maps.FLAG_COLORS["noncompliant"]]


def test_popups_escape_every_data_string(ctx):
    p = _parcels()
    popup, tooltip = maps.parcel_popups(p, lambda i: f"/parcels/{i}", lambda c: f"/enterprises/{c}")
    assert "&lt;img src=x onerror=alert(1)&gt;" in popup.iloc[1]
    assert "<img" not in popup.iloc[1] and "<img" not in tooltip.iloc[1]
    assert "&lt;b&gt;P4&lt;/b&gt;" in popup.iloc[3]
    assert 'href="/enterprises/A"' in popup.iloc[0] and 'href="/parcels/P1"' in popup.iloc[0]
    assert "12.15 亩" in popup.iloc[0] and "1.00 万元/亩" in popup.iloc[0]


def test_data_layer_embeds_features_and_legend(ctx):
    p = _parcels()
    m = maps.base_map(p.total_bounds, {"BASEMAP": "none"})
    popup, tooltip = maps.parcel_popups(p, lambda i: f"/parcels/{i}", lambda c: f"/enterprises/{c}")
    data = maps.feature_collection(p, popup=popup, tooltip=tooltip, ids=p["parcel_id"],
                                   color=maps.styled_parcels(p, "class"))
    layer = maps.DataLayer(data, "地块")
    layer.layer_name = "地块"
    layer.add_to(m)
    maps.legend(m, "class", [])
    html = _html(m)
    assert "mujun.dataLayer(" in html and f"window.mujunLayers[{json.dumps('地块')}]" in html
    assert html.count('"_popup"') == 4
    assert "<img src=x" not in html  # escaped in the data, and JSON-encoded in the script
    assert "mujun-legend" in html and json.dumps("A 类")[1:-1] in html
    lon = data["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 119 < lon < 121  # stored as lon/lat for Leaflet


def test_feature_collection_is_json_safe(ctx):
    p = _parcels().assign(agreed_start=pd.to_datetime(["2020-01-02", None, None, None]))
    data = maps.feature_collection(p, extra=["parcel_id", "agreed_start", "tax_per_mu"])
    text = json.dumps(data)
    assert '"agreed_start": "2020-01-02"' in text and "NaN" not in text


def test_vendor_assets_are_served(ctx):
    c = ctx.test_client()
    r = c.get("/vendor/leaflet/leaflet.js")
    assert r.status_code == 200 and b"Leaflet" in r.data[:2000]
    r.close()
    assert c.get("/vendor/nope/x.js").status_code == 404
    assert c.get("/vendor/leaflet/../../../etc/passwd").status_code == 404
