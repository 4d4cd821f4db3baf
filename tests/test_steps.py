"""A write's steps in a writer process (mujun.layers.steps) and the staged write built on them
(Workspace.staged), down to an evaluation written while it computes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from test_incremental import _assert_same_results, _stored_rows

from mujun import service
from mujun.geo.errors import InputError, WorkspaceError
from mujun.layers.steps import InlineSteps, ProcessSteps
from mujun.layers.workspace import Workspace
from mujun.layers.writer import save_table


# steps the writer process runs: module-level, so they are sent by reference
def _add(a: int, b: int) -> int:
    return a + b


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _refuse(text: str) -> None:
    raise InputError(text)


def _crash() -> None:
    raise ZeroDivisionError("division by zero")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_steps_run_in_order_in_another_process(tmp_path):
    steps = ProcessSteps()
    log = tmp_path / "log.txt"
    for word in ("甲", "乙", "丙"):
        steps.submit(_append, str(log), word)
    token = steps.submit(_add, 2, 3)
    assert steps.result(token) == 5
    assert log.read_text(encoding="utf-8") == "甲乙丙"
    steps.close()


def test_the_writer_process_ends_at_once_when_closed(tmp_path):
    """Closed, the writer leaves without its interpreter's teardown, what it wrote complete."""
    steps = ProcessSteps()
    log = tmp_path / "log.txt"
    steps.result(steps.submit(_append, str(log), "甲"))
    steps.close()
    assert not steps._process.is_alive() and steps._process.exitcode == 0
    assert log.read_text(encoding="utf-8") == "甲"


def test_a_failed_step_is_raised_and_the_steps_after_it_are_not_run(tmp_path):
    steps = ProcessSteps()
    log = tmp_path / "log.txt"
    steps.submit(_refuse, "第 3 行：宗地编号为空")
    steps.submit(_append, str(log), "不应写入")
    with pytest.raises(InputError, match="第 3 行"):
        steps.result(steps.submit(_add, 1, 1))
    steps.abort()
    assert not log.exists()


def test_an_unexpected_error_comes_back_as_a_workspace_error():
    steps = ProcessSteps()
    with pytest.raises(WorkspaceError, match="ZeroDivisionError"):
        steps.result(steps.submit(_crash))
    steps.abort()


def test_a_writer_process_that_dies_is_reported():
    steps = ProcessSteps()
    with pytest.raises(WorkspaceError, match="写入进程意外退出"):
        steps.result(steps.submit(_die))
    steps.abort()


def test_inline_steps_run_at_once():
    steps = InlineSteps()
    assert steps.result(steps.submit(_add, 4, 5)) == 9
    with pytest.raises(InputError):
        steps.submit(_refuse, "坏")


# -- the staged write ------------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _frames() -> dict[str, pd.DataFrame]:
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "P2"], "area_mu": [1.5, 2.0]},
        geometry=[shapely.box(0, 0, 0.001, 0.001), shapely.box(0.002, 0, 0.003, 0.001)], crs="EPSG:4490")
    table = pd.DataFrame({"credit_code": pd.Series(["91330000A", "=1+1"], dtype="string"), "tax": [10.0, None]})
    return {"parcels": parcels, "enterprises": table}


@pytest.mark.parametrize("process", [False, True])
def test_a_staged_write_replaces_the_workspace_at_commit(tmp_path, process):
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"districts": _frames()["parcels"].rename(columns={"parcel_id": "district_id"})})
    before = _sha(ws.path)
    frames = _frames()
    with ws.staged(frames, process=process) as staged:
        for name, frame in frames.items():
            staged.put(name, frame)
        assert _sha(ws.path) == before  # nothing replaced before the commit
        staged.commit(meta={"note": "分步写入"}, log={"kind": "parcels"})
    assert ws.meta()["note"] == "分步写入"
    assert ws.read("parcels")["parcel_id"].tolist() == ["P1", "P2"]
    assert ws.read("enterprises")["credit_code"].tolist() == ["91330000A", "=1+1"]
    assert ws.has("districts")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


@pytest.mark.parametrize("process", [False, True])
def test_a_table_put_in_parts_is_written_whole(tmp_path, process):
    """Parts are appended in order, each converted to the first part's types (a text column
    missing throughout a later part stays text)."""
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"]})
    table = pd.DataFrame({"building_id": pd.array(["B1", "B2", "B3", "B4", "B5"], dtype="string"),
                          "use": pd.array(["生产", None, "办公", None, None], dtype="string"),
                          "footprint_m2": [10.5, 20.0, None, 40.0, 50.0]})
    later = table.iloc[3:].assign(use=pd.Series([None, None], dtype=object, index=[3, 4]))
    taken: list[int] = []

    def parts():
        for i, part in enumerate([table.iloc[:2], table.iloc[2:3], later]):
            taken.append(i)
            yield part

    with ws.staged(["result_building"], process=process) as staged:
        staged.put("result_building", parts())
        staged.commit()
    assert taken == [0, 1, 2]
    pd.testing.assert_frame_equal(ws.read("result_building"), table, check_dtype=False)
    assert staged.seconds()["result_building"] > 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


