"""The dask engine (mujun.engines.dask): the same results as the default engine, on a local cluster."""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from mujun.cli import main
from mujun.engines import dask as dask_engine
from mujun.engines.dask import connect, evaluation_base
from mujun.geo.errors import DependencyError, InputError, SchemaError
from mujun.geo.evaluation import LEVELS, ZONES, building_base, parcel_base
from mujun.layers.rasters import parcel_builtup, raster_source
from mujun.layers.sample import YEARS
from mujun.layers.workspace import Workspace, result_table
from mujun.service import YEAR_TABLES, evaluate

TABLES = (*LEVELS, *YEAR_TABLES, "building")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def cluster():
    """Address of a local cluster of two in-process workers (quick to start in CI)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=dask_engine.LOCAL_HTTP) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def evaluated(sample_workspace, tmp_path_factory, cluster):
    """engine -> (workspace, summary): copies of the sample, the latest year evaluated by each engine."""
    folder = tmp_path_factory.mktemp("engines")
    out = {}
    for engine, options in (("default", {}), ("dask", {"scheduler": cluster})):
        ws = Workspace(folder / f"{engine}.gpkg")
        shutil.copyfile(sample_workspace.path, ws.path)
        # full: the sample stores its geometry, which would otherwise be reused by both
        out[engine] = ws, evaluate(ws, YEARS[-1], progress=False, engine=engine, full=True, **options)
    return out


@pytest.fixture
def ws_copy(sample_workspace, tmp_path):
    dst = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, dst)
    return dst


@pytest.fixture(scope="module")
def layers(sample_workspace):
    ws = sample_workspace
    zones = {level: ws.read_optional(f"{level}s") for level in ZONES}
    return ws.read("parcels"), ws.read("buildings"), zones


@pytest.mark.parametrize("level", TABLES)
def test_dask_engine_stores_exactly_the_default_engines_results(evaluated, level):
    name = result_table(level)
    default = evaluated["default"][0].read(name)
    dask = evaluated["dask"][0].read(name)
    assert len(default)
    # same rows in the same order, every value bit for bit
    pd.testing.assert_frame_equal(dask, default, check_exact=True)


def test_dask_engine_summary_is_the_default_engines(evaluated):
    default, dask = evaluated["default"][1], evaluated["dask"][1]
    assert dask.years == default.years == [YEARS[-1]]
    assert (dask.counts, dask.overall, dask.flags, dask.flag_rows, dask.whatif) == (
        default.counts, default.overall, default.flags, default.flag_rows, default.whatif)
    y = YEARS[-1]
    pd.testing.assert_frame_equal(dask.classes[y], default.classes[y], check_exact=True)


def test_partition_count_does_not_change_the_geometry(sample_workspace, cluster, layers):
    parcels, buildings, zones = layers
    whole_b = building_base(buildings, parcels, zones)
    whole_p = parcel_base(parcels, whole_b, zones)
    whole_r = parcel_builtup(sample_workspace, whole_p)
    source = raster_source(sample_workspace)
    assert source is not None and whole_r.notna().sum() > 1000  # the sample's raster is exercised
    with connect(cluster) as client:
        parts = {n: evaluation_base(client, parcels, buildings, zones, partitions=n, raster=source, progress=False)
                 for n in (1, 7)}
    for b, p, r in parts.values():
        pd.testing.assert_frame_equal(b, whole_b, check_exact=True)
        pd.testing.assert_frame_equal(p, whole_p, check_exact=True)
        pd.testing.assert_series_equal(r, whole_r, check_exact=True)
    pd.testing.assert_frame_equal(parts[1][1], parts[7][1], check_exact=True)


def test_without_buildings_or_raster(cluster, layers):
    parcels, _, zones = layers
    whole = parcel_base(parcels, None, zones, buildings_surveyed=False)
    with connect(cluster) as client:
        built, base, builtup = evaluation_base(client, parcels, None, zones, partitions=5, progress=False)
    assert built is None and builtup is None
    pd.testing.assert_frame_equal(base, whole, check_exact=True)


def test_cli_dask_engine_on_a_local_process_cluster(ws_copy, evaluated):
    """The production default: ``--engine dask`` starts a cluster of worker processes and closes it."""
    res = run("evaluate", "-w", ws_copy, "--year", YEARS[-1], "--engine", "dask", "--partitions", 3, "--full")
    assert res.exit_code == 0, res.output
    assert "结果已保存" in res.output
    default = evaluated["default"][0]
    for level in ("parcel", "building", "enterprise", "district"):
        name = result_table(level)
        pd.testing.assert_frame_equal(Workspace(ws_copy).read(name), default.read(name), check_exact=True)


def test_worker_errors_are_the_default_engines_one_line_errors(cluster, layers, ws_copy):
    parcels, buildings, zones = layers
    bad = {**zones, "park": zones["park"].drop(columns="name")}
    with pytest.raises(SchemaError) as default_err:
        parcel_base(parcels, None, bad)
    with connect(cluster) as client, pytest.raises(SchemaError) as dask_err:
        evaluation_base(client, parcels, buildings, bad, partitions=3, progress=False)
    assert str(dask_err.value) == str(default_err.value)

    ws = Workspace(ws_copy)
    ws.write({"parks": ws.read("parks").drop(columns="name")})
    before = ws.path.read_bytes()
    res = run("evaluate", "-w", ws_copy, "--engine", "dask", "--scheduler", cluster)
    assert res.exit_code == 2
    assert res.stderr == "错误：" + str(default_err.value) + "\n"
    assert ws.path.read_bytes() == before  # nothing written


def test_missing_dask_says_what_to_install(ws_copy, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(DependencyError, match=r"^dask 引擎需要 .*（缺少 distributed）；请安装：pip install 'mujun\[dask\]'$"):
        evaluate(Workspace(ws_copy), engine="dask")
    res = run("evaluate", "-w", ws_copy, "--engine", "dask")
    assert res.exit_code == 2
    assert res.stderr.startswith("错误：dask 引擎需要") and "pip install 'mujun[dask]'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unreachable_scheduler_is_a_one_line_error(ws_copy, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 1.0)
    before = ws_copy.read_bytes()
    res = run("evaluate", "-w", ws_copy, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--full")
    assert res.exit_code == 2
    assert res.stderr.startswith("错误：无法连接 dask 调度器 tcp://127.0.0.1:9")
    assert len(res.stderr.strip().splitlines()) == 1
    assert ws_copy.read_bytes() == before


@pytest.mark.parametrize("options,message", [
    ({"engine": "spark"}, "未知的评价引擎 'spark'；可用：default, dask"),
    ({"scheduler": "tcp://127.0.0.1:8786"}, "--scheduler 和 --partitions 只用于 --engine dask"),
    ({"engine": "dask", "partitions": 0}, "--partitions 应为正整数"),
])
def test_engine_options_are_checked(ws_copy, cluster, options, message):
    if options.get("engine") == "dask":
        options = {**options, "scheduler": cluster}
    with pytest.raises(InputError, match=message):
        evaluate(Workspace(ws_copy), progress=False, **options)
