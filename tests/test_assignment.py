"""Assignment of parcels to the zone holding most of their area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from mujun.geo.assignment import majority_zone
from mujun.geo.errors import CRSError, SchemaError

X0, Y0 = 560000.0, 3320000.0  # about 120.62E, 30.0N in EPSG:4549


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def _ids(s: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in s]


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    """A: the left half; B: the lower right quarter; C: the upper right quarter (2 km × 2 km)."""
    return gpd.GeoDataFrame(
        {"park_id": ["A", "B", "C"], "name": ["甲", "乙", "丙"]},
        geometry=[box(0, 0, 1000, 2000), box(1000, 0, 2000, 1000), box(1000, 1000, 2000, 2000)],
        crs="EPSG:4549",
    )


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"parcel_id": ["inside", "60/40", "40/30/30", "outside", "50/50"]},
        geometry=[
            box(100, 100, 300, 250),        # wholly in A
            box(940, 100, 1040, 200),       # 60 % in A, 40 % in B
            box(960, 950, 1060, 1050),      # 40 % A, 30 % B, 30 % C
            box(5000, 5000, 5100, 5100),    # in no zone
            box(1800, 400, 2200, 500),      # 50 % in B, 50 % outside
        ],
        crs="EPSG:4549",
        index=pd.Index([11, 7, 3, 42, 5], name="fid"),
    )


def test_majority_assignment(parcels, zones):
    out = majority_zone(parcels, zones, "park_id")
    assert list(out.columns) == ["park_id", "park_id_share"]
    assert out.index.equals(parcels.index)
    got = dict(zip(parcels["parcel_id"], _ids(out["park_id"]), strict=True))
    assert got == {"inside": "A", "60/40": "A", "40/30/30": None, "outside": None, "50/50": None}
    share = dict(zip(parcels["parcel_id"], out["park_id_share"], strict=True))
    assert share["inside"] == pytest.approx(1.0)
    assert share["60/40"] == pytest.approx(0.6)
    assert share["40/30/30"] == pytest.approx(0.4)
    assert share["outside"] == 0.0
    # exactly half is not "most of its area": the overlap must exceed min_share
    assert share["50/50"] == pytest.approx(0.5)


def test_plurality_with_min_share_zero(parcels, zones):
    out = majority_zone(parcels, zones, "park_id", min_share=0)
    got = dict(zip(parcels["parcel_id"], _ids(out["park_id"]), strict=True))
    assert got == {"inside": "A", "60/40": "A", "40/30/30": "A", "outside": None, "50/50": "B"}
    assert out.loc[3, "park_id_share"] == pytest.approx(0.4)


def test_larger_share_wins_regardless_of_zone_order(parcels, zones):
    reversed_zones = zones.iloc[::-1].reset_index(drop=True)
    out = majority_zone(parcels, reversed_zones, "park_id")
    assert out.loc[7, "park_id"] == "A"
    assert out.loc[7, "park_id_share"] == pytest.approx(0.6)
    # a parcel 30/70 between A and B goes to B
    p = gpd.GeoSeries([box(970, 0, 1070, 100)], crs="EPSG:4549")
    res = majority_zone(p, zones, "park_id")
    assert res["park_id"].iloc[0] == "B"
    assert res["park_id_share"].iloc[0] == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("zone_crs", "feature_crs"),
    [("EPSG:4490", "EPSG:4549"), ("EPSG:4549", "EPSG:4490"), ("EPSG:4528", "EPSG:4490"), ("EPSG:3857", "EPSG:4528")],
)
def test_zones_in_a_different_crs_than_the_features(parcels, zones, zone_crs, feature_crs):
    # the exact 50 % case is left out: reprojection moves it by a rounding error either way
    parcels = parcels[parcels["parcel_id"] != "50/50"]
    out = majority_zone(parcels.to_crs(feature_crs), zones.to_crs(zone_crs), "park_id")
    expected = majority_zone(parcels, zones, "park_id")
    assert _ids(out["park_id"]) == ["A", "A", None, None]
    assert _ids(out["park_id"]) == _ids(expected["park_id"])
    pd.testing.assert_series_equal(out["park_id_share"], expected["park_id_share"], atol=1e-6, rtol=0)
    assert out.index.equals(parcels.index)


def test_geoseries_features_and_integer_zone_ids(parcels, zones):
    z = zones.assign(district_id=[101, 102, 103]).drop(columns="park_id")
    out = majority_zone(parcels.geometry, z, "district_id", min_share=0)
    assert list(out.columns) == ["district_id", "district_id_share"]
    assert _ids(out["district_id"]) == ["101", "101", "101", None, "102"]
    assert out["district_id"].dtype == "string"


def test_missing_and_empty_features_get_no_zone(zones):
    feats = gpd.GeoSeries([None, shapely.Polygon(), box(10, 10, 20, 20)], crs="EPSG:4549", index=["a", "b", "c"])
    out = majority_zone(feats, zones, "park_id")
    assert _ids(out["park_id"]) == [None, None, "A"]
    assert out["park_id_share"].tolist()[:2] == [0.0, 0.0]


def test_touching_only_is_not_membership(zones):
    feats = gpd.GeoSeries([box(2000, 0, 2100, 100)], crs="EPSG:4549")  # shares an edge with B
    out = majority_zone(feats, zones, "park_id", min_share=0)
    assert out["park_id"].isna().all()
    assert out["park_id_share"].iloc[0] == 0.0


def test_no_features_and_no_zones(parcels, zones):
    out = majority_zone(parcels.iloc[0:0], zones, "park_id")
    assert len(out) == 0
    assert list(out.columns) == ["park_id", "park_id_share"]
    none = majority_zone(parcels, zones.iloc[0:0], "park_id")
    assert none["park_id"].isna().all()
    assert none.index.equals(parcels.index)


def test_missing_id_column_raises_schema_error(parcels, zones):
    with pytest.raises(SchemaError, match="platform_id"):
        majority_zone(parcels, zones, "platform_id")


def test_missing_crs_raises_crs_error(parcels, zones):
    with pytest.raises(CRSError):
        majority_zone(gpd.GeoSeries(list(parcels.geometry)), zones, "park_id")
    with pytest.raises(CRSError):
        majority_zone(parcels, gpd.GeoDataFrame({"park_id": ["A"]}, geometry=[box(0, 0, 1, 1)]), "park_id")


def test_inputs_are_not_modified(parcels, zones):
    before_p, before_z = parcels.copy(), zones.copy()
    majority_zone(parcels, zones.to_crs(4490), "park_id")
    pd.testing.assert_frame_equal(parcels, before_p)
    pd.testing.assert_frame_equal(zones, before_z)


def test_zone_and_feature_index_labels_do_not_matter(parcels, zones):
    z = zones.set_axis([30, 10, 20])
    dup = parcels.set_axis([1, 1, 2, 2, 3])
    out = majority_zone(dup, z, "park_id")
    expected = majority_zone(parcels, zones, "park_id")
    assert _ids(out["park_id"]) == _ids(expected["park_id"])
    assert out.index.tolist() == [1, 1, 2, 2, 3]


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_give_the_same_assignment(monkeypatch, threads):
    """Pairs with simple (unprepared) zones split over threads, those with prepared outlines
    kept in one: the same zones and shares as one thread."""
    import mujun.geo.assignment as assignment

    rng = np.random.default_rng(5)
    simple = [shapely.box(x, y, x + 40, y + 40) for x in range(0, 400, 40) for y in range(0, 400, 40)]
    round_ = [shapely.Point(200, 200).buffer(120, quad_segs=64), shapely.Point(0, 400).buffer(90, quad_segs=32)]
    zones = gpd.GeoDataFrame({"zone_id": [f"Z{i}" for i in range(len(simple) + 2)]},
                             geometry=simple + round_, crs=4549)
    x, y = rng.uniform(-20, 420, 3000), rng.uniform(-20, 420, 3000)
    features = gpd.GeoSeries(shapely.box(x, y, x + rng.uniform(1, 30, 3000), y + rng.uniform(1, 30, 3000)), crs=4549)
    monkeypatch.setattr(assignment, "THREADS", 1)
    one = majority_zone(features, zones, "zone_id", min_share=0.0)
    monkeypatch.setattr(assignment, "THREADS", threads)
    monkeypatch.setattr(assignment, "MIN_PAIRS_PER_THREAD", 1)
    index = assignment.ZoneIndex(zones, "zone_id")
    assert index._prepared.sum() == 2  # the round outlines only
    pd.testing.assert_frame_equal(index.assign(features, min_share=0.0), one, check_exact=True)
    assert one["zone_id"].notna().mean() > 0.85  # features off the zones get none


def test_located_positions_are_the_assigned_zones(parcels, zones):
    """ZoneIndex.locate gives the position of each feature's zone among the zones as given
    (-1 where none qualifies) and its share: what assign gives as ids; planar keeps the
    zones' order."""
    import mujun.geo.assignment as assignment

    shuffled = zones.iloc[[2, 0, 1]]
    index = assignment.ZoneIndex(shuffled, "park_id", carry=["name"])
    found = index.locate(parcels, min_share=0.0)
    at, share = found.zone, found.share
    assert at.tolist() == [1, 1, 1, -1, 2]  # A, A, A (40 % is the largest), none, B
    assert found.within.tolist() == [True, False, False, False, False]
    assert found.meets.tolist() == [1, 2, 3, 0, 1]
    assigned = index.assign(parcels, min_share=0.0)
    ids = shuffled["park_id"].to_numpy()
    assert _ids(assigned["park_id"]) == [ids[a] if a >= 0 else None for a in at]
    np.testing.assert_array_equal(assigned["park_id_share"].to_numpy(), share)
    pd.testing.assert_frame_equal(index.assigned(at, share, parcels.index), assigned)
    assert index.locate(parcels).zone.tolist() == [1, 1, -1, -1, -1]  # more than half
    assert shapely.equals(index.planar, shuffled.geometry.to_numpy()).all()
