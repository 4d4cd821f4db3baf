"""CGCS2000 Gauss-Krüger zone selection, cross-checked against the EPSG definitions in pyproj."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS

from mujun.geo.crs import CGCS2000, CHINA_BOUNDS, gk_zone_central_meridian, gk_zone_epsg


def _central_meridian(code: int) -> float:
    """Longitude of natural origin of an EPSG projected CRS, read from its definition."""
    op = CRS.from_epsg(code).coordinate_operation
    (value,) = [p.value for p in op.params if p.name == "Longitude of natural origin"]
    return float(value)


def _false_easting(code: int) -> float:
    op = CRS.from_epsg(code).coordinate_operation
    (value,) = [p.value for p in op.params if p.name == "False easting"]
    return float(value)


@pytest.mark.parametrize(
    ("lon", "expected"),
    [(117.9, 4548), (118.2, 4548), (119.0, 4549), (120.4, 4549), (121.4, 4549), (122.0, 4550), (122.9, 4550)],
)
def test_gk_zone_epsg_for_zhejiang_longitudes(lon, expected):
    assert int(gk_zone_epsg(lon)) == expected


def test_gk_zone_epsg_vectorised_keeps_order():
    assert gk_zone_epsg(np.array([122.0, 117.9, 120.4])).tolist() == [4550, 4548, 4549]


@pytest.mark.parametrize("lon", np.round(np.arange(118.0, 123.01, 0.25), 2).tolist())
def test_zone_epsg_central_meridian_matches_pyproj(lon):
    code = int(gk_zone_epsg(lon))
    cm = _central_meridian(code)
    assert cm == pytest.approx(float(gk_zone_central_meridian(lon)))
    # the chosen zone is the one whose central meridian is nearest (3-degree zones)
    assert abs(lon - cm) <= 1.5 + 1e-9


def test_every_zone_code_is_cgcs2000_gauss_kruger_without_prefix():
    # across the whole of China, each selected code is a CGCS2000 3-degree GK zone
    # with false easting 500000 and the central meridian the function claims
    lons = np.arange(CHINA_BOUNDS[0], CHINA_BOUNDS[2] + 0.01, 0.5)
    codes = gk_zone_epsg(lons)
    cms = gk_zone_central_meridian(lons)
    for code, cm in set(zip(codes.tolist(), cms.tolist(), strict=True)):
        crs = CRS.from_epsg(code)
        assert crs.is_projected
        assert "CGCS2000" in crs.name and "3-degree Gauss-Kruger" in crs.name
        assert f"CM {cm}E" in crs.name
        assert _central_meridian(code) == pytest.approx(cm)
        assert _false_easting(code) == pytest.approx(500000.0)
        assert crs.geodetic_crs.to_epsg() == 4490
    # 75E … 135E: the 21 zones EPSG:4534 … EPSG:4554
    assert set(codes.tolist()) == set(range(4534, 4555))


def test_zhejiang_zones_have_the_documented_central_meridians():
    # domain.md: 4548 CM 117E, 4549 CM 120E, 4550 CM 123E; zone-prefixed twins 4527/4528/4529
    assert [_central_meridian(c) for c in (4548, 4549, 4550)] == [117.0, 120.0, 123.0]
    assert [_central_meridian(c) for c in (4527, 4528, 4529)] == [117.0, 120.0, 123.0]
    assert [_false_easting(c) for c in (4527, 4528, 4529)] == [39500000.0, 40500000.0, 41500000.0]


def test_central_meridian_is_nearest_multiple_of_three():
    lons = np.array([118.4, 118.6, 120.2, 121.4, 121.6, 122.9])
    assert gk_zone_central_meridian(lons).tolist() == [117, 120, 120, 120, 123, 123]


def test_central_meridian_is_clipped_to_chinese_zones():
    assert gk_zone_central_meridian([CHINA_BOUNDS[0], CHINA_BOUNDS[2]]).tolist() == [75, 135]
    assert gk_zone_epsg([CHINA_BOUNDS[0], CHINA_BOUNDS[2]]).tolist() == [4534, 4554]


def test_storage_crs_is_geographic_cgcs2000():
    crs = CRS.from_user_input(CGCS2000)
    assert crs.to_epsg() == 4490
    assert crs.is_geographic
