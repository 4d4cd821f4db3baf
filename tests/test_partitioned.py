"""Part-by-part geometry (mujun.geo.partitioned) against the whole-layer functions, without dask."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from mujun.geo.area import local_gk_crs
from mujun.geo.evaluation import building_base, parcel_base
from mujun.geo.partitioned import (
    assemble,
    building_part,
    nearby_parts,
    parcel_outlines,
    parcel_part,
    part_bounds,
    spatial_parts,
)

X0, Y0 = 560000.0, 3320000.0  # EPSG:4549 near Shaoxing


def _world(seed: int = 3) -> dict:
    """A 12 × 12 field of 100 m parcels (a few missing or without geometry) and buildings
    that straddle parcel edges, in EPSG:4490; two districts, a park and a platform."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(12), np.arange(12))
    x, y = X0 + i.ravel() * 100.0, Y0 + j.ravel() * 100.0
    geoms = shapely.box(x, y, x + 100, y + 100).astype(object)
    geoms[[5, 77]] = None
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{k:03d}" for k in range(x.size)], "holder_code": "A", "land_use": "工业用地",
         "investment": rng.uniform(100, 900, x.size)},
        geometry=geoms, crs=4549,
    )
    # buildings: some inside a parcel, some split 70/30 or 50/50 across an edge
    n = 400
    bx = X0 + rng.uniform(0, 1150, n)
    by = Y0 + rng.uniform(0, 1150, n)
    w = rng.choice([20.0, 40.0, 60.0], n)
    buildings = gpd.GeoDataFrame(
        {"floors": rng.integers(1, 6, n), "height": rng.uniform(3, 30, n),
         "use": rng.choice(["生产", "仓储", "办公", "生活"], n)},
        geometry=shapely.box(bx, by, bx + w, by + 30), crs=4549,
    )
    zones = {
        "district": gpd.GeoDataFrame({"district_id": ["D1", "D2"], "name": ["甲区", "乙区"]},
                                     geometry=[shapely.box(X0 - 10, Y0 - 10, X0 + 650, Y0 + 1210),
                                               shapely.box(X0 + 650, Y0 - 10, X0 + 1210, Y0 + 1210)], crs=4549),
        "park": gpd.GeoDataFrame({"park_id": ["K1"], "name": ["园区"]},
                                 geometry=[shapely.box(X0 + 230, Y0 + 230, X0 + 870, Y0 + 770)], crs=4549),
        "platform": None,
    }
    to = "EPSG:4490"
    return {"parcels": parcels.to_crs(to), "buildings": buildings.to_crs(to),
            "zones": {k: None if v is None else v.to_crs(to) for k, v in zones.items()}}


@pytest.fixture(scope="module")
def world():
    return _world()


def _by_parts(world, n: int, *, surveyed: bool = True):
    parcels = world["parcels"].reset_index(drop=True)
    buildings = world["buildings"].reset_index(drop=True)
    zones = world["zones"]
    p_parts = spatial_parts(parcels, n)
    b_parts = spatial_parts(buildings, n, total_bounds=parcels.total_bounds)
    p_box, b_box = part_bounds(p_parts), part_bounds(b_parts)
    margin = 1e-6
    outlines = [parcel_outlines(p) for p in p_parts]
    b_res = [building_part(b_parts[k], [outlines[j] for j in js], zones, crs=local_gk_crs(buildings), margin=margin)
             for k, js in enumerate(nearby_parts(b_box, p_box, margin))]
    near = nearby_parts(p_box, b_box, margin)
    p_res = [parcel_part(p, [b_res[k] for k in near[j]] if surveyed else None, zones, crs=local_gk_crs(parcels))
             for j, p in enumerate(p_parts)]
    return assemble(world["buildings"], b_res), assemble(world["parcels"], p_res)


@pytest.mark.parametrize("n", [1, 3, 7, 20])
def test_parts_give_exactly_the_whole_layer_results(world, n):
    whole_b = building_base(world["buildings"], world["parcels"], world["zones"])
    whole_p = parcel_base(world["parcels"], whole_b, world["zones"])
    assert whole_b["parcel_id"].notna().sum() > 100 and whole_b["parcel_id"].isna().sum() > 10  # straddlers too
    built, base = _by_parts(world, n)
    pd.testing.assert_frame_equal(built, whole_b, check_exact=True)
    pd.testing.assert_frame_equal(base, whole_p, check_exact=True)


def test_parts_without_a_building_survey(world):
    whole = parcel_base(world["parcels"], None, world["zones"], buildings_surveyed=False)
    _, base = _by_parts(world, 4, surveyed=False)
    pd.testing.assert_frame_equal(base, whole, check_exact=True)
    assert base["floor_area_m2"].isna().all()


def test_spatial_parts_cover_every_row_once_and_are_compact(world):
    parcels = world["parcels"]
    parts = spatial_parts(parcels, 4)
    assert [len(p) for p in parts] == [36, 36, 36, 36]
    assert sorted(np.concatenate([p.index for p in parts]).tolist()) == list(range(len(parcels)))
    assert parts[0].geometry.isna().sum() == 2  # rows without geometry come first
    boxes = part_bounds(parts)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    whole = parcels.total_bounds
    # near-quadrants (random cuts would each span nearly the whole field: about 4×)
    assert area.sum() < 1.25 * (whole[2] - whole[0]) * (whole[3] - whole[1])


def test_spatial_parts_never_more_parts_than_rows():
    g = gpd.GeoDataFrame(geometry=shapely.points([0, 1], [0, 1]), crs=4549)
    assert len(spatial_parts(g, 5)) == 2
    with pytest.raises(ValueError, match="'npartitions' should be at least 1"):
        spatial_parts(g, 0)


def test_nearby_parts_match_brute_force():
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 100, (30, 2))
    a = np.hstack([lo, lo + rng.uniform(1, 20, (30, 2))])
    lo = rng.uniform(0, 100, (25, 2))
    b = np.hstack([lo, lo + rng.uniform(1, 20, (25, 2))])
    expected = [[j for j in range(len(b)) if a[i, 0] <= b[j, 2] and b[j, 0] <= a[i, 2]
                 and a[i, 1] <= b[j, 3] and b[j, 1] <= a[i, 3]] for i in range(len(a))]
    assert nearby_parts(a, b) == expected


def test_assemble_refuses_parts_that_do_not_cover_the_layer(world):
    part = pd.DataFrame({"a": [1]}, index=[0])
    with pytest.raises(ValueError, match="should cover the 144 rows of 'frame' once each, got 1 rows"):
        assemble(world["parcels"], [part])
