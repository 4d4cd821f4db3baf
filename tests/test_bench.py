"""The benchmark data and peers (bench/): the province generator, the DuckDB peer's agreement
with mujun, the agreement checks and the stage profiler. Fast: a few thousand parcels."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from mujun.geo.area import area_m2
from mujun.layers.rulesets import load_rule_set
from mujun.layers.validate import invalid_credit_codes
from mujun.layers.workspace import Workspace
from mujun.service import evaluate

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


province = _load("bench_province", BENCH / "province.py")
agreement = _load("bench_agreement", BENCH / "agreement.py")
stages = _load("bench_stages", BENCH / "stages.py")
duckdb_eval = _load("bench_duckdb_eval", BENCH / "peers" / "duckdb_eval.py")

N = 1500


@pytest.fixture(scope="module")
def layers():
    return province.generate(N, seed=7)


def test_generate_is_deterministic(layers):
    again = province.generate(N, seed=7)
    for kind, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            assert shapely.equals_exact(frame.geometry.values, again[kind].geometry.values, 0).all(), kind
            pd.testing.assert_frame_equal(frame.drop(columns="geometry"), again[kind].drop(columns="geometry"))
        else:
            pd.testing.assert_frame_equal(frame, again[kind])
    other = province.generate(N, seed=8)
    assert not shapely.equals_exact(layers["parcels"].geometry.values[:50], other["parcels"].geometry.values[:50], 0).all()


def test_counts_and_ratios(layers):
    parcels, firms = layers["parcels"], layers["enterprises"]
    assert len(parcels) == N
    assert parcels["宗地代码"].is_unique
    assert len(layers["districts"]) == 11
    assert len(layers["parks"]) >= 6 and len(layers["platforms"]) >= 3
    assert 0.25 <= len(firms) / N <= 0.35  # ≈ 0.3 enterprises a parcel, as at province scale
    built = parcels["实际开工日期"].notna().sum()
    assert 2.5 <= len(layers["buildings"]) / built <= 4.0  # about three buildings a built parcel
    held = parcels["统一社会信用代码"].dropna()
    assert held.isin(firms["统一社会信用代码"]).all()
    assert (firms["年度"] == province.YEAR).all()
    assert (firms["是否规上"] == "是").mean() > 0.3


def test_credit_codes_are_valid_and_unique(layers):
    codes = pd.Series(layers["enterprises"]["统一社会信用代码"], dtype="string")
    assert codes.is_unique
    assert not invalid_credit_codes(codes).any()


def test_parcels_lie_in_zhejiang_cities_in_cgcs2000_gk(layers):
    parcels = layers["parcels"]
    assert parcels.crs.to_epsg() == 4549
    cities = province.cities()
    ci, pi = shapely.STRtree(parcels.geometry.values).query(cities.geometry.values, predicate="contains")
    assert np.unique(pi).size == N  # every parcel wholly inside a city outline
    # the parcel code starts with the code of a city holding it
    code = cities["district_id"].to_numpy()[ci]
    match = pd.Series(parcels["宗地代码"].str[:6].to_numpy()[pi] == code).groupby(pi).any()
    assert match.all()
    lon = parcels.geometry.centroid.to_crs(4490).x
    assert lon.between(118.0, 123.0).all()
    # parcels never overlap one another
    a, b = shapely.STRtree(parcels.geometry.values).query(parcels.geometry.values, predicate="overlaps")
    assert a.size == 0
    # spread over several cities, clustered (not one grid)
    assert np.unique(code).size >= 4


def test_platforms_lie_over_parks(layers):
    parks = shapely.union_all(layers["parks"].geometry.values)
    plat = layers["platforms"].geometry.values
    inside = shapely.area(shapely.intersection(plat, parks)) / shapely.area(plat)
    assert (inside > 0.8).all()


def test_build_caches_the_imported_workspace(tmp_path):
    path = province.build(300, 2, out=tmp_path, log=lambda *_: None)
    assert path == province.workspace_path(300, 2, tmp_path)
    ws = Workspace(path)
    assert {"districts", "parks", "platforms", "parcels", "buildings", "enterprises"} <= set(ws.layers())
    assert len(ws.read("parcels")) == 300
    assert ws.meta()["bench_parcels"] == "300"
    stamp = path.stat().st_mtime_ns
    assert province.build(300, 2, out=tmp_path, log=lambda *_: None) == path
    assert path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not list(tmp_path.glob(".province_*_sources"))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(mujun's summary, the DuckDB peer's summary) of one small workspace."""
    out = tmp_path_factory.mktemp("bench")
    built = province.build(1200, 5, out=out, log=lambda *_: None)
    # some firms without an emissions record: both engines must give them the average
    # sub-score, not the floor
    src = out / "with_gaps.gpkg"
    shutil.copyfile(built, src)
    gaps = Workspace(src)
    ent = gaps.read("enterprises")
    ent.loc[ent.index[::25], "emissions"] = np.nan
    gaps.write({"enterprises": ent})
    ws = Workspace(out / "evaluated.gpkg")
    shutil.copyfile(src, ws.path)
    evaluate(ws, province.YEAR, progress=False)
    con = duckdb_eval.connect(threads=2)
    duckdb_eval.evaluate(con, src, province.YEAR, load_rule_set("zhejiang-default"))
    return agreement.mujun_summary(ws, province.YEAR), duckdb_eval.summary(con)


