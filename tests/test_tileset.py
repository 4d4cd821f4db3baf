"""Parcel tiles drawn from a few inline parcels: each level of detail, colours, outlines, identify."""

from __future__ import annotations

import io

import geopandas as gpd
import mercantile
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from mujun.webapp import maps
from mujun.webapp.tileset import (
    FILL_ALPHA,
    TILE,
    ParcelTiles,
    _draw_boxes,
    _pixel_ranges,
    empty_png,
    png,
)

LON, LAT = 120.58, 30.01
DEG = 0.002  # about 200 m


@pytest.fixture(scope="module")
def parcels() -> gpd.GeoDataFrame:
    """A 3 × 2 block of parcels about 150 m wide with gaps (roads), and one far away."""
    x = LON + np.array([0, 1, 2, 0, 1, 2, 40]) * DEG
    y = LAT + np.array([0, 0, 0, 1, 1, 1, 40]) * DEG
    geoms = shapely.multipolygons(shapely.box(x, y, x + 0.75 * DEG, y + 0.75 * DEG)[:, None].tolist())
    return gpd.GeoDataFrame({
        "parcel_id": [f"P{i}" for i in range(7)],
        "area_mu": np.full(7, 300.0),
        "tax_per_mu": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 6.0],
        "value_added_per_mu": np.arange(7.0),
        "plot_ratio": np.linspace(0.5, 2, 7),
        "class": ["A", "B", "C", "D", None, "A", "B"],
        "flags": [None, "闲置", "低效", None, "低效；不达标", None, None],
    }, geometry=geoms, crs=4490)


def _pixel(z: int, lon: float, lat: float) -> tuple[mercantile.Tile, int, int]:
    """The tile at zoom ``z`` holding (lon, lat) and the pixel (column, row) there."""
    t = mercantile.tile(lon, lat, z)
    b = mercantile.xy_bounds(t)
    mx, my = mercantile.xy(lon, lat)
    return t, int((mx - b.left) / (b.right - b.left) * TILE), int((b.top - my) / (b.top - b.bottom) * TILE)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def test_levels_follow_the_parcel_size(parcels):
    tiles = ParcelTiles(parcels)
    assert tiles.overview_zoom < tiles.outline_zoom <= tiles.polygon_zoom
    assert 12 <= tiles.parcel_px(tiles.polygon_zoom) < 24
    assert tiles.parcel_px(tiles.overview_zoom) <= 2


@pytest.mark.parametrize("indicator", list(maps.COLOR_BY))
def test_each_parcel_has_its_vector_colour_at_every_level(parcels, indicator):
    tiles = ParcelTiles(parcels)
    bins = maps.breaks(parcels[indicator]) if maps.COLOR_BY[indicator][2] == "numeric" else []
    expected = maps.styled_parcels(parcels, indicator, bins)
    centres = shapely.centroid(parcels.geometry.to_numpy())
    for z in (tiles.overview_zoom + 1, tiles.polygon_zoom - 1, tiles.polygon_zoom, tiles.polygon_zoom + 3):
        for i, c in enumerate(centres):
            t, col, row = _pixel(z, c.x, c.y)
            image = tiles.rgba(t.z, t.x, t.y, indicator)
            assert image is not None, (z, i)
            assert tuple(image[row, col, :3]) == _rgb(expected.iloc[i]), (z, i)
            assert image[row, col, 3] == FILL_ALPHA


def test_overview_tiles_show_the_block(parcels):
    tiles = ParcelTiles(parcels)
    for z in (0, 5, tiles.overview_zoom):
        t, col, row = _pixel(z, LON + 1.4 * DEG, LAT + 0.9 * DEG)
        image = tiles.rgba(t.z, t.x, t.y, "class")
        assert image is not None and image[..., 3].any()
        near = image[max(row - 2, 0):row + 3, max(col - 2, 0):col + 3, 3]
        assert near.any(), f"zoom {z}: nothing drawn near the block"


def test_transparent_off_the_parcels(parcels):
    tiles = ParcelTiles(parcels)
    z = tiles.polygon_zoom + 2
    t, col, row = _pixel(z, LON + 0.875 * DEG, LAT + 0.3 * DEG)  # the road between P0 and P1
    image = tiles.rgba(t.z, t.x, t.y, "tax_per_mu")
    assert image is not None and image[row, col, 3] == 0
    far = mercantile.tile(100.0, 40.0, 12)
    assert tiles.rgba(far.z, far.x, far.y, "tax_per_mu") is None


