"""Real OGC API – Features clients read the served sample completely, with an access token:
GDAL's OAPIF driver (through pyogrio, ``Authorization: Bearer``) and OWSLib (HTTP Basic with
the token as password) list every collection and page through each one, with the same
features and areas as the workspace; QGIS 3.22 (Debian 12's, ``apt-get install python3-qgis
qgis-providers``; CI installs it) adds collections as layers. Without a token, or with a
revoked one, they are refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pyogrio
import pytest
import shapely

from mujun.layers import accounts
from mujun.webapp.data import Results
from mujun.webapp.ogcapi import collections

#: Features per request: small enough that GDAL and OWSLib page through every parcel layer.
PAGE = 2000


@pytest.fixture(scope="module")
def expected(sample_workspace) -> dict[str, tuple[int, float, frozenset]]:
    """Collection id -> (features, total area in the sample's GK zone EPSG:4549 in m², ids)."""
    years = Results(sample_workspace.path).years()
    out = {}
    for c in collections(sample_workspace, years):
        frame = sample_workspace.read(c.table, where=None if c.year is None else f"year = {c.year}")
        if c.parts is not None:  # enterprises: the parcels they hold
            layer, key, own = c.parts
            parts = sample_workspace.read(layer, where=f"year = {c.year}")
            geometry = parts.geometry[parts[key].isin(frame[own])]
        else:
            geometry = frame.geometry
        out[c.id] = (len(frame), float(geometry.to_crs(4549).area.sum()), frozenset(frame[c.id_field].astype(str)))
    return out


def test_gdal_reads_every_collection_completely(live_server, expected):
    source = f"OAPIF:{live_server.url}api"
    gdal = live_server.gdal_options()
    assert gdal["GDAL_HTTP_AUTH"] == "BEARER" and gdal["GDAL_HTTP_BEARER"].startswith("mj_")
    pyogrio.set_gdal_config_options(gdal)
    layers = pyogrio.list_layers(source)
    assert [str(n) for n in layers[:, 0]] == list(expected)
    assert set(layers[:, 1]) == {"MultiPolygon"}
    for name, (count, area, ids) in expected.items():
        frame = pyogrio.read_dataframe(source, layer=name, PAGE_SIZE=PAGE)
        assert len(frame) == count, name
        assert float(frame.geometry.to_crs(4549).area.sum()) == pytest.approx(area, rel=1e-6), name
        id_field = {"parcels": "parcel_id", "buildings": "building_id", "parks": "park_id",
                    "platforms": "platform_id", "districts": "district_id", "units": "unit_id",
                    "landuse": "patch_id", "enterprises": "credit_code"}[name.split("-")[0]]
        assert frozenset(frame[id_field].astype(str)) == ids, name


def test_gdal_reads_in_a_gauss_kruger_zone_and_filters_by_bbox(live_server, expected):
    source = f"OAPIF:{live_server.url}api"
    pyogrio.set_gdal_config_options(live_server.gdal_options())
    frame = pyogrio.read_dataframe(source, layer="parcels-2025", PAGE_SIZE=PAGE, CRS="EPSG:4549")
    assert frame.crs.to_epsg() == 4549
    assert float(frame.geometry.area.sum()) == pytest.approx(expected["parcels-2025"][1], rel=1e-6)
    box = (120.55, 29.95, 120.75, 30.1)
    inside = pyogrio.read_dataframe(source, layer="parcels-2025", PAGE_SIZE=PAGE, bbox=box)
    assert 0 < len(inside) < expected["parcels-2025"][0]
    assert shapely.intersects(inside.geometry.to_crs(4326).values, shapely.box(*box)).all()


def _all_items(api, collection_id: str) -> list[dict]:
    """Every feature of a collection through OWSLib, following the ``next`` links (OWSLib
    returns one page per call; the link's ``after`` is passed back)."""
    features, args = [], {"limit": PAGE}
    while True:
        page = api.collection_items(collection_id, **args)
        features += page["features"]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            return features
        args = {k: v[0] for k, v in parse_qs(urlsplit(nxt[0]).query).items() if k != "f"}


def test_owslib_reads_every_collection_completely(live_server, expected):
    from owslib.ogcapi.features import Features
    from owslib.util import Authentication

    # credentials through auth=: OWSLib's headers= update a dict its module shares (REQUEST_HEADERS),
    # so they would reach every later client too
    api = Features(f"{live_server.url}api", auth=Authentication(*live_server.basic))
    assert "conformsTo" in api.conformance()
    assert "/api/collections/{collectionId}/items" in api.api()["paths"]  # the service-desc link
    assert api.feature_collections() == list(expected)
    for name, (count, area, ids) in expected.items():
        features = _all_items(api, name)
        assert len(features) == count, name
        assert frozenset(str(f["id"]) for f in features) == ids, name
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features if f["geometry"]])
        total = float(gpd.GeoSeries(geoms, crs="OGC:CRS84").to_crs(4549).area.sum())
        assert total == pytest.approx(area, rel=1e-6), name
    assert api.collection_queryables("parcels-2025")["properties"]["class"]["title"]


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and ``WWW-Authenticate`` of a GET of ``url``."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as res:
            return res.status, res.headers.get("WWW-Authenticate", "")
    except urllib.error.HTTPError as err:
        return err.code, ", ".join(err.headers.get_all("WWW-Authenticate") or [])


