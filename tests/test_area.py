"""Areas in m² and mu, checked against pyproj's geodesic area on the ellipsoid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from mujun.geo.area import M2_PER_MU, area_m2, area_mu, local_gk_crs
from mujun.geo.errors import CRSError, SchemaError

GRS80 = Geod(ellps="GRS80")
REL_TOL = 1e-3  # 0.1 %


def geodesic_area_m2(poly: shapely.Geometry, crs: str) -> float:
    """Reference area: the polygon densified in its own CRS, taken to lon/lat, measured on GRS80.

    Densifying first keeps the figure the same (straight edges in a projected CRS stay
    those edges; edges of a lon/lat box follow their parallels and meridians).
    """
    src = CRS.from_user_input(crs)
    poly = shapely.orient_polygons(poly)  # pyproj adds rings by orientation: holes clockwise
    if src.is_geographic:
        return abs(GRS80.geometry_area_perimeter(shapely.segmentize(poly, 1e-5))[0])
    dense = shapely.segmentize(poly, 1.0)
    to_ll = Transformer.from_crs(src, "EPSG:4490", always_xy=True)

    def _xy(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(to_ll.transform(coords[:, 0], coords[:, 1]))

    return abs(GRS80.geometry_area_perimeter(shapely.transform(dense, _xy))[0])


def _lonlat_box(lon: float, lat: float, width_m: float, height_m: float) -> shapely.Polygon:
    """A lon/lat box of roughly ``width_m`` × ``height_m`` with its south-west corner at (lon, lat)."""
    dlon = width_m / (111320.0 * np.cos(np.radians(lat)))
    dlat = height_m / 110574.0
    return shapely.box(lon, lat, lon + dlon, lat + dlat)


# x ≈ 557 km in CM 120E zone is about 120.59E; y = 3 320 km is about 30.0N
CASES = {
    "4549 rectangle (CM 120E, FE 500000)": ("EPSG:4549", shapely.box(557000, 3320000, 557120, 3320080)),
    "4528 rectangle (zone 40 prefixed)": ("EPSG:4528", shapely.box(40557000, 3320000, 40557120, 3320080)),
    "4326 lon/lat rectangle near 120.6E 30N": ("EPSG:4326", shapely.box(120.60, 30.00, 120.6015, 30.0009)),
    "4490 rectangle at 121.45E (zone edge)": ("EPSG:4490", _lonlat_box(121.45, 30.6, 150, 90)),
    "4490 rectangle at 118.5E (zone boundary)": ("EPSG:4490", _lonlat_box(118.5, 29.2, 150, 90)),
    "4326 rectangle at 122.9E (Zhoushan)": ("EPSG:4326", _lonlat_box(122.9, 29.9, 150, 90)),
    "4550 rectangle (CM 123E)": ("EPSG:4550", shapely.box(448000, 3310000, 448200, 3310150)),
    "4549 1 km2": ("EPSG:4549", shapely.box(557000, 3320000, 558000, 3321000)),
    "4528 1 km2 near the zone edge": ("EPSG:4528", shapely.box(40639000, 3380000, 40640000, 3381000)),
    "4490 1 km2 at 121.45E": ("EPSG:4490", _lonlat_box(121.45, 30.6, 1000, 1000)),
    "4490 1 km2 at 118.55E": ("EPSG:4490", _lonlat_box(118.55, 28.9, 1000, 1000)),
    "3857 input rectangle": ("EPSG:3857", shapely.box(13424000, 3503000, 13424200, 3503150)),
    "4549 polygon with a courtyard": (
        "EPSG:4549",
        shapely.Polygon(
            [(557000, 3320000), (557100, 3320000), (557100, 3320100), (557000, 3320100)],
            holes=[[(557025, 3320025), (557075, 3320025), (557075, 3320075), (557025, 3320075)]],
        ),
    ),
}


@pytest.mark.parametrize(("crs", "poly"), list(CASES.values()), ids=list(CASES))
def test_area_mu_matches_geodesic_area(crs, poly):
    expected_mu = geodesic_area_m2(poly, crs) / (10000.0 / 15.0)
    got = area_mu(gpd.GeoSeries([poly], crs=crs)).iloc[0]
    assert got == pytest.approx(expected_mu, rel=REL_TOL)


@pytest.mark.parametrize(("crs", "poly"), list(CASES.values()), ids=list(CASES))
def test_area_m2_matches_geodesic_area(crs, poly):
    got = area_m2(gpd.GeoSeries([poly], crs=crs)).iloc[0]
    assert got == pytest.approx(geodesic_area_m2(poly, crs), rel=REL_TOL)


def test_edge_cases_are_near_the_zone_edges():
    # guard the test data: these parcels really are ~1.5 degrees from a central meridian
    lon_121 = CASES["4490 rectangle at 121.45E (zone edge)"][1].bounds[0]
    lon_118 = CASES["4490 rectangle at 118.5E (zone boundary)"][1].bounds[0]
    assert min(abs(lon_121 - 120), abs(lon_121 - 123)) > 1.4
    assert min(abs(lon_118 - 117), abs(lon_118 - 120)) >= 1.5
    x = Transformer.from_crs("EPSG:4528", "EPSG:4490", always_xy=True).transform(40639500, 3380500)[0]
    assert 121.4 < x < 121.5


def test_features_in_different_zones_each_use_their_own_zone():
    # one series spanning three zones: a single zone for all would be > 0.1 % off at the ends
    polys = [_lonlat_box(118.2, 29.5, 500, 400), _lonlat_box(120.5, 30.0, 500, 400),
             _lonlat_box(122.95, 30.0, 500, 400)]
    got = area_m2(gpd.GeoSeries(polys, crs="EPSG:4490")).to_numpy()
    expected = np.array([geodesic_area_m2(p, "EPSG:4490") for p in polys])
    np.testing.assert_allclose(got, expected, rtol=REL_TOL)
    # sanity: the reference is discriminating — one zone (CM 120E) for all misses by > 0.1 %
    single = shapely.area(gpd.GeoSeries(polys, crs="EPSG:4490").to_crs(4549).values)
    assert abs(single[2] / expected[2] - 1) > REL_TOL


def test_web_mercator_area_is_not_within_tolerance():
    # sanity check that the reference would catch an area taken in EPSG:3857
    crs, poly = CASES["4326 lon/lat rectangle near 120.6E 30N"]
    truth = geodesic_area_m2(poly, crs)
    merc = gpd.GeoSeries([poly], crs=crs).to_crs(3857).area.iloc[0]
    assert abs(merc / truth - 1) > REL_TOL
    # and the inflation is about the 1/cos²(lat) of the Mercator projection (spherical
    # formulas on ellipsoidal coordinates add a few per mille)
    assert merc / truth == pytest.approx(1 / np.cos(np.radians(30.00045)) ** 2, rel=1e-2)


def test_degree_area_is_not_within_tolerance():
    crs, poly = CASES["4326 lon/lat rectangle near 120.6E 30N"]
    assert abs(poly.area / geodesic_area_m2(poly, crs) - 1) > REL_TOL


def test_one_hectare_is_fifteen_mu():
    assert abs(M2_PER_MU * 15 - 10000.0) < 1e-9
    ha = shapely.box(500000, 3300000, 500100, 3300100)  # on the central meridian: scale 1
    s = gpd.GeoSeries([ha], crs="EPSG:4549")
    assert area_m2(s).iloc[0] == pytest.approx(10000.0, rel=1e-9)
    assert area_mu(s).iloc[0] == pytest.approx(15.0, rel=1e-9)


def test_one_square_kilometre_is_1500_mu():
    crs, poly = CASES["4549 1 km2"]
    assert area_mu(gpd.GeoSeries([poly], crs=crs)).iloc[0] == pytest.approx(1500.0, rel=REL_TOL)


def test_area_mu_is_area_m2_over_mu():
    polys = [CASES["4549 1 km2"][1], CASES["4549 rectangle (CM 120E, FE 500000)"][1]]
    s = gpd.GeoSeries(polys, crs="EPSG:4549")
    np.testing.assert_allclose(area_mu(s).to_numpy(), area_m2(s).to_numpy() * 15 / 10000, rtol=1e-12)


def test_missing_geometry_is_nan_and_empty_is_zero():
    poly = CASES["4549 rectangle (CM 120E, FE 500000)"][1]
    s = gpd.GeoSeries([poly, None, shapely.Polygon(), shapely.MultiPolygon()], crs="EPSG:4549")
    out = area_mu(s)
    assert out.iloc[0] == pytest.approx(9600 / M2_PER_MU, rel=REL_TOL)
    assert np.isnan(out.iloc[1])
    assert out.iloc[2] == 0.0
    assert out.iloc[3] == 0.0


def test_all_missing_geometries():
    out = area_m2(gpd.GeoSeries([None, None], crs="EPSG:4490"))
    assert out.isna().all()
    assert len(out) == 2


def test_empty_series():
    out = area_mu(gpd.GeoSeries([], crs="EPSG:4490"))
    assert out.name == "area_mu"
    assert len(out) == 0


def test_result_is_named_and_keeps_the_index():
    poly = CASES["4549 rectangle (CM 120E, FE 500000)"][1]
    idx = pd.Index(["Z-7", "Z-2", "Z-9"], name="parcel_id")
    gdf = gpd.GeoDataFrame({"v": [1, 2, 3]}, geometry=[poly, None, poly], crs="EPSG:4549", index=idx)
    out = area_mu(gdf)
    assert out.name == "area_mu"
    assert out.index.equals(idx)
    assert area_m2(gdf).name == "area_m2"
    assert area_m2(gdf).index.equals(idx)
    # a GeoDataFrame and its GeoSeries give the same result
    pd.testing.assert_series_equal(out, area_mu(gdf.geometry))


def test_non_default_integer_index_with_mixed_zones():
    polys = [_lonlat_box(122.95, 30.0, 100, 100), _lonlat_box(120.5, 30.0, 200, 100)]
    s = gpd.GeoSeries(polys, crs="EPSG:4490", index=[10, 3])
    out = area_m2(s)
    assert out.index.tolist() == [10, 3]
    assert out.loc[10] == pytest.approx(geodesic_area_m2(polys[0], "EPSG:4490"), rel=REL_TOL)
    assert out.loc[3] == pytest.approx(geodesic_area_m2(polys[1], "EPSG:4490"), rel=REL_TOL)


@pytest.mark.parametrize("func", [area_mu, area_m2, local_gk_crs])
def test_geoseries_without_crs_raises_crs_error(func):
    with pytest.raises(CRSError, match="坐标系"):
        func(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]))


def test_geodataframe_without_crs_raises_crs_error():
    with pytest.raises(CRSError):
        area_mu(gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))


def test_not_geometry_raises_schema_error():
    with pytest.raises(SchemaError, match="GeoDataFrame 或 GeoSeries"):
        area_mu(pd.Series([1.0, 2.0]))


@pytest.mark.parametrize(
    ("crs", "poly", "expected"),
    [
        ("EPSG:4490", shapely.box(120.5, 30.0, 120.6, 30.1), 4549),
        ("EPSG:4490", shapely.box(122.2, 30.0, 122.3, 30.1), 4550),
        ("EPSG:4490", shapely.box(118.2, 29.0, 118.3, 29.1), 4548),
        ("EPSG:4528", shapely.box(40557000, 3320000, 40557100, 3320100), 4549),
    ],
)
def test_local_gk_crs(crs, poly, expected):
    assert local_gk_crs(gpd.GeoSeries([poly], crs=crs)).to_epsg() == expected


def test_local_gk_crs_uses_the_median_longitude():
    polys = [_lonlat_box(lon, 30.0, 100, 100) for lon in (118.2, 122.2, 122.4)]
    assert local_gk_crs(gpd.GeoSeries(polys, crs="EPSG:4490")).to_epsg() == 4550


def test_local_gk_crs_without_geometries_defaults_to_cm_120():
    assert local_gk_crs(gpd.GeoSeries([None], crs="EPSG:4490")).to_epsg() == 4549