def test_polygon_pixels_are_those_whose_centre_is_inside(parcels):
    tiles = ParcelTiles(parcels)
    z = tiles.polygon_zoom + 1
    t = mercantile.tile(LON + DEG, LAT + DEG, z)
    numbers = tiles.numbers(t.z, t.x, t.y)
    b = mercantile.xy_bounds(t)
    res = (b.right - b.left) / TILE
    mx = b.left + (np.arange(TILE) + 0.5) * res
    my = b.top - (np.arange(TILE) + 0.5) * res
    gx, gy = np.meshgrid(mx, my)
    lon, lat = _lnglat(gx.ravel(), gy.ravel())
    inside = np.zeros(TILE * TILE, bool)
    hit, _ = tiles.tree.query(shapely.points(lon, lat), predicate="intersects")
    inside[hit] = True
    agree = (numbers.ravel() > 0) == inside
    assert agree.mean() > 0.995
    assert inside.any() and (~inside).any()


def _lnglat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    return Transformer.from_crs(3857, 4326, always_xy=True).transform(x, y)


def test_outlines_between_parcels_from_the_outline_zoom(parcels):
    tiles = ParcelTiles(parcels)
    t = mercantile.tile(LON + DEG, LAT + DEG, tiles.polygon_zoom + 2)
    image = tiles.rgba(t.z, t.x, t.y, "class")
    assert (image[..., :3] == (0x44, 0x44, 0x44)).all(axis=-1).any()
    t = mercantile.tile(LON + DEG, LAT + DEG, tiles.outline_zoom - 1)
    image = tiles.rgba(t.z, t.x, t.y, "class")
    assert not (image[..., :3] == (0x44, 0x44, 0x44)).all(axis=-1).any()


def test_tiles_off_the_extent_are_not_covered_and_show_nothing(parcels):
    """Every tile that shows a parcel is covered, at every level; tiles beyond the parcels'
    bounding box are not."""
    tiles = ParcelTiles(parcels)
    west, south, east, north = parcels.total_bounds
    for z in range(0, tiles.polygon_zoom + 3):
        # the extent and a ring of tiles around it
        t0, t1 = mercantile.tile(west, north, z), mercantile.tile(east, south, z)
        xs, ys = range(max(t0.x - 1, 0), min(t1.x + 2, 2 ** z)), range(max(t0.y - 1, 0), min(t1.y + 2, 2 ** z))
        if len(xs) * len(ys) > 400:  # deep zooms: the ring round the block and the far parcel
            xs = sorted({*range(t0.x - 1, t0.x + 6), *range(t1.x - 1, t1.x + 2)})
            ys = sorted({*range(t1.y - 1, t1.y + 2), *range(t0.y - 1, t0.y + 2), *range(t1.y - 6, t1.y + 2)})
        covered = 0
        for x in xs:
            for y in ys:
                drawn = tiles.rgba(z, x, y, "class") is not None
                assert tiles.covers(z, x, y) or not drawn, (z, x, y)
                covered += tiles.covers(z, x, y)
        assert covered
    t = mercantile.tile(west - 0.1, north + 0.1, tiles.polygon_zoom)
    assert not tiles.covers(t.z, t.x, t.y)
    assert tiles.covers(0, 0, 0) and not tiles.covers(1, 0, 0)  # the western hemisphere
    assert not ParcelTiles(parcels.iloc[:0]).covers(0, 0, 0)


def test_identify_finds_the_parcel_or_nothing(parcels):
    tiles = ParcelTiles(parcels)
    assert tiles.identify(LON + 1.3 * DEG, LAT + 1.3 * DEG) == 4
    assert tiles.identify(LON + 0.875 * DEG, LAT + 0.3 * DEG) is None


def test_missing_geometries_are_skipped(parcels):
    frame = parcels.copy()
    frame.loc[2, "geometry"] = None
    tiles = ParcelTiles(frame)
    assert len(tiles) == 6
    assert tiles.identify(LON + 2.3 * DEG, LAT + 0.3 * DEG) is None
    assert tiles.identify(LON + 1.3 * DEG, LAT + 1.3 * DEG) == 4


