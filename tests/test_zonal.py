"""Tests for mujun.geo.zonal: exact-coverage built-up fractions against direct computations.

Two independent references:

- ``rasterio.mask.mask`` (all_touched=False) keeps the cells whose *centre* lies inside the
  polygon. For a polygon whose edges follow cell edges that is exactly the set of cells
  exactextract covers fully (every other cell has coverage 0), so the two must agree to
  floating-point precision.
- For polygons that cut cells (a diagonal edge), cell centres are only an approximation of
  exact coverage; there the reference is a brute-force coverage computed by testing a
  dense grid of points inside each cell (error well below 1e-3 at 60×60 points per cell), and
  the mask result is only expected to be close.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.mask
import shapely
from affine import Affine

from mujun.geo.errors import CRSError, InputError, SchemaError
from mujun.geo.zonal import builtup_fraction, class_fraction

X0, Y1, RES, N = 500000.0, 3300200.0, 10.0, 20  # a 20 × 20 grid of 10 m cells, EPSG:4549
NODATA_BLOCK = (slice(10, 13), slice(10, 13))  # rows, cols


def _write(path: Path, values: np.ndarray, *, nodata, crs="EPSG:4549", transform=None) -> Path:
    profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                   dtype=values.dtype.name, transform=transform or Affine(RES, 0, X0, 0, -RES, Y1), nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(values, 1)
    return path


def _fraction_values() -> np.ndarray:
    v = np.random.default_rng(42).uniform(0, 1, (N, N)).round(2).astype("float32")
    v[NODATA_BLOCK] = -1
    return v


def _class_values() -> np.ndarray:
    v = np.random.default_rng(7).choice(np.array([10, 40, 50, 60, 80], dtype="uint8"), (N, N))
    v[NODATA_BLOCK] = 0
    return v


@pytest.fixture(scope="module")
def rasters(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("zonal")
    frac = _fraction_values()
    pct = np.where(frac >= 0, frac * 100, -1).astype("float32")
    return {
        "fraction": _write(d / "fraction.tif", frac, nodata=-1),
        "percent": _write(d / "percent.tif", pct, nodata=-1),
        "classes": _write(d / "classes.tif", _class_values(), nodata=0),
    }


def cell_box(c0: int, r0: int, c1: int, r1: int) -> shapely.Polygon:
    """The polygon covering columns c0..c1-1 and rows r0..r1-1 (may reach past the grid)."""
    return shapely.box(X0 + c0 * RES, Y1 - r1 * RES, X0 + c1 * RES, Y1 - r0 * RES)


ALIGNED = cell_box(3, 3, 11, 11)  # 8 × 8 cells, includes one nodata cell (10, 10)
DIAGONAL = shapely.Polygon([(X0 + 15, Y1 - 185), (X0 + 175, Y1 - 185), (X0 + 15, Y1 - 27)])
PARTLY_OUTSIDE = cell_box(-5, -3, 4, 6)  # only columns 0..3, rows 0..5 lie on the raster
OUTSIDE = shapely.box(X0 + 1000, Y1 + 1000, X0 + 1100, Y1 + 1100)
ALL_NODATA = cell_box(10, 10, 13, 13)


def _mask_mean(ds, polygon) -> float:
    with warnings.catch_warnings():
        # rasterio 1.4 multiplies Affine objects with `*`, which affine 3 marks as pending deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        out, _ = rasterio.mask.mask(ds, [polygon], crop=True, all_touched=False, filled=False)
    return float(out.astype("float64").mean())


def _mask_values(ds, polygon) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        out, _ = rasterio.mask.mask(ds, [polygon], crop=True, all_touched=False, filled=False)
    return out.compressed()


def _coverage(polygon, k: int = 60) -> np.ndarray:
    """Share of each cell inside ``polygon``, by testing k × k points per cell."""
    offsets = (np.arange(k) + 0.5) / k * RES
    cx = X0 + np.arange(N)[None, :, None, None] * RES + offsets[None, None, None, :]
    cy = Y1 - np.arange(N)[:, None, None, None] * RES - offsets[None, None, :, None]
    cx, cy = np.broadcast_arrays(cx, cy)
    return shapely.contains_xy(polygon, cx, cy).mean(axis=(2, 3))


def _brute_force_mean(values: np.ndarray, valid: np.ndarray, polygon) -> float:
    w = _coverage(polygon) * valid
    return float((w * values).sum() / w.sum())


def _series(*geoms, crs="EPSG:4549", index=None) -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), crs=crs, index=index)


# -- builtup_fraction ----------------------------------------------------------------------
def test_aligned_polygon_equals_rasterio_mask_exactly(rasters):
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(_series(ALIGNED), ds)
        expected = _mask_mean(ds, ALIGNED)
    assert got.name == "builtup_fraction"
    assert got.iloc[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # the reference really excludes the nodata cell: 63 cells, not 64
    values = _fraction_values()[3:11, 3:11]
    assert expected == pytest.approx(values[values >= 0].mean(dtype="float64"), abs=1e-7)


def test_partly_outside_polygon_uses_the_observed_part(rasters):
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(_series(PARTLY_OUTSIDE), ds).iloc[0]
        expected = _mask_mean(ds, PARTLY_OUTSIDE)
    assert got == pytest.approx(expected, abs=1e-12)
    assert got == pytest.approx(_fraction_values()[0:6, 0:4].mean(dtype="float64"), abs=1e-7)


def test_diagonal_polygon_matches_brute_force_coverage(rasters):
    values = _fraction_values().astype("float64")
    exact = _brute_force_mean(values, values >= 0, DIAGONAL)
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(_series(DIAGONAL), ds).iloc[0]
        centres = _mask_mean(ds, DIAGONAL)
    assert got == pytest.approx(exact, abs=1e-3)
    # cell centres approximate exact coverage: close, but not the same number
    assert got == pytest.approx(centres, abs=0.03)
    assert got != pytest.approx(centres, abs=1e-6)


def test_no_observed_cell_gives_nan_and_keeps_index(rasters):
    index = pd.Index(["a", "b", "c", "d", "e", "f"], name="parcel_id")
    geoms = _series(OUTSIDE, ALIGNED, ALL_NODATA, None, shapely.Polygon(), DIAGONAL, index=index)
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(geoms, ds)
        aligned = builtup_fraction(_series(ALIGNED), ds).iloc[0]
    assert got.index.equals(index)
    assert got.isna().tolist() == [True, False, True, True, True, False]
    assert got["b"] == pytest.approx(aligned, abs=1e-12)


def test_accepts_geodataframe_and_empty_input(rasters):
    frame = gpd.GeoDataFrame({"x": [1]}, geometry=[ALIGNED], crs="EPSG:4549", index=[7])
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(frame, ds)
        empty = builtup_fraction(_series(crs="EPSG:4549"), ds)
    assert got.index.tolist() == [7]
    assert empty.empty and empty.name == "builtup_fraction"


def test_polygons_in_cgcs2000_are_projected_to_the_raster(rasters):
    geoms = _series(ALIGNED, DIAGONAL, PARTLY_OUTSIDE)
    with rasterio.open(rasters["fraction"]) as ds:
        planar = builtup_fraction(geoms, ds)
        geographic = builtup_fraction(geoms.to_crs("EPSG:4490"), ds)
    # a 100 m straight edge stays straight to well under a millimetre between the two CRSs
    np.testing.assert_allclose(geographic.to_numpy(), planar.to_numpy(), atol=1e-5)


def test_raster_in_cgcs2000(tmp_path):
    # a 4490 raster of 0.0005° cells; the parcel given in EPSG:4549
    values = _fraction_values()
    transform = Affine(0.0005, 0, 120.5, 0, -0.0005, 30.01)
    path = _write(tmp_path / "geo.tif", values, nodata=-1, crs="EPSG:4490", transform=transform)
    box_geo = shapely.box(120.5 + 3 * 0.0005, 30.01 - 11 * 0.0005, 120.5 + 11 * 0.0005, 30.01 - 3 * 0.0005)
    in_gk = _series(shapely.segmentize(box_geo, 0.00005), crs="EPSG:4490").to_crs("EPSG:4549")
    with rasterio.open(path) as ds:
        got = builtup_fraction(in_gk, ds).iloc[0]
        expected = _mask_mean(ds, box_geo)
    assert got == pytest.approx(expected, abs=1e-3)


def test_percent_raster_with_scale(rasters):
    geoms = _series(ALIGNED, DIAGONAL, PARTLY_OUTSIDE)
    with rasterio.open(rasters["fraction"]) as f, rasterio.open(rasters["percent"]) as p:
        np.testing.assert_allclose(builtup_fraction(geoms, p, scale=100).to_numpy(),
                                   builtup_fraction(geoms, f).to_numpy(), atol=1e-6)


def test_values_above_scale_are_refused(rasters):
    with rasterio.open(rasters["percent"]) as ds, pytest.raises(InputError, match=r"percent\.tif.*scale=100"):
        builtup_fraction(_series(ALIGNED), ds)


@pytest.mark.parametrize("scale", [0, -1, float("nan")])
def test_bad_scale(rasters, scale):
    with rasterio.open(rasters["fraction"]) as ds, pytest.raises(InputError, match="scale 应为正数"):
        builtup_fraction(_series(ALIGNED), ds, scale=scale)


def test_raster_without_crs(tmp_path):
    path = _write(tmp_path / "nocrs.tif", _fraction_values(), nodata=-1, crs=None)
    with rasterio.open(path) as ds, pytest.raises(CRSError, match=r"nocrs\.tif 没有坐标系"):
        builtup_fraction(_series(ALIGNED), ds)


def test_polygons_without_crs(rasters):
    with rasterio.open(rasters["fraction"]) as ds, pytest.raises(CRSError, match="'geometry' 没有坐标系"):
        builtup_fraction(gpd.GeoSeries([ALIGNED]), ds)


def test_wrong_argument_types(rasters):
    with rasterio.open(rasters["fraction"]) as ds, pytest.raises(SchemaError, match="GeoDataFrame 或 GeoSeries"):
        builtup_fraction([ALIGNED], ds)
    with pytest.raises(InputError, match="rasterio 栅格"):
        builtup_fraction(_series(ALIGNED), str(rasters["fraction"]))


# -- class_fraction ------------------------------------------------------------------------
@pytest.mark.parametrize("classes", [[50], [50, 60], (10, 40, 50, 60, 80), [99]])
def test_class_fraction_aligned_equals_mask_count(rasters, classes):
    with rasterio.open(rasters["classes"]) as ds:
        got = class_fraction(_series(ALIGNED, PARTLY_OUTSIDE), ds, classes=classes)
        expected = [np.isin(_mask_values(ds, g), classes).mean() for g in (ALIGNED, PARTLY_OUTSIDE)]
    assert got.name == "builtup_fraction"
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-12)


def test_class_fraction_diagonal_matches_brute_force(rasters):
    codes = _class_values()
    built = np.isin(codes, [50, 60]).astype("float64")
    exact = _brute_force_mean(built, codes != 0, DIAGONAL)
    with rasterio.open(rasters["classes"]) as ds:
        got = class_fraction(_series(DIAGONAL), ds, classes=[50, 60]).iloc[0]
    assert got == pytest.approx(exact, abs=1e-3)


def test_class_fraction_nan_where_unobserved(rasters):
    index = pd.Index([10, 20, 30, 40])
    with rasterio.open(rasters["classes"]) as ds:
        got = class_fraction(_series(OUTSIDE, ALL_NODATA, None, ALIGNED, index=index), ds)
    assert got.isna().tolist() == [True, True, True, False]
    assert got.index.equals(index)


def test_class_fraction_in_cgcs2000_and_empty_classes(rasters):
    geoms = _series(ALIGNED, DIAGONAL)
    with rasterio.open(rasters["classes"]) as ds:
        np.testing.assert_allclose(class_fraction(geoms.to_crs("EPSG:4490"), ds).to_numpy(),
                                   class_fraction(geoms, ds).to_numpy(), atol=1e-5)
        with pytest.raises(InputError, match="classes 为空"):
            class_fraction(geoms, ds, classes=[])


# -- windowed reading --------------------------------------------------------------------
def _per_feature_reference(ds, polygons: gpd.GeoSeries, ops: list[str]) -> pd.DataFrame:
    """exactextract with its own rasterio reader: one read per polygon."""
    from exactextract import exact_extract
    from exactextract.raster import RasterioRasterSource

    features = gpd.GeoDataFrame({"_pos": np.arange(len(polygons))}, geometry=polygons.values, crs=polygons.crs)
    return exact_extract(RasterioRasterSource(ds, 1), features, ops, include_cols=["_pos"], output="pandas")


@pytest.mark.parametrize("window", [3, 4, 7, 2048])
def test_windowed_reads_equal_one_read_per_polygon(rasters, monkeypatch, window):
    """Polygons grouped into windows of a few cells (crossing window edges, reaching off the
    grid, wholly off it, wider than a window, degenerate) get exactly the figures of one
    read per polygon."""
    import mujun.geo.zonal

    monkeypatch.setattr(mujun.geo.zonal, "WINDOW_CELLS", window)
    rng = np.random.default_rng(3)
    c0, r0 = rng.integers(-3, N, 60), rng.integers(-3, N, 60)
    w, h = rng.integers(1, 6, 60), rng.integers(1, 6, 60)
    boxes = [cell_box(a, b, a + c, b + d).buffer(rng.uniform(-2, 2)) for a, b, c, d in zip(c0, r0, w, h, strict=True)]
    rotated = [shapely.affinity.rotate(g, 30) for g in boxes[:20]]
    polygons = _series(*boxes, *rotated, ALIGNED, DIAGONAL, PARTLY_OUTSIDE, OUTSIDE, ALL_NODATA, cell_box(0, 0, N, N),
                       shapely.box(X0 + 50, Y1 - 50, X0 + 50, Y1 - 40).buffer(0.001))
    with rasterio.open(rasters["fraction"]) as ds:
        got = builtup_fraction(polygons, ds).to_numpy()
        ref = _per_feature_reference(ds, polygons, ["mean"])
    expected = np.full(len(polygons), np.nan)
    expected[ref["_pos"].to_numpy()] = ref["mean"].to_numpy(float)
    assert np.isnan(got).sum() >= 2  # OUTSIDE and ALL_NODATA
    np.testing.assert_array_equal(got, expected)
    with rasterio.open(rasters["classes"]) as ds:
        got = class_fraction(polygons, ds, classes=[50]).to_numpy()
        ref = _per_feature_reference(ds, polygons, ["unique", "frac"])
    expected = np.full(len(polygons), np.nan)
    shares = [float(np.sum(f[u == 50])) if len(f) else np.nan for u, f in zip(ref["unique"], ref["frac"], strict=True)]
    expected[ref["_pos"].to_numpy()] = shares
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.isnan(got).sum() == np.isnan(expected).sum()
