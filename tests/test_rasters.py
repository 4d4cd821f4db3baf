"""Tests for mujun.layers.rasters (registering rasters in the workspace) and mujun.layers.sample_raster."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from mujun.geo.errors import CRSError, InputError, WorkspaceError
from mujun.geo.zonal import builtup_fraction
from mujun.layers.rasters import TABLE, parcel_builtup, register_raster, registered_rasters
from mujun.layers.sample import generate
from mujun.layers.sample_raster import write_builtup_raster
from mujun.layers.workspace import Workspace

X0, Y1, RES, N = 500000.0, 3300200.0, 10.0, 20  # EPSG:4549, near 120.0°E 29.8°N


def _tif(path: Path, values: np.ndarray, *, nodata=-1, crs="EPSG:4549", x0=X0, y1=Y1) -> Path:
    bands = values if values.ndim == 3 else values[None]
    profile = dict(driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                   dtype=bands.dtype.name, transform=Affine(RES, 0, x0, 0, -RES, y1), nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
    return path


def _fractions() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 1, (N, N)).round(2).astype("float32")


def _parcels() -> gpd.GeoDataFrame:
    boxes = [shapely.box(X0 + 20, Y1 - 100, X0 + 80, Y1 - 40), shapely.box(X0 + 110, Y1 - 190, X0 + 190, Y1 - 120)]
    return gpd.GeoDataFrame({"parcel_id": ["P1", "P2"]}, geometry=boxes, crs="EPSG:4549").to_crs("EPSG:4490")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace(tmp_path / "ws.gpkg")
    w.write({"parcels": _parcels()})
    return w


@pytest.fixture
def builtup(tmp_path) -> Path:
    return _tif(tmp_path / "建成区.tif", _fractions())


@pytest.fixture
def landcover(tmp_path) -> Path:
    codes = np.random.default_rng(5).choice(np.array([10, 50, 80], dtype="uint8"), (N, N))
    return _tif(tmp_path / "worldcover.tif", codes, nodata=0)


# -- register_raster -----------------------------------------------------------------------
def test_register_stores_a_reference(ws, builtup):
    row = register_raster(ws, builtup, "builtup")
    table = registered_rasters(ws)
    assert len(table) == 1 and ws.has(TABLE)
    stored = table.iloc[0]
    assert stored["kind"] == "builtup"
    assert stored["path"] == str(builtup.resolve())
    assert stored["scale"] == 1.0
    assert stored["crs"] == "EPSG:4549"
    assert stored["sha256"] == _sha(builtup)
    assert stored["size_bytes"] == builtup.stat().st_size
    assert 119.9 < stored["west"] < 120.0 < stored["east"] < 120.1 and 29.7 < stored["south"] < stored["north"] < 29.9
    assert (row["parcels_covered"], row["parcels_total"], row["notes"]) == (2, 2, [])
    assert "mujun_import_log" in ws.layers()


def test_register_replaces_the_same_kind_and_keeps_the_other(ws, builtup, landcover, tmp_path):
    register_raster(ws, builtup, "builtup")
    row = register_raster(ws, landcover, "landcover")
    assert row["classes"] == "50" and "WorldCover" in row["notes"][0]
    other = _tif(tmp_path / "percent.tif", (_fractions() * 100).astype("float32"))
    register_raster(ws, other, "builtup", scale=100)
    table = registered_rasters(ws)
    assert table["kind"].tolist() == ["builtup", "landcover"]
    assert table.set_index("kind").loc["builtup", "path"] == str(other)
    assert table.set_index("kind").loc["builtup", "scale"] == 100.0


def test_register_without_parcels_layer(tmp_path, builtup):
    w = Workspace(tmp_path / "empty.gpkg")
    row = register_raster(w, builtup, "builtup")
    assert row["parcels_covered"] is None and len(registered_rasters(w)) == 1


def test_register_notes_partial_cover(ws, tmp_path):
    small = _tif(tmp_path / "small.tif", _fractions()[:10, :10])  # covers P1 only
    row = register_raster(ws, small, "builtup")
    assert (row["parcels_covered"], row["parcels_total"]) == (1, 2)
    assert "1/2" in row["notes"][0]


def test_registered_rasters_empty(ws):
    table = registered_rasters(ws)
    assert table.empty and "path" in table.columns and "sha256" in table.columns


def _not_raster(tmp_path):
    p = tmp_path / "fake.tif"
    p.write_text("这不是栅格", encoding="utf-8")
    return p, "builtup", {}


CASES = {
    "missing": (lambda t: (t / "nowhere.tif", "builtup", {}), InputError, r"找不到栅格文件 .*nowhere\.tif"),
    "directory": (lambda t: (t, "builtup", {}), InputError, "不是文件"),
    "not a raster": (_not_raster, InputError, r"fake\.tif 不是可读取的栅格文件"),
    "no crs": (lambda t: (_tif(t / "nocrs.tif", _fractions(), crs=None), "builtup", {}), CRSError,
               r"nocrs\.tif 没有坐标系"),
    "no overlap": (lambda t: (_tif(t / "far.tif", _fractions(), x0=400000.0), "builtup", {}), InputError,
                   r"far\.tif 的范围（经度 118\.9\d\d–118\.9\d\d，纬度 29\.\d+–29\.\d+）与工作空间的地块.*不重叠"),
    "bad kind": (lambda t: (_tif(t / "b.tif", _fractions()), "ndvi", {}), InputError, "未知的栅格类型 'ndvi'.*builtup"),
    "two bands": (lambda t: (_tif(t / "two.tif", np.stack([_fractions()] * 2)), "builtup", {}), InputError,
                  r"two\.tif 有 2 个波段"),
    "float landcover": (lambda t: (_tif(t / "lc.tif", _fractions()), "landcover", {}), InputError, "不像地类编码"),
    "classes for builtup": (lambda t: (_tif(t / "b.tif", _fractions()), "builtup", {"classes": [50]}), InputError,
                            "只用于 --kind landcover"),
    "scale for landcover": (lambda t: (_tif(t / "c.tif", np.full((N, N), 50, "uint8"), nodata=0), "landcover",
                                       {"scale": 100}), InputError, "只用于 --kind builtup"),
    "bad scale": (lambda t: (_tif(t / "b.tif", _fractions()), "builtup", {"scale": 0}), InputError, "scale 应为正数"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_register_errors_leave_the_workspace_unchanged(ws, builtup, tmp_path, case):
    register_raster(ws, builtup, "builtup")  # an earlier registration that must survive
    before = _sha(ws.path)
    make, error, message = CASES[case]
    src = tmp_path / "src"
    src.mkdir()
    path, kind, options = make(src)
    with pytest.raises(error, match=message):
        register_raster(ws, path, kind, **options)
    assert _sha(ws.path) == before
    assert sorted(p.name for p in ws.path.parent.glob("*.gpkg")) == ["ws.gpkg"]


# -- parcel_builtup ------------------------------------------------------------------------
def test_parcel_builtup_none_without_raster(ws):
    assert parcel_builtup(ws, _parcels()) is None


def test_parcel_builtup_uses_the_registered_raster(ws, builtup, landcover):
    parcels = _parcels().set_index("parcel_id")
    register_raster(ws, landcover, "landcover", classes=[50])
    from_classes = parcel_builtup(ws, parcels)
    register_raster(ws, builtup, "builtup")
    got = parcel_builtup(ws, parcels)  # built-up preferred over land cover
    with rasterio.open(builtup) as ds:
        expected = builtup_fraction(parcels, ds)
    pd.testing.assert_series_equal(got, expected)
    assert got.index.tolist() == ["P1", "P2"] and got.between(0, 1).all()
    # P1 covers columns 2..7, rows 4..9: the plain mean of those cells
    assert got["P1"] == pytest.approx(_fractions()[4:10, 2:8].mean(dtype="float64"), abs=1e-6)
    assert not np.allclose(from_classes.to_numpy(), got.to_numpy())


def test_parcel_builtup_refuses_a_deleted_file(ws, builtup):
    register_raster(ws, builtup, "builtup")
    builtup.unlink()
    with pytest.raises(WorkspaceError, match=r"建成区比例栅格 .*建成区\.tif 已不存在.*mujun import raster"):
        parcel_builtup(ws, _parcels())


def test_parcel_builtup_refuses_a_changed_file(ws, builtup):
    register_raster(ws, builtup, "builtup")
    with builtup.open("ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(WorkspaceError, match="文件大小不同"):
        parcel_builtup(ws, _parcels())


def test_parcel_builtup_checks_content_when_the_time_changed(ws, builtup):
    register_raster(ws, builtup, "builtup")
    stat = builtup.stat()
    os.utime(builtup, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes: fine
    assert parcel_builtup(ws, _parcels()).notna().all()
    data = bytearray(builtup.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    builtup.write_bytes(bytes(data))
    with pytest.raises(WorkspaceError, match="已被改动"):
        parcel_builtup(ws, _parcels())


# -- the sample raster ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample():
    layers = generate(7, 0.1)
    return layers["parcels"], layers["buildings"]


@pytest.fixture(scope="module")
def sample_tif(sample, tmp_path_factory) -> Path:
    parcels, buildings = sample
    return write_builtup_raster(buildings, parcels, tmp_path_factory.mktemp("sample") / "建成区.tif", seed=7)


def test_sample_raster_format(sample_tif, sample):
    parcels = sample[0].geometry.values
    with rasterio.open(sample_tif) as ds:
        assert ds.crs.to_epsg() == 4549 and ds.dtypes == ("float32",) and ds.nodata == -1
        assert ds.res == (10.0, 10.0) and ds.block_shapes == [(128, 128)]
        assert ds.compression.name.lower() == "deflate"
        left, bottom, right, top = ds.bounds
        px0, py0, px1, py1 = shapely.total_bounds(parcels)
        assert left <= px0 and bottom <= py0 and right >= px1 and top >= py1
        # the raster spans all of Shaoxing, ~10^8 cells: read block by block, never whole
        windows = [w for _, w in ds.block_windows(1)]
        col, row, w, h = np.array([(w.col_off, w.row_off, w.width, w.height) for w in windows]).T
        boxes = shapely.box(left + col * 10, top - (row + h) * 10, left + (col + w) * 10, top - row * 10)
        occupied = np.zeros(len(windows), dtype=bool)
        occupied[shapely.STRtree(boxes).query(parcels, predicate="intersects")[1]] = True
        assert 0 < occupied.sum() < 0.05 * len(windows)
        drawn = np.concatenate([ds.read(1, window=windows[i]).ravel() for i in np.flatnonzero(occupied)])
        assert drawn.min() >= 0 and drawn.max() <= 1  # every cell of a drawn tile holds a fraction
        # sensor noise: background cells are small positive values, not exact zeros; nothing
        # drawn without noise (footprints, hardstanding, patches, their 2×2 averages) lies in (0, 0.12)
        assert ((drawn > 0) & (drawn < 0.12)).mean() > 0.2
        empty = ds.read(1, window=windows[int(np.flatnonzero(~occupied)[0])])
        assert (empty == -1).all()  # tiles away from the parcels are nodata
    assert sample_tif.stat().st_size < 2_000_000


def test_sample_raster_separates_built_from_unbuilt_parcels(sample_tif, sample):
    parcels, buildings = sample
    with rasterio.open(sample_tif) as ds:
        frac = builtup_fraction(parcels, ds)
    assert frac.notna().all()
    built = parcels.intersects(buildings.union_all()).to_numpy()
    assert built.sum() > 100 and (~built).sum() > 10
    assert frac[built].median() > 0.45
    assert frac[~built].median() < 0.15
    assert frac[built].median() - frac[~built].median() > 0.35
    # not a copy of the footprints: noise and hardstanding spread the values
    assert frac[built].std() > 0.05


def test_sample_raster_is_deterministic(sample, sample_tif, tmp_path):
    parcels, buildings = sample
    again = write_builtup_raster(buildings, parcels, tmp_path / "again.tif", seed=7)
    other = write_builtup_raster(buildings, parcels, tmp_path / "other.tif", seed=8)
    assert _sha(again) == _sha(sample_tif)
    assert _sha(other) != _sha(sample_tif)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.tif", "other.tif"]  # no temporary left
