"""A synthetic built-up raster for the sample (示例数据, 合成).

Each cell holds the built-up share of its area (0–1), as imperviousness or built-up surface
products do: building footprints, the hardstanding around them, scattered paved patches
(parking, yards, storage) and sensor noise. It is drawn only where there are parcels: the
sample's parcels are a few dozen clusters spread over some 8,000 km², so the GeoTIFF is tiled
and sparse — tiles without a parcel are never written and read as nodata — which keeps the
file at a few megabytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import Window

__all__ = ["write_builtup_raster"]

GK = 4549  # the sample's CRS: CGCS2000 3-degree Gauss-Krüger CM 120E
NODATA = -1.0
TILE = 128  # cells; GeoTIFF block size, and the unit of sparseness
SUPERSAMPLE = 2  # footprints drawn at half the cell size, then averaged: fractional edges
NOISE_SIGMA = 0.05
APRON_M = 8.0  # paved ring around buildings (loading yards, internal roads)
APRON_VALUE = 0.6
PATCH_SHARE = 0.03  # share of the drawn area covered by random paved patches
PATCH_SIDE_M = (15.0, 50.0)


def _tiles(parcels: np.ndarray, x0: float, y1: float, size: float) -> np.ndarray:
    """Unique (row, col) of the tiles each parcel's bounding box touches."""
    b = shapely.bounds(parcels)
    c0 = np.floor((b[:, 0] - x0) / size).astype(int)
    c1 = np.floor((b[:, 2] - x0) / size).astype(int)
    r0 = np.floor((y1 - b[:, 3]) / size).astype(int)
    r1 = np.floor((y1 - b[:, 1]) / size).astype(int)
    nc, nr = c1 - c0 + 1, r1 - r0 + 1
    n = nc * nr
    owner = np.repeat(np.arange(len(parcels)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # position inside each parcel's tile block
    rows = r0[owner] + k // nc[owner]
    cols = c0[owner] + k % nc[owner]
    return np.unique(np.column_stack([rows, cols]), axis=0)


def _geojson(geoms: np.ndarray) -> np.ndarray:
    """GeoJSON-like mappings of simple polygons, built in bulk.

    rasterio reads shapes through ``__geo_interface__``, which costs far more than the
    drawing itself for tens of thousands of small rectangles; other geometries pass as they are.
    """
    out = geoms.astype(object)
    simple = (shapely.get_type_id(geoms) == 3) & (shapely.get_num_interior_rings(geoms) == 0)
    if simple.any():
        counts = shapely.get_num_coordinates(geoms[simple])
        rings = np.split(shapely.get_coordinates(geoms[simple]), np.cumsum(counts)[:-1])
        mapped = np.empty(len(rings), dtype=object)
        mapped[:] = [{"type": "Polygon", "coordinates": [ring.tolist()]} for ring in rings]
        out[simple] = mapped
    return out


def write_builtup_raster(
    buildings: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    path: str | Path,
    *,
    seed: int,
    resolution: float = 10.0,
) -> Path:
    """Write a synthetic built-up GeoTIFF consistent with the buildings, with noise.

    Parameters
    ----------
    buildings : GeoDataFrame
        Building footprints (any CRS; drawn as fully built).
    parcels : GeoDataFrame
        Parcels; the raster covers their bounding box, and only the tiles that hold a
        parcel are drawn (the others are nodata).
    path : str or Path
        The ``.tif`` to write (replaced atomically).
    seed : int
        Random seed; the same inputs and seed give the same raster.
    resolution : float, default 10
        Cell size in metres.

    Returns
    -------
    Path
        ``path``: float32 built-up fraction 0–1 in EPSG:4549, nodata -1, tiled 128×128,
        deflate-compressed, sparse.

    Examples
    --------
    >>> import tempfile
    >>> parcel = gpd.GeoDataFrame(geometry=[shapely.box(500000, 3300000, 500200, 3300100)], crs=GK)
    >>> building = gpd.GeoDataFrame(geometry=[shapely.box(500020, 3300020, 500100, 3300080)], crs=GK)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_builtup_raster(building, parcel, Path(d) / "b.tif", seed=1)
    ...     with rasterio.open(p) as ds:
    ...         v = ds.read(1)
    ...         print(ds.crs.to_epsg(), ds.dtypes[0], ds.nodata, v.shape)
    ...         # the building, then the parcel: footprint 24 %, more with hardstanding and noise
    ...         print(round(float(v[2:8, 2:10].mean()), 1), round(float(v.mean()), 1))
    4549 float32 -1.0 (10, 20)
    1.0 0.3
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    pgeoms = parcels.geometry.to_crs(GK).values
    pgeoms = pgeoms[~(shapely.is_missing(pgeoms) | shapely.is_empty(pgeoms))]
    bgeoms = buildings.geometry.to_crs(GK).values
    bgeoms = bgeoms[~(shapely.is_missing(bgeoms) | shapely.is_empty(bgeoms))]
    r = float(resolution)
    minx, miny, maxx, maxy = shapely.total_bounds(pgeoms)
    x0, y1 = np.floor(minx / r) * r, np.ceil(maxy / r) * r
    width = max(int(np.ceil((maxx - x0) / r)), 1)
    height = max(int(np.ceil((y1 - miny) / r)), 1)
    transform = Affine(r, 0.0, x0, 0.0, -r, y1)
    size = TILE * r
    tiles = _tiles(pgeoms, x0, y1, size) if len(pgeoms) else np.zeros((0, 2), int)
    tiles = tiles[(tiles[:, 0] * TILE < height) & (tiles[:, 1] * TILE < width)]  # parcels ending on the edge

    # paved patches, a few percent of the drawn area, placed tile by tile
    tx0 = x0 + tiles[:, 1] * size
    ty1 = y1 - tiles[:, 0] * size
    mean_side = np.mean(PATCH_SIDE_M)
    n_patch = rng.poisson(PATCH_SHARE * size * size / mean_side**2, len(tiles))
    owner = np.repeat(np.arange(len(tiles)), n_patch)
    px = tx0[owner] + rng.uniform(0, size, owner.size)
    py = ty1[owner] - rng.uniform(0, size, owner.size)
    side = rng.uniform(*PATCH_SIDE_M, (owner.size, 2))
    patches = shapely.box(px, py, px + side[:, 0], py + side[:, 1])
    patch_value = rng.uniform(0.5, 1.0, owner.size)

    # drawing order: aprons, patches, then footprints on top
    shapes = np.concatenate([shapely.buffer(bgeoms, APRON_M, join_style="mitre"), patches, bgeoms])
    values = np.concatenate([np.full(len(bgeoms), APRON_VALUE), patch_value, np.ones(len(bgeoms))])
    tile_boxes = shapely.box(tx0, ty1 - size, tx0 + size, ty1)
    t_idx, s_idx = shapely.STRtree(shapes).query(tile_boxes, predicate="intersects")
    mappings = _geojson(shapes)
    order = np.argsort(t_idx, kind="stable")
    t_idx, s_idx = t_idx[order], s_idx[order]
    bounds = np.searchsorted(t_idx, np.arange(len(tiles) + 1))

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.tif")
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype="float32", crs=f"EPSG:{GK}",
        transform=transform, nodata=NODATA, tiled=True, blockxsize=TILE, blockysize=TILE,
        compress="deflate", sparse_ok=True,  # no predictor: it hurts on noisy values
    )
    fine = SUPERSAMPLE
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, (row, col) in enumerate(tiles):  # one pass per tile, never per parcel
                w, h = min(TILE, width - col * TILE), min(TILE, height - row * TILE)  # edge tiles are cut
                win = Window(col * TILE, row * TILE, w, h)
                sel = np.sort(s_idx[bounds[i]:bounds[i + 1]])  # keep the drawing order
                cells = np.zeros((h, w), dtype="float32")
                if sel.size:
                    sub = Affine(r / fine, 0.0, tx0[i], 0.0, -r / fine, ty1[i])
                    drawn = rasterize(
                        zip(mappings[sel], values[sel], strict=True), out_shape=(h * fine, w * fine),
                        transform=sub, fill=0.0, all_touched=False, dtype="float32",
                    )
                    cells = drawn.reshape(h, fine, w, fine).mean(axis=(1, 3))
                noisy = np.clip(cells + rng.normal(0.0, NOISE_SIGMA, cells.shape), 0.0, 1.0)
                # two decimals are all a 10 m product resolves; they also compress well
                ds.write(np.round(noisy, 2).astype("float32"), 1, window=win)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