def test_duckdb_peer_agrees_with_mujun(evaluated):
    mujun, peer = evaluated
    rows = agreement.compare(mujun, peer)
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad
    assert mujun["parcels"]["count"] == 1200
    # the peer really scored and classed: both groups, every class
    assert all(peer["groups"][g][c] > 0 for g in ("above_scale", "below_scale") for c in "ABCD")
    assert len(peer["district"]) == 11 and any(z["parcel_count"] for z in peer["park"].values())


def test_compare_catches_a_different_figure(evaluated):
    mujun, peer = evaluated
    worse = copy.deepcopy(peer)
    district = next(k for k, v in worse["district"].items() if v["tax_per_mu"])
    worse["district"][district]["tax_per_mu"] *= 1.001
    worse["groups"]["above_scale"]["A"] += 1
    failed = {r["check"] for r in agreement.compare(mujun, worse) if not r["ok"]}
    assert failed == {"district: tax_per_mu (largest difference)", "above_scale: classes A/B/C/D"}


def test_spatial_extension_is_loaded_from_the_wheel():
    path = duckdb_eval.spatial_extension()
    assert path.name == "spatial.duckdb_extension" and path.is_file()
    con = duckdb_eval.connect(threads=1)
    # the peer measures in each feature's GK zone, axis order lon, lat, as mujun.geo.area does
    for wkt in ("POLYGON((120 30, 120.01 30, 120.01 30.01, 120 30.01, 120 30))",
                "POLYGON((122.2 30, 122.21 30, 122.21 30.01, 122.2 30.01, 122.2 30))"):
        peer = con.execute(f"SELECT ST_Area({duckdb_eval._gk(f'ST_GeomFromText({wkt!r})')})").fetchone()[0]
        ours = area_m2(gpd.GeoSeries.from_wkt([wkt], crs=4490)).iloc[0]
        assert peer == pytest.approx(ours, rel=1e-9)
        assert peer == pytest.approx(1.07e6, rel=0.01)  # about 964 m × 1109 m


def test_stages_time_nested_calls():
    class Work:
        @staticmethod
        def inner(x):
            time.sleep(0.01)
            return x + 1

        @staticmethod
        def outer(x):
            return Work.inner(x) + Work.inner(x)

    prof = stages.Stages(interval=0.001)
    prof.wrap(Work, "inner", lambda x: f"inner({x})")
    prof.wrap(Work, "outer")
    assert Work.outer(1) == 4
    prof.close()
    rows = {r["stage"]: r for r in prof.rows()}
    assert list(rows) == ["outer", "outer > inner(1)"]
    assert rows["outer > inner(1)"]["calls"] == 2 and rows["outer > inner(1)"]["depth"] == 1
    assert rows["outer"]["seconds"] >= rows["outer > inner(1)"]["seconds"] >= 0.02
    assert rows["outer"]["peak_mib"] >= rows["outer"]["rss_in_mib"] > 0