def _gdal_refused(source: str, options: dict[str, str | None]) -> None:
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_USERPWD": None, "GDAL_HTTP_BEARER": None,
                                     "GDAL_HTTP_HEADERS": None, **options})
    with pytest.raises(pyogrio.errors.DataSourceError):
        pyogrio.list_layers(source)


def test_clients_without_a_token_or_with_a_revoked_one_are_refused(live_server):
    from owslib.ogcapi.features import Features

    api = f"{live_server.url}api"
    collections_url = f"{api}/collections/parcels-2025/items?limit=10"
    # no credentials: 401 with both challenges, and GDAL and OWSLib get nothing
    status, challenge = _status(collections_url)
    assert status == 401 and 'Basic realm="mujun"' in challenge and 'Bearer realm="mujun"' in challenge
    _gdal_refused(f"OAPIF:{api}", {})
    with pytest.raises(Exception, match="401"):
        Features(api).feature_collections()
    # a token that works, revoked: refused from then on, Bearer and Basic alike (GDAL here sends Basic)
    new = accounts.create_token(live_server.workspace, live_server.basic[0], label="待撤销")
    assert _status(collections_url, {"Authorization": f"Bearer {new.secret}"})[0] == 200
    accounts.revoke_token(live_server.workspace, live_server.basic[0], new.token.id)
    status, challenge = _status(collections_url, {"Authorization": f"Bearer {new.secret}"})
    assert status == 401 and "Bearer" in challenge
    _gdal_refused(f"OAPIF:{api}", {"GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": f"{live_server.basic[0]}:{new.secret}"})
    # the fixture's own token still reads
    assert _status(collections_url, live_server.headers)[0] == 200
    pyogrio.set_gdal_config_options(live_server.gdal_options())


#: Debian's Python, which has QGIS's bindings (python3-qgis).
SYSTEM_PYTHON = "/usr/bin/python3"


def test_qgis_adds_collections_as_layers(live_server, expected):
    """QGIS's OAPIF provider, as "添加图层 → WFS / OGC API – Features" uses it."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True)
    assert shutil.which(SYSTEM_PYTHON) and probe.returncode == 0, \
        "QGIS's Python bindings are missing: apt-get install python3-qgis qgis-providers (CI installs them)"
    names = ["parcels-2025", "districts", "units", "enterprises-2025"]
    script = Path(__file__).with_name("clients") / "qgis_read.py"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([SYSTEM_PYTHON, str(script), f"{live_server.url}api", *live_server.basic, *names],
                          capture_output=True, text=True, timeout=600, env={**env, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    read = {r["collection"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert list(read) == names
    for name in names:
        r = read[name]
        count, area, _ = expected[name]
        assert r["valid"] and r["qgis"].startswith("3."), r
        assert r["features"] == count, r
        assert r["area"] == pytest.approx(area, rel=1e-6), r
