"""The engine registry (mujun.engines), its settings and the local engine."""

from __future__ import annotations

import os

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

import mujun.engines.local
import mujun.geo.evaluation
from mujun import engines
from mujun.engines import ENGINES, NAMES, EvaluationInputs, engine
from mujun.engines.local import LocalEngine
from mujun.engines.settings import overlay_threads
from mujun.geo.errors import InputError
from mujun.geo.evaluation import building_base, parcel_base


def _gdf(data: dict, geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4549")


@pytest.fixture
def inputs() -> EvaluationInputs:
    parcels = _gdf({"parcel_id": ["P1", "P2"]}, [box(0, 0, 100, 100), box(200, 0, 300, 100)])
    buildings = _gdf({"building_id": ["B1", "B2"], "floors": [2, 1], "height": [8.0, 5.0], "use": ["生产", "办公"]},
                     [box(10, 10, 50, 50), box(210, 10, 230, 30)])
    district = _gdf({"district_id": ["D1"], "name": ["甲区"]}, [box(-10, -10, 400, 200)])
    return EvaluationInputs(parcels=parcels, enterprises=pd.DataFrame(), years=[2025],
                            zones={"district": district, "park": None, "platform": None}, buildings=buildings)


def test_names_offered_are_the_command_lines():
    assert NAMES == ("default", "dask")
    assert set(ENGINES) == {"local", "dask"}


@pytest.mark.parametrize("name", ["default", "local"])
def test_default_is_the_local_engine(name):
    assert isinstance(engine(name), LocalEngine)


def test_unknown_engine_lists_the_available_ones():
    with pytest.raises(InputError, match=r"^未知的评价引擎 'spark'；可用：default, dask$"):
        engine("spark")


@pytest.mark.parametrize("options", [{"scheduler": "tcp://127.0.0.1:8786"}, {"partitions": 4}])
def test_dask_options_are_refused_for_the_local_engine(options):
    with pytest.raises(InputError, match=r"^--scheduler 和 --partitions 只用于 --engine dask$"):
        engine("local", **options)


def test_options_not_given_are_none():
    assert isinstance(engine("default", scheduler=None, partitions=None), LocalEngine)


@pytest.mark.parametrize("value,expected", [("3", 3), (" 2 ", 2), ("1", 1)])
def test_threads_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MUJUN_THREADS", value)
    assert overlay_threads() == expected
    assert LocalEngine().threads == expected


@pytest.mark.parametrize("value", [None, "", "0", "many", "-2"])
def test_threads_default_to_the_cores(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MUJUN_THREADS", raising=False)
    else:
        monkeypatch.setenv("MUJUN_THREADS", value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert overlay_threads() == min(cores, 8)


def test_local_engine_passes_its_threads_to_the_overlays(inputs, monkeypatch):
    seen = []
    index = mujun.geo.evaluation.ZoneIndex

    def spy(*args, threads=None, **kwargs):
        seen.append(threads)
        return index(*args, threads=threads, **kwargs)

    monkeypatch.setattr(mujun.geo.evaluation, "ZoneIndex", spy)
    monkeypatch.setenv("MUJUN_THREADS", "3")
    engines.engine("default").geometry(inputs)
    assert seen and set(seen) == {3}  # parcels for the buildings, and the districts


def test_local_engine_geometry(inputs):
    parcels, buildings, zones = inputs.parcels, inputs.buildings, inputs.zones
    whole_b = building_base(buildings, parcels, zones)
    whole_p = parcel_base(parcels, whole_b, zones)
    res = LocalEngine(threads=2).geometry(inputs)
    assert inputs.buildings is None  # handed over: nothing keeps the footprints
    pd.testing.assert_frame_equal(res.base, whole_p, check_exact=True)
    pd.testing.assert_frame_equal(res.buildings, pd.DataFrame(whole_b.drop(columns="geometry")), check_exact=True)
    assert res.builtup is None
    assert res.base["building_count"].tolist() == [1, 1]


def test_cli_takes_local_without_listing_it(tmp_path):
    from click.testing import CliRunner

    from mujun.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", "-w", str(tmp_path / "w.gpkg"), "--engine", "local", "--partitions", "3"])
    assert res.exit_code == 2
    assert res.stderr == "错误：--scheduler 和 --partitions 只用于 --engine dask\n"  # the engine was accepted
    assert "[default|dask]" in runner.invoke(main, ["evaluate", "--help"]).output


def test_local_engine_measures_buildings_a_batch_at_a_time(inputs, monkeypatch):
    """Read from the workspace a batch at a time, the buildings give what the whole layer gives;
    each batch's figures are handed over before the next batch is read."""
    parcels, buildings, zones = inputs.parcels, inputs.buildings, inputs.zones
    whole_b = pd.DataFrame(building_base(buildings, parcels, zones).drop(columns="geometry"))
    whole_p = parcel_base(parcels, building_base(buildings, parcels, zones), zones)
    events: list[str] = []

    def reader(rows):
        assert rows == 1
        for i in range(len(buildings)):
            events.append(f"read {i}")
            yield buildings.iloc[i:i + 1]

    def done(parts):
        for i, part in enumerate(parts):
            events.append(f"done {i}")
            got.append(part)

    got: list[pd.DataFrame] = []
    monkeypatch.setattr(mujun.engines.local, "BUILDING_BATCH", 1)
    lazy = EvaluationInputs(parcels=parcels, enterprises=pd.DataFrame(), years=[2025], zones=zones,
                            building_reader=reader)
    res = LocalEngine(threads=1).geometry(lazy, buildings_done=done)
    assert events == ["read 0", "done 0", "read 1", "done 1"]
    assert lazy.building_reader is None and res.buildings is None
    pd.testing.assert_frame_equal(pd.concat(got, ignore_index=True), whole_b, check_exact=True)
    pd.testing.assert_frame_equal(res.base, whole_p, check_exact=True)


def test_take_buildings_reads_every_batch(inputs):
    """An engine that wants the whole layer (dask) gets every batch, in order."""
    buildings = inputs.buildings
    lazy = EvaluationInputs(parcels=inputs.parcels, enterprises=pd.DataFrame(), years=[2025], zones=inputs.zones,
                            building_reader=lambda rows: (buildings.iloc[i:i + 1] for i in range(len(buildings))))
    taken = lazy.take_buildings()
    assert lazy.building_reader is None
    pd.testing.assert_frame_equal(taken, buildings.reset_index(drop=True))