def test_no_parcels_no_tiles(parcels):
    tiles = ParcelTiles(parcels.iloc[:0])
    assert tiles.rgba(0, 0, 0, "tax_per_mu") is None and tiles.identify(LON, LAT) is None


def test_pixel_ranges_hold_pixel_centres():
    first, last = _pixel_ranges(np.array([0.2, 3.4, 5.6, -4.0]), np.array([2.6, 3.5, 5.7, -1.0]))
    assert first.tolist() == [0, 3, 5, -4] and last.tolist() == [2, 3, 5, -2]


def test_boxes_are_burnt_whole_and_clipped():
    out = np.zeros((8, 8), np.int32)
    # pixel boxes (x0, y0, x1, y1): a 2×3 box, a 1-pixel box, one of 20 px over the edge
    x0, y0 = np.array([1.0, 6.0, -10.0]), np.array([1.0, 6.0, 5.0])
    x1, y1 = np.array([3.0, 6.4, 10.0]), np.array([4.0, 6.4, 5.9])
    _draw_boxes(out, x0, y0, x1, y1, np.array([7, 8, 9]))
    assert (out[1:4, 1:3] == 7).all() and (out == 7).sum() == 6
    assert out[6, 6] == 8 and (out == 8).sum() == 1
    assert (out[5, :] == 9).all() and (out == 9).sum() == 8  # clipped to the image


def test_png_is_rgba_and_empty_png_transparent():
    image = Image.open(io.BytesIO(empty_png()))
    assert image.size == (TILE, TILE) and image.mode == "RGBA" and not np.asarray(image).any()
    rgba = np.zeros((TILE, TILE, 4), np.uint8)
    rgba[3, 4] = (1, 2, 3, 4)
    assert (np.asarray(Image.open(io.BytesIO(png(rgba)))) == rgba).all()


def test_colouring_is_shared_by_threads(parcels):
    from concurrent.futures import ThreadPoolExecutor

    tiles = ParcelTiles(parcels)
    t = mercantile.tile(LON + DEG, LAT + DEG, tiles.polygon_zoom)
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda _: tiles.rgba(t.z, t.x, t.y, "flags"), range(8)))
    assert all((im == images[0]).all() for im in images)
    assert pd.Series([tuple(c) for c in images[0].reshape(-1, 4)]).nunique() >= 3


def test_no_parcel_is_lost_whatever_its_size():
    """Parcels from a tenth of a pixel to many pixels wide, at every zoom of the box level:
    each one is drawn where its centre is."""
    rng = np.random.default_rng(7)
    n = 400
    cell = 0.002
    col, row = np.arange(n) % 20, np.arange(n) // 20
    size = cell * 0.9 * rng.uniform(0.001, 1, n) ** 2
    x, y = LON + col * cell + rng.uniform(0, cell * 0.9 - size), LAT + row * cell + rng.uniform(0, cell * 0.9 - size)
    frame = gpd.GeoDataFrame({"parcel_id": np.arange(n).astype(str), "area_mu": 1.0, "class": "A"},
                             geometry=shapely.box(x, y, x + size, y + size), crs=4490)
    tiles = ParcelTiles(frame)
    centres = shapely.centroid(frame.geometry.to_numpy())
    for z in range(tiles.overview_zoom + 1, tiles.polygon_zoom + 2):
        drawn = {}
        for i, c in enumerate(centres):
            t, col_, row_ = _pixel(z, c.x, c.y)
            if t not in drawn:
                drawn[t] = tiles.numbers(t.z, t.x, t.y)
            assert drawn[t][row_, col_] > 0, (z, i, size[i])


def test_web_mercator_is_mercantiles():
    from mujun.webapp.tileset import web_mercator

    lon, lat = np.array([120.58, -179.9, 0.0, 121.0]), np.array([30.01, 85.0, 0.0, -45.5])
    x, y = web_mercator(lon, lat)
    expected = np.array([mercantile.xy(a, b) for a, b in zip(lon, lat, strict=True)])
    assert np.allclose(np.column_stack([x, y]), expected, rtol=0, atol=1e-6)
