"""/tiles/: parcel tiles of the sample (colours, transparency, disk cache, invalidation),
identify, errors, and /map using them."""

from __future__ import annotations

import io
import re
import shutil
import time

import mercantile
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from mujun.layers.workspace import Workspace
from mujun.webapp import create_app, maps
from mujun.webapp.tileservice import cache_root
from mujun.webapp.tileset import FILL_ALPHA, TILE, ParcelTiles

CHINESE = re.compile(r"[\u4e00-\u9fff]")
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def year(sample_workspace) -> int:
    return int(sample_workspace.meta()["evaluated_years"].split(",")[-1])


@pytest.fixture(scope="module")
def parcels(sample_workspace, year):
    return sample_workspace.read("result_parcel", where=f"year = {year}")


@pytest.fixture(scope="module")
def parcel(parcels):
    """The largest parcel with a tax figure, and a point well inside it."""
    row = parcels[parcels["tax_per_mu"].notna()].sort_values(["area_mu", "parcel_id"], ascending=[False, True]).iloc[0]
    inner = shapely.buffer(row.geometry, -1e-4)  # about 10 m inside
    point = shapely.point_on_surface(inner if not inner.is_empty else row.geometry)
    return {"id": str(row["parcel_id"]), "lon": point.x, "lat": point.y, "position": int(np.flatnonzero(
        (parcels["parcel_id"] == row["parcel_id"]).to_numpy())[0])}


