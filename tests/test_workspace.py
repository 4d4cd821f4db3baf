"""Tests for mujun.layers.workspace: path resolution, the GeoPackage it writes, types, atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, box

import mujun.layers.workspace as workspace_module
import mujun.layers.writer as writer_module
from mujun.geo.errors import WorkspaceError
from mujun.layers import gpkg
from mujun.layers.workspace import (
    DEFAULT_NAME,
    LAYER_GENERATION,
    LOG_TABLE,
    META_TABLE,
    Workspace,
    kept_tables,
    result_table,
    sql_literal,
)

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


def _parcels() -> gpd.GeoDataFrame:
    x, y = 120.58, 30.0
    return gpd.GeoDataFrame(
        {
            "parcel_id": pd.array(["330602001", "330602002"], dtype="string"),
            "holder_name": pd.array(["绍兴纺织有限公司", None], dtype="string"),
            "registered_area_m2": [42000.5, float("nan")],
            "agreed_start": pd.to_datetime(["2021-03-05", None]).astype("datetime64[ms]"),
        },
        geometry=[box(x, y, x + 0.002, y + 0.002), box(x + 0.003, y, x + 0.005, y + 0.002)],
        crs="EPSG:4490",
    )


def _enterprises() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "credit_code": pd.array(["91330600MA2AAAAAA1", "91330600MA2BBBBBB2", "91330600MA2CCCCCC3"],
                                    dtype="string"),
            "name": pd.array(["甲", "乙", None], dtype="string"),
            "year": pd.array([2023, 2023, None], dtype="Int64"),
            "above_scale": pd.array([True, False, None], dtype="boolean"),
            "tax": [1.5, None, 3.0],
        }
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace(tmp_path / "ws.gpkg")
    w.write({"parcels": _parcels(), "enterprises": _enterprises()})
    return w


# -- resolution ----------------------------------------------------------------------------
def test_resolve_explicit_path_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MUJUN_WORKSPACE", str(tmp_path / "env.gpkg"))
    assert Workspace.resolve(tmp_path / "given.gpkg").path == tmp_path / "given.gpkg"
    assert Workspace.resolve(str(tmp_path / "given.gpkg")).path == tmp_path / "given.gpkg"


def test_resolve_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MUJUN_WORKSPACE", str(tmp_path / "env.gpkg"))
    assert Workspace.resolve().path == tmp_path / "env.gpkg"
    assert Workspace.resolve(None).path == tmp_path / "env.gpkg"


def test_resolve_default_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MUJUN_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    w = Workspace.resolve()
    assert DEFAULT_NAME == "mujun.gpkg"
    assert w.path == Path("mujun.gpkg")
    w.write({"parcels": _parcels()})
    assert (tmp_path / "mujun.gpkg").is_file()


def test_resolve_empty_environment_variable_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MUJUN_WORKSPACE", "")
    monkeypatch.chdir(tmp_path)
    assert Workspace.resolve().path == Path(DEFAULT_NAME)


def test_repr():
    assert repr(Workspace("a/b.gpkg")) == "Workspace('a/b.gpkg')"


# -- an empty or missing workspace ---------------------------------------------------------
def test_missing_workspace(tmp_path):
    w = Workspace(tmp_path / "none.gpkg")
    assert not w.exists()
    assert w.layers() == []
    assert not w.has("parcels")
    assert w.meta() == {}
    assert w.read_optional("parcels") is None


def test_read_absent_layer_says_what_to_run(ws):
    with pytest.raises(WorkspaceError, match="没有 'buildings'；请先运行 mujun import buildings 文件"):
        ws.read("buildings")
    with pytest.raises(WorkspaceError, match="没有 'result_parcel'；请先运行 mujun evaluate"):
        ws.read(result_table("parcel"))


def test_not_a_geopackage(tmp_path):
    p = tmp_path / "notes.gpkg"
    p.write_text("这不是 GeoPackage")
    with pytest.raises(WorkspaceError, match="无法打开.*GeoPackage"):
        Workspace(p).layers()


def test_result_table():
    assert result_table("enterprise") == "result_enterprise"


# -- the GeoPackage ------------------------------------------------------------------------
def test_is_a_valid_geopackage(ws):
    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        contents = {r[0]: (r[1], r[2]) for r in
                    con.execute("SELECT table_name, data_type, srs_id FROM gpkg_contents")}
        geom = {r[0]: (r[1], r[2]) for r in
                con.execute("SELECT table_name, geometry_type_name, srs_id FROM gpkg_geometry_columns")}
        srs = {r[0] for r in con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
    assert contents["parcels"] == ("features", 4490)
    assert contents["enterprises"][0] == "attributes"
    assert geom == {"parcels": ("MULTIPOLYGON", 4490)}
    assert 4490 in srs


def test_layers_and_has(ws):
    assert [n for n in ws.layers() if not n.startswith("mujun_")] == ["parcels", "enterprises"]
    assert ws.has("parcels") and ws.has("enterprises") and not ws.has("parks")


def test_polygons_promoted_to_multipolygons(ws):
    back = ws.read("parcels")
    assert isinstance(back, gpd.GeoDataFrame)
    assert CRS.from_user_input(back.crs).to_epsg() == 4490
    assert (back.geom_type == "MultiPolygon").all()
    assert back.geometry.geom_equals(_parcels().geometry).all()


def test_types_restored(ws):
    p = ws.read("parcels")
    assert p["parcel_id"].tolist() == ["330602001", "330602002"]
    assert isinstance(p["holder_name"].dtype, pd.StringDtype)
    assert p["holder_name"].iloc[0] == "绍兴纺织有限公司" and pd.isna(p["holder_name"].iloc[1])
    assert p["registered_area_m2"].iloc[0] == 42000.5 and pd.isna(p["registered_area_m2"].iloc[1])
    assert p["agreed_start"].iloc[0] == pd.Timestamp("2021-03-05") and pd.isna(p["agreed_start"].iloc[1])

    e = ws.read("enterprises")
    assert str(e["year"].dtype) == "Int64"
    assert e["year"].iloc[:2].tolist() == [2023, 2023] and pd.isna(e["year"].iloc[2])
    assert str(e["above_scale"].dtype) == "boolean"
    assert e["above_scale"].iloc[:2].tolist() == [True, False] and pd.isna(e["above_scale"].iloc[2])
    assert e["name"].iloc[:2].tolist() == ["甲", "乙"] and pd.isna(e["name"].iloc[2])
    assert e["credit_code"].tolist() == _enterprises()["credit_code"].tolist()


def test_read_where(ws):
    e = ws.read("enterprises", where="tax > 2")
    assert e["credit_code"].tolist() == ["91330600MA2CCCCCC3"]


def test_read_without_geometry_gives_the_figures_alone(ws):
    figures = ws.read("parcels", geometry=False)
    assert type(figures) is pd.DataFrame and "geometry" not in figures.columns
    pd.testing.assert_frame_equal(figures, pd.DataFrame(ws.read("parcels").drop(columns="geometry")))


@pytest.mark.parametrize("rows", [1, 3, 7, 100])
def test_read_batches_gives_the_layer_in_order(tmp_path, rows):
    w = Workspace(tmp_path / "ws.gpkg")
    w.write({"parcels": _many_parcels(7)})
    batches = list(w.read_batches("parcels", rows))
    assert len(batches) == -(-7 // rows) and all(0 < len(b) <= rows for b in batches)
    whole = w.read("parcels")
    together = pd.concat(batches, ignore_index=True)
    assert isinstance(batches[0], gpd.GeoDataFrame) and CRS(batches[0].crs) == CRS("EPSG:4490")
    pd.testing.assert_frame_equal(pd.DataFrame(together.drop(columns="geometry")),
                                  pd.DataFrame(whole.drop(columns="geometry")))
    assert together.geometry.geom_equals_exact(whole.geometry, 0).all()


def test_read_batches_of_an_empty_table_and_a_missing_one(tmp_path):
    w = Workspace(tmp_path / "ws.gpkg")
    w.write({"parcels": _many_parcels(3).iloc[0:0]})
    batches = list(w.read_batches("parcels", 2))
    assert len(batches) == 1 and batches[0].empty and "parcel_id" in batches[0].columns
    with pytest.raises(WorkspaceError, match="mujun import buildings"):
        list(w.read_batches("buildings", 2))


def test_select_reads_only_the_rows_of_its_sql(ws):
    page = ws.select('SELECT t.fid AS mujun_fid, t.* FROM "parcels" t WHERE t.fid > 1 ORDER BY t.fid LIMIT 5')
    assert isinstance(page, gpd.GeoDataFrame) and CRS(page.crs) == CRS("EPSG:4490")
    assert page["mujun_fid"].tolist() == [2] and page["parcel_id"].tolist() == ["330602002"]
    assert isinstance(page["holder_name"].dtype, pd.StringDtype)
    assert page.geometry.iloc[0].equals(ws.read("parcels").geometry.iloc[1])
    firms = ws.select(f"SELECT * FROM enterprises WHERE credit_code = {sql_literal('91330600MA2CCCCCC3')}")
    assert firms["credit_code"].tolist() == ["91330600MA2CCCCCC3"] and str(firms["year"].dtype) == "Int64"
    with pytest.raises(WorkspaceError, match="无法读取"):
        ws.select("SELECT * FROM no_such_table")


def test_write_replaces_a_table_and_keeps_the_others(ws):
    ws.write({"enterprises": _enterprises().iloc[:1]})
    assert len(ws.read("enterprises")) == 1
    assert len(ws.read("parcels")) == 2


def test_meta_merged(ws):
    ws.write({}, meta={"sample": "1", "evaluated_years": "2023"})
    ws.write({}, meta={"evaluated_years": "2023,2024"})
    meta = ws.meta()
    assert len(meta.pop("generation")) == 32
    layers = {k: meta.pop(k) for k in list(meta) if k.startswith(LAYER_GENERATION)}
    assert meta == {"sample": "1", "evaluated_years": "2023,2024"}
    assert META_TABLE in ws.layers()
    # the tables the fixture wrote keep the generation of that write
    assert layers.keys() == {LAYER_GENERATION + "parcels", LAYER_GENERATION + "enterprises"}


def test_each_write_records_the_generation_of_the_tables_it_writes(ws):
    first = ws.generation()
    assert ws.layer_generation("parcels") == ws.layer_generation("enterprises") == first
    ws.write({"enterprises": _enterprises()})
    assert ws.layer_generation("enterprises") == ws.generation() != first
    assert ws.layer_generation("parcels") == first
    assert ws.layer_generation("buildings") == ""  # no such layer
    ws.write({}, meta_defaults={LAYER_GENERATION + "parcels": "x", "other": "y"})
    assert ws.layer_generation("parcels") == first  # defaults never replace what is there
    assert ws.meta()["other"] == "y"


def test_log_appended(ws):
    ws.write({"parcels": _parcels()}, log={"kind": "parcels", "rows": 2})
    ws.write({"enterprises": _enterprises()}, log={"kind": "enterprises", "rows": 3})
    log = ws.read(LOG_TABLE)
    assert log["kind"].tolist() == ["parcels", "enterprises"]
    assert log["rows"].tolist() == ["2", "3"]
    assert log["time"].str.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()


def test_write_into_new_folder(tmp_path):
    w = Workspace(tmp_path / "a" / "b" / "ws.gpkg")
    w.write({"parcels": _parcels()})
    assert [n for n in w.layers() if n != META_TABLE] == ["parcels"]


def test_write_emits_no_warnings(tmp_path):
    # GDAL warns (RuntimeWarning) about a GeoPackage written under a name not ending in .gpkg;
    # the CLI would show it to the user
    w = Workspace(tmp_path / "ws.gpkg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w.write({"parcels": _parcels()}, meta={"a": "1"}, log={"kind": "parcels"})
        w.write({"enterprises": _enterprises()}, log={"kind": "enterprises"})
    assert [str(c.message) for c in caught] == []


# -- atomic writes -------------------------------------------------------------------------
def test_failed_write_leaves_workspace_unchanged(ws, monkeypatch):
    before = _sha(ws.path)

    def broken(path, tables=None):
        raise WorkspaceError("校验失败")

    monkeypatch.setattr(workspace_module, "_check_integrity", broken)
    with pytest.raises(WorkspaceError, match="校验失败"):
        ws.write({"parcels": _parcels().iloc[:1]}, meta={"x": "1"}, log={"kind": "parcels"})
    assert _sha(ws.path) == before
    assert sorted(p.name for p in ws.path.parent.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


@pytest.mark.parametrize("in_place", [False, True])
def test_the_check_covers_what_was_written(ws, monkeypatch, in_place):
    """A write into an existing workspace checks each table as it is written (with its R-tree),
    then the metadata and the GeoPackage's registers, not the layers it left as they were (in
    place, the tables brought in are checked again in the workspace, before the commit); a
    new file is checked whole, once."""
    real, checked = workspace_module._check_integrity, []
    real_quick, in_transaction = workspace_module._quick_checks, []

    def spy(path, tables=None):
        checked.append(None if tables is None else set(tables))
        real(path, tables)

    def quick_spy(con, tables):
        if con.in_transaction:
            in_transaction.append(set(tables))
        return real_quick(con, tables)

    monkeypatch.setattr(workspace_module, "_check_integrity", spy)
    monkeypatch.setattr(workspace_module, "_quick_checks", quick_spy)
    district = _parcels().rename(columns={"parcel_id": "district_id"})
    with ws.staged(["result_district"], in_place=in_place) as staged:
        staged.put("result_district", district)
        staged.commit(meta={"x": "1"})
    assert checked[-2] == {"result_district"}
    assert META_TABLE in checked[-1]
    assert not {"parcels", "enterprises"} & (checked[-1] | checked[-2])
    if in_place:
        assert len(in_transaction) == 1
        assert {"result_district", META_TABLE, "gpkg_contents", "sqlite_master"} <= in_transaction[0]
        assert not {"parcels", "enterprises"} & in_transaction[0]
    else:
        assert "gpkg_contents" in checked[-1] and in_transaction == []
    checked.clear()
    Workspace(ws.path.with_name("new.gpkg")).write({"parcels": _parcels()})
    assert checked == [None]


def test_failed_second_table_leaves_first_unwritten(ws, monkeypatch):
    before = _sha(ws.path)
    real = workspace_module.write_table

    def write_frame(path, name, frame):
        if name == "bad":
            raise WorkspaceError("磁盘已满")
        real(path, name, frame)

    monkeypatch.setattr(workspace_module, "write_table", write_frame)
    with pytest.raises(WorkspaceError, match="磁盘已满"):
        ws.write({"parcels": _parcels().iloc[:1], "bad": _enterprises()})
    assert _sha(ws.path) == before
    assert len(ws.read("parcels")) == 2
    assert "bad" not in ws.layers()


def test_interrupted_write_leaves_workspace_unchanged(ws, monkeypatch):
    before = _sha(ws.path)

    def interrupted(path, name, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(workspace_module, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ws.write({"parcels": _parcels()})
    assert _sha(ws.path) == before
    assert sorted(p.name for p in ws.path.parent.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


def test_failed_first_write_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace_module, "_check_integrity",
                        lambda path, tables=None: (_ for _ in ()).throw(WorkspaceError("校验失败")))
    w = Workspace(tmp_path / "ws.gpkg")
    with pytest.raises(WorkspaceError):
        w.write({"parcels": _parcels()})
    assert not w.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_writer_refused(ws):
    before = _sha(ws.path)
    lock = ws.path.with_name(f".{ws.path.name}.lock")
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            with pytest.raises(WorkspaceError, match="正被另一个 mujun 进程写入"):
                ws.write({"parcels": _parcels().iloc[:1]})
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    assert _sha(ws.path) == before
    ws.write({"parcels": _parcels().iloc[:1]})  # free again once the other writer is done
    assert len(ws.read("parcels")) == 1


def test_generation_changes_with_every_write(ws):
    first = ws.generation()
    assert first == ws.generation()
    ws.write({}, meta={"note": "x"})
    assert ws.generation() != first


def _crash_inside_a_transaction(path: Path) -> None:
    """A process that dies with a transaction half-written to ``path`` (a hot journal)."""
    script = (
        "import os, sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1]); con.execute('PRAGMA cache_size=1')\n"
        "con.execute('BEGIN'); con.execute('CREATE TABLE notes (n TEXT)')\n"
        "con.executemany('INSERT INTO notes VALUES (?)', [('x' * 500,)] * 20000)\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=False)


def test_copy_rolls_back_an_interrupted_in_place_save(ws):
    """A process killed inside an in-place transaction leaves a hot journal; the next write
    copies the rolled-back database, never the half-written file."""
    _crash_inside_a_transaction(ws.path)
    assert ws.path.with_name(ws.path.name + "-journal").exists()  # the crash left a hot journal
    ws.write({}, meta={"note": "y"})
    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'notes'").fetchone()[0] == 0
    assert len(ws.read("parcels")) == 2


def _commit_elsewhere(path: Path) -> subprocess.CompletedProcess:
    """Another process's save into ``path``, waiting at most 0.3 s for SQLite's locks."""
    script = ("import sqlite3, sys\n"
              "con = sqlite3.connect(sys.argv[1], timeout=0.3, isolation_level=None)\n"
              "con.execute('BEGIN IMMEDIATE'); con.execute('CREATE TABLE elsewhere (n)'); con.execute('COMMIT')\n")
    return subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=False)


def test_the_copy_is_made_under_sqlite_s_shared_lock(ws, tmp_path, monkeypatch):
    """While the file is copied no other process can save into it: the copy is of one
    committed state, never of a save half-written over it."""
    seen = []
    copy_file = workspace_module._copy_file

    def copying(src: Path, dst: Path) -> None:
        seen.append(_commit_elsewhere(src))
        copy_file(src, dst)

    monkeypatch.setattr(workspace_module, "_copy_file", copying)
    workspace_module._copy(ws.path, tmp_path / "copy.gpkg")
    assert seen and seen[0].returncode != 0 and "database is locked" in seen[0].stderr
    assert _commit_elsewhere(ws.path).returncode == 0  # and the lock is let go once copied
    with contextlib.closing(sqlite3.connect(tmp_path / "copy.gpkg")) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'elsewhere'").fetchone()[0] == 0


def test_the_copy_leaves_this_process_s_locks_held(ws, tmp_path):
    """The file is copied by a child process: had this process opened and closed the file
    itself, POSIX would have dropped the shared lock another connection here holds."""
    with contextlib.closing(sqlite3.connect(ws.path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        workspace_module._copy(ws.path, tmp_path / "copy.gpkg")
        assert _commit_elsewhere(ws.path).returncode != 0  # the reader's lock still keeps saves out
        reader.execute("COMMIT")
    assert (tmp_path / "copy.gpkg").read_bytes() == ws.path.read_bytes()


def test_a_workspace_in_wal_mode_is_copied_with_its_log(ws, tmp_path):
    """QGIS may leave a GeoPackage in WAL mode, its last saves still in the ``-wal`` file:
    the copy holds them."""
    with contextlib.closing(sqlite3.connect(ws.path, isolation_level=None)) as con:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("CREATE TABLE saved_in_qgis (n)")
        con.execute("INSERT INTO saved_in_qgis VALUES (42)")
        assert Path(f"{ws.path}-wal").stat().st_size > 0
        workspace_module._copy(ws.path, tmp_path / "copy.gpkg")
    with contextlib.closing(sqlite3.connect(tmp_path / "copy.gpkg")) as con:
        assert con.execute("SELECT n FROM saved_in_qgis").fetchall() == [(42,)]
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failed_copy_is_one_line_and_leaves_nothing(ws, tmp_path):
    target = tmp_path / "absent" / "copy.gpkg"
    with pytest.raises(WorkspaceError) as err:
        workspace_module._copy(ws.path, target)
    message = str(err.value)
    assert "\n" not in message and ws.path.name in message and "请检查磁盘空间和写权限" in message
    assert not target.exists()
    assert _commit_elsewhere(ws.path).returncode == 0  # the lock let go


def test_readers_recover_from_a_crashed_save(ws):
    _crash_inside_a_transaction(ws.path)
    assert len(ws.read("parcels")) == 2
    assert "notes" not in ws.layers()


def test_readers_never_roll_back_a_live_save(ws):
    """A writer that lost its POSIX locks (its process opened the file through GDAL's own
    SQLite too, which drops them on closing) looks dead to SQLite: a reader must neither
    roll its transaction back nor break it."""
    script = (
        "import sys, time, pyogrio\n"
        "from mujun.layers.workspace import Workspace\n"
        "with Workspace(sys.argv[1]).transaction() as con:\n"
        "    con.execute('PRAGMA cache_size=1')\n"  # pages spill to the file before the commit
        "    con.execute('CREATE TABLE notes (n TEXT)')\n"
        "    con.executemany('INSERT INTO notes VALUES (?)', [('x' * 500,)] * 2000)\n"
        "    try:\n"
        "        pyogrio.read_info(sys.argv[1])\n"
        "    except Exception:\n"
        "        pass\n"
        "    print('saving', flush=True)\n"
        "    time.sleep(1.5)\n"
        "    con.executemany('INSERT INTO notes VALUES (?)', [('y' * 500,)] * 2000)\n"
        "print('saved', flush=True)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(ws.path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "saving"
    assert ws.query("SELECT count(*) FROM parcels")[0][0] == 2
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0 and out.strip() == "saved", err
    assert ws.query("SELECT count(*) FROM notes")[0][0] == 4000
    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- attribute tables written in place --------------------------------------------------------
def _stored(path: Path) -> dict[str, list]:
    """What a write leaves in a GeoPackage, times and generations aside: every table's rows, the
    schema, the registers, the R-trees."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        out = {"schema": sorted(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                            "WHERE name NOT LIKE 'sqlite_%'").fetchall())}
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                   "'sqlite_%' AND name NOT LIKE 'rtree_%'").fetchall():
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
            drop = {"last_change", "time"} | ({"value"} if name == META_TABLE else set())
            keep = ", ".join(f'"{c}"' for c in columns if c not in drop)
            out[name] = sorted(map(repr, con.execute(f'SELECT {keep} FROM "{name}"').fetchall()))
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"):
            out[name] = con.execute(f'SELECT * FROM "{name}" ORDER BY id').fetchall()
        out["sequences"] = sorted(con.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return out


def _districts() -> gpd.GeoDataFrame:
    return _parcels().rename(columns={"parcel_id": "district_id"}).iloc[::-1]


def test_attribute_tables_are_written_in_place_and_stored_as_a_copy_would_store_them(ws, monkeypatch):
    """Written in place (no copy of the workspace), an enterprise table, a zone layer with its
    R-tree and the metadata are stored as the copy a write makes would store them."""
    twin = Workspace(ws.path.with_name("twin.gpkg"))
    twin.path.write_bytes(ws.path.read_bytes())
    ws.write({"result_district": _parcels()})  # a zone layer with its R-tree, to be replaced
    twin.write({"result_district": _parcels()})
    real, copies = workspace_module._copy, []
    monkeypatch.setattr(workspace_module, "_copy", lambda src, dst: (copies.append(src), real(src, dst)))
    tables = {"enterprises": _enterprises().iloc[::-1], "result_district": _districts()}
    for w, in_place in ((ws, True), (twin, False)):
        with w.staged(tables, in_place=in_place) as staged:
            assert staged.in_place is in_place
            for name, frame in tables.items():
                staged.put(name, frame)
            staged.commit(meta={"note": "x"}, log={"kind": "enterprises"})
    assert copies == [twin.path]
    assert _stored(ws.path) == _stored(twin.path)
    assert ws.read("enterprises")["credit_code"].tolist() == _enterprises()["credit_code"].tolist()[::-1]
    assert ws.read("result_district")["district_id"].tolist() == ["330602002", "330602001"]
    assert pyogrio.read_info(ws.path, layer="result_district")["features"] == 2
    assert ws.meta()["note"] == "x" and ws.layer_generation("enterprises") == ws.generation()
    assert sorted(p.name for p in ws.path.parent.iterdir() if not p.name.endswith(".lock")) == ["twin.gpkg",
                                                                                              "ws.gpkg"]


def test_a_write_is_in_place_unless_it_puts_the_parcels_or_buildings(ws, monkeypatch):
    real, copies = workspace_module._copy, []
    monkeypatch.setattr(workspace_module, "_copy", lambda src, dst: (copies.append(dst), real(src, dst)))
    ws.write({"enterprises": _enterprises()}, log={"kind": "enterprises"})
    ws.write({}, meta={"note": "x"})
    ws.write({"parks": _parcels().rename(columns={"parcel_id": "park_id"})})  # a zone layer, R-tree and all
    assert copies == []
    assert pyogrio.read_info(ws.path, layer="parks")["features"] == 2
    monkeypatch.setattr(workspace_module, "_sqlite_rtree", lambda: False)  # no R-tree module for a layer in place
    ws.write({"parks": _parcels().rename(columns={"parcel_id": "park_id"})})
    ws.write({"enterprises": _enterprises()})  # (an attribute table needs none)
    assert len(copies) == 1
    ws.write({"parcels": _parcels()})  # the results' outlines may have to be kept
    with ws.staged(["parcels"], in_place=True) as staged:
        assert not staged.in_place
    assert len(copies) == 3
    # revised in this process: written whole (the workspace is read through GDAL only by readers)
    with ws.staged(["enterprises"], in_place=True) as staged:
        staged.put("enterprises", _enterprises(), revise=True)
        staged.commit()
    assert staged.in_place and staged.revised() == {"enterprises": None}


@pytest.mark.parametrize(("error", "message"), [
    (WorkspaceError("校验失败"), "校验失败"),
    (sqlite3.OperationalError("database or disk is full"),
     r"无法把新写的表保存进工作空间 ws\.gpkg（database or disk is full）；工作空间未改动"),
])
def test_a_failed_write_in_place_leaves_the_workspace_as_it_was(ws, monkeypatch, error, message):
    before = _sha(ws.path)

    def broken(con, times_of=None):
        assert con.in_transaction  # the tables are brought in already
        raise error

    monkeypatch.setattr(workspace_module.gpkg, "finish", broken)
    with pytest.raises(WorkspaceError, match=message):
        ws.write({"enterprises": _enterprises().iloc[:1]}, meta={"x": "1"}, log={"kind": "enterprises"})
    assert _sha(ws.path) == before
    assert sorted(p.name for p in ws.path.parent.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


def test_a_write_in_place_killed_in_its_transaction_is_rolled_back(ws):
    before = _stored(ws.path)
    script = (
        "import os, sys\n"
        "import pandas as pd\n"
        "import mujun.layers.workspace as w\n"
        "def die(con, times_of=None):\n"
        "    con.execute('PRAGMA cache_size = 1')\n"  # what is written so far goes to the file
        "    con.execute('CREATE TABLE notes (n TEXT)')\n"
        "    con.executemany('INSERT INTO notes VALUES (?)', [('x' * 500,)] * 2000)\n"
        "    os._exit(9)\n"
        "w.gpkg.finish = die\n"
        "w.Workspace(sys.argv[1]).write({'enterprises': pd.DataFrame({'credit_code': ['X'], 'tax': [1.0]})})\n"
    )
    subprocess.run([sys.executable, "-c", script, str(ws.path)], check=False)
    assert ws.path.with_name(ws.path.name + "-journal").exists()  # the kill left a hot journal
    assert ws.read("enterprises")["credit_code"].tolist() == _enterprises()["credit_code"].tolist()
    assert _stored(ws.path) == before
    ws.write({}, meta={"note": "x"})  # the next write removes the scratch file left behind
    assert sorted(p.name for p in ws.path.parent.iterdir() if not p.name.endswith(".lock")) == ["ws.gpkg"]


def test_what_was_saved_in_place_during_a_write_in_place_is_kept(ws):
    with ws.staged(["enterprises"], in_place=True) as staged:
        staged.put("enterprises", _enterprises().iloc[:2])
        with ws.transaction() as con:  # a reviewer's save while the write is under way
            con.execute("CREATE TABLE mujun_review (parcel_id TEXT, year INTEGER)")
            con.execute("INSERT INTO mujun_review VALUES ('330602001', 2025)")
        staged.commit()
    assert ws.query("SELECT parcel_id FROM mujun_review")[0][0] == "330602001"
    assert len(ws.read("enterprises")) == 2


# -- batched writing -------------------------------------------------------------------------
def _many_parcels(n: int) -> gpd.GeoDataFrame:
    x, y = 120.58, 30.0
    polys = [box(x + i * 0.001, y, x + i * 0.001 + 0.0008, y + 0.0008) for i in range(n)]
    polys[1] = MultiPolygon([polys[1], box(x, y + 0.01, x + 0.0005, y + 0.0105)])  # mixed with multi
    return gpd.GeoDataFrame(
        {
            "parcel_id": pd.array([f"P{i:03d}" for i in range(n)], dtype="string"),
            "holder_name": pd.array([None if i % 3 == 0 else f"企业{i}" for i in range(n)], dtype="string"),
            "registered_area_m2": [float("nan") if i % 4 == 0 else i * 10.5 for i in range(n)],
            "building_count": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
            "idle": pd.array([None if i % 2 else i % 4 == 0 for i in range(n)], dtype="boolean"),
            "industrial": [i % 2 == 0 for i in range(n)],
            "note": [None] * n,  # an all-missing text column
        },
        geometry=polys, crs="EPSG:4490",
    )


@pytest.mark.parametrize("batch", [1, 3, 4, 1000])
def test_batched_write_reads_back_whole(tmp_path, monkeypatch, batch):
    """However the rows are cut into batches, the layer reads back as one write would give."""
    monkeypatch.setattr(writer_module, "BATCH_ROWS", batch)
    w = Workspace(tmp_path / "w.gpkg")
    frame = _many_parcels(10)
    w.write({"result_parcel": frame, "enterprises": _enterprises(), "empty": _enterprises().iloc[0:0]})
    back = w.read("result_parcel")
    assert (back.geom_type == "MultiPolygon").all() and back.geometry.geom_equals(frame.geometry).all()
    assert back["parcel_id"].tolist() == frame["parcel_id"].tolist()
    pd.testing.assert_series_equal(back["holder_name"].astype(object), frame["holder_name"].astype(object),
                                   check_names=False)
    pd.testing.assert_series_equal(back["registered_area_m2"], frame["registered_area_m2"])
    assert back["building_count"].astype("float64").equals(frame["building_count"].astype("float64"))
    assert back["idle"].astype("float64").equals(frame["idle"].astype("float64"))
    assert back["industrial"].astype(bool).tolist() == frame["industrial"].tolist()
    assert back["note"].isna().all()
    assert len(w.read("enterprises")) == 3 and len(w.read("empty")) == 0
    assert "result_parcel" in _rtree_tables(w.path)


def _rtree_tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        rows = con.execute("SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")
        return {r[0] for r in rows}


def _layer_names(path: Path) -> list[str]:
    return [str(n) for n, _ in pyogrio.list_layers(path)]


def test_building_results_share_the_buildings_outlines(tmp_path):
    """The buildings' results are written as figures alone; they are read with the outlines of
    the buildings of the same id, and GDAL opens them as a layer through a registered view."""
    w = Workspace(tmp_path / "w.gpkg")
    buildings = _many_parcels(8).rename(columns={"parcel_id": "building_id"})[["building_id", "geometry"]]
    w.write({"buildings": buildings})
    figures = pd.DataFrame({"building_id": buildings["building_id"][::-1].to_numpy(), "footprint_m2": range(8)})
    w.write({"result_building": figures})
    with contextlib.closing(sqlite3.connect(w.path)) as con:
        assert con.execute("SELECT count(*) FROM gpkg_geometry_columns WHERE table_name = 'result_building'"
                           ).fetchone()[0] == 0  # no copy of the outlines
    back = w.read("result_building")
    assert back["building_id"].tolist() == figures["building_id"].tolist()  # the table's order
    assert back["footprint_m2"].tolist() == list(range(8))
    expected = buildings.set_index("building_id").geometry.loc[figures["building_id"]]
    assert shapely.equals(back.geometry.to_numpy(), expected.to_numpy()).all() and back.crs.to_epsg() == 4490
    assert list(w.read("result_building", geometry=False).columns) == ["building_id", "footprint_m2"]
    view = pyogrio.read_dataframe(w.path, layer="result_building_features")
    assert len(view) == 8 and view.crs.to_epsg() == 4490
    by_id = view.set_index("building_id")
    assert shapely.equals(by_id.geometry.loc[expected.index].to_numpy(), expected.to_numpy()).all()
    assert by_id["footprint_m2"].loc[figures["building_id"]].tolist() == list(range(8))


def _sql_rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return con.execute(sql, params).fetchall()


def _results(ids, year: int, value: float) -> pd.DataFrame:
    return pd.DataFrame({"parcel_id": pd.array(ids, dtype="string"), "year": year, "tax": value})


def test_replaced_parcels_keep_the_outlines_earlier_years_were_computed_on(tmp_path):
    """An import that replaces the parcels keeps their old outlines for the years evaluated on
    them (a snapshot those years' views read); re-evaluating a year moves it to the new
    layer, and a snapshot no year reads is dropped."""
    w = Workspace(tmp_path / "w.gpkg")
    old = _many_parcels(4)[["parcel_id", "geometry"]]
    w.write({"parcels": old})
    w.write({"result_parcel": _results(old["parcel_id"], 2024, 1.0)}, meta={"evaluated_years": "2024"})
    new = old.copy()
    new["geometry"] = new.geometry.translate(xoff=0.1)  # redrawn: the same ids, other outlines
    w.write({"parcels": new})
    snapshots = [n for n in _layer_names(w.path) if n.startswith("mujun_parcels_")]
    assert len(snapshots) == 1
    assert w.meta()["geometry_of:result_parcel"] == f"2024={snapshots[0]}"
    stored = pd.concat([_results(old["parcel_id"], 2024, 1.0), _results(old["parcel_id"], 2025, 2.0)])
    w.write({"result_parcel": stored}, meta={"evaluated_years": "2024,2025"})
    back = w.read("result_parcel").sort_values(["year", "parcel_id"])
    assert shapely.equals(back.geometry.iloc[:4].to_numpy(), old.geometry.to_numpy()).all()  # 2024: the old outlines
    assert shapely.equals(back.geometry.iloc[4:].to_numpy(), new.geometry.to_numpy()).all()  # 2025: the new
    for year, shapes in ((2024, old), (2025, new)):
        view = pyogrio.read_dataframe(w.path, layer=f"result_parcel_{year}").sort_values("parcel_id")
        assert shapely.equals(view.geometry.to_numpy(), shapes.geometry.to_numpy()).all()
        read = w.read("result_parcel", where=f"year = {year}")
        assert shapely.equals(read.geometry.to_numpy(), shapes.geometry.to_numpy()).all()
    # 2024 evaluated again, on the parcels as they are now: the snapshot goes
    w.write({"result_parcel": stored}, meta={"evaluated_years": "2024,2025", "geometry_of:result_parcel": ""})
    assert not [n for n in _layer_names(w.path) if n.startswith("mujun_parcels_")]
    read = w.read("result_parcel", where="year = 2024")
    assert shapely.equals(read.geometry.to_numpy(), new.geometry.to_numpy()).all()


def test_a_result_whose_parcel_is_gone_keeps_its_figures(tmp_path):
    """A result row whose id the parcels layer lacks is read with no geometry (its figures
    kept); the year's view, a layer of outlines, leaves it out."""
    w = Workspace(tmp_path / "w.gpkg")
    parcels = _many_parcels(3)[["parcel_id", "geometry"]]
    w.write({"parcels": parcels})
    w.write({"result_parcel": _results([*parcels["parcel_id"], "P999"], 2025, 3.0)},
            meta={"evaluated_years": "2025"})
    back = w.read("result_parcel")
    assert back["parcel_id"].tolist()[-1] == "P999" and back.geometry.isna().tolist() == [False] * 3 + [True]
    assert len(pyogrio.read_dataframe(w.path, layer="result_parcel_2025")) == 3


def _scored(ids, year: int, value: float) -> pd.DataFrame:
    """Per-parcel results with the columns stored apart (:data:`gpkg.SPLIT_TABLES`)."""
    frame = _results(ids, year, value)
    for i, column in enumerate(["score", "target_tax_per_mu", "tax_gain", "target_value_added_per_mu",
                                "value_added_gain"]):
        frame[column] = value * 10 + i
    return frame


@pytest.mark.parametrize("process", [False, True])
def test_per_parcel_results_are_stored_in_two_parts_read_as_one_table(tmp_path, process):
    """Results with scores are stored as two tables joined one to one in the view
    ``result_parcel``, which GDAL lists and reads like the table it replaces (its scores last);
    a revision updates the rows of the first part that changed and writes the second whole;
    results without scores are stored whole again, the parts dropped — and the other way."""
    w = Workspace(tmp_path / "w.gpkg")
    parcels = _many_parcels(5)[["parcel_id", "geometry"]]
    w.write({"parcels": parcels})
    first, second = gpkg.split_parts("result_parcel")
    scores = gpkg.SPLIT_TABLES["result_parcel"].written_columns(_scored(["P1"], 2025, 1.0).columns)
    frame = _scored(parcels["parcel_id"], 2025, 1.0)
    with w.staged(["result_parcel"], process=process) as staged:
        staged.put("result_parcel", frame)
        staged.commit(meta={"evaluated_years": "2025"})
    kinds = dict(_sql_rows(w.path, "SELECT name, type FROM sqlite_master WHERE name IN (?, ?, ?)",
                           ("result_parcel", first, second)))
    assert kinds == {"result_parcel": "view", first: "table", second: "table"}
    assert [c for c, in _sql_rows(w.path, f"SELECT name FROM pragma_table_info('{second}')")] == ["fid", *scores]
    assert {"result_parcel", "result_parcel_2025"} <= set(pyogrio.list_layers(w.path)[:, 0])
    back = pd.DataFrame(w.read("result_parcel", geometry=False))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    view = pyogrio.read_dataframe(w.path, layer="result_parcel_2025")
    assert view["score"].tolist() == frame["score"].tolist() and len(view) == 5
    # revised: one tax changed, every score moved; the first part's other rows untouched
    again = frame.copy()
    again.loc[2, "tax"] = 7.0
    again[list(scores)] = again[list(scores)] + 0.5
    with w.staged(["result_parcel"], process=process) as staged:
        staged.put("result_parcel", again, revise=True)
        staged.commit()
    assert staged.revised() == {"result_parcel": 1}
    pd.testing.assert_frame_equal(pd.DataFrame(w.read("result_parcel", geometry=False)), again, check_dtype=False)
    # stored whole (no scores): the parts go; with scores again: the whole table goes
    w.write({"result_parcel": _results(parcels["parcel_id"], 2025, 3.0)})
    assert [n for n in (first, second) if n in _layer_names(w.path)] == []
    assert _sql_rows(w.path, "SELECT type FROM sqlite_master WHERE name = 'result_parcel'") == [("table",)]
    w.write({"result_parcel": frame})
    assert _sql_rows(w.path, "SELECT type FROM sqlite_master WHERE name = 'result_parcel'") == [("view",)]
    pd.testing.assert_frame_equal(pd.DataFrame(w.read("result_parcel", geometry=False)), frame, check_dtype=False)


def _checks(n: int, value: float) -> pd.DataFrame:
    return pd.DataFrame({"parcel_id": pd.array([f"P{i}" for i in range(n)], dtype="string"),
                         "status": pd.Categorical(["达标", "不达标"] * (n // 2)), "measured": value})


def _put_checks(w: Workspace, frame: pd.DataFrame, *, revise: bool) -> dict:
    with w.staged(["checks"], process=True) as staged:
        staged.put("checks", frame, revise=revise, keep=True)
        staged.commit()
    return staged.revised()


def test_a_kept_table_is_what_the_next_revision_compares_with(tmp_path):
    """A table put with ``keep`` is kept beside the workspace as handed to the writer, under the
    stamp of the stored table; the next revision compares with it (not with the file) while
    the stamp holds, and reads the stored table once anything else has written it."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2)})
    frame = _checks(6, 1.0)
    assert _put_checks(w, frame, revise=False) == {}
    (entry,) = (kept_tables(w.path) / "checks").iterdir()
    with contextlib.closing(sqlite3.connect(w.path)) as con:
        assert (entry / "stamp").read_text() == workspace_module._stamp(con, "checks")
    kept = pa.ipc.open_file(str(entry / "part-0.arrow")).read_all()
    assert kept.to_pandas()["measured"].tolist() == [1.0] * 6
    # the kept copy, not the file, is compared: a value the copy alone holds reads as changed
    kept = kept.set_column(2, "measured", pa.array([1.0, 1.0, 9.0, 1.0, 1.0, 1.0]))
    with pa.OSFile(str(entry / "part-0.arrow"), "wb") as sink, pa.ipc.new_file(sink, kept.schema) as out:
        out.write_table(kept)
    assert _put_checks(w, frame, revise=True) == {"checks": 1}
    # the earlier copy is set aside at once; the next write removes it
    folder = kept_tables(w.path) / "checks"
    aside = [p.name for p in folder.iterdir() if p.name.startswith(".removed-")]
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 1 and len(aside) == 1
    # edited since (GDAL and QGIS set its time of change): the stored table is read
    with contextlib.closing(sqlite3.connect(w.path)) as con, con:
        con.execute("UPDATE checks SET measured = 5 WHERE fid = 4")
        con.execute("UPDATE gpkg_contents SET last_change = '2030-01-01T00:00:00.000Z' WHERE table_name = 'checks'")
    assert _put_checks(w, frame, revise=True) == {"checks": 1}
    assert w.read("checks")["measured"].tolist() == [1.0] * 6
    assert not set(aside) & {p.name for p in folder.iterdir()}


def test_the_rows_a_revision_updates_are_read_back(tmp_path, monkeypatch):
    """A revision's check reads back the rows it updated; a row the file does not hold as
    written fails the write in one line, and the workspace is as it was."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2), "checks": _checks(20, 1.0)})
    again = _checks(20, 1.0)
    again.loc[[1, 4], "measured"] = [2.0, float("nan")]
    with w.staged(["checks"]) as staged:
        staged.put("checks", again, revise=True)
        staged.commit()
    assert staged.revised() == {"checks": 2}
    assert w.read("checks")["measured"].tolist()[:2] == [1.0, 2.0] and w.read("checks")["measured"].isna().sum() == 1
    before = hashlib.sha256(w.path.read_bytes()).hexdigest()
    real = gpkg.update_rows

    def astray(con, table, columns, rows):  # one value lands other than bound
        rows = [(*r[:-2], 9.0, r[-1]) if r[-1] == 3 else r for r in rows]
        real(con, table, columns, rows)

    monkeypatch.setattr(gpkg, "update_rows", astray)
    third = _checks(20, 1.0)
    third.loc[[2, 3], "measured"] = [3.0, 4.0]
    with pytest.raises(WorkspaceError, match=r"写入后工作空间校验失败（checks 的第 3 行与写入的不同）"), \
            w.staged(["checks"]) as staged:
        staged.put("checks", third, revise=True)
        staged.commit()
    assert hashlib.sha256(w.path.read_bytes()).hexdigest() == before


def _keyed(ids: list[int], value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"fid": ids, "parcel_id": pd.array([f"P{i}" for i in ids], dtype="string"),
                         "reason": pd.array([f"原因 {i}" for i in ids], dtype="string"), "value": value})


def _rows_by_id(path: Path, table: str) -> list[tuple]:
    return _sql_rows(path, f"SELECT * FROM {table} ORDER BY fid")


@pytest.mark.parametrize("process", [False, True])
def test_rows_under_ids_of_their_own_are_deleted_inserted_and_updated_by_id(tmp_path, process):
    """A table whose rows carry their own feature ids (column ``fid``, rising) is stored under
    them, and revised by id: the rows gone deleted, the new ones inserted, the changed ones
    updated; the file then holds what writing it whole stores, row for row."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2)})
    first = _keyed(list(range(10, 501, 10)))
    with w.staged(["flags"], process=process) as staged:
        staged.put("flags", first, keep=True)
        staged.commit()
    assert [r[0] for r in _rows_by_id(w.path, "flags")] == list(range(10, 501, 10))
    assert "fid" not in w.read("flags").columns
    # 20 gone, 25 and 105 new, 60's reason changed
    again = _keyed(sorted({*range(10, 501, 10), 25, 505} - {20}))
    again.loc[5, "reason"] = "原因 已更正"
    with w.staged(["flags"], process=process) as staged:
        staged.put("flags", again, revise=True, keep=True)
        staged.commit()
    assert staged.revised() == {"flags": 4}
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"flags": again})
    assert _rows_by_id(w.path, "flags") == _rows_by_id(whole.path, "flags")
    pd.testing.assert_frame_equal(w.read("flags"), again.drop(columns="fid"), check_dtype=False)
    # the same again: nothing written
    with w.staged(["flags"], process=process) as staged:
        staged.put("flags", again, revise=True, keep=True)
        staged.commit()
    assert staged.revised() == {"flags": 0}
    # ids of a rule numbered afresh: nearly every row new, written whole under the new ids
    moved = _keyed([i + 1 for i in range(10, 501, 10)])
    with w.staged(["flags"], process=process) as staged:
        staged.put("flags", moved, revise=True, keep=True)
        staged.commit()
    assert staged.revised() == {"flags": None}
    assert [r[0] for r in _rows_by_id(w.path, "flags")] == [i + 1 for i in range(10, 501, 10)]


def test_rows_deleted_or_inserted_by_id_are_read_back(tmp_path, monkeypatch):
    """A revision by id reads back the rows it inserted and looks for those it deleted: a row
    left behind fails the write in one line, and the workspace is as it was."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2), "flags": _keyed(list(range(1, 40, 2)))})
    before = hashlib.sha256(w.path.read_bytes()).hexdigest()
    monkeypatch.setattr(gpkg, "delete_rows", lambda con, table, fids: None)  # deletes nothing
    with pytest.raises(WorkspaceError, match=r"写入后工作空间校验失败（flags 的第 1 行与写入的不同）"), \
            w.staged(["flags"]) as staged:
        staged.put("flags", _keyed([*range(3, 40, 2), 40]), revise=True)
        staged.commit()
    assert hashlib.sha256(w.path.read_bytes()).hexdigest() == before


def test_rows_revised_in_place_are_changed_in_the_workspace_itself(tmp_path):
    """A writer process revising a table in an in-place write compares it with its kept copy
    and makes the changed rows in the workspace by the commit's transaction: the same file,
    holding what writing the table whole stores."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2)})
    with w.staged(["flags"], process=True) as staged:
        staged.put("flags", _keyed(list(range(10, 501, 10))), keep=True)
        staged.commit()
    inode = w.path.stat().st_ino
    again = _keyed(sorted({*range(10, 501, 10), 25} - {20}))
    again.loc[5, "value"] = 3.0
    with w.staged(["flags"], process=True, in_place=True) as staged:
        staged.put("flags", again, revise=True, keep=True)
        staged.commit()
    assert staged.in_place and staged.revised() == {"flags": 3} and w.path.stat().st_ino == inode
    whole = Workspace(tmp_path / "whole.gpkg")
    whole.write({"flags": again})
    assert _rows_by_id(w.path, "flags") == _rows_by_id(whole.path, "flags")
    # kept again as now stored: the next in-place revision finds nothing to change
    with w.staged(["flags"], process=True, in_place=True) as staged:
        staged.put("flags", again, revise=True, keep=True)
        staged.commit()
    assert staged.revised() == {"flags": 0}


def test_a_revision_made_in_place_is_read_back_against_the_table_it_was_found_for(tmp_path, monkeypatch):
    """The commit makes a revision only in the table as it was compared (its stamp), reads
    back what it wrote, and otherwise leaves the workspace as it was, in one line."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2), "flags": _keyed(list(range(10, 101, 10)))})
    with contextlib.closing(sqlite3.connect(w.path)) as con:
        stamp = workspace_module._stamp(con, "flags")
    revision = workspace_module._Revision((["value"], [30], [[2.0]]), gone=[40])

    def commit(found_for: str) -> None:
        with w.staged(["flags"], in_place=True) as staged:
            workspace_module._DEFERRED[str(staged.tmp)] = {"flags": (found_for, revision)}
            staged.commit()

    before = hashlib.sha256(w.path.read_bytes()).hexdigest()
    with pytest.raises(WorkspaceError, match=r"^工作空间的 flags 在评价期间被改动；工作空间未改动，请重新运行$"):
        commit("2030-01-01T00:00:00.000Z|100")
    monkeypatch.setattr(gpkg, "update_rows", lambda con, table, columns, rows: None)  # updates nothing
    with pytest.raises(WorkspaceError, match=r"写入后工作空间校验失败（flags 的第 30 行与写入的不同）"):
        commit(stamp)
    assert hashlib.sha256(w.path.read_bytes()).hexdigest() == before
    monkeypatch.undo()
    commit(stamp)
    assert _rows_by_id(w.path, "flags")[2:4] == [(30, "P30", "原因 30", 2.0), (50, "P50", "原因 50", 1.0)]


def test_a_table_that_cannot_be_kept_is_written_all_the_same(tmp_path):
    """The kept copies are a cache: a folder that cannot be written leaves the write whole."""
    w = Workspace(tmp_path / "w.gpkg")
    w.write({"parcels": _many_parcels(2)})
    kept_tables(w.path).parent.mkdir(parents=True, exist_ok=True)
    kept_tables(w.path).write_text("not a folder")
    assert _put_checks(w, _checks(4, 2.0), revise=False) == {}
    assert w.read("checks")["measured"].tolist() == [2.0] * 4
    assert not [p for p in tmp_path.iterdir() if ".tmp.gpkg" in p.name]  # no hand-over file left


# -- one SQLite library per file: readers beside in-place writers ----------------------------
def _reads(ws: Workspace, rounds: int, failures: list, answers: list) -> None:
    """What a page asks of the workspace, ``rounds`` times; every failure or false answer kept."""
    from mujun.service import _evaluated_years

    for _ in range(rounds):
        try:
            assert ws.meta().get("evaluated_years") == "2023,2024,2025", "metadata lost"
            assert "result_parcel" in ws.layers(), "layer list lost"
            assert _evaluated_years(ws) == [2023, 2024, 2025], "还没有评价结果"
            assert len(ws.read("result_district")) == 18, "rows lost"
            ws.generation()
            answers.append(1)
        except Exception as err:  # noqa: BLE001 - counted, the test reports them all
            failures.append(f"{type(err).__name__}: {err}")


def _saves(ws: Workspace, parcels: list[str], user: str, saved: list) -> None:
    from mujun.layers.accounts import check_login
    from mujun.layers.review import save_decision

    for i, pid in enumerate(parcels):
        save_decision(ws, pid, 2025, status="需现场核查", measure="", deadline="", comment=f"第{i}次",
                      base_version=0, user=user)
        saved.append(pid)
        assert check_login(ws, user, "wrong-password", f"10.0.0.{i % 250}") is None  # a failed login writes


def _check_after_load(ws: Workspace, saved: list[str]) -> None:
    from mujun.layers.review import audit_log, decisions

    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = decisions(ws, 2025)
    assert sorted(got["parcel_id"]) == sorted(saved)  # no decision lost
    assert len(audit_log(ws, year=2025)) == len(saved)


def test_readers_and_writers_in_threads_of_one_process(fresh_review_workspace):
    import threading

    ws = fresh_review_workspace
    ids = list(ws.read("parcels")["parcel_id"].astype(str)[:60])
    failures, answers, saved = [], [], []
    threads = [threading.Thread(target=_reads, args=(ws, 25, failures, answers)) for _ in range(6)]
    threads += [threading.Thread(target=_saves, args=(ws, ids[k::2], f"rev{k + 1}", saved)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(answers) == 6 * 25
    _check_after_load(ws, saved)


def test_readers_here_and_a_writer_in_another_process(fresh_review_workspace):
    import json
    import threading

    ws = fresh_review_workspace
    ids = list(ws.read("parcels")["parcel_id"].astype(str)[:40])
    failures, answers = [], []
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import json, sys; sys.path.insert(0, sys.argv[1]);"
         "from test_workspace import _saves; from mujun.layers.workspace import Workspace;"
         "saved = []; _saves(Workspace(sys.argv[2]), json.loads(sys.argv[3]), 'rev1', saved);"
         "print(json.dumps(saved))",
         str(Path(__file__).parent), str(ws.path), json.dumps(ids)],
        stdout=subprocess.PIPE, text=True)
    readers = [threading.Thread(target=_reads, args=(ws, 20, failures, answers)) for _ in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    out, _ = writer.communicate(timeout=300)
    assert writer.returncode == 0
    assert failures == []
    assert len(answers) == 4 * 20
    _check_after_load(ws, json.loads(out))


def test_readers_and_a_reviewer_here_and_writes_in_place_in_another_process(fresh_review_workspace):
    """Enterprise tables written in place by another process (an import) while pages read and a
    reviewer saves here: no read fails, no decision is lost, the file stays whole and holds
    the last table written."""
    import threading

    ws = fresh_review_workspace
    ids = list(ws.read("parcels")["parcel_id"].astype(str)[:30])
    rounds = 5
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from mujun.layers.workspace import Workspace\n"
         "ws = Workspace(sys.argv[1]); firms = ws.read('enterprises')\n"
         f"for i in range({rounds}):\n"
         "    firms['tax'] = firms['tax'].fillna(0) + 1\n"
         "    ws.write({'enterprises': firms}, log={'kind': 'enterprises', 'rows': str(len(firms))})\n"
         "print(float(firms['tax'].sum()))",
         str(ws.path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    before = float(ws.read("enterprises")["tax"].fillna(0).sum())
    failures, answers, saved = [], [], []
    threads = [threading.Thread(target=_reads, args=(ws, 20, failures, answers)) for _ in range(3)]
    threads.append(threading.Thread(target=_saves, args=(ws, ids, "rev1", saved)))
    seen = set()  # the generations read while the writer runs: its writes did land among the reads

    def watch():
        while writer.poll() is None:
            seen.add(ws.generation())

    threads.append(threading.Thread(target=watch))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out, err = writer.communicate(timeout=300)
    assert len(seen) >= 2
    assert writer.returncode == 0, err
    assert failures == []
    assert len(answers) == 3 * 20
    _check_after_load(ws, saved)
    firms = ws.read("enterprises")
    assert float(firms["tax"].sum()) == pytest.approx(float(out)) == pytest.approx(before + rounds * len(firms))
    assert len(ws.read(LOG_TABLE)) >= rounds


def test_the_live_workspace_is_never_opened_by_gdal_here(review_workspace, monkeypatch):
    """Pages, exports and reviews of a workspace open it with Python's sqlite3 only: GDAL's
    own SQLite reads it in a reader process (mujun.layers.reader)."""
    import pyogrio
    from conftest import login

    from mujun.webapp import create_app

    live = review_workspace.path.resolve()
    opened = []
    for name in ("read_dataframe", "read_arrow", "open_arrow", "list_layers", "read_info", "read_bounds",
                 "write_dataframe", "write_arrow"):
        real = getattr(pyogrio, name)

        def guard(path, *args, _real=real, _name=name, **kwargs):
            if Path(str(path)).resolve() == live:
                opened.append(_name)
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(pyogrio, name, guard)
    client = login(create_app({"WORKSPACE": str(live), "TESTING": True}).test_client(), "rev1")
    pid = str(review_workspace.read("result_parcel", where="year = 2025 AND idle = 1")["parcel_id"].iloc[0])
    for url in ["/", "/map", "/rankings", "/rankings?level=parcel", "/api/years", f"/parcels/{pid}",
                "/review", f"/review/2025/{pid}", "/rankings/export?level=enterprise&format=xlsx",
                "/review/export"]:
        assert client.get(url).status_code == 200, url
    assert opened == []


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_replaced_file_is_removed_after_the_rename(ws, monkeypatch):
    """A copied write renames its copy over the workspace with the old file still named, and
    removes that name after: the rename frees nothing, and nothing is left."""
    before = _files(ws.path.parent)
    seen = []
    replace = workspace_module._durable_replace

    def replacing(tmp: Path, path: Path):
        inode = path.stat().st_ino
        old = replace(tmp, path)
        seen.append((old.stat().st_ino == inode, path.stat().st_ino != inode))
        return old

    monkeypatch.setattr(workspace_module, "_durable_replace", replacing)
    ws.write({"parcels": _parcels()})  # (the parcels: a copied write)
    assert seen == [(True, True)]
    assert _files(ws.path.parent) == before


def test_a_large_replaced_file_is_removed_by_a_process_not_waited_for(ws, monkeypatch):
    monkeypatch.setattr(workspace_module, "REMOVED_APART_BYTES", 0)
    before = _files(ws.path.parent)
    started = []
    popen = subprocess.Popen

    def spawn(args, **kw):
        if kw.get("start_new_session"):  # (not the copy's child)
            started.append(args[-1])
        return popen(args, **kw)

    monkeypatch.setattr(workspace_module.subprocess, "Popen", spawn)
    ws.write({"parcels": _parcels()})
    old = ws.path.with_name(f".{ws.path.stem}.{os.getpid()}.old.tmp.gpkg")
    assert started == [str(old)]
    for _ in range(200):  # removed in the background
        if not old.exists():
            break
        time.sleep(0.05)
    assert _files(ws.path.parent) == before
    assert len(ws.read("parcels")) == 2


def test_leftover_scratch_copies_removed_by_the_next_write(ws):
    stale = [ws.path.with_name(f".{ws.path.stem}.{pid}.tmp.gpkg{end}") for pid, end in
             [(99999991, ""), (99999991, "-journal"), (4242, "")]]
    stale.append(ws.path.with_name(f".{ws.path.stem}.4242.old.tmp.gpkg"))  # a replaced file not yet removed
    for p in stale:
        p.write_bytes(b"\0" * 1024)  # a killed import's copy
    other = ws.path.with_name(".other.1.tmp.gpkg")
    other.write_bytes(b"")
    ws.write({}, meta={"note": "x"})
    assert not any(p.exists() for p in stale)
    assert other.exists()  # another workspace's copy is not ours to remove
    assert ws.meta()["note"] == "x"


def test_numbers_reads_one_column_as_floats(tmp_path):
    """One column in table order as float64, by SQLite alone: NULL and text become NaN."""
    import numpy as np

    w = Workspace(tmp_path / "w.gpkg")
    w.write({"result_district": pd.DataFrame({"district_id": ["a", "b", "c", "d"], "year": [2025, 2025, 2025, 2024],
                                              "tax_per_mu": [1.5, None, 3.0, 9.0]})})
    with contextlib.closing(sqlite3.connect(w.path)) as con:  # a text value where a number belongs
        con.execute("UPDATE result_district SET tax_per_mu = 'n/a' WHERE district_id = 'c'")
        con.commit()
    got = w.numbers("result_district", "tax_per_mu", "year = 2025")
    assert got.dtype == np.float64 and np.array_equal(got, [1.5, np.nan, np.nan], equal_nan=True)
    assert w.numbers("result_district", "year").tolist() == [2025.0, 2025.0, 2025.0, 2024.0]
