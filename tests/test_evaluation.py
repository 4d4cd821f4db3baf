"""Evaluation of a tiny hand-built world, checked against numbers worked out by hand.

The world (EPSG:4549 metres, offsets from X0, Y0 ≈ 120.62E 30.0N; stored as EPSG:4490):

    districts  D1 x 0–2000, D2 x 2000–4000            (y 0–2000; 6000 mu each)
    park       PK1 x 500–2500, y 500–1500             (3000 mu)
    platform   PF1 x 2000–4000, y 0–1000              (3000 mu)

    parcel  box (x1, y1, x2, y2)         m²      mu   holder  land use   zones
    P1      600, 600, 800, 800         40 000    60   A       工业用地    D1 PK1
    P2      1000, 600, 1100, 700       10 000    15   G       工业用地    D1 PK1
    P3      2200, 200, 2400, 350       30 000    45   B       工业用地    D2 PF1
    P4      2600, 1200, 2700, 1300     10 000    15   C       商业用地    D2
    P5      1800, 1000, 2100, 1100     30 000    45   (none)  (unknown)  D1 (2/3 of it) PK1

Enterprises 2023 (万元): A tax 600 VA 2400 规上; G tax 300 规下 (no VA); B tax 300 VA 1200
规上, leased in 15 mu; D tax 50, no parcels, no lease; E tax 40, leased in 10 mu, no parcels.
C (holder of P4) has no record. 2024: A 720, G 330 leasing out 20 mu, B 360, D 55, E 44.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from mujun.geo.area import local_gk_crs
from mujun.geo.errors import InputError, SchemaError
from mujun.geo.evaluation import (
    BUILDING_TOTALS,
    LEVELS,
    ZONES,
    BuildingMeasure,
    BuildingTotals,
    building_base,
    evaluate_year,
    evaluate_years,
    parcel_base,
    zone_summary,
)

X0, Y0 = 560000.0, 3320000.0
MU = 10000.0 / 15.0
REL = 1e-6  # areas survive the EPSG:4549 -> 4490 -> 4549 round trip to far better than this

NO_HOLDER = "未登记权利人统一社会信用代码"
UNLINKED = "未关联任何用地（无地块、无租入面积）"


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def _gdf(data: dict, geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4549").to_crs("EPSG:4490")


@pytest.fixture(scope="module")
def zones() -> dict[str, gpd.GeoDataFrame]:
    return {
        "district": _gdf({"district_id": ["D1", "D2"], "name": ["越城区", "柯桥区"]},
                         [box(0, 0, 2000, 2000), box(2000, 0, 4000, 2000)]),
        "park": _gdf({"park_id": ["PK1"], "name": ["高新园区"]}, [box(500, 500, 2500, 1500)]),
        "platform": _gdf({"platform_id": ["PF1"], "name": ["智能制造平台"]}, [box(2000, 0, 4000, 1000)]),
    }


@pytest.fixture(scope="module")
def parcels() -> gpd.GeoDataFrame:
    return _gdf(
        {
            "parcel_id": ["P1", "P2", "P3", "P4", "P5"],
            "holder_code": ["A", "G", "B", "C", None],
            "land_use": ["工业用地", "工业用地", "工业用地", "商业用地", None],
            "investment": [16200.0, np.nan, 9000.0, np.nan, np.nan],
        },
        [
            box(600, 600, 800, 800),
            box(1000, 600, 1100, 700),
            box(2200, 200, 2400, 350),
            box(2600, 1200, 2700, 1300),
            box(1800, 1000, 2100, 1100),
        ],
    )


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    return _gdf(
        {
            "building_id": ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"],
            "floors": [1, 3, None, 2, None, 1, 2, 1],
            "height": [12.0, 12.0, None, 10.0, None, 6.0, 6.0, 5.0],
            "floor_area_m2": [np.nan, np.nan, np.nan, 18000.0, np.nan, np.nan, np.nan, np.nan],
            "use": ["生产", "办公", "堆场", "生产", "构筑物", "仓储", "生产", "仓储"],
        },
        [
            box(620, 620, 720, 720),      # P1: 10 000 m², 1 storey 12 m -> counts 20 000
            box(730, 620, 780, 660),      # P1: 2000 m², 3 storeys 12 m office -> 6000
            box(620, 730, 680, 780),      # P1: 3000 m² yard -> footprint only
            box(2220, 220, 2320, 320),    # P3: 10 000 m², recorded 18 000 (not 20 000)
            box(2330, 220, 2350, 240),    # P3: 400 m² structure -> footprint only
            box(1050, 650, 1110, 690),    # 2400 m², 5/6 in P2 -> belongs to P2
            box(3000, 1500, 3050, 1550),  # on no parcel
            box(2390, 300, 2420, 320),    # only 1/3 on P3: belongs to no parcel
        ],
    )


@pytest.fixture(scope="module")
def enterprises() -> pd.DataFrame:
    rows = [
        # credit_code, name, year, tax, value_added, revenue, above_scale, leased_in, leased_out
        ("A", "甲公司", 2023, 600.0, 2400.0, 9000.0, True, None, None),
        ("G", "庚公司", 2023, 300.0, None, 1500.0, False, None, None),
        ("B", "乙公司", 2023, 300.0, 1200.0, 6000.0, True, 15.0, None),
        ("D", "丁公司", 2023, 50.0, None, 800.0, False, None, None),
        ("E", "戊公司", 2023, 40.0, None, 500.0, False, 10.0, None),
        ("A", "甲公司", 2024, 720.0, 2700.0, 9900.0, True, None, None),
        ("G", "庚公司", 2024, 330.0, None, 1600.0, False, None, 20.0),
        ("B", "乙公司", 2024, 360.0, 1500.0, 6600.0, True, 15.0, None),
        ("D", "丁公司", 2024, 55.0, None, 850.0, False, None, None),
        ("E", "戊公司", 2024, 44.0, None, 520.0, False, 10.0, None),
    ]
    cols = ["credit_code", "name", "year", "tax", "value_added", "revenue", "above_scale",
            "leased_in_mu", "leased_out_mu"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture(scope="module")
def base(parcels, buildings, zones) -> gpd.GeoDataFrame:
    return parcel_base(parcels, buildings, zones)


@pytest.fixture(scope="module")
def y2023(base, enterprises, zones) -> dict[str, pd.DataFrame]:
    return evaluate_year(base, enterprises, 2023, zones)


@pytest.fixture(scope="module")
def y2024(base, enterprises, zones) -> dict[str, pd.DataFrame]:
    return evaluate_year(base, enterprises, 2024, zones)


def _by(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.set_index(key)


# ---------------------------------------------------------------- parcel_base

def test_parcel_base_areas(base):
    b = _by(base, "parcel_id")
    expected_m2 = {"P1": 40000.0, "P2": 10000.0, "P3": 30000.0, "P4": 10000.0, "P5": 30000.0}
    for pid, m2 in expected_m2.items():
        assert b.loc[pid, "area_m2"] == pytest.approx(m2, rel=REL)
        assert b.loc[pid, "area_mu"] == pytest.approx(m2 / MU, rel=REL)
    assert b.loc["P1", "area_mu"] == pytest.approx(60.0, rel=REL)
    assert base.crs.to_epsg() == 4490  # geometry is left as it came


def test_parcel_base_buildings(base):
    b = _by(base, "parcel_id")
    assert b["building_count"].to_dict() == {"P1": 3, "P2": 1, "P3": 2, "P4": 0, "P5": 0}
    assert str(base["building_count"].dtype) == "int64"
    # footprints include the yard and the structure
    assert b.loc["P1", "footprint_m2"] == pytest.approx(10000 + 2000 + 3000, rel=REL)
    assert b.loc["P3", "footprint_m2"] == pytest.approx(10000 + 400, rel=REL)
    assert b.loc["P2", "footprint_m2"] == pytest.approx(2400, rel=REL)
    # floor area: 8 m rule, recorded area preferred, no floor area for the yard/structure
    assert b.loc["P1", "floor_area_m2"] == pytest.approx(2 * 10000 + 3 * 2000, rel=REL)
    assert b.loc["P3", "floor_area_m2"] == pytest.approx(18000, rel=REL)
    assert b.loc["P2", "floor_area_m2"] == pytest.approx(2400, rel=REL)
    assert b.loc["P1", "admin_footprint_m2"] == pytest.approx(2000, rel=REL)
    for pid in ("P4", "P5"):
        assert b.loc[pid, ["footprint_m2", "floor_area_m2", "admin_footprint_m2"]].tolist() == [0.0, 0.0, 0.0]


def test_parcel_base_land_use_ratios(base):
    b = _by(base, "parcel_id")
    assert b.loc["P1", "plot_ratio"] == pytest.approx(26000 / 40000, rel=REL)
    assert b.loc["P2", "plot_ratio"] == pytest.approx(2400 / 10000, rel=REL)
    assert b.loc["P3", "plot_ratio"] == pytest.approx(18000 / 30000, rel=REL)
    assert b.loc["P4", "plot_ratio"] == 0.0
    assert b.loc["P1", "building_coefficient"] == pytest.approx(15000 / 40000, rel=REL)
    assert b.loc["P3", "building_coefficient"] == pytest.approx(10400 / 30000, rel=REL)
    assert b.loc["P1", "admin_share"] == pytest.approx(0.05, rel=REL)
    assert b.loc["P3", "admin_share"] == 0.0
    assert b.loc["P1", "investment_intensity"] == pytest.approx(16200 / 60, rel=REL)
    assert b.loc["P3", "investment_intensity"] == pytest.approx(9000 / 45, rel=REL)
    assert np.isnan(b.loc["P2", "investment_intensity"])
    assert b["industrial"].to_dict() == {"P1": True, "P2": True, "P3": True, "P4": False, "P5": True}


def test_parcel_base_zones(base):
    b = _by(base, "parcel_id")
    assert b["district_id"].to_dict() == {"P1": "D1", "P2": "D1", "P3": "D2", "P4": "D2", "P5": "D1"}
    assert b.loc["P1", "district_name"] == "越城区"
    assert b.loc["P4", "district_name"] == "柯桥区"
    assert [b.loc[p, "park_id"] for p in ("P1", "P2", "P5")] == ["PK1"] * 3
    assert b.loc[["P3", "P4"], "park_id"].isna().all()
    assert b.loc["P3", "platform_id"] == "PF1"
    assert b.loc["P3", "platform_name"] == "智能制造平台"
    assert b.loc[["P1", "P2", "P4", "P5"], "platform_id"].isna().all()
    assert b.loc[["P1", "P2", "P4", "P5"], "platform_name"].isna().all()


def test_parcel_base_without_buildings_or_zones(parcels):
    out = parcel_base(parcels)
    assert (out["building_count"] == 0).all()
    assert (out["plot_ratio"] == 0.0).all()
    for zone_id, _ in ZONES.values():
        assert out[zone_id].isna().all()
    assert out["area_mu"].sum() == pytest.approx(180.0, rel=REL)


def test_parcel_base_integer_parcel_ids(parcels, buildings):
    # ids read from a spreadsheet may be numbers: buildings must still reach their parcel
    p = parcels.assign(parcel_id=[1, 2, 3, 4, 5])
    out = _by(parcel_base(p, buildings), "parcel_id")
    assert out["building_count"].to_dict() == {1: 3, 2: 1, 3: 2, 4: 0, 5: 0}
    assert out.loc[1, "floor_area_m2"] == pytest.approx(26000, rel=REL)


def test_parcel_base_requires_parcel_id(parcels):
    with pytest.raises(SchemaError, match="parcel_id"):
        parcel_base(parcels.drop(columns="parcel_id"))


def test_parcel_base_does_not_modify_inputs(parcels, buildings, zones):
    before = parcels.copy(), buildings.copy()
    parcel_base(parcels, buildings, zones)
    pd.testing.assert_frame_equal(parcels, before[0])
    pd.testing.assert_frame_equal(buildings, before[1])


# ---------------------------------------------------------------- enterprises

def test_evaluate_year_levels(y2023):
    assert set(y2023) == set(LEVELS)


def test_enterprise_land_and_tax_per_mu(y2023):
    e = _by(y2023["enterprise"], "credit_code")
    assert len(e) == 5
    assert (e["year"] == 2023).all()
    expected = {
        # owned, leased in, land, parcels, tax per mu
        "A": (60.0, 0.0, 60.0, 1, 600 / 60),
        "G": (15.0, 0.0, 15.0, 1, 300 / 15),
        "B": (45.0, 15.0, 60.0, 1, 300 / 60),
        "D": (0.0, 0.0, 0.0, 0, np.nan),
        "E": (0.0, 10.0, 10.0, 0, 40 / 10),
    }
    for code, (owned, lin, land, n, tpm) in expected.items():
        row = e.loc[code]
        assert row["owned_mu"] == pytest.approx(owned, rel=REL)
        assert row["leased_in_mu"] == lin
        assert row["land_mu"] == pytest.approx(land, rel=REL)
        assert row["parcel_count"] == n
        if np.isnan(tpm):
            assert np.isnan(row["tax_per_mu"])
        else:
            assert row["tax_per_mu"] == pytest.approx(tpm, rel=REL)
    assert e.loc["A", "value_added_per_mu"] == pytest.approx(2400 / 60, rel=REL)
    assert e.loc["B", "revenue_per_mu"] == pytest.approx(6000 / 60, rel=REL)
    assert np.isnan(e.loc["G", "value_added_per_mu"])
    assert not np.isinf(e.select_dtypes("number").to_numpy(dtype="float64")).any()


def test_enterprise_missing_reason(y2023):
    e = _by(y2023["enterprise"], "credit_code")
    assert e.loc["D", "missing_reason"] == UNLINKED
    assert e.loc[["A", "G", "B", "E"], "missing_reason"].isna().all()


def test_enterprise_location_is_its_largest_parcel(y2023):
    e = _by(y2023["enterprise"], "credit_code")
    assert e.loc["A", "district_id"] == "D1" and e.loc["A", "park_id"] == "PK1"
    assert e.loc["A", "district_name"] == "越城区"
    assert e.loc["B", "district_id"] == "D2" and e.loc["B", "platform_id"] == "PF1"
    assert pd.isna(e.loc["B", "park_id"])
    assert pd.isna(e.loc["E", "district_id"])  # leases only: no parcel to place it


def test_negative_land_in_2024(y2024):
    e = _by(y2024["enterprise"], "credit_code")
    # G holds 15 mu and leases out 20: land -5, no per-mu value, and a reason
    assert e.loc["G", "land_mu"] == pytest.approx(-5.0, rel=REL)
    assert np.isnan(e.loc["G", "tax_per_mu"])
    assert e.loc["G", "missing_reason"] == "用地面积为负（出租面积大于自有与租入面积之和）"
    assert e.loc["A", "tax_per_mu"] == pytest.approx(720 / 60, rel=REL)
    assert e.loc["B", "tax_per_mu"] == pytest.approx(360 / 60, rel=REL)


# ---------------------------------------------------------------- parcels

def test_parcels_inherit_the_holders_per_mu_values(y2023):
    p = _by(y2023["parcel"], "parcel_id")
    e = _by(y2023["enterprise"], "credit_code")
    assert isinstance(y2023["parcel"], gpd.GeoDataFrame)
    assert (p["year"] == 2023).all()
    for pid, code in (("P1", "A"), ("P2", "G"), ("P3", "B")):
        for name in ("tax_per_mu", "revenue_per_mu"):
            assert p.loc[pid, name] == pytest.approx(e.loc[code, name], rel=1e-12)
        assert p.loc[pid, "holder_land_mu"] == pytest.approx(e.loc[code, "land_mu"], rel=1e-12)
        assert p.loc[pid, "holder_enterprise_name"] == e.loc[code, "name"]
    assert p.loc["P1", "tax_per_mu"] == pytest.approx(10.0, rel=REL)
    assert p.loc["P3", "tax_per_mu"] == pytest.approx(5.0, rel=REL)
    assert p[["tax_per_mu"]].loc[["P4", "P5"]].isna().all().all()


def test_parcel_attributed_amounts(y2023):
    p = _by(y2023["parcel"], "parcel_id")
    # holder's per-mu value × parcel mu: B's 15 leased-in mu keep their share of its tax
    assert p.loc["P1", "tax"] == pytest.approx(600.0, rel=REL)
    assert p.loc["P2", "tax"] == pytest.approx(300.0, rel=REL)
    assert p.loc["P3", "tax"] == pytest.approx(300.0 * 45 / 60, rel=REL)
    assert p.loc[["P4", "P5"], "tax"].isna().all()
    assert p["evaluated"].to_dict() == {"P1": True, "P2": True, "P3": True, "P4": False, "P5": False}


def test_parcel_missing_reasons(y2023):
    p = _by(y2023["parcel"], "parcel_id")
    assert p.loc["P4", "missing_reason"] == "权利人在 2023 年无企业数据"
    assert p.loc["P5", "missing_reason"] == NO_HOLDER
    assert p.loc[["P1", "P2", "P3"], "missing_reason"].isna().all()


def test_every_unevaluated_parcel_has_a_reason(y2023, y2024):
    for res in (y2023, y2024):
        p = res["parcel"]
        assert p.loc[~p["evaluated"], "missing_reason"].notna().all()
        assert p.loc[p["evaluated"], "missing_reason"].isna().all()


def test_parcel_of_a_holder_with_negative_land(y2024):
    p = _by(y2024["parcel"], "parcel_id")
    assert not p.loc["P2", "evaluated"]
    assert np.isnan(p.loc["P2", "tax_per_mu"])
    assert "用地面积为负" in p.loc["P2", "missing_reason"]


def test_parcel_with_empty_geometry():
    parcels = _gdf(
        {"parcel_id": ["Q1", "Q2"], "holder_code": ["A", "A"]},
        [box(100, 100, 200, 200), shapely.Polygon()],
    )
    ent = pd.DataFrame({"credit_code": ["A"], "year": [2023], "tax": [30.0]})
    p = _by(evaluate_year(parcel_base(parcels), ent, 2023)["parcel"], "parcel_id")
    assert p.loc["Q2", "area_mu"] == 0.0
    assert not p.loc["Q2", "evaluated"]
    assert p.loc["Q2", "missing_reason"] == "地块面积为0或缺失"
    assert p.loc["Q1", "tax"] == pytest.approx(30.0, rel=REL)


# ---------------------------------------------------------------- zones

def test_zone_summaries_are_ratios_of_sums(y2023):
    d = _by(y2023["district"], "district_id")
    p = y2023["parcel"]
    # D1: evaluated P1 (600 attributed over 60 mu) and P2 (300 over 15 mu) -> 900 / 75 = 12,
    # not the mean of the firms' values (10 + 20) / 2 = 15
    assert d.loc["D1", "evaluated_mu"] == pytest.approx(75.0, rel=REL)
    assert d.loc["D1", "tax"] == pytest.approx(900.0, rel=REL)
    assert d.loc["D1", "tax_per_mu"] == pytest.approx(12.0, rel=REL)
    # D2: only P3, attributed 225 over 45 mu -> 5 (not B's 300 over the parcel's 45 mu)
    assert d.loc["D2", "evaluated_mu"] == pytest.approx(45.0, rel=REL)
    assert d.loc["D2", "tax_per_mu"] == pytest.approx(5.0, rel=REL)
    # the same figure straight from the parcel results
    for did in ("D1", "D2"):
        ev = p[(p["district_id"] == did) & p["evaluated"]]
        assert d.loc[did, "tax_per_mu"] == pytest.approx(ev["tax"].sum() / ev["area_mu"].sum(), rel=1e-12)
    assert d.loc["D1", "enterprise_count"] == 2
    assert d.loc["D2", "enterprise_count"] == 1
    assert (d["year"] == 2023).all()


def test_zone_value_added_only_over_land_with_value_added(y2023):
    d = _by(y2023["district"], "district_id")
    # G (规下) has no value added: D1's value added per mu is A's 2400 over A's 60 mu
    assert d.loc["D1", "value_added_per_mu"] == pytest.approx(2400 / 60, rel=REL)
    assert d.loc["D2", "value_added_per_mu"] == pytest.approx(1200 * 45 / 60 / 45, rel=REL)


def test_zone_above_scale_per_mu(y2023):
    d = _by(y2023["district"], "district_id")
    assert d.loc["D1", "above_scale_tax_per_mu"] == pytest.approx(600 / 60, rel=REL)
    assert d.loc["D1", "above_scale_value_added_per_mu"] == pytest.approx(2400 / 60, rel=REL)
    assert d.loc["D2", "above_scale_tax_per_mu"] == pytest.approx(5.0, rel=REL)


def test_zone_land_shares(y2023):
    d = _by(y2023["district"], "district_id")
    assert d.loc["D1", "zone_area_mu"] == pytest.approx(4e6 / MU, rel=REL)
    assert d["parcel_count"].to_dict() == {"D1": 3, "D2": 2}
    assert d.loc["D1", "area_mu"] == pytest.approx(120.0, rel=REL)
    assert d.loc["D2", "area_mu"] == pytest.approx(60.0, rel=REL)
    # industrial land / zone area: D1 P1+P2+P5 = 120 mu of 6000; D2 P3 = 45 of 6000
    assert d.loc["D1", "industrial_mu"] == pytest.approx(120.0, rel=REL)
    assert d.loc["D1", "industrial_share"] == pytest.approx(120 / 6000, rel=REL)
    assert d.loc["D2", "industrial_share"] == pytest.approx(45 / 6000, rel=REL)
    # built land / parcel land: D1 P1+P2 = 75 of 120; D2 P3 = 45 of 60
    assert d.loc["D1", "built_share"] == pytest.approx(75 / 120, rel=REL)
    assert d.loc["D1", "unbuilt_share"] == pytest.approx(45 / 120, rel=REL)
    assert d.loc["D2", "built_share"] == pytest.approx(45 / 60, rel=REL)
    # plot ratio and building coefficient over all the zone's parcels
    assert d.loc["D1", "plot_ratio"] == pytest.approx((26000 + 2400) / 80000, rel=REL)
    assert d.loc["D2", "building_coefficient"] == pytest.approx(10400 / 40000, rel=REL)


def test_park_and_platform_summaries(y2023):
    pk = _by(y2023["park"], "park_id")
    pf = _by(y2023["platform"], "platform_id")
    assert pk.loc["PK1", "name"] == "高新园区"
    assert pk.loc["PK1", "zone_area_mu"] == pytest.approx(3000.0, rel=REL)
    assert pk.loc["PK1", "parcel_count"] == 3
    assert pk.loc["PK1", "tax_per_mu"] == pytest.approx(12.0, rel=REL)
    assert pk.loc["PK1", "industrial_share"] == pytest.approx(120 / 3000, rel=REL)
    assert pf.loc["PF1", "parcel_count"] == 1
    assert pf.loc["PF1", "tax_per_mu"] == pytest.approx(5.0, rel=REL)
    assert pf.loc["PF1", "industrial_share"] == pytest.approx(45 / 3000, rel=REL)
    assert isinstance(y2023["park"], gpd.GeoDataFrame)
    assert y2023["park"].crs.to_epsg() == 4490


def test_year_2024(y2024):
    d = _by(y2024["district"], "district_id")
    # G's parcel drops out (negative land): D1 is A alone, 720 / 60
    assert d.loc["D1", "evaluated_mu"] == pytest.approx(60.0, rel=REL)
    assert d.loc["D1", "tax_per_mu"] == pytest.approx(12.0, rel=REL)
    assert d.loc["D2", "tax_per_mu"] == pytest.approx(6.0, rel=REL)


def test_zone_without_evaluated_parcels():
    zones = {"park": _gdf({"park_id": ["K1", "K2"], "name": ["一", "二"]},
                          [box(0, 0, 500, 500), box(1000, 0, 1500, 500)])}
    parcels = _gdf({"parcel_id": ["Q1", "Q2"], "holder_code": ["A", "Z"]},
                   [box(100, 100, 200, 200), box(1100, 100, 1200, 200)])
    ent = pd.DataFrame({"credit_code": ["A"], "year": [2023], "tax": [30.0]})
    res = evaluate_year(parcel_base(parcels, zones=zones), ent, 2023, zones)
    k = _by(res["park"], "park_id")
    assert set(res) == {"enterprise", "parcel", "park"}
    assert k.loc["K1", "tax_per_mu"] == pytest.approx(30.0 / 15.0, rel=REL)
    assert k.loc["K2", "parcel_count"] == 1
    assert k.loc["K2", "evaluated_mu"] == 0.0
    assert np.isnan(k.loc["K2", "tax_per_mu"])
    assert np.isnan(k.loc["K2", "tax"])
    assert k.loc["K2", "enterprise_count"] == 0


def test_zone_summary_called_directly(y2023, zones):
    again = zone_summary(y2023["parcel"], zones["district"], "district_id", 2023)
    pd.testing.assert_frame_equal(
        again.drop(columns="geometry"), y2023["district"].drop(columns="geometry")
    )


# ---------------------------------------------------------------- years and errors

def test_evaluate_years(parcels, buildings, zones, enterprises, y2023):
    res = evaluate_years(parcels, enterprises, [2023, 2024], buildings=buildings, zones=zones)
    assert set(res) == {2023, 2024}
    d23 = _by(res[2023]["district"], "district_id")
    d24 = _by(res[2024]["district"], "district_id")
    assert d23.loc["D1", "tax_per_mu"] == pytest.approx(12.0, rel=REL)
    assert d24.loc["D2", "tax_per_mu"] == pytest.approx(6.0, rel=REL)
    pd.testing.assert_frame_equal(res[2023]["enterprise"], y2023["enterprise"])


@pytest.mark.parametrize("year", [2022, 2025])
def test_year_without_data_raises_input_error(base, enterprises, year):
    with pytest.raises(InputError, match=str(year)):
        evaluate_year(base, enterprises, year)


def test_enterprises_without_year_column(base, enterprises):
    with pytest.raises(SchemaError, match="year"):
        evaluate_year(base, enterprises.drop(columns="year"), 2023)


def test_above_scale_value_added_only_over_land_with_value_added():
    zones = {"park": _gdf({"park_id": ["K1"], "name": ["一"]}, [box(0, 0, 1000, 1000)])}
    parcels = _gdf({"parcel_id": ["Q1", "Q2"], "holder_code": ["A", "B"]},
                   [box(100, 100, 200, 200), box(300, 100, 400, 300)])  # 15 mu and 30 mu
    ent = pd.DataFrame({"credit_code": ["A", "B"], "year": [2023, 2023], "tax": [30.0, 90.0],
                        "value_added": [150.0, np.nan], "above_scale": [True, True]})
    k = evaluate_year(parcel_base(parcels, zones=zones), ent, 2023, zones)["park"].iloc[0]
    assert k["above_scale_tax_per_mu"] == pytest.approx(120.0 / 45.0, rel=REL)
    assert k["above_scale_value_added_per_mu"] == pytest.approx(150.0 / 15.0, rel=REL)
    assert k["value_added_per_mu"] == pytest.approx(150.0 / 15.0, rel=REL)


def test_no_parcel_evaluated(zones, parcels):
    # the year's only enterprise holds no parcel: every zone has no per-mu value, none is inf
    ent = pd.DataFrame({"credit_code": ["X"], "year": [2023], "tax": [10.0], "leased_in_mu": [2.0]})
    res = evaluate_year(parcel_base(parcels, zones=zones), ent, 2023, zones)
    assert not res["parcel"]["evaluated"].any()
    for level in ("district", "park", "platform"):
        z = res[level]
        assert (z["evaluated_mu"] == 0).all()
        assert z["tax_per_mu"].isna().all()
        assert (z["enterprise_count"] == 0).all()
    assert res["enterprise"]["tax_per_mu"].tolist() == [5.0]


def test_integer_zone_ids(parcels, zones, enterprises):
    z = {"district": zones["district"].assign(district_id=[1, 2])}
    res = evaluate_year(parcel_base(parcels, zones=z), enterprises, 2023, z)
    p = _by(res["parcel"], "parcel_id")
    assert p.loc["P1", "district_id"] == "1"
    assert p.loc["P1", "district_name"] == "越城区"
    d = _by(res["district"], "district_id")
    assert d.loc["1", "tax_per_mu"] == pytest.approx(12.0, rel=REL)
    assert d.loc["2", "parcel_count"] == 2


def test_parcels_without_holder_column(parcels, enterprises):
    res = evaluate_year(parcel_base(parcels.drop(columns="holder_code")), enterprises, 2023)
    assert (res["parcel"]["missing_reason"] == NO_HOLDER).all()
    assert not res["parcel"]["evaluated"].any()
    e = _by(res["enterprise"], "credit_code")
    assert e.loc["A", "missing_reason"] == UNLINKED
    assert e.loc["B", "land_mu"] == 15.0  # its lease still counts


def test_districts_by_plurality_parks_by_majority():
    # a parcel 40/30/30 over three districts goes to the 40 % district, but is in no park
    # when only 40 % of it lies in the park
    d = _gdf({"district_id": ["D1", "D2", "D3"], "name": ["一", "二", "三"]},
             [box(0, 0, 1000, 2000), box(1000, 0, 2000, 1000), box(1000, 1000, 2000, 2000)])
    k = _gdf({"park_id": ["K1"], "name": ["园"]}, [box(0, 0, 1000, 2000)])
    parcels = _gdf({"parcel_id": ["Q1"]}, [box(960, 950, 1060, 1050)])
    out = parcel_base(parcels, zones={"district": d, "park": k})
    assert ZONES["district"][1] == 0.0
    assert out["district_id"].iloc[0] == "D1"
    assert out["district_name"].iloc[0] == "一"
    assert pd.isna(out["park_id"].iloc[0])


def test_enterprise_sits_in_the_zone_of_its_largest_parcel(zones):
    parcels = _gdf({"parcel_id": ["Q1", "Q2", "Q3"], "holder_code": ["A", "A", "A"]},
                   [box(2100, 100, 2200, 200), box(100, 100, 400, 300), box(2500, 100, 2600, 150)])
    ent = pd.DataFrame({"credit_code": ["A"], "year": [2023], "tax": [120.0]})
    e = evaluate_year(parcel_base(parcels, zones=zones), ent, 2023, zones)["enterprise"].iloc[0]
    assert e["district_id"] == "D1"  # Q2 (90 mu) outweighs Q1 + Q3 (22.5 mu) in D2
    assert e["parcel_count"] == 3
    assert e["owned_mu"] == pytest.approx(15 + 90 + 7.5, rel=REL)
    assert pd.isna(e["platform_id"])


def test_land_leased_out_is_not_credited_to_the_holder():
    """A holder working 20 of its 30 mu (10 leased out) is credited its tax on 20 mu only."""
    parcel = shapely.box(500000, 3300000, 500200, 3300100)  # 20,000 m² = 30 mu
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1"], "holder_code": ["A"]}, geometry=[parcel], crs=4549)
    park = gpd.GeoDataFrame({"park_id": ["K"], "name": ["园"]}, geometry=[parcel.buffer(50)], crs=4549)
    ent = pd.DataFrame({"credit_code": ["A", "B"], "year": [2025, 2025], "tax": [400.0, 100.0],
                        "leased_in_mu": [0.0, 10.0], "leased_out_mu": [10.0, 0.0]})
    zones = {"park": park}
    res = evaluate_year(parcel_base(parcels.to_crs(4490), zones=zones), ent, 2025, zones)
    a = res["enterprise"].set_index("credit_code").loc["A"]
    assert a["land_mu"] == pytest.approx(20.0, rel=1e-3)
    assert a["tax_per_mu"] == pytest.approx(20.0, rel=1e-3)
    p = res["parcel"].iloc[0]
    assert p["evaluated_mu"] == pytest.approx(20.0, rel=1e-3)
    assert p["tax"] == pytest.approx(400.0, rel=1e-9)  # all of A's tax, never more
    k = res["park"].iloc[0]
    assert k["tax"] == pytest.approx(400.0, rel=1e-9)
    assert k["tax_per_mu"] == pytest.approx(20.0, rel=1e-3)


def test_without_a_building_survey_building_figures_are_unknown(parcels):
    """No building layer at all: plot ratios are unknown, and no parcel is judged under-built."""
    from mujun.geo.flags import idle_flags
    from mujun.layers.rulesets import load_rule_set

    out = parcel_base(parcels, buildings_surveyed=False)
    assert out["plot_ratio"].isna().all() and out["building_coefficient"].isna().all()
    started = out.assign(actual_start=pd.Timestamp("2015-01-01"), agreed_start=pd.Timestamp("2014-06-01"))
    flags = idle_flags(started, load_rule_set("zhejiang-default"), pd.Timestamp("2025-12-31"))
    assert flags.empty
    # with a survey that found nothing, the same parcels are undeveloped and stalled
    surveyed = parcel_base(parcels).assign(actual_start=pd.Timestamp("2015-01-01"),
                                           agreed_start=pd.Timestamp("2014-06-01"))
    flags = idle_flags(surveyed, load_rule_set("zhejiang-default"), pd.Timestamp("2025-12-31"))
    assert set(flags["rule"]) == {"开发面积不足三分之一且停工满一年"} and len(flags) == len(parcels)


@pytest.mark.parametrize("batch", [1, 997])
def test_building_base_in_batches_equals_one_pass(sample_workspace, monkeypatch, batch):
    """Buildings measured and assigned batch by batch (zones indexed once) get exactly the
    figures, parcels and zones of a single pass."""
    import mujun.geo.evaluation

    ws = sample_workspace
    buildings, parcels = ws.read("buildings"), ws.read("parcels")
    zones = {level: ws.read(f"{level}s") for level in ZONES}
    if batch == 1:
        buildings = buildings.iloc[::40]  # one batch per building: a sample of them
    whole = building_base(buildings, parcels, zones)
    monkeypatch.setattr(mujun.geo.evaluation, "BUILDING_BATCH", batch)
    batched = building_base(buildings, parcels, zones)
    pd.testing.assert_frame_equal(batched, whole, check_exact=True)
    assert whole["parcel_id"].notna().mean() > 0.9 and whole["district_id"].notna().all()


@pytest.mark.parametrize("batch", [1, 997])
def test_parcel_totals_gathered_from_batches_equal_the_whole_layers(sample_workspace, batch):
    """The parcels' building totals summed batch by batch (BuildingTotals) are, to the last bit,
    those parcel_base takes of the whole layer: what the local engine gives."""
    ws = sample_workspace
    buildings, parcels = ws.read("buildings"), ws.read("parcels")
    if batch == 1:
        buildings = buildings.iloc[::40]
    measured = building_base(buildings, parcels)
    counted = BuildingTotals(parcels)
    for start in range(0, len(measured), batch):
        counted.add(measured.iloc[start:start + batch])
    totals = counted.table()
    assert list(totals.columns) == list(BUILDING_TOTALS) and totals["building_count"].sum() > 0
    pd.testing.assert_frame_equal(parcel_base(parcels, totals=totals), parcel_base(parcels, measured),
                                  check_exact=True)


def test_buildings_take_their_parcels_zones_only_where_their_own_overlay_would_agree(sample_workspace):
    """A building wholly inside its parcel takes the parcel's zone when that zone holds the
    parcel wholly and is the only one it meets: the zones are those each building's own
    overlay gives — with parks that overlap, parcels across a park's edge or in none,
    buildings across a parcel's edge or in no parcel, and the sample province's."""
    from mujun.geo.evaluation import _zone_columns, _zone_indexes

    park_a, park_b = box(0, 0, 600, 600), box(400, 0, 1000, 600)  # overlapping in x 400–600
    zones = {
        "district": _gdf({"district_id": ["D1", "D2"], "name": ["甲区", "乙区"]},
                         [box(-100, -100, 500, 800), box(500, -100, 1200, 800)]),
        "park": _gdf({"park_id": ["KB", "KA"], "name": ["乙园", "甲园"]}, [park_b, park_a]),
        "platform": None,
    }
    plots = [box(50, 50, 150, 150),     # in park A and district D1 alone
             box(420, 50, 480, 150),    # in both parks
             box(550, 200, 700, 300),   # across district and park A's edges, in park B
             box(900, 650, 1000, 750),  # in no park
             box(950, 550, 1050, 650),  # across park B's edge
             box(300, 300, 450, 400)]   # in park A, across park B's edge
    parcels = _gdf({"parcel_id": [f"P{i}" for i in range(len(plots))]}, plots)
    buildings = _gdf({"building_id": [f"B{i}" for i in range(10)]}, [
        box(60, 60, 100, 100), box(430, 60, 470, 100), box(560, 210, 590, 250), box(610, 210, 650, 250),
        box(910, 660, 950, 700), box(960, 560, 990, 590), box(1000, 600, 1040, 640),
        box(140, 60, 170, 100),  # across its parcel's edge
        box(200, 450, 220, 470),  # in no parcel
        box(420, 320, 440, 340),  # in both parks: the first listed, though its parcel is in park A alone
    ])
    ws = sample_workspace
    sample = (ws.read("buildings"), ws.read("parcels"), {level: ws.read(f"{level}s") for level in ZONES})
    for case, (b, p, z) in enumerate([(buildings, parcels, zones), sample]):
        crs = local_gk_crs(p)
        measure = BuildingMeasure(p, z, crs=crs)
        located: list[int] = []
        park_index = measure.indexes["park"]
        locate = park_index.locate
        park_index.locate = lambda features, located=located, locate=locate, **kw: (
            located.append(len(features)) or locate(features, **kw))
        figures = measure.figures(b)
        direct = _zone_columns(_zone_indexes(z, crs), b.geometry.to_crs(crs), b.index)
        for col, values in direct.items():
            pd.testing.assert_series_equal(figures[col], values, check_names=False)
        assert 0 < sum(located) < len(b)  # the overlays run for some buildings, not all
        if case == 0:
            assert [None if pd.isna(v) else v for v in figures["park_id"]] == [
                "KA", "KB", "KB", "KB", None, "KB", None, "KA", "KA", "KB"]
            assert figures["district_id"].tolist() == ["D1", "D1", "D2", "D2", "D2", "D2", "D2", "D1", "D1", "D1"]
        pd.testing.assert_frame_equal(parcel_base(p, zones=z, crs=crs, zone_columns=measure.parcel_zone_columns()),
                                      parcel_base(p, zones=z, crs=crs), check_exact=True)


def test_buildings_counted_by_their_parcels_positions_as_by_ids(sample_workspace):
    """BuildingMeasure.measure gives each building's parcel as a position among the parcels;
    counted by those positions, the totals are those counted by the ids, with parcel ids
    repeated or missing too. The parcels projected once for the buildings give parcel_base
    the same figures as projecting them again."""
    ws = sample_workspace
    buildings, parcels = ws.read("buildings"), ws.read("parcels")
    zones = {level: ws.read(f"{level}s") for level in ZONES}
    parcels = parcels.copy()
    parcels.loc[parcels.index[1], "parcel_id"] = parcels["parcel_id"].iloc[0]  # an id twice
    parcels.loc[parcels.index[2], "parcel_id"] = None  # and none
    measure = BuildingMeasure(parcels, zones, crs=local_gk_crs(parcels))
    by_ids, by_positions = BuildingTotals(parcels), BuildingTotals(parcels)
    held = 0
    for start in range(0, len(buildings), 500):
        figures, at = measure.measure(buildings.iloc[start:start + 500])
        pd.testing.assert_frame_equal(figures, measure.figures(buildings.iloc[start:start + 500]))
        ids = parcels["parcel_id"].astype("string").to_numpy()
        held_ids = [None if a < 0 or pd.isna(ids[a]) else ids[a] for a in at]
        assert held_ids == [None if pd.isna(v) else v for v in figures["parcel_id"]]
        held += int((at >= 0).sum())
        by_ids.add(figures)
        by_positions.add(figures, at)
    assert held > 0.9 * len(buildings)
    totals = by_positions.table()
    pd.testing.assert_frame_equal(totals, by_ids.table(), check_exact=True)
    planar = measure.planar_parcels
    assert planar.index.equals(parcels.index) and planar.crs == measure.crs
    pd.testing.assert_frame_equal(parcel_base(parcels, zones=zones, totals=totals, planar=planar),
                                  parcel_base(parcels, zones=zones, totals=totals, crs=measure.crs),
                                  check_exact=True)


# ---------------------------------------------------------------- tenants

def _tenant_world():
    """P1 (30 mu) held by A, P2 (15 mu) held by L, both in district 330602 and park K.

    A reports 10 mu leased out; its tenants B (10 mu) and C (5 mu) name it as lessor, so
    15 mu of P1 are leased out. L owns 15 mu; its tenant T claims 20: T's land on P2 is
    the 15 L owns. U leases 4 mu from no one known; V leases from X, who holds no parcel.
    """
    p1 = shapely.box(500000, 3300000, 500200, 3300100)  # 20,000 m² = 30 mu
    p2 = shapely.box(500300, 3300000, 500400, 3300100)  # 10,000 m² = 15 mu
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1", "P2"], "holder_code": ["A", "L"]},
                               geometry=[p1, p2], crs=4549).to_crs(4490)
    area = shapely.box(499900, 3299900, 500500, 3300200)
    zones = {
        "district": gpd.GeoDataFrame({"district_id": ["330602"], "name": ["越城区"]}, geometry=[area], crs=4549),
        "park": gpd.GeoDataFrame({"park_id": ["K"], "name": ["园"]}, geometry=[area], crs=4549),
    }
    u = "91330602MA0000000U"
    rows = [
        # code, tax, value added, 规上, leased in, leased out, lessor
        ("A", 400.0, 600.0, True, None, 10.0, None),
        ("B", 100.0, 200.0, False, 10.0, None, "a"),  # typed in lower case: matched all the same
        ("C", 50.0, None, False, 5.0, None, "A"),
        ("L", 90.0, 150.0, True, None, None, None),
        ("T", 200.0, 400.0, True, 20.0, None, "L"),
        (u, 8.0, 20.0, False, 4.0, None, None),
        ("V", 6.0, 10.0, False, 2.0, None, "X"),
    ]
    ent = pd.DataFrame(rows, columns=["credit_code", "tax", "value_added", "above_scale", "leased_in_mu",
                                      "leased_out_mu", "lessor_code"]).assign(year=2025)
    return evaluate_year(parcel_base(parcels, zones=zones), ent, 2025, zones), u


def test_tenants_are_placed_on_their_lessors_land():
    res, u = _tenant_world()
    e = _by(res["enterprise"], "credit_code")
    # A's tenants declare 15 mu leased from it, more than the 10 it reported: 15 count
    assert e.loc["A", "leased_out_mu"] == pytest.approx(15.0)
    assert e.loc["A", "land_mu"] == pytest.approx(15.0, rel=1e-3)
    assert e.loc["A", "tax_per_mu"] == pytest.approx(400 / 15, rel=1e-3)
    # T claims 20 mu from L, who owns 15: L works none of P2; T keeps its 20 mu for its per-mu
    assert e.loc["L", "leased_out_mu"] == pytest.approx(15.0, rel=1e-3)
    assert e.loc["L", "land_mu"] == pytest.approx(0.0, abs=1e-3)
    assert e.loc["T", "land_mu"] == 20.0 and e.loc["T", "tax_per_mu"] == 10.0
    for code in ("B", "C", "T"):
        assert e.loc[code, "district_id"] == "330602" and e.loc[code, "park_id"] == "K", code
        assert e.loc[code, "location_basis"] == "出租方地块"
    assert e.loc["A", "location_basis"] == "自有地块"
    # no lessor known: the registration division code of the credit code gives the district
    assert e.loc[u, "district_id"] == "330602" and e.loc[u, "district_name"] == "越城区"
    assert pd.isna(e.loc[u, "park_id"]) and e.loc[u, "location_basis"] == "信用代码登记地"
    # a lessor holding no parcel places nothing: V is unlinked and its code has no district
    assert pd.isna(e.loc["V", "lessor_code"]) and pd.isna(e.loc["V", "district_id"])


def test_parcels_count_the_holders_and_tenants_amounts_on_their_land_once():
    res, _ = _tenant_world()
    p = _by(res["parcel"], "parcel_id")
    # P1: A works 15 mu (all of its tax), B 10 mu (100), C 5 mu (50)
    assert p.loc["P1", "holder_evaluated_mu"] == pytest.approx(15.0, rel=1e-3)
    assert p.loc["P1", "tenant_mu"] == pytest.approx(15.0, rel=1e-3)
    assert p.loc["P1", "tenant_count"] == 2
    assert p.loc["P1", "evaluated_mu"] == pytest.approx(p.loc["P1", "area_mu"], rel=1e-12)
    assert p.loc["P1", "tax"] == pytest.approx(400 + 100 + 50, rel=1e-9)
    assert p.loc["P1", "value_added"] == pytest.approx(600 + 200, rel=1e-9)
    # the parcel shows its holder's per-mu value
    assert p.loc["P1", "tax_per_mu"] == pytest.approx(400 / 15, rel=1e-3)
    # P2: T's 15 of its 20 mu, 10 万元/亩: 150 of its 200; L works none of it
    assert p.loc["P2", "evaluated_mu"] == pytest.approx(15.0, rel=1e-3)
    assert p.loc["P2", "tax"] == pytest.approx(150.0, rel=1e-3)
    assert (p["evaluated_mu"] <= p["area_mu"] * (1 + 1e-12)).all()


@pytest.mark.parametrize("level", ["district", "park"])
def test_zone_totals_are_the_sum_over_parcels_with_no_land_twice(level):
    res, _ = _tenant_world()
    z = res[level].iloc[0]
    p = res["parcel"]
    assert z["area_mu"] == pytest.approx(45.0, rel=1e-3)
    assert z["evaluated_mu"] == pytest.approx(p["evaluated_mu"].sum(), rel=1e-12)
    assert z["evaluated_mu"] <= z["area_mu"] * (1 + 1e-12)
    for amount in ("tax", "value_added"):
        assert z[amount] == pytest.approx(p[amount].sum(), rel=1e-12), amount
    assert z["tax"] == pytest.approx(550 + 150, rel=1e-3)  # U's land lies on no parcel: not here
    assert z["tax_per_mu"] == pytest.approx(700 / 45, rel=1e-3)
    # value added over the land whose worker reports it: C's 5 mu are left out
    assert z["value_added_per_mu"] == pytest.approx((600 + 200 + 300) / 40, rel=1e-3)
    # A, B, C, T work land here (L none)
    assert z["enterprise_count"] == 4
    # 规上 figures: A's 15 mu and T's 15 mu
    assert z["above_scale_tax_per_mu"] == pytest.approx((400 + 150) / 30, rel=1e-3)
