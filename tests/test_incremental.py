"""Re-evaluation reusing the stored geometry stage (mujun.engines.cache, service.evaluate)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from mujun import service
from mujun.cli import main
from mujun.engines.cache import KEPT_FOLDER, KEY_META, TABLE, geometry_key, read_kept
from mujun.layers.columnar import cache_dir
from mujun.layers.gpkg import split_parts
from mujun.layers.importer import import_layer
from mujun.layers.schema import KINDS
from mujun.layers.workspace import LAYER_GENERATION, Workspace
from mujun.service import _flag_ids, evaluate

#: Firms whose tax the bureau corrects, and by how much (万元).
CORRECTIONS = 5


def _copy(ws: Workspace, path: Path) -> Workspace:
    shutil.copyfile(ws.path, path)
    return Workspace(path)


def _corrected_table(ws: Workspace, path: Path, codes: list[str] | None = None) -> tuple[Path, pd.DataFrame]:
    """The latest year's enterprise table as the bureau's XLSX, with a few firms' tax changed
    (or those of ``codes``)."""
    ent = ws.read("enterprises")
    year = int(ent["year"].max())
    ent = ent[ent["year"] == year].reset_index(drop=True)
    taxed = ent[ent["tax"] > 0]
    firms = taxed.index[:CORRECTIONS] if codes is None else taxed.index[taxed["credit_code"].isin(codes)]
    ent.loc[firms, "tax"] = ent.loc[firms, "tax"] * 1.5 + 10.0
    labels = {f.name: f.label for f in KINDS["enterprises"].fields}
    ent[[c for c in ent.columns if c in labels]].rename(columns=labels).to_excel(path, index=False)
    return path, ent.loc[firms, ["credit_code", "tax"]]


def _results(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Every result table and view, geometries as WKB."""
    out = {}
    for name in ws.layers():
        if not name.startswith("result_"):
            continue
        frame = pd.DataFrame(ws.read(name))
        if "geometry" in frame.columns:
            frame["geometry"] = shapely.to_wkb(frame["geometry"].to_numpy(), hex=True)
        out[name] = frame
    return out


def _assert_same_results(a: Workspace, b: Workspace) -> None:
    left, right = _results(a), _results(b)
    assert sorted(left) == sorted(right)
    assert {"result_parcel", "result_enterprise", "result_building", "result_compliance"} <= set(left)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def _stored_rows(path: Path, table: str) -> list[tuple]:
    """The rows of ``table`` as SQLite holds them, with each value's storage class."""
    with closing(sqlite3.connect(path)) as con:
        names = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        typed = ", ".join(f'"{c}", typeof("{c}")' for c in names)
        return con.execute(f'SELECT {typed} FROM "{table}" ORDER BY fid').fetchall()


@pytest.fixture
def evaluated(sample_workspace, tmp_path) -> Workspace:
    return _copy(sample_workspace, tmp_path / "ws.gpkg")


def test_the_sample_stores_its_geometry_under_the_current_key(evaluated):
    meta = evaluated.meta()
    key = geometry_key(evaluated)
    assert key.known and meta[KEY_META] == key.text
    assert evaluated.count(TABLE) == evaluated.count("parcels")
    for name in ("parcels", "buildings", "districts", "parks", "platforms", "enterprises", "mujun_rasters"):
        assert meta[LAYER_GENERATION + name]


def test_a_corrected_enterprise_table_reuses_the_geometry_with_identical_results(evaluated, tmp_path):
    xlsx, corrected = _corrected_table(evaluated, tmp_path / "企业_更正.xlsx")
    before = evaluated.meta()[KEY_META]
    import_layer(evaluated, "enterprises", xlsx, progress=False)
    assert geometry_key(evaluated).text == before  # the enterprise table is not the geometry's
    full = _copy(evaluated, tmp_path / "full.gpkg")

    incremental = evaluate(evaluated, progress=False)
    assert incremental.geometry_reused
    complete = evaluate(full, progress=False, full=True)
    assert not complete.geometry_reused

    _assert_same_results(evaluated, full)
    year = incremental.years[0]
    stored = evaluated.read("result_enterprise", where=f"year = {year}").set_index("credit_code")["tax"]
    assert stored.loc[corrected["credit_code"]].to_numpy() == pytest.approx(corrected["tax"].to_numpy())
    # the full run stored its geometry again under the same key, the incremental one kept it
    assert full.meta()[KEY_META] == evaluated.meta()[KEY_META] == before
    pd.testing.assert_frame_equal(evaluated.read(TABLE), full.read(TABLE))