def _image(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (TILE, TILE) and image.mode == "RGBA"
    return np.asarray(image)


def _tile_pixel(z: int, lon: float, lat: float) -> tuple[str, int, int]:
    t = mercantile.tile(lon, lat, z)
    b = mercantile.xy_bounds(t)
    mx, my = mercantile.xy(lon, lat)
    col = int((mx - b.left) / (b.right - b.left) * TILE)
    row = int((b.top - my) / (b.top - b.bottom) * TILE)
    return f"{t.z}/{t.x}/{t.y}", col, row


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


# -- tiles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("indicator", list(maps.COLOR_BY))
@pytest.mark.parametrize("z", [11, 14, 17])
def test_a_parcel_has_the_colour_of_its_class(client, parcels, parcel, year, indicator, z):
    bins = maps.breaks(parcels[indicator]) if maps.COLOR_BY[indicator][2] == "numeric" else []
    expected = maps.styled_parcels(parcels, indicator, bins).iloc[parcel["position"]]
    zxy, col, row = _tile_pixel(z, parcel["lon"], parcel["lat"])
    image = _image(client.get(f"/tiles/parcels/{year}/{indicator}/{zxy}.png"))
    assert tuple(image[row, col, :3]) == _rgb(expected)
    assert image[row, col, 3] == FILL_ALPHA


def test_transparent_off_the_parcels(client, parcels, parcel, year):
    # pixels whose centre is in no parcel are transparent, the others drawn
    t = mercantile.tile(parcel["lon"], parcel["lat"], 16)
    image = _image(client.get(f"/tiles/parcels/{year}/class/{t.z}/{t.x}/{t.y}.png"))
    b = mercantile.xy_bounds(t)
    centres = (np.arange(TILE) + 0.5) / TILE
    mx, my = np.meshgrid(b.left + centres * (b.right - b.left), b.top - centres * (b.top - b.bottom))
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(mx.ravel(), my.ravel())
    inside = np.zeros(TILE * TILE, bool)
    inside[parcels.sindex.query(shapely.points(lon, lat), predicate="intersects")[0]] = True
    drawn = image[..., 3].ravel() > 0
    assert inside.any() and (~inside).any()
    assert (drawn == inside).mean() > 0.995
    far = mercantile.tile(100.0, 40.0, 12)
    assert not _image(client.get(f"/tiles/parcels/{year}/class/{far.z}/{far.x}/{far.y}.png")).any()


def test_low_zoom_tiles_show_the_parcels(client, parcels, year):
    lon, lat = shapely.centroid(shapely.box(*parcels.total_bounds)).coords[0]
    for z in (0, 6, 9):
        t = mercantile.tile(lon, lat, z)
        image = _image(client.get(f"/tiles/parcels/{year}/tax_per_mu/{t.z}/{t.x}/{t.y}.png"))
        assert (image[..., 3] > 0).any(), f"zoom {z}: no parcels drawn"
        colours = {tuple(c) for c in image[image[..., 3] > 0][:, :3]}
        allowed = {_rgb(c) for c in (*maps.RAMP, maps.NO_DATA)} | {(0x44, 0x44, 0x44)}
        assert colours <= allowed


@pytest.mark.parametrize(("url", "status", "word"), [
    ("/tiles/parcels/{year}/nope/10/0/0.png", 404, "着色字段"),
    ("/tiles/parcels/{year}/tax_per_mu/23/0/0.png", 404, "级别"),
    ("/tiles/parcels/{year}/tax_per_mu/-1/0/0.png", 404, "级别"),
    ("/tiles/parcels/{year}/tax_per_mu/3/8/0.png", 404, "x、y"),
    ("/tiles/parcels/{year}/tax_per_mu/3/0/-1.png", 404, "x、y"),
    ("/tiles/parcels/{year}/tax_per_mu/z/0/0.png", 400, "整数"),
    ("/tiles/parcels/{year}/tax_per_mu/3/1.5/0.png", 400, "整数"),
    ("/tiles/parcels/1999/tax_per_mu/3/0/0.png", 404, "1999 年"),
    ("/tiles/parcels/abc/tax_per_mu/3/0/0.png", 400, "年度"),
    ("/tiles/identify?year={year}&lon=100&lat=40", 404, "没有地块"),
    ("/tiles/identify?year={year}&lon=abc&lat=40", 400, "经纬度"),
    ("/tiles/identify?year={year}&lon=120.5", 400, "lat"),
    ("/tiles/identify?year={year}&lon=200&lat=30", 400, "lon"),
    ("/tiles/identify?year=1999&lon=120.5&lat=30", 404, "1999 年"),
])
def test_bad_requests_are_chinese_json_errors(client, year, url, status, word):
    response = client.get(url.format(year=year))
    assert response.status_code == status
    message = response.get_json()["error"]["message"]
    assert CHINESE.search(message) and word in message and "\n" not in message


def test_tiles_of_the_current_generation_may_be_kept_by_the_browser(client, sample_workspace, year):
    url = f"/tiles/parcels/{year}/class/10/854/418.png"
    assert client.get(url).headers["Cache-Control"] == "no-cache"
    kept = client.get(url + f"?v={sample_workspace.generation()}").headers["Cache-Control"]
    assert "max-age" in kept and "immutable" in kept
    assert client.get(url + "?v=old").headers["Cache-Control"] == "no-cache"


# -- disk cache --------------------------------------------------------------------------------

@pytest.fixture
def own_workspace(sample_workspace, tmp_path) -> Workspace:
    """A copy of the sample this test may rewrite."""
    path = tmp_path / "ws" / "copy.gpkg"
    path.parent.mkdir()
    shutil.copyfile(sample_workspace.path, path)
    return Workspace(path)


def test_cache_beside_the_workspace_unless_configured(tmp_path):
    assert cache_root({"WORKSPACE": str(tmp_path / "a.gpkg")}) == tmp_path / ".a.gpkg.tiles"
    assert cache_root({"WORKSPACE": "a.gpkg", "TILE_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    assert cache_root({"WORKSPACE": "a.gpkg", "TILE_CACHE": False}) is None


def test_tiles_are_cached_on_disk_and_served_from_it(own_workspace, parcel, year):
    # zoom 15 is cached when /map draws tiles that deep
    app = create_app({"WORKSPACE": str(own_workspace.path), "TESTING": True, "PUBLIC_READ": True, "PARCEL_MIN_ZOOM": 17})
    client = app.test_client()
    zxy, _, _ = _tile_pixel(15, parcel["lon"], parcel["lat"])
    url = f"/tiles/parcels/{year}/tax_per_mu/{zxy}.png"
    first = client.get(url)
    root = own_workspace.path.parent / ".copy.gpkg.tiles"
    files = list(root.rglob("*.png"))
    assert len(files) == 1 and files[0].read_bytes() == first.data
    assert files[0].relative_to(root).parts[1:] == (str(year), "tax_per_mu", *zxy.split("/")[:2],
                                                    zxy.split("/")[2] + ".png")
    assert files[0].relative_to(root).parts[0].startswith(own_workspace.generation() + ".")
    assert client.get(url).data == first.data
    assert not list(root.rglob("*.tmp"))
    # served from the file as it is: a changed file is what comes back
    marker = Image.new("RGBA", (TILE, TILE), (1, 2, 3, 255))
    buf = io.BytesIO()
    marker.save(buf, "PNG")
    files[0].write_bytes(buf.getvalue())
    assert client.get(url).data == buf.getvalue()


def test_no_disk_cache_when_turned_off(own_workspace, parcel, year, tmp_path):
    app = create_app({"WORKSPACE": str(own_workspace.path), "TESTING": True, "PUBLIC_READ": True, "TILE_CACHE": False,
                      "PARCEL_MIN_ZOOM": 17})
    zxy, _, _ = _tile_pixel(15, parcel["lon"], parcel["lat"])
    assert app.test_client().get(f"/tiles/parcels/{year}/tax_per_mu/{zxy}.png").status_code == 200
    assert not (own_workspace.path.parent / ".copy.gpkg.tiles").exists()


def test_a_new_generation_renders_anew_and_removes_old_tiles(own_workspace, parcels, parcel, year, tmp_path):
    cache = tmp_path / "tile-cache"
    app = create_app({"WORKSPACE": str(own_workspace.path), "TESTING": True, "PUBLIC_READ": True, "TILE_CACHE_DIR": str(cache),
                      "PARCEL_MIN_ZOOM": 17})
    client = app.test_client()
    zxy, col, row = _tile_pixel(16, parcel["lon"], parcel["lat"])
    url = f"/tiles/parcels/{year}/tax_per_mu/{zxy}.png"
    before = _image(client.get(url))
    old = [p for p in cache.iterdir() if p.is_dir()]
    assert len(old) == 1
    # re-evaluated: the parcel now has no tax figure (grey), the others keep theirs
    table = own_workspace.read("result_parcel")
    hit = (table["parcel_id"] == parcel["id"]) & (table["year"] == year)
    table.loc[hit, "tax_per_mu"] = np.nan
    own_workspace.write({"result_parcel": table})
    after = _image(client.get(url))
    assert tuple(before[row, col, :3]) != _rgb(maps.NO_DATA)
    assert tuple(after[row, col, :3]) == _rgb(maps.NO_DATA)
    deadline = time.monotonic() + 10
    while old[0].exists() and time.monotonic() < deadline:  # removed in the background
        time.sleep(0.05)
    assert not old[0].exists()
    assert [p.name.split(".")[0] for p in cache.iterdir()] == [own_workspace.generation()]


def test_unrelated_folders_in_the_cache_are_left_alone(own_workspace, parcel, year, tmp_path):
    cache = tmp_path / "shared"
    (cache / "notes").mkdir(parents=True)
    app = create_app({"WORKSPACE": str(own_workspace.path), "TESTING": True, "PUBLIC_READ": True, "TILE_CACHE_DIR": str(cache),
                      "PARCEL_MIN_ZOOM": 17})
    zxy, _, _ = _tile_pixel(15, parcel["lon"], parcel["lat"])
    app.test_client().get(f"/tiles/parcels/{year}/class/{zxy}.png")
    time.sleep(0.2)
    assert (cache / "notes").is_dir()


# -- bounded disk cache ------------------------------------------------------------------------

def _cached_app(workspace: Workspace, cache, **config):
    return create_app({"WORKSPACE": str(workspace.path), "TESTING": True, "PUBLIC_READ": True,
                       "TILE_CACHE_DIR": str(cache), **config})


def _cached_bytes(cache) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())


def _cached_file(cache, year: int, t: mercantile.Tile, indicator: str = "class"):
    found = list(cache.glob(f"*/{year}/{indicator}/{t.z}/{t.x}/{t.y}.png"))
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture(scope="module")
def drawn_tiles(parcels) -> list[mercantile.Tile]:
    """Zoom 13 tiles (below the vector zoom: cached) that show parcels, in a fixed order."""
    tiles = ParcelTiles(parcels)
    return [t for t in mercantile.tiles(*parcels.total_bounds, 13) if tiles.numbers(t.z, t.x, t.y).any()]


def test_the_disk_cache_never_passes_its_cap(own_workspace, drawn_tiles, year, tmp_path):
    cache = tmp_path / "cache"
    cap = 0.02  # MiB: a handful of tiles
    client = _cached_app(own_workspace, cache, TILE_CACHE_MAX_MB=cap).test_client()
    fresh = _cached_app(own_workspace, tmp_path / "unused", TILE_CACHE=False).test_client()
    urls = [f"/tiles/parcels/{year}/class/{t.z}/{t.x}/{t.y}.png" for t in drawn_tiles[:40]]
    served = []
    for url in urls:
        served.append(_image(client.get(url)))
        assert _cached_bytes(cache) <= cap * 2 ** 20, url
    assert 0 < len(list(cache.rglob("*.png"))) < len(urls)
    # evicted or not, every tile is the tile drawn without a cache
    for url, first in zip(urls, served, strict=True):
        assert (_image(client.get(url)) == first).all()
        assert (_image(fresh.get(url)) == first).all()
        assert _cached_bytes(cache) <= cap * 2 ** 20


def test_the_least_recently_used_tiles_are_evicted_first(own_workspace, drawn_tiles, year, tmp_path):
    cache = tmp_path / "cache"
    client = _cached_app(own_workspace, cache, TILE_CACHE_MAX_MB=0.05).test_client()
    url = f"/tiles/parcels/{year}/class/{{z}}/{{x}}/{{y}}.png"
    kept, old, *others = drawn_tiles
    client.get(url.format(z=kept.z, x=kept.x, y=kept.y))
    client.get(url.format(z=old.z, x=old.x, y=old.y))
    for t in others:
        client.get(url.format(z=kept.z, x=kept.x, y=kept.y))  # read from the cache: recently used
        client.get(url.format(z=t.z, x=t.x, y=t.y))
        if _cached_file(cache, year, old) is None:
            break
    assert _cached_file(cache, year, old) is None, "nothing was evicted"
    assert _cached_file(cache, year, kept) is not None


def test_tiles_deeper_than_the_map_are_drawn_but_not_cached(own_workspace, parcel, year, tmp_path):
    cache = tmp_path / "cache"
    client = _cached_app(own_workspace, cache).test_client()
    lon, lat = parcel["lon"], parcel["lat"]
    # from PARCEL_MIN_ZOOM (14) on, /map shows the vector layer and asks for no tiles
    for z in (14, 17, 22):
        zxy, col, row = _tile_pixel(z, lon, lat)
        assert _image(client.get(f"/tiles/parcels/{year}/class/{zxy}.png"))[row, col, 3] == FILL_ALPHA
    # beyond TILE_CACHE_MAX_ZOOM (20) whatever PARCEL_MIN_ZOOM says
    deep = _cached_app(own_workspace, cache, PARCEL_MIN_ZOOM=22).test_client()
    zxy, col, row = _tile_pixel(21, lon, lat)
    assert _image(deep.get(f"/tiles/parcels/{year}/class/{zxy}.png"))[row, col, 3] == FILL_ALPHA
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_tiles_off_the_parcels_are_transparent_not_drawn_and_not_cached(own_workspace, parcels, year, tmp_path,
                                                                        monkeypatch):
    cache = tmp_path / "cache"
    client = _cached_app(own_workspace, cache).test_client()
    client.get(f"/tiles/parcels/{year}/class/0/0/0.png")  # the year's tileset is ready
    shutil.rmtree(cache, ignore_errors=True)
    west, south, east, north = parcels.total_bounds
    monkeypatch.setattr(ParcelTiles, "numbers", lambda *a: pytest.fail("a tile off the parcels was drawn"))
    for z, lon_, lat_ in ((10, 100.0, 40.0), (13, west - 0.05, south), (13, east + 0.05, north), (22, 0.0, 0.0)):
        t = mercantile.tile(lon_, lat_, z)
        assert not _image(client.get(f"/tiles/parcels/{year}/class/{t.z}/{t.x}/{t.y}.png")).any()
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_empty_tiles_are_not_cached(own_workspace, parcels, year, tmp_path):
    tiles = ParcelTiles(parcels)
    empty = [t for t in mercantile.tiles(*parcels.total_bounds, 13) if not tiles.numbers(t.z, t.x, t.y).any()][:5]
    assert empty  # tiles of the parcels' bounding box without a parcel
    cache = tmp_path / "cache"
    client = _cached_app(own_workspace, cache).test_client()
    for t in empty:
        assert not _image(client.get(f"/tiles/parcels/{year}/tax_per_mu/{t.z}/{t.x}/{t.y}.png")).any()
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_cache_cap_and_zoom_from_the_environment():
    from mujun.webapp.settings import DEFAULTS, from_env

    assert DEFAULTS["TILE_CACHE_MAX_MB"] == 1024
    assert from_env({"MUJUN_TILE_CACHE_MAX_MB": "0.5", "MUJUN_TILE_CACHE_MAX_ZOOM": "16"}) == {
        "TILE_CACHE_MAX_MB": 0.5, "TILE_CACHE_MAX_ZOOM": 16}


def _tile_files(tmp_path, n: int, generation: str = "g1") -> list:
    folder = tmp_path / "cache" / f"{generation}.0123abcd" / "2025" / "class" / "13"
    return [folder / str(i) / "0.png" for i in range(n)]


def test_tile_cache_counts_what_another_process_wrote(tmp_path):
    from mujun.webapp.tileservice import TileCache

    paths = _tile_files(tmp_path, 30)
    first = TileCache(tmp_path / "cache", 10_000)
    for path in paths[:9]:
        assert first.write(path, b"x" * 1000)
    second = TileCache(tmp_path / "cache", 10_000)  # another server process on the same folder
    for path in paths[9:]:
        assert second.write(path, b"y" * 1000)
        assert _cached_bytes(tmp_path / "cache") <= 10_000
    assert not paths[0].exists() and paths[-1].exists()


def test_tile_cache_survives_files_vanishing(tmp_path):
    from mujun.webapp.tileservice import TileCache

    cache = TileCache(tmp_path / "cache", 10_000)
    paths = _tile_files(tmp_path, 40)
    for path in paths[:9]:
        cache.write(path, b"x" * 1000)
    shutil.rmtree(paths[0].parents[2])  # removed by someone else
    assert cache.read(paths[3]) is None
    for path in paths[9:]:
        assert cache.write(path, b"y" * 1000)
        assert _cached_bytes(tmp_path / "cache") <= 10_000
    assert cache.read(paths[-1]) == b"y" * 1000
    assert not cache.write(paths[0], b"z" * 20_000)  # larger than the cap: not kept
    assert not paths[0].exists()


def test_tile_cache_is_shared_by_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from mujun.webapp.tileservice import TileCache

    cache = TileCache(tmp_path / "cache", 50_000)
    paths = _tile_files(tmp_path, 400)
    rng = np.random.default_rng(3)
    sizes = rng.integers(500, 3000, len(paths))

    def write(i: int) -> None:
        cache.write(paths[i], bytes(int(sizes[i])))
        cache.read(paths[(i * 7) % len(paths)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(len(paths))))
    on_disk = _cached_bytes(tmp_path / "cache")
    assert 0 < on_disk <= 50_000
    assert cache._size == on_disk  # the running count is exact: no write lost or counted twice
    assert not list((tmp_path / "cache").rglob("*.tmp"))


# -- identify ----------------------------------------------------------------------------------

def test_identify_answers_the_parcel_with_its_popup(client, parcel, year):
    response = client.get(f"/tiles/identify?year={year}&lon={parcel['lon']}&lat={parcel['lat']}")
    assert response.status_code == 200
    data = response.get_json()
    assert data["parcel_id"] == parcel["id"] and data["year"] == year
    assert f'href="/parcels/{parcel["id"]}"' in data["popup"] and parcel["id"] in data["tooltip"]


def test_identify_escapes_data_strings(own_workspace, parcel, year):
    table = own_workspace.read("result_parcel")
    table.loc[table["parcel_id"] == parcel["id"], "holder_name"] = XSS
    own_workspace.write({"result_parcel": table})
    app = create_app({"WORKSPACE": str(own_workspace.path), "TESTING": True, "PUBLIC_READ": True})
    data = app.test_client().get(f"/tiles/identify?year={year}&lon={parcel['lon']}&lat={parcel['lat']}").get_json()
    assert "&lt;img src=x onerror=alert(1)&gt;" in data["popup"] and XSS not in data["popup"]
    assert XSS not in data["tooltip"]


# -- /map ------------------------------------------------------------------------------------

def test_map_shows_tiles_below_the_vector_zoom_when_parcels_are_many(sample_workspace, year):
    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True, "MAX_EMBED_FEATURES": 100,
                      "PARCEL_MIN_ZOOM": 15})
    html = app.test_client().get("/map?color=class").get_data(as_text=True)
    assert "mujun.parcelTiles(" in html and "mujun.bboxLayer(" in html
    url = f"/tiles/parcels/{year}/class/{{z}}/{{x}}/{{y}}.png?v={sample_workspace.generation()}"
    assert url in html
    assert f'"identifyUrl": "/tiles/identify?year={year}"' in html and '"vectorZoom": 15' in html


def test_map_embeds_few_parcels_without_tiles(sample_workspace, parcels):
    app = create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True,
                      "MAX_EMBED_FEATURES": len(parcels) + 1})
    html = app.test_client().get("/map").get_data(as_text=True)
    assert "mujun.parcelTiles(" not in html and "mujun.dataLayer(" in html


def test_tiles_agree_with_the_vector_layer(client, parcels, parcel, year):
    """The colour /api/layers gives the parcel is the colour of its pixel."""
    lon, lat = parcel["lon"], parcel["lat"]
    bbox = f"{lon - 1e-4},{lat - 1e-4},{lon + 1e-4},{lat + 1e-4}"
    features = client.get(f"/api/layers/parcels?year={year}&color=plot_ratio&bbox={bbox}").get_json()["features"]
    colour = next(f["properties"]["_color"] for f in features if f["properties"]["parcel_id"] == parcel["id"])
    zxy, col, row = _tile_pixel(16, lon, lat)
    image = _image(client.get(f"/tiles/parcels/{year}/plot_ratio/{zxy}.png"))
    assert tuple(image[row, col, :3]) == _rgb(colour)
    assert pd.notna(colour)
