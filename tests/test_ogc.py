"""OGC API – Features under /api (mujun.webapp.ogc, mujun.webapp.ogcapi): the declared
conformance classes honoured — paging by next links, limit, bbox and bbox-crs, crs — and the
private /api/layers GeoJSON's fixes. Real clients (GDAL, OWSLib): test_ogc_clients.py."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import numpy as np
import pyproj
import pytest
import shapely

from mujun.layers.schema import label
from mujun.webapp import ogcapi

SOURCES = ["parcels", "buildings", "parks", "platforms", "districts", "units", "landuse"]


@pytest.fixture(scope="module")
def years(sample_workspace) -> list[int]:
    return [int(y) for y in sample_workspace.meta()["evaluated_years"].split(",")]


@pytest.fixture(scope="module")
def parcels_2024(sample_workspace):
    return sample_workspace.read("result_parcel", where="year = 2024")


def get(client, url: str, **kw):
    r = client.get(url, **kw)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r


def path_of(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + ("?" + parts.query if parts.query else "")


def read_all(client, url: str) -> tuple[list[dict], list]:
    """Every feature of ``url`` by following next links, and each page."""
    features, pages = [], []
    while url:
        r = get(client, url)
        assert r.mimetype == "application/geo+json"
        page = r.get_json()
        pages.append(page)
        features += page["features"]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = path_of(nxt[0]) if nxt else None
    return features, pages


def test_landing_page_links_what_clients_need(client):
    for url in ("/api", "/api/"):
        doc = get(client, url).get_json()
        rels = {link["rel"] for link in doc["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= rels
    tilejson = [link for link in doc["links"] if "TileJSON" in link["title"]]
    assert tilejson and all(link["href"].endswith("/tilejson.json") for link in tilejson)


def test_conformance_declares_core_geojson_html_oas30_and_crs(client):
    declared = get(client, "/api/conformance").get_json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                 "ogcapi-features-1/1.0/conf/html", "ogcapi-features-1/1.0/conf/oas30",
                 "ogcapi-features-2/1.0/conf/crs"):
        assert f"http://www.opengis.net/spec/{part}" in declared


def test_collections_are_the_source_layers_and_each_years_results(client, years):
    doc = get(client, "/api/collections").get_json()
    ids = [c["id"] for c in doc["collections"]]
    expected = SOURCES + [f"{n}-{y}" for y in years for n in ("parcels", "parks", "platforms", "districts")]
    assert ids == expected + [f"enterprises-{y}" for y in years]
    for c in doc["collections"]:
        assert c["itemType"] == "feature"
        assert c["crs"][:2] == [ogcapi.CRS84, "http://www.opengis.net/def/crs/EPSG/0/4490"]
        assert "http://www.opengis.net/def/crs/EPSG/0/4549" in c["crs"]  # the sample's GK zone
        w, s, e, n = c["extent"]["spatial"]["bbox"][0]
        assert 119 < w < e < 122 and 29 < s < n < 31
        assert {"items", "self"} <= {link["rel"] for link in c["links"]}


def test_an_unknown_collection_is_404_naming_the_available_ones(client):
    r = client.get("/api/collections/nope/items")
    assert r.status_code == 404 and "parcels-2024" in r.get_json()["error"]["message"]


def test_paging_by_next_links_reads_every_feature_once(client, parcels_2024):
    features, pages = read_all(client, "/api/collections/parcels-2024/items?limit=700")
    assert len(pages) == -(-len(parcels_2024) // 700)
    assert all(p["numberMatched"] == len(parcels_2024) for p in pages)
    assert all(p["numberReturned"] == len(p["features"]) <= 700 for p in pages)
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids)) == len(parcels_2024)
    assert set(ids) == set(parcels_2024["parcel_id"].astype(str))
    assert all(f["properties"]["year"] == 2024 for f in features)


def test_limit_is_honoured_and_capped(client):
    page = get(client, "/api/collections/buildings/items?limit=7").get_json()
    assert page["numberReturned"] == 7 and len(page["features"]) == 7
    page = get(client, f"/api/collections/buildings/items?limit={ogcapi.MAX_LIMIT * 3}").get_json()
    assert page["numberReturned"] == ogcapi.MAX_LIMIT
    assert re.search(rf"limit={ogcapi.MAX_LIMIT}\b", next(x["href"] for x in page["links"] if x["rel"] == "next"))
    default = get(client, "/api/collections/buildings/items").get_json()
    assert default["numberReturned"] == ogcapi.DEFAULT_LIMIT
    for bad in ("0", "x"):
        assert client.get(f"/api/collections/buildings/items?limit={bad}").status_code == 400


BOX = (120.55, 29.95, 120.75, 30.1)


def test_bbox_returns_exactly_the_features_that_meet_it(client, parcels_2024):
    features, pages = read_all(client, "/api/collections/parcels-2024/items?limit=200&bbox=" + ",".join(map(str, BOX)))
    meets = parcels_2024[shapely.intersects(parcels_2024.geometry.values, shapely.box(*BOX))]
    assert 0 < len(meets) < len(parcels_2024)
    assert sorted(f["id"] for f in features) == sorted(meets["parcel_id"].astype(str))
    assert all(link["href"].count("bbox=") == 1 for p in pages for link in p["links"] if link["rel"] == "next")


def test_bbox_crs_takes_the_box_in_that_crs_axis_order(client):
    def ids(url):
        return sorted(f["id"] for f in read_all(client, url)[0])

    lonlat = ids("/api/collections/parcels-2025/items?limit=1000&bbox=" + ",".join(map(str, BOX)))
    w, s, e, n = BOX
    latlon = ids(f"/api/collections/parcels-2025/items?limit=1000&bbox={s},{w},{n},{e}"
                 "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490")
    assert latlon == lonlat
    tr = pyproj.Transformer.from_crs(4490, 4549, always_xy=False)
    n0, e0, n1, e1 = tr.transform_bounds(s, w, n, e)  # northing first, as EPSG:4549 defines
    projected = ids(f"/api/collections/parcels-2025/items?limit=1000&bbox={n0},{e0},{n1},{e1}&bbox-crs=EPSG:4549")
    assert set(lonlat) <= set(projected) and len(projected) < len(lonlat) * 1.2


def test_a_bbox_written_latitude_first_is_a_one_line_400(client):
    r = client.get("/api/collections/parcels-2024/items?bbox=29.95,120.55,30.1,120.75")
    assert r.status_code == 400
    assert "是否把纬度写在了前面" in r.get_json()["error"]["message"]


def test_crs_gives_coordinates_in_that_crs_axis_order(client, parcels_2024):
    row = parcels_2024.iloc[0]
    url = f"/api/collections/parcels-2024/items/{row['parcel_id']}"
    r84 = get(client, url)
    assert r84.headers["Content-Crs"] == f"<{ogcapi.CRS84}>"
    lon, lat = r84.get_json()["geometry"]["coordinates"][0][0][0]
    assert 119 < lon < 122 and 29 < lat < 31
    r4490 = get(client, url + "?crs=http://www.opengis.net/def/crs/EPSG/0/4490")
    assert r4490.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    assert r4490.get_json()["geometry"]["coordinates"][0][0][0] == [lat, lon]
    r4549 = get(client, url + "?crs=http://www.opengis.net/def/crs/EPSG/0/4549")
    ring = np.array(r4549.get_json()["geometry"]["coordinates"][0][0])
    assert 3.2e6 < ring[0, 0] < 3.4e6 and 3e5 < ring[0, 1] < 7e5  # northing, easting
    area = shapely.Polygon(ring[:, ::-1]).area
    expected = parcels_2024.geometry.iloc[[0]].to_crs(4549).area.iloc[0]
    assert area == pytest.approx(expected, rel=1e-5)
    assert client.get(url + "?crs=EPSG:3857").status_code == 400


def test_property_filters_on_the_main_fields(client, parcels_2024):
    features, _ = read_all(client, "/api/collections/parcels-2024/items?limit=1000&class=D")
    assert sorted(f["id"] for f in features) == sorted(parcels_2024.loc[parcels_2024["class"] == "D", "parcel_id"])
    district = str(parcels_2024["district_id"].dropna().iloc[0])
    page = get(client, f"/api/collections/parcels-2024/items?limit=10000&district_id={district}&class=D").get_json()
    sel = parcels_2024[(parcels_2024["district_id"] == district) & (parcels_2024["class"] == "D")]
    assert page["numberMatched"] == len(sel) > 0


def test_datetime_selects_the_years_collections_it_meets(client, parcels_2024):
    def matched(url):
        return get(client, url).get_json()["numberMatched"]

    assert matched("/api/collections/parcels-2024/items?datetime=2024-06-30") == len(parcels_2024)
    assert matched("/api/collections/parcels-2024/items?datetime=2023-01-01/2023-12-31T23:59:59Z") == 0
    assert matched("/api/collections/parcels-2024/items?datetime=../2024-01-01T00:00:00Z") == len(parcels_2024)
    assert matched("/api/collections/parks/items?datetime=2020-01-01") == 12  # no time: every feature
    assert client.get("/api/collections/parks/items?datetime=yesterday").status_code == 400


def test_an_unknown_parameter_is_refused(client):
    r = client.get("/api/collections/parks/items?colour=red")
    assert r.status_code == 400 and "colour" in r.get_json()["error"]["message"]


def test_queryables_carry_the_schema_titles(client):
    r = get(client, "/api/collections/parcels-2024/queryables")
    assert r.mimetype == "application/schema+json"
    props = r.get_json()["properties"]
    assert props["class"]["title"] == label("class") and props["district_id"]["type"] == "string"


def test_enterprises_are_features_with_the_parcels_they_hold(client, sample_workspace, parcels_2024):
    firms = sample_workspace.read("result_enterprise", where="year = 2024")
    features, pages = read_all(client, "/api/collections/enterprises-2024/items?limit=1500")
    assert pages[0]["numberMatched"] == len(firms) == len(features)
    assert sorted(f["id"] for f in features) == sorted(firms["credit_code"].astype(str))
    held = parcels_2024.groupby("holder_code").size()
    by_id = {f["id"]: f for f in features}
    code = str(held.index[held.argmax()])
    assert len(by_id[code]["geometry"]["coordinates"]) == held.max() > 1  # one polygon per parcel held
    without = set(firms["credit_code"].astype(str)) - set(parcels_2024["holder_code"].dropna().astype(str))
    assert without and all(by_id[c]["geometry"] is None for c in without)
    one = get(client, f"/api/collections/enterprises-2024/items/{code}").get_json()
    assert one["id"] == code and one["properties"]["credit_code"] == code
    boxed, _ = read_all(client, "/api/collections/enterprises-2024/items?limit=500&bbox=" + ",".join(map(str, BOX)))
    assert boxed and len(boxed) < len(features)
    assert all(shapely.intersects(shapely.from_geojson(json.dumps(f["geometry"])), shapely.box(*BOX)) for f in boxed)


def test_feature_by_id_and_a_missing_one(client):
    doc = get(client, "/api/collections/parks/items/PK01").get_json()
    assert doc["type"] == "Feature" and doc["id"] == "PK01" and doc["properties"]["park_id"] == "PK01"
    r = client.get("/api/collections/parks/items/PK99")
    assert r.status_code == 404 and "PK99" in r.get_json()["error"]["message"]


def test_geojson_is_rfc7946(client):
    page = get(client, "/api/collections/parcels-2025/items?limit=300").get_json()
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in page["features"]])
    polygons = shapely.get_parts(geoms)
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
    for crs, decimals in (("", 7), ("&crs=EPSG:4549", 3)):
        text = get(client, f"/api/collections/parcels-2025/items?limit=3000{crs}").get_data(as_text=True)
        numbers = re.findall(r"\[(-?[\d.]+),(-?[\d.]+)\]", text)
        assert len(numbers) > 10_000
        assert max(len(n.partition(".")[2]) for pair in numbers for n in pair) == decimals


def test_openapi_document_is_valid_and_lists_every_ogc_route(client, web_app):
    from openapi_spec_validator import validate

    r = get(client, "/api/openapi")
    assert r.mimetype == "application/vnd.oai.openapi+json"
    doc = r.get_json()
    validate(doc)
    rules = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule).rstrip("/") for r in web_app.url_map.iter_rules()
             if r.endpoint.startswith("ogc.")}
    assert {p.replace("{collectionId}", "{collection_id}").replace("{featureId}", "{feature_id}")
            for p in doc["paths"]} == rules


@pytest.mark.parametrize("url", ["/api", "/api/conformance", "/api/collections", "/api/collections/parks-2024",
                                 "/api/collections/parks-2024/queryables", "/api/collections/parks-2024/items",
                                 "/api/collections/parks/items/PK01", "/api/openapi"])
def test_html_pages_use_the_apps_own_assets(client, url):
    for r in (get(client, url + "?f=html"), get(client, url, headers={"Accept": "text/html,*/*;q=0.8"})):
        assert r.mimetype == "text/html"
        page = r.get_data(as_text=True)
        assert "mujun 亩均" in page
        assert not re.search(r"""(src|href)=["']https?://(?!127\.0\.0\.1|localhost)""", page)
        assert "<script>" not in page  # no inline script without the nonce
    if "items" in url:
        assert "/vendor/leaflet/leaflet.js" in page and 'id="ogc-map"' in page