def test_a_year_stored_alone_has_its_checks_revised_in_place_with_identical_results(evaluated, tmp_path):
    """A province evaluates one year: re-evaluated after a correction, the contract and
    control checks and the parcels' figures are not written again, only the rows that changed
    are updated (the parcels' scores, relative to their peers, are written whole); every result
    is what a full run stores, value for value."""
    year = max(int(y) for y in evaluated.meta()["evaluated_years"].split(","))
    with evaluated.transaction() as con:
        con.execute("UPDATE mujun_meta SET value = ? WHERE key = 'evaluated_years'", (str(year),))
    first = evaluate(evaluated, year=year, progress=False)
    # the tables held other years' rows too: written whole
    assert first.revised == {"result_compliance": None, "result_flag": None, "result_parcel": None,
                             "result_enterprise": None}
    assert [tuple(r) for r in evaluated.query("SELECT DISTINCT year FROM result_compliance")] == [(year,)]
    # firms whose parcels have a contract tax that is due: their checks change
    checks = evaluated.read("result_compliance", where="indicator = 'tax_per_mu' AND status IN ('达标', '不达标')")
    held = evaluated.read("result_parcel", where=f"year = {year}").set_index("parcel_id")["holder_code"]
    codes = sorted(held.reindex(checks["parcel_id"]).dropna().unique())[:CORRECTIONS]
    assert codes
    xlsx, corrected = _corrected_table(evaluated, tmp_path / "企业_更正.xlsx", codes)
    import_layer(evaluated, "enterprises", xlsx, progress=False)
    full = _copy(evaluated, tmp_path / "full.gpkg")

    incremental = evaluate(evaluated, progress=False)
    assert incremental.geometry_reused
    updated = incremental.revised["result_compliance"]
    assert 0 < updated < evaluated.count("result_compliance") * 0.2
    # the parcels of the firms corrected (their tax, per-mu tax, flags …): a few of the year's
    changed = incremental.revised["result_parcel"]
    assert 0 < changed < len(held) * 0.2
    # the flags that came, went or changed with the corrected firms' figures, found by their ids
    assert 0 < incremental.revised["result_flag"] < evaluated.count("result_flag") * 0.2
    # every firm's previous class went with the earlier years' rows: the firms' table is written whole
    assert incremental.revised["result_enterprise"] is None
    complete = evaluate(full, progress=False, full=True)
    assert complete.revised == {}
    _assert_same_results(evaluated, full)
    for table in ("result_compliance", "result_flag", *split_parts("result_parcel"), *split_parts("result_enterprise")):
        assert _stored_rows(evaluated.path, table) == _stored_rows(full.path, table)
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", "--workspace", str(evaluated.path)])
    assert res.exit_code == 0, res.output
    assert sorted(res.output.splitlines()[1:5]) == sorted(["控制指标与合同核查：与上次相同，未改写", "低效闲置标记：与上次相同，未改写",
                                                           "地块评价结果：与上次相同，未改写", "企业评价结果：与上次相同，未改写"])


@pytest.mark.parametrize("layer", ["parcels", "buildings", "districts", "parks"])
def test_a_reimported_layer_is_computed_again(evaluated, layer):
    evaluated.write({layer: evaluated.read(layer)})  # as an import does: a new generation
    assert geometry_key(evaluated).text != evaluated.meta()[KEY_META]
    res = evaluate(evaluated, progress=False)
    assert not res.geometry_reused
    assert evaluate(evaluated, progress=False).geometry_reused  # stored under the new key


def test_a_layer_edited_in_place_is_computed_again(evaluated):
    # GDAL (and QGIS through it) records an edit in gpkg_contents.last_change, not in mujun's metadata
    with closing(sqlite3.connect(evaluated.path)) as con, con:
        con.execute("UPDATE gpkg_contents SET last_change = '2030-01-01T00:00:00.000Z' WHERE table_name = 'buildings'")
    assert not evaluate(evaluated, progress=False).geometry_reused


def test_other_rules_reuse_the_geometry(evaluated, tmp_path):
    full = _copy(evaluated, tmp_path / "full.gpkg")
    assert evaluate(evaluated, rules="huangyan-2022", control="gb-2023", progress=False).geometry_reused
    assert not evaluate(full, rules="huangyan-2022", control="gb-2023", progress=False, full=True).geometry_reused
    _assert_same_results(evaluated, full)


