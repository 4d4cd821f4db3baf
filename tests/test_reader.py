"""Tests for mujun.layers.reader: GDAL's reads of a workspace in a reader process."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from pandas.testing import assert_frame_equal

import mujun.layers.reader as reader
from mujun.geo.errors import WorkspaceError
from mujun.layers.reader import read_table


def test_every_table_of_the_sample_as_pyogrio_reads_it(sample_workspace):
    for name, _ in pyogrio.list_layers(sample_workspace.path):
        got = read_table(sample_workspace.path, name)
        want = pyogrio.read_dataframe(sample_workspace.path, layer=name, use_arrow=True)
        assert type(got) is type(want), name
        assert_frame_equal(got, want, check_exact=True, obj=name)
        if isinstance(want, gpd.GeoDataFrame):
            assert got.crs == want.crs


def test_where_and_columns(sample_workspace):
    got = read_table(sample_workspace.path, "result_parcel", where="year = 2024", columns=["parcel_id", "year"])
    want = pyogrio.read_dataframe(sample_workspace.path, layer="result_parcel", where="year = 2024",
                                  columns=["parcel_id", "year"], use_arrow=True)
    assert_frame_equal(got, want, check_exact=True)
    assert set(got["year"]) == {2024}


def test_empty_result(sample_workspace):
    got = read_table(sample_workspace.path, "result_flag", where="year = 1900")
    assert len(got) == 0
    assert list(got.columns) == list(read_table(sample_workspace.path, "result_flag").columns)


def test_refused_request_is_one_line_and_the_reader_serves_on(sample_workspace):
    with pytest.raises(WorkspaceError, match="'nope' 无法读取") as err:
        read_table(sample_workspace.path, "nope")
    assert "\n" not in str(err.value)
    assert len(read_table(sample_workspace.path, "mujun_meta")) > 0


def test_a_reader_that_dies_is_reported_and_replaced(sample_workspace, monkeypatch):
    taken = reader._take()
    taken.proc.kill()
    taken.proc.wait()
    reader._give_back(taken, True)  # given back alive-looking; it is found dead when taken
    monkeypatch.setattr(reader, "MAX_READERS", 1)
    assert len(read_table(sample_workspace.path, "districts")) == 6

    taken = reader._take()
    real = taken.read

    def dies(*args):
        taken.proc.kill()
        taken.proc.wait()
        return real(*args)

    taken.read = dies
    reader._give_back(taken, True)
    with pytest.raises(WorkspaceError, match="读取进程意外退出"):
        read_table(sample_workspace.path, "districts")
    assert len(read_table(sample_workspace.path, "districts")) == 6  # a new reader


def test_readers_are_bounded(sample_workspace, monkeypatch):
    import threading

    monkeypatch.setattr(reader, "MAX_READERS", 2)
    seen, errors = set(), []

    def work():
        try:
            for _ in range(5):
                r = reader._take()
                seen.add(r.proc.pid)
                reader._give_back(r, True)
                read_table(sample_workspace.path, "result_district")
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reader._count <= 2


def test_a_reader_started_beforehand_serves_the_first_read(sample_workspace, monkeypatch):
    """A server starts a reader beside its own start: the first read takes it, none is started then."""
    reader._close_all()
    reader.prestart()
    assert reader._count == 1 and len(reader._idle) == 1 and reader._idle[0].alive()
    reader.prestart()  # one is idle: no other is started
    assert reader._count == 1
    monkeypatch.setattr(reader, "_Reader", lambda: pytest.fail("a reader started although one was ready"))
    got = read_table(sample_workspace.path, "districts")
    assert len(got) == len(pyogrio.read_dataframe(sample_workspace.path, layer="districts"))
    assert reader._count == 1


def test_dates_named_come_as_datetimes_converted_by_arrow(sample_workspace):
    plain = read_table(sample_workspace.path, "parcels", geometry=False)
    named = read_table(sample_workspace.path, "parcels", geometry=False, dates=["transfer_date", "agreed_start", "nope"])
    assert plain["transfer_date"].dtype == object  # as pyogrio gives them: Python dates
    for column in ("transfer_date", "agreed_start"):
        assert str(named[column].dtype) == "datetime64[ms]"
        expected = pd.to_datetime(plain[column]).dt.as_unit("ms")
        pd.testing.assert_series_equal(named[column], expected)
        assert named[column].isna().any() and named[column].notna().any()  # nulls and dates both
    assert_frame_equal(named.drop(columns=["transfer_date", "agreed_start"]),
                       plain.drop(columns=["transfer_date", "agreed_start"]))


def test_readers_end_with_their_parent_which_does_not_wait_for_them(sample_workspace):
    """At exit a process tells its readers to end and leaves; each ends on its own."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    code = ("import sys; import mujun.layers.reader as r; r.read_table(sys.argv[1], 'districts'); "
            "print(r._idle[0].proc.pid)")
    done = subprocess.run([sys.executable, "-c", code, str(sample_workspace.path)], capture_output=True, text=True,
                          check=True, timeout=60)
    status = Path(f"/proc/{int(done.stdout)}/status")

    def ended() -> bool:
        try:
            return "\nState:\tZ" in status.read_text()  # (a zombie until its new parent reaps it)
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 20
    while not ended() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ended()