def test_without_public_read_the_service_needs_credentials(review_app):
    c = review_app.test_client()
    for url in ("/api", "/api/collections", "/api/collections/parks/items"):
        r = c.get(url)
        assert r.status_code == 401 and r.mimetype == "application/json", url


# -- the private GeoJSON endpoint --------------------------------------------------------------------

def test_layers_endpoint_honours_limit_and_links_the_next_page(client, parcels_2024):
    r = get(client, "/api/layers/parcels?year=2024&limit=2000")
    assert r.mimetype == "application/geo+json"
    first = r.get_json()
    assert first["numberReturned"] == 2000 and first["numberMatched"] == len(parcels_2024)
    ids = [f["id"] for f in first["features"]]
    url = next(link["href"] for link in first["links"] if link["rel"] == "next")
    while url:
        page = get(client, path_of(url)).get_json()
        ids += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(ids) == len(set(ids)) == len(parcels_2024)
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in first["features"]])
    assert shapely.is_ccw(shapely.get_exterior_ring(shapely.get_parts(geoms))).all()
    assert max(len(str(x).split(".")[1]) for x in first["features"][0]["geometry"]["coordinates"][0][0][0]) <= 7


def test_layers_endpoint_refuses_a_latitude_first_bbox(client):
    r = client.get("/api/layers/parcels?bbox=29.95,120.55,30.1,120.75")
    assert r.status_code == 400 and "纬度" in r.get_json()["error"]["message"]


# -- TileJSON ----------------------------------------------------------------------------------------

def test_tilejson_describes_the_xyz_parcel_tiles(client, years):
    doc = get(client, f"/tiles/parcels/{years[-1]}/tax_per_mu/tilejson.json").get_json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz" and doc["minzoom"] == 0
    w, s, e, n = doc["bounds"]
    assert 119 < w < e < 122 and 29 < s < n < 31
    z = 12
    x = int((doc["center"][0] + 180) / 360 * 2 ** z)
    lat = np.radians(doc["center"][1])
    y = int((1 - np.log(np.tan(lat) + 1 / np.cos(lat)) / np.pi) / 2 * 2 ** z)
    tile = get(client, path_of(doc["tiles"][0].replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))))
    assert tile.mimetype == "image/png"
    assert client.get("/tiles/parcels/1999/tax_per_mu/tilejson.json").status_code == 404