@pytest.mark.parametrize("process", [False, True])
def test_a_replaced_table_is_dropped_from_the_copy_and_must_be_put(tmp_path, process):
    """Tables the write will certainly put are dropped from its copy at once; the commit
    refuses a write that did not put one of them, and the workspace stays as it was."""
    ws = Workspace(tmp_path / "ws.gpkg")
    old = pd.DataFrame({"parcel_id": ["P1", "P2", "P3"], "tax": [1.0, 2.0, 3.0]})
    ws.write({"parcels": _frames()["parcels"], "result_parcel": old, "result_flag": old})
    before = _sha(ws.path)
    with pytest.raises(ValueError, match="result_flag"), ws.staged(
            ["result_parcel", "result_flag"], process=process, replaced=["result_parcel", "result_flag"]) as staged:
        staged.put("result_parcel", old.iloc[:1])
        staged.commit()
    assert _sha(ws.path) == before
    with ws.staged(["result_parcel", "result_flag"], process=process, replaced=["result_parcel"]) as staged:
        staged.put("result_parcel", old.iloc[:1].assign(tax=9.0))
        staged.commit()
    assert ws.read("result_parcel")["tax"].tolist() == [9.0]
    assert ws.read("result_flag")["tax"].tolist() == [1.0, 2.0, 3.0]  # declared, not replaced, not put: kept
    assert ws.has("parcels")
    with pytest.raises(ValueError, match="not declared"), ws.staged(["result_parcel"], replaced=["result_flag"]):
        pass


@pytest.mark.parametrize("process", [False, True])
def test_autoincrement_counters_are_parked_while_gdal_writes_and_kept(tmp_path, process, monkeypatch):
    """While GDAL writes into the copy its sqlite_sequence holds no other table's counter
    (SQLite reads it through for every row inserted); afterwards each table that was not
    written keeps its counter — above its largest key where its last rows were deleted — and
    each table written has the one GDAL gave it."""
    import sqlite3

    import mujun.layers.workspace as workspace

    ws = Workspace(tmp_path / "ws.gpkg")
    old = pd.DataFrame({"parcel_id": ["P1", "P2", "P3"], "tax": [1.0, 2.0, 3.0]})
    ws.write({"parcels": _frames()["parcels"], "result_parcel": old, "result_flag": old})
    with ws.transaction() as con:
        con.execute("DELETE FROM result_flag WHERE fid = 3")
    counters = dict(ws.query("SELECT name, seq FROM sqlite_sequence"))
    assert counters["result_flag"] == 3
    seen = []
    if not process:  # the writer process runs its own copy of write_table
        real = workspace.write_table

        def write_table(path, name, *args, **kwargs):
            with contextlib.closing(sqlite3.connect(path)) as con:
                seen.append((name, con.execute("SELECT name FROM sqlite_sequence").fetchall()))
            return real(path, name, *args, **kwargs)

        monkeypatch.setattr(workspace, "write_table", write_table)
    with ws.staged(["result_parcel", "result_building"], process=process, replaced=["result_parcel"]) as staged:
        staged.put("result_parcel", old.iloc[:2].assign(tax=9.0))
        staged.put("result_building", pd.DataFrame({"building_id": ["B1"], "parcel_id": ["P1"]}))
        staged.commit()
    after = dict(ws.query("SELECT name, seq FROM sqlite_sequence"))
    assert after["result_flag"] == 3 and after["parcels"] == counters["parcels"]  # kept
    assert after["result_parcel"] == 2 and after["result_building"] == 1  # GDAL's own
    assert set(after) == set(counters) | {"result_building"}
    assert {"result_parcel", "result_flag", "result_building", "parcels"} <= set(ws.layers())  # all registered
    assert ws.read("result_flag")["tax"].tolist() == [1.0, 2.0]
    if not process:
        assert [name for name, _ in seen][:2] == ["result_parcel", "result_building"]
        assert all(rows == [] for name, rows in seen if name != "mujun_meta")


