"""The column cache: Arrow copies of workspace reads, per generation."""

from __future__ import annotations

import logging
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from mujun.layers import columnar
from mujun.layers.columnar import ColumnCache, cache_dir
from mujun.layers.workspace import Workspace, result_table
from mujun.webapp.data import Results


@pytest.fixture
def ws_copy(sample_workspace, tmp_path) -> Workspace:
    path = tmp_path / "ws.gpkg"
    shutil.copyfile(sample_workspace.path, path)
    return Workspace(path)


def _year(ws: Workspace) -> int:
    return int(ws.meta()["evaluated_years"].split(",")[-1])


def _no_gdal(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("read through GDAL although cached")

    monkeypatch.setattr(columnar, "read_arrow", refuse)


@pytest.mark.parametrize("name", ["result_parcel", "result_enterprise", "enterprises", "parcels"])
def test_cached_read_equals_the_direct_read(ws_copy, tmp_path, monkeypatch, name):
    where = f"year = {_year(ws_copy)}" if name.startswith("result_") else None
    direct = ws_copy.read(name, where=where)
    cached_ws = Workspace(ws_copy.path, cache=ColumnCache(tmp_path / "cache"))
    first = cached_ws.read(name, where=where)
    files = list((tmp_path / "cache").rglob("*.arrow"))
    assert [f.parent.name for f in files] == [ws_copy.generation()]
    _no_gdal(monkeypatch)
    again = cached_ws.read(name, where=where)
    for frame in (first, again):
        assert type(frame) is type(direct)
        pd.testing.assert_frame_equal(frame, direct)
        if "geometry" in direct.columns:
            assert frame.crs == direct.crs
            assert frame.geometry.geom_equals_exact(direct.geometry, 0).all()


def test_a_new_generation_is_read_again_and_the_old_one_removed(ws_copy, tmp_path):
    cache = ColumnCache(tmp_path / "cache")
    cached_ws = Workspace(ws_copy.path, cache=cache)
    old = ws_copy.generation()
    before = cached_ws.read("districts")
    changed = before.drop(columns="geometry").assign(name="改名区")
    ws_copy.write({"districts": pd.concat([before[["geometry"]], changed], axis=1)})
    assert ws_copy.generation() != old
    after = cached_ws.read("districts")
    assert set(after["name"]) == {"改名区"}
    pd.testing.assert_frame_equal(after, ws_copy.read("districts"))
    deadline = time.monotonic() + 10
    while (tmp_path / "cache" / old).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [ws_copy.generation()]


def test_an_unwritable_cache_falls_back_to_the_workspace(ws_copy, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cached_ws = Workspace(ws_copy.path, cache=ColumnCache(blocker / "cache"))  # cannot be made
    with caplog.at_level(logging.WARNING, logger="mujun.layers.columnar"):
        frame = cached_ws.read("districts")
        cached_ws.read("parks")
    pd.testing.assert_frame_equal(frame, ws_copy.read("districts"))
    assert caplog.text.count("column cache not written") == 1


def test_a_damaged_cache_file_is_read_from_the_workspace(ws_copy, tmp_path):
    cache = ColumnCache(tmp_path / "cache")
    cached_ws = Workspace(ws_copy.path, cache=cache)
    cached_ws.read("districts")
    cache.path(ws_copy.generation(), "districts", None).write_bytes(b"not arrow")
    pd.testing.assert_frame_equal(cached_ws.read("districts"), ws_copy.read("districts"))


def test_review_tables_are_never_cached(ws_copy, tmp_path):
    cached_ws = Workspace(ws_copy.path, cache=ColumnCache(tmp_path / "cache"))
    cached_ws.read("mujun_meta")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("cached", [True, False])
def test_results_count_and_column_read_no_table(ws_copy, monkeypatch, cached):
    year = _year(ws_copy)
    full = ws_copy.read(result_table("parcel"), where=f"year = {year}")
    res = Results(ws_copy.path, cache_dir(ws_copy.path) if cached else None)
    if cached:
        res.results("parcel", year)  # fills the cache: the count and the column then come from it
        monkeypatch.setattr(Workspace, "query", lambda *a, **k: pytest.fail("counted by SQLite although cached"))
    _no_gdal(monkeypatch)
    monkeypatch.setattr("mujun.layers.workspace.read_table", lambda *a, **k: pytest.fail("table read"))
    assert res.count(result_table("parcel"), year) == len(full)
    for column in ("tax_per_mu", "value_added_per_mu", "plot_ratio"):
        got = res.column(result_table("parcel"), column, year)
        pd.testing.assert_series_equal(got.reset_index(drop=True), full[column].astype(float).reset_index(drop=True),
                                       check_names=False)


def test_the_app_keeps_its_cache_beside_the_workspace_unless_told_not_to(ws_copy, tmp_path):
    from mujun.webapp import create_app

    year = _year(ws_copy)
    for setting, expected in ((False, False), (True, True)):
        app = create_app({"WORKSPACE": str(ws_copy.path), "TESTING": True, "PUBLIC_READ": True,
                          "COLUMN_CACHE": setting, "TILE_CACHE": False})
        client = app.test_client()
        assert client.get(f"/map?year={year}").status_code == 200
        assert client.get(f"/rankings?year={year}").status_code == 200
        assert client.get(f"/tiles/parcels/{year}/tax_per_mu/10/853/418.png").status_code == 200
        assert cache_dir(ws_copy.path).exists() is expected


@pytest.fixture
def one_year(ws_copy, monkeypatch) -> tuple[Workspace, int]:
    """A workspace whose results hold one year, as a province evaluates them: the evaluation
    (written by a writer process, as a province's is) keeps what it wrote of the revisable
    tables for the next one (``KEPT_TABLES``)."""
    from mujun import service
    from mujun.service import evaluate

    monkeypatch.setattr(service, "WRITER_PROCESS_PARCELS", 0)
    year = _year(ws_copy)
    with ws_copy.transaction() as con:
        con.execute("UPDATE mujun_meta SET value = ? WHERE key = 'evaluated_years'", (str(year),))
    evaluate(ws_copy, year=year, progress=False)
    return ws_copy, year


def test_the_kept_copy_gives_the_columns_sqlite_reads(one_year):
    ws, year = one_year
    name = result_table("parcel")
    for column in ("tax_per_mu", "value_added_per_mu", "plot_ratio", "area_mu", "building_count", "idle", "year"):
        kept = ws.kept_numbers(name, column, year)
        assert kept is not None, column
        np.testing.assert_array_equal(kept, ws.numbers(name, column, f"year = {year}"), err_msg=column)
    assert len(ws.kept_numbers(name, "tax_per_mu", year - 1)) == 0
    assert ws.kept_rows(name, year) == ws.query(f"SELECT count(*) FROM {name} WHERE year = {year}")[0][0]
    assert ws.kept_rows(name) == ws.count(name)
    # not kept: the scores (the other part, written whole) and text; then SQLite reads them
    assert ws.kept_numbers(name, "score", year) is None
    assert ws.kept_numbers(name, "parcel_id", year) is None
    # a checks table kept whole
    assert ws.kept_rows("result_compliance") == ws.count("result_compliance")


def test_the_kept_copy_is_not_read_once_the_table_changes(one_year):
    ws, year = one_year
    name = result_table("parcel")
    assert ws.kept_numbers(name, "tax_per_mu", year) is not None
    with ws.transaction() as con:  # as GDAL and QGIS stamp an edit of the first part
        con.execute("UPDATE gpkg_contents SET last_change = '2099-01-01T00:00:00.000Z' "
                    "WHERE table_name = 'mujun_result_parcel'")
    assert ws.kept_numbers(name, "tax_per_mu", year) is None
    assert ws.kept_rows(name, year) is None


@pytest.mark.parametrize("cached", [True, False])
def test_a_first_start_reads_the_legend_column_from_the_kept_copy(one_year, monkeypatch, cached):
    """/map's count and legend column come from the evaluation's kept copy while the column
    cache is empty (a server's first start after an evaluation); with the cache off, from SQLite."""
    ws, year = one_year
    name = result_table("parcel")
    want = ws.numbers(name, "tax_per_mu", f"year = {year}")
    res = Results(ws.path, cache_dir(ws.path) if cached else None)
    if cached:
        monkeypatch.setattr(Workspace, "numbers", lambda *a, **k: pytest.fail("read by SQLite although kept"))
        monkeypatch.setattr(Workspace, "query", lambda *a, **k: pytest.fail("counted by SQLite although kept"))
    else:
        monkeypatch.setattr(Workspace, "kept", lambda *a, **k: pytest.fail("kept copy read with the cache off"))
    _no_gdal(monkeypatch)
    np.testing.assert_array_equal(res.column(name, "tax_per_mu", year).to_numpy(), want)
    assert res.count(name, year) == len(want)
