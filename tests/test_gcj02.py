"""GCJ-02 shift: published reference values, round trip, and the size of the offset in Zhejiang."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from mujun.geo.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

# A grid over Zhejiang (118.0–123.0E, 27.0–31.2N)
LON, LAT = np.meshgrid(np.linspace(118.0, 123.0, 41), np.linspace(27.0, 31.2, 36))


def _reference_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 forward formula, written out with scalar math as an independent check."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    t_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    t_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
             + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (t_lat * 180.0) / ((a * (1 - ee)) / (magic * sqrt_magic) * math.pi)
    d_lon = (t_lon * 180.0) / (a / sqrt_magic * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def test_published_reference_value():
    # wandergis/coordtransform README: wgs84togcj02(116.404, 39.915) -> [116.41024449916938, 39.91640428150164]
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-9)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-9)


@pytest.mark.parametrize(("lon", "lat"), [(120.58, 30.0), (118.2, 28.9), (122.2, 30.0), (121.5, 29.87), (120.7, 27.99)])
def test_forward_matches_scalar_reference(lon, lat):
    got = wgs84_to_gcj02(lon, lat)
    ref = _reference_gcj02(lon, lat)
    assert float(got[0]) == pytest.approx(ref[0], abs=1e-10)
    assert float(got[1]) == pytest.approx(ref[1], abs=1e-10)


def test_round_trip_over_zhejiang():
    glon, glat = wgs84_to_gcj02(LON, LAT)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert wlon.shape == LON.shape
    assert np.abs(wlon - LON).max() < 1e-7
    assert np.abs(wlat - LAT).max() < 1e-7


def test_inverse_then_forward_over_zhejiang():
    # treat the grid as GCJ-02 coordinates: shifting back and forth must return them
    wlon, wlat = gcj02_to_wgs84(LON, LAT)
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    assert np.abs(glon - LON).max() < 1e-7
    assert np.abs(glat - LAT).max() < 1e-7


def test_offset_in_zhejiang_is_300_to_700_m():
    glon, glat = wgs84_to_gcj02(LON, LAT)
    _, _, dist = Geod(ellps="WGS84").inv(LON.ravel(), LAT.ravel(), glon.ravel(), glat.ravel())
    assert dist.min() > 300.0
    assert dist.max() < 700.0


def test_shift_direction_in_zhejiang():
    # GCJ-02 lies to the east and south of WGS84 in Zhejiang
    glon, glat = wgs84_to_gcj02(LON, LAT)
    assert (glon > LON).all()
    assert (glat < LAT).all()


def test_scalar_and_list_inputs():
    lon, lat = wgs84_to_gcj02(120.58, 30.0)
    assert np.ndim(lon) == 0 and np.ndim(lat) == 0
    lons, lats = gcj02_to_wgs84([120.584, 121.0], [29.997, 29.5])
    assert lons.shape == (2,) and lats.shape == (2,)


def test_nan_passes_through():
    lon, lat = gcj02_to_wgs84(np.array([np.nan, 120.58]), np.array([np.nan, 30.0]))
    assert np.isnan(lon[0]) and np.isnan(lat[0])
    back = wgs84_to_gcj02(lon[1], lat[1])
    assert float(back[0]) == pytest.approx(120.58, abs=1e-9)
    assert float(back[1]) == pytest.approx(30.0, abs=1e-9)