def _checks() -> pd.DataFrame:
    """A table of the types a result table stores: text, numbers with NaN, nullable booleans
    (stored as numbers), integers, booleans and dates; 40 rows, so that a few changed are
    fewer than the share past which a table is written whole."""
    ten = pd.DataFrame({
        "parcel_id": pd.array([f"P{i}" for i in range(10)], dtype="string"),
        "status": pd.array(["达标", None, "不达标", "=1+1", "未到期", "达标", None, "达标", "达标", "无数据"],
                           dtype="string"),
        "measured": [1.5, np.nan, 2.0, 0.25, 3.0, 1.0, 7.5, np.nan, 2.5, np.nan],
        "passed": pd.array([True, None, False, True, None, True, None, True, True, None], dtype="boolean"),
        "count": np.arange(10, dtype="int64"),
        "built": np.array([True, False] * 5),
        "transfer_date": pd.to_datetime(["2020-01-02", None, "2021-05-06", "2019-12-31", None,
                                         "2022-02-02", "2023-03-03", None, "2018-08-08", "2017-07-07"]),
    })
    out = pd.concat([ten] * 4, ignore_index=True)
    out["parcel_id"] = pd.array([f"P{i}" for i in range(len(out))], dtype="string")
    out["count"] = np.arange(len(out), dtype="int64")
    return out


@pytest.mark.parametrize("process", [False, True])
def test_a_revised_table_updates_the_rows_that_changed_and_stores_what_a_whole_write_would(tmp_path, process):
    """Put with ``revise``, only the rows that differ are updated, in place; the file then
    holds, value for value and type for type, what writing the table whole gives."""
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"result_compliance": _checks()})
    stamp = ws.query("SELECT last_change FROM gpkg_contents WHERE table_name = 'result_compliance'")[0][0]
    new = _checks()
    new.loc[2, "measured"] = 2.125  # a number
    new.loc[5, "status"] = pd.NA  # text gone
    new.loc[6, "status"] = "不达标"  # text come
    new.loc[7, "transfer_date"] = pd.Timestamp("2024-04-30")
    new.loc[8, "passed"] = pd.NA
    new.loc[9, "built"] = True  # was False
    new.loc[1, "measured"] = np.nan  # NaN again: unchanged
    with ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", new, revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": 6}
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"result_compliance": new})
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")
    pd.testing.assert_frame_equal(ws.read("result_compliance"), whole.read("result_compliance"))
    assert ws.query("SELECT last_change FROM gpkg_contents WHERE table_name = 'result_compliance'")[0][0] > stamp
    # the same rows once more: nothing to update
    with ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", new, revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": 0}
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")


@pytest.mark.parametrize("case", ["more rows", "other columns", "most rows changed", "not stored", "rows deleted",
                                  "a time changed", "stored as another type"])
def test_a_table_that_cannot_be_revised_is_written_whole(tmp_path, case):
    old = _checks()
    if case == "a time changed":  # times are written whole, as GDAL formats them
        old["checked_at"] = pd.Timestamp("2025-06-30 08:00:00")
    stored = old
    if case == "stored as another type":  # an older table: whole numbers where the checks now store fractions
        old["measured"] = old["measured"].fillna(0.0).round()  # whole: a cast to the old type would succeed
        stored = old.assign(measured=old["measured"].astype("int64"))
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"], **({} if case == "not stored" else {"result_compliance": stored})})
    new = old.copy()
    if case == "a time changed":
        new.loc[3, "checked_at"] = pd.Timestamp("2025-07-01 09:30:00")
    elif case == "more rows":
        new = pd.concat([new, new.iloc[:1]], ignore_index=True)
    elif case == "other columns":
        new = new.drop(columns="count")
    elif case == "most rows changed":
        new["measured"] = new["measured"] + 1.0  # 28 of 40 (the NaN stay NaN)
    elif case == "rows deleted":  # the ids no longer run 1, 2, …: rows cannot be addressed by position
        with ws.transaction() as con:
            con.execute("DELETE FROM result_compliance WHERE fid = 1")
            con.execute("INSERT INTO result_compliance (parcel_id) VALUES ('P0')")
    with ws.staged(["result_compliance"], process=True) as staged:
        staged.put("result_compliance", new, revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": None}
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"result_compliance": new})
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")