def test_a_workspace_without_layer_generations_is_computed_in_full_once(evaluated):
    with closing(sqlite3.connect(evaluated.path)) as con, con:
        con.execute("DELETE FROM mujun_meta WHERE key LIKE 'layer_generation:%'")
    assert not geometry_key(evaluated).known
    assert not evaluate(evaluated, progress=False).geometry_reused
    assert geometry_key(evaluated).known  # the layers read got a generation
    assert evaluate(evaluated, progress=False).geometry_reused


def test_cli_says_which_and_full_forces(evaluated):
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", "--workspace", str(evaluated.path)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "复用几何计算结果（图层未变）"
    res = runner.invoke(main, ["evaluate", "--workspace", str(evaluated.path), "--full"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("重新计算几何")


def test_the_stored_geometry_is_listed_as_internal(evaluated):
    res = CliRunner().invoke(main, ["info", "--workspace", str(evaluated.path)])
    assert res.exit_code == 0, res.output
    line = next(row for row in res.output.splitlines() if TABLE in row)
    assert "内部" in line
    assert not any(name.startswith(f"{TABLE}_") for name in evaluated.layers())  # no per-year views


def test_a_stored_table_of_other_parcels_is_not_used(evaluated):
    # the key matches, but the stored rows are not the parcels layer's, in its order
    stored = evaluated.read(TABLE)
    evaluated.write({TABLE: stored.iloc[::-1].reset_index(drop=True)})
    assert not evaluate(evaluated, progress=False).geometry_reused
    assert evaluate(evaluated, progress=False).geometry_reused


def _gdal_reads(monkeypatch) -> list[str]:
    """The tables then read through GDAL (the reader process), by name."""
    import mujun.layers.reader as reader_module
    import mujun.layers.workspace as workspace_module

    names: list[str] = []
    read_arrow = reader_module.read_arrow

    def recorded(path, layer, **kw):
        names.append(layer)
        return read_arrow(path, layer, **kw)

    monkeypatch.setattr(reader_module, "read_arrow", recorded)
    monkeypatch.setattr(workspace_module, "read_arrow", recorded)
    return names


def _kept(ws: Workspace) -> list[str]:
    for thread in threading.enumerate():  # the removal of other keys' files, in the background
        if thread.name == "mujun-column-sweep":
            thread.join(timeout=30)
    return sorted(f"{p.parent.name}/{p.name.split('.')[0]}" for p in (cache_dir(ws.path) / KEPT_FOLDER).glob("*/*.arrow"))


def test_a_reusing_evaluation_keeps_what_it_read_and_the_next_reads_it_not_the_workspace(evaluated, tmp_path,
                                                                                       monkeypatch):
    assert _kept(evaluated) == []
    assert evaluate(evaluated, progress=False).geometry_reused  # read through GDAL, and kept
    kept = _kept(evaluated)
    assert [k.split("/")[1] for k in kept] == [TABLE, "parcels"] and len({k.split("/")[0] for k in kept}) == 1
    key = geometry_key(evaluated)
    for name in ("parcels", TABLE):  # the very frames the workspace gives
        pd.testing.assert_frame_equal(read_kept(evaluated, key, name), evaluated.read(name, geometry=False))

    xlsx, _ = _corrected_table(evaluated, tmp_path / "企业_更正.xlsx")
    import_layer(evaluated, "enterprises", xlsx, progress=False)
    full = _copy(evaluated, tmp_path / "full.gpkg")
    read = _gdal_reads(monkeypatch)
    assert evaluate(evaluated, progress=False).geometry_reused
    assert "enterprises" in read and "parcels" not in read and TABLE not in read
    assert _kept(evaluated) == kept
    monkeypatch.undo()
    evaluate(full, progress=False, full=True)
    _assert_same_results(evaluated, full)


def test_what_was_kept_is_not_read_once_the_stored_table_is_written_again(evaluated, monkeypatch):
    """A full evaluation writes the stored table again (a new generation), an import of the
    parcels changes the key: the next reusing evaluation reads both from the workspace, and
    keeps them in place of the old files."""
    evaluate(evaluated, progress=False)
    first = _kept(evaluated)
    evaluate(evaluated, progress=False, full=True)
    read = _gdal_reads(monkeypatch)
    assert evaluate(evaluated, progress=False).geometry_reused
    assert "parcels" in read and TABLE in read
    second = _kept(evaluated)
    assert len(second) == 2 and set(second).isdisjoint(first)
    monkeypatch.undo()
    evaluated.write({"parcels": evaluated.read("parcels")})  # as an import does: a new generation
    evaluate(evaluated, progress=False)  # computed again, stored under the new key
    read = _gdal_reads(monkeypatch)
    assert evaluate(evaluated, progress=False).geometry_reused
    assert "parcels" in read and TABLE in read
    assert set(_kept(evaluated)).isdisjoint(second)


def _flags(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    kind, rule, row = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame({"parcel_id": pd.array([f"P{r}" for r in row], dtype="string"),
                         "kind": pd.array(kind, dtype="string"), "rule": pd.array(rule, dtype="string")},
                        index=pd.Index(row, name="parcel_row", dtype="int64"))


def test_a_flag_keeps_its_id_while_others_come_and_go():
    """Each flag's feature id is made of its kind, its rule's run, its parcel's row and its
    place there: the ids rise in the judgement's order, and a flag gained or lost elsewhere
    leaves every other flag's id as it was."""
    rows = [("idle", "未动工", 3), ("idle", "未动工", 9), ("inefficient", "亩均税收", 1), ("inefficient", "亩均税收", 4),
            ("noncompliant", "容积率不达标", 2), ("noncompliant", "投资强度不达标", 0),
            ("noncompliant", "容积率不达标", 5), ("noncompliant", "容积率不达标", 5), ("noncompliant", "容积率不达标", 1)]
    ids = _flag_ids(_flags(rows))
    assert (np.diff(ids) > 0).all()
    # the second check named 容积率 is a run of its own (its rows fall back), the parcel met twice numbered
    assert ids[7] == ids[6] + 1 and ids[8] > ids[7]
    assert len({i >> 4 for i in ids[6:8]}) == 1
    more = _flags([*rows[:3], ("inefficient", "亩均税收", 2), *rows[3:]])
    fewer = _flags([r for i, r in enumerate(rows) if i != 1])
    assert _flag_ids(more).tolist() == [*ids[:3], _flag_ids(more)[3], *ids[3:]]
    assert _flag_ids(fewer).tolist() == [i for k, i in enumerate(ids) if k != 1]


def test_flags_not_listed_as_judged_have_no_ids():
    rows = [("idle", "未动工", 3), ("inefficient", "亩均税收", 1)]
    assert _flag_ids(_flags(rows).reset_index(drop=True)) is None  # no parcel rows
    assert _flag_ids(_flags(rows[::-1])) is None  # kinds out of their order
    assert _flag_ids(_flags([("other", "?", 1)])) is None
    assert _flag_ids(_flags([])) is None


def test_a_province_is_revised_in_the_workspace_itself_with_identical_results(evaluated, tmp_path, monkeypatch):
    """With a writer process (a province), a reusing run of a year stored alone is written in
    place: the workspace file is not copied — the few rows found changed against the kept
    copies are made, and the scores brought in, by one transaction — and every table holds
    what a full run stores, row for row."""
    monkeypatch.setattr(service, "WRITER_PROCESS_PARCELS", 0)
    year = max(int(y) for y in evaluated.meta()["evaluated_years"].split(","))
    with evaluated.transaction() as con:
        con.execute("UPDATE mujun_meta SET value = ? WHERE key = 'evaluated_years'", (str(year),))
    first = evaluate(evaluated, year=year, progress=False)  # the other years' rows go; tables kept
    assert set(first.revised.values()) == {None}
    xlsx, corrected = _corrected_table(evaluated, tmp_path / "企业_更正.xlsx")
    import_layer(evaluated, "enterprises", xlsx, progress=False)
    full = _copy(evaluated, tmp_path / "full.gpkg")
    inode = evaluated.path.stat().st_ino

    incremental = evaluate(evaluated, progress=False)
    assert incremental.geometry_reused and evaluated.path.stat().st_ino == inode  # the same file, not a copy
    revised = incremental.revised
    assert all(isinstance(revised[t], int) for t in ("result_compliance", "result_flag", "result_parcel")), revised
    assert revised["result_parcel"] > 0
    evaluate(full, progress=False, full=True)
    _assert_same_results(evaluated, full)
    for table in ("result_compliance", "result_flag", *split_parts("result_parcel"), *split_parts("result_enterprise")):
        assert _stored_rows(evaluated.path, table) == _stored_rows(full.path, table), table
    assert not [p.name for p in tmp_path.iterdir() if ".tmp.gpkg" in p.name]
    # the copies kept are those of the tables as now stored: the next run compares with them
    again = evaluate(evaluated, progress=False)
    assert {t: again.revised[t] for t in ("result_compliance", "result_flag", "result_parcel")} == {
        "result_compliance": 0, "result_flag": 0, "result_parcel": 0}