@pytest.mark.parametrize("process", [False, True])
def test_a_table_revised_from_its_parts_is_compared_whole(tmp_path, process):
    """Parts put with ``revise`` are compared once all are there: the rows changed in any part
    are updated; a table dropped from the copy cannot be revised."""
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"result_compliance": _checks()})
    new = _checks()
    new.loc[[3, 25], "measured"] = [9.5, 10.5]
    with ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", iter([new.iloc[:20], new.iloc[20:30], new.iloc[30:]]), revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": 2}
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"result_compliance": new})
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")
    with ws.staged(["result_compliance"], process=process) as staged:  # one part more: written whole
        staged.put("result_compliance", iter([new, new.iloc[:1]]), revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": None} and ws.count("result_compliance") == len(new) + 1
    with pytest.raises(ValueError, match="cannot be revised"), ws.staged(
            ["result_compliance"], replaced=["result_compliance"]) as staged:
        staged.put("result_compliance", _checks(), revise=True)
    with pytest.raises(ValueError, match="without any part"), ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", iter([]), revise=True)


def test_the_parts_of_a_revised_table_are_handed_over_on_a_thread_as_the_next_is_computed(tmp_path, monkeypatch):
    """With a writer process, each part put with ``revise`` is converted for it on a thread of
    its own while the caller computes the next part; a part that cannot be saved fails the
    put with one line, and the workspace is as it was."""
    import threading

    import mujun.layers.workspace as workspace

    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"result_compliance": _checks()})
    new = _checks()
    new.loc[[3, 25], "measured"] = [9.5, 10.5]
    saved_on, computed_on, done_before = [], [], []
    real = workspace.save_table

    def save(frame, file, like=None):
        saved_on.append(threading.current_thread().name)
        time.sleep(0.2)  # slower than the computing: the next part waits, not piles up
        out = real(frame, file, like)
        done_before.append(None)
        return out

    def parts():
        for k, (start, stop) in enumerate(((0, 20), (20, 30), (30, len(new)))):
            computed_on.append(threading.current_thread().name)
            assert len(done_before) >= k - 1  # part k computed once part k - 2 is saved
            yield new.iloc[start:stop]

    monkeypatch.setattr(workspace, "save_table", save)
    with ws.staged(["result_compliance"], process=True) as staged:
        staged.put("result_compliance", parts(), revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": 2}
    assert len(saved_on) == 3 and all(name.startswith("mujun-handover") for name in saved_on)
    assert computed_on == [threading.main_thread().name] * 3
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"result_compliance": new})
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")

    ws.write({"result_compliance": _checks()})
    before = hashlib.sha256(ws.path.read_bytes()).hexdigest()

    def full(frame, file, like=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workspace, "save_table", full)
    with pytest.raises(WorkspaceError, match="无法在 .* 写入临时文件.*No space left"), \
            ws.staged(["result_compliance"], process=True) as staged:
        staged.put("result_compliance", parts(), revise=True)
        staged.commit()
    assert hashlib.sha256(ws.path.read_bytes()).hexdigest() == before
    assert not [f for f in tmp_path.iterdir() if ".tmp." in f.name or f.suffix == ".arrow"]


def _categories(texts: pd.Series, categories: list[str]) -> pd.Categorical:
    """``texts`` as categories (missing where a text is missing), in the order given."""
    return pd.Categorical(texts.astype(object).where(texts.notna(), None), categories=categories)


@pytest.mark.parametrize("process", [False, True])
def test_text_categories_are_stored_as_their_texts_whole_in_parts_and_revised(tmp_path, process):
    """A column of text categories (the checks' repeated texts) is handed over as codes and
    stored as the texts: written whole, in parts (their categories in another order, one
    unused) and revised, the file holds what the same table of text gives."""
    text = _checks()
    cats = _checks().assign(status=_categories(text["status"], ["达标", "不达标", "未到期", "无数据", "=1+1"]))
    # the hand-over holds a code per row and the texts once
    saved = tmp_path / "saved.arrow"
    save_table(cats, saved)
    schema = pa.ipc.open_file(str(saved)).schema
    assert pa.types.is_dictionary(schema.field("status").type) and schema.field("parcel_id").type == pa.string()
    whole = Workspace(tmp_path / "text.gpkg")
    whole.write({"result_compliance": text})
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"]})
    other = cats.iloc[25:].assign(status=_categories(text["status"].iloc[25:], ["无数据", "=1+1", "达标", "不达标",
                                                                               "未到期", "不用"]))
    with ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", iter([cats.iloc[:10], cats.iloc[10:25], other]))
        staged.commit()
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")
    # revised: a text changed, one gone, one come; the same categories elsewhere are unchanged
    new_text = text.copy()
    new_text.loc[[0, 1, 2], "status"] = ["不达标", "达标", pd.NA]
    new = cats.assign(status=_categories(new_text["status"], ["不达标", "达标", "未到期", "无数据", "=1+1"]))
    with ws.staged(["result_compliance"], process=process) as staged:
        staged.put("result_compliance", iter([new.iloc[:20], new.iloc[20:]]), revise=True)
        staged.commit()
    assert staged.revised() == {"result_compliance": 3}
    whole.write({"result_compliance": new_text})
    assert _stored_rows(ws.path, "result_compliance") == _stored_rows(whole.path, "result_compliance")
    pd.testing.assert_frame_equal(ws.read("result_compliance"), whole.read("result_compliance"))


def test_a_replaced_layer_with_geometry_is_left_for_gdal_to_replace(tmp_path):
    """A result table an older mujun wrote with its outlines is not dropped by hand (its
    spatial index goes with GDAL's own replacement)."""
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"result_parcel": _frames()["parcels"]})
    with ws.staged(["result_parcel"], replaced=["result_parcel"]) as staged:
        staged.put("result_parcel", pd.DataFrame({"parcel_id": ["P9"], "area_mu": [3.0]}))
        staged.commit()
    assert ws.read("result_parcel")["parcel_id"].tolist() == ["P9"]
    assert not [r for r in ws.query("SELECT name FROM sqlite_master WHERE name LIKE 'rtree_result_parcel%'")]


def test_a_table_put_without_parts_is_refused(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    with pytest.raises(ValueError, match="without any part"), ws.staged(["result_building"]) as staged:
        staged.put("result_building", iter([]))


def test_the_copys_own_steps_keep_no_rollback_journal_and_a_failed_one_is_thrown_away(tmp_path):
    """The write's steps on its scratch copy are neither synced nor journalled (the copy is
    thrown away when one fails): a step sees journal_mode off, and a failing one leaves the
    workspace byte for byte."""
    import mujun.layers.workspace as workspace

    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"]})
    seen = []
    copy = shutil.copyfile(ws.path, tmp_path / "copy.gpkg")
    workspace._in_transaction(copy, lambda con: seen.append(con.execute("PRAGMA journal_mode").fetchone()[0]))
    assert seen == ["off"]
    before = _sha(ws.path)

    def failing(con):
        con.execute("DELETE FROM parcels")
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError), ws.staged(["result_parcel"]) as staged:
        staged.steps.submit(workspace._in_transaction, staged.tmp, failing)
        staged.put("result_parcel", pd.DataFrame({"parcel_id": ["P1"], "tax": [1.0]}))
        staged.commit()
    assert _sha(ws.path) == before and len(ws.read("parcels")) == len(_frames()["parcels"])
    assert not staged.tmp.exists()


def test_a_failed_table_in_the_writer_process_leaves_the_workspace_as_it_was(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"]})
    before = _sha(ws.path)
    bad = pd.DataFrame({"x": [1.0], "X": [2.0]})  # GeoPackage field names ignore case: GDAL refuses it
    with pytest.raises(WorkspaceError, match="'bad'"), ws.staged(["enterprises", "bad"], process=True) as staged:
        staged.put("enterprises", _frames()["enterprises"])
        staged.put("bad", bad)
        staged.commit(meta={"note": "x"})
    assert _sha(ws.path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


def test_leaving_a_staged_write_without_committing_changes_nothing(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    ws.write({"parcels": _frames()["parcels"]})
    before = _sha(ws.path)
    with ws.staged(["enterprises"], process=True) as staged:
        staged.put("enterprises", _frames()["enterprises"])
    assert _sha(ws.path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


def test_a_table_not_declared_is_refused(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    with pytest.raises(ValueError, match="not expected"), ws.staged(["parcels"]) as staged:
        staged.put("enterprises", _frames()["enterprises"])


def test_an_evaluation_written_by_the_writer_process_equals_one_written_inline(sample_workspace, tmp_path,
                                                                             monkeypatch):
    """Every result table and view is the same whichever way the tables were written."""
    inline = Workspace(shutil.copyfile(sample_workspace.path, tmp_path / "inline.gpkg"))
    process = Workspace(shutil.copyfile(sample_workspace.path, tmp_path / "process.gpkg"))
    service.evaluate(inline, all_years=True, full=True)
    used: list[bool] = []
    real = Workspace.staged

    def spy(self, names, *, process=False, replaced=(), in_place=False):
        used.append(process)
        assert {"result_parcel", "result_compliance", "mujun_geometry_cache"} <= set(replaced) and not in_place
        return real(self, names, process=process, replaced=replaced, in_place=in_place)

    monkeypatch.setattr(service, "WRITER_PROCESS_PARCELS", 1)
    monkeypatch.setattr(Workspace, "staged", spy)
    done = service.evaluate(process, all_years=True, full=True)
    assert used == [True]
    assert done.flag_rows and all(n > 0 for n in done.flag_rows.values())
    _assert_same_results(inline, process)
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]
