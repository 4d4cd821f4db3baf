"""The workspace as QGIS users and GDAL 3.6 read it: version, field titles, per-year views,
the review view, times in UTC; Debian's ``ogrinfo`` and GDAL's validator on the sample."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from mujun.layers import gpkg
from mujun.layers.review import AUDIT_TABLE, REVIEW_TABLE, save_decision
from mujun.layers.schema import column_field
from mujun.layers.workspace import Workspace

#: Debian's GDAL (python3-gdal) and its GeoPackage validator; CI installs both.
SYSTEM_PYTHON = "/usr/bin/python3"
ZULU = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _sql(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        return con.execute(sql, params).fetchall()


def _ogrinfo(path: Path) -> subprocess.CompletedProcess:
    """Debian's ``ogrinfo`` reading every feature of every layer (values, not geometries)."""
    exe = shutil.which("ogrinfo")
    assert exe, "ogrinfo is missing: apt-get install gdal-bin (CI installs it)"
    return subprocess.run([exe, "-ro", "-al", "-geom=NO", str(path)], capture_output=True, text=True, timeout=300)


def _validate(path: Path) -> subprocess.CompletedProcess:
    """GDAL's sample validator (``osgeo_utils.samples.validate_gpkg``), all requirements."""
    return subprocess.run([SYSTEM_PYTHON, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", str(path)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reviewed(sample_workspace, tmp_path_factory) -> Workspace:
    """A copy of the sample with a review decision, then evaluated data rewritten (a write)."""
    ws = Workspace(tmp_path_factory.mktemp("gpkg") / "reviewed.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    year = max(int(y) for y in ws.meta()["evaluated_years"].split(","))
    pid = ws.query("SELECT parcel_id FROM result_parcel WHERE year = ? ORDER BY fid LIMIT 1", (year,))[0][0]
    save_decision(ws, pid, year, status="需现场核查", comment="核实建筑", base_version=0, user="rev1")
    ws.write({}, meta={"note": "review view test"})
    return ws


def test_version_is_geopackage_1_2(sample_workspace):
    with closing(sqlite3.connect(sample_workspace.path)) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == gpkg.APPLICATION_ID
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert not _sql(sample_workspace.path, "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                           "AND name LIKE 'rtree%update6'")


def test_every_column_has_its_chinese_title(sample_workspace):
    path = sample_workspace.path
    assert len(_sql(path, "SELECT * FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'")) == 2
    titles = {(t, c): (n, title) for t, c, n, title in
              _sql(path, "SELECT table_name, column_name, name, title FROM gpkg_data_columns")}
    tables = [t for (t,) in _sql(path, "SELECT table_name FROM gpkg_contents")]
    assert {"result_parcel", "result_enterprise", "parcels", "enterprises", "mujun_meta"} <= set(tables)
    for table in tables:
        columns = [r[1] for r in _sql(path, f'PRAGMA table_info("{table}")')]
        for column in columns:
            assert (table, column) in titles, f"{table}.{column} has no title"
        names = [titles[table, c][0] for c in columns]
        assert len(set(names)) == len(names), f"{table}: names repeat"
    assert titles["result_parcel", "tax_per_mu"] == ("亩均税收(万元/亩)", "亩均税收(万元/亩)")
    assert titles["result_parcel_2025", "area_mu"][1] == "用地面积(亩)"
    assert titles["parcels", "registered_area_m2"][1] == "宗地面积(平方米)"
    assert titles["result_enterprise", "credit_code"][1] == "统一社会信用代码"
    assert titles["result_compliance", "passed"][1] == "是否达标"
    assert titles["parcels", "fid"][1] == "要素编号"
    # every titled schema field has the schema's header (one vocabulary)
    for (table, column), (_, title) in titles.items():
        f = column_field(re.sub(r"_\d{4}$", "", table), column)
        if f is not None:
            assert title == f.header, (table, column)


def test_each_evaluated_year_is_a_layer(sample_workspace):
    ws = sample_workspace
    years = [int(y) for y in ws.meta()["evaluated_years"].split(",")]
    assert len(years) >= 2
    layers = ws.layers()
    for table in ("result_parcel", "result_park", "result_district", "result_enterprise", "result_flag"):
        for y in years:
            assert f"{table}_{y}" in layers
    # no year column: no per-year views; one view shows the results with the buildings' outlines
    assert [n for n in layers if n.startswith("result_building_")] == ["result_building_features"]
    kinds = dict(_sql(ws.path, "SELECT table_name, data_type FROM gpkg_contents"))
    assert kinds[f"result_parcel_{years[-1]}"] == "features"
    assert kinds[f"result_enterprise_{years[-1]}"] == "attributes"
    identifiers = dict(_sql(ws.path, "SELECT table_name, identifier FROM gpkg_contents"))
    assert identifiers[f"result_parcel_{years[-1]}"] == f"地块评价结果（{years[-1]} 年）"
    assert identifiers["result_parcel"] == "地块评价结果（各年度）" and identifiers["parcels"] == "地块"
    # GDAL reads the view as the filtered table, row for row (the reader process is GDAL)
    y = years[0]
    view = ws.read(f"result_parcel_{y}")
    table = ws.read("result_parcel", where=f"year = {y}")
    assert isinstance(view, gpd.GeoDataFrame) and view.crs.to_epsg() == 4490
    pd.testing.assert_frame_equal(pd.DataFrame(view.drop(columns="geometry")),
                                  pd.DataFrame(table.drop(columns="geometry")))
    assert view.geometry.geom_equals_exact(table.geometry, 0).all()


def test_views_follow_the_years_evaluated(sample_workspace, tmp_path):
    ws = Workspace(tmp_path / "w.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    years = sorted(int(y) for y in ws.meta()["evaluated_years"].split(","))
    parcels = ws.read("result_parcel")
    ws.write({"result_parcel": parcels[parcels["year"] == years[-1]]}, meta={"evaluated_years": str(years[-1])})
    layers = ws.layers()
    assert f"result_parcel_{years[-1]}" in layers
    assert f"result_parcel_{years[0]}" not in layers
    assert not _sql(ws.path, "SELECT * FROM gpkg_data_columns WHERE table_name = ?", (f"result_parcel_{years[0]}",))


def test_review_view_joins_a_years_parcels_to_their_decisions(reviewed):
    ws = reviewed
    year = max(int(y) for y in ws.meta()["evaluated_years"].split(","))
    assert {f"review_{year}", REVIEW_TABLE, AUDIT_TABLE} <= set(ws.layers())
    view = ws.read(f"review_{year}")
    assert len(view) == ws.count(f"result_parcel_{year}")
    decided = view[view["review_status"].notna()]
    assert decided["review_status"].tolist() == ["需现场核查"]
    assert decided["review_decided_by"].tolist() == ["rev1"]
    titles = dict(_sql(ws.path, "SELECT column_name, title FROM gpkg_data_columns WHERE table_name = ?",
                       (f"review_{year}",)))
    assert titles["review_status"] == "审核结论" and titles["tax_per_mu"] == "亩均税收(万元/亩)"
    # a decision saved in place shows at once
    pid = ws.query(f"SELECT parcel_id FROM result_parcel_{year} ORDER BY OGC_FID DESC LIMIT 1")[0][0]
    save_decision(ws, pid, year, status="不予认定", comment="已整改", base_version=0, user="rev2")
    row = ws.query(f"SELECT review_status FROM review_{year} WHERE parcel_id = ?", (pid,))
    assert row[0][0] == "不予认定"


def test_times_are_utc_with_z(reviewed):
    path = reviewed.path
    for (changed,) in _sql(path, "SELECT last_change FROM gpkg_contents"):
        assert ZULU.match(changed), changed
    for (when,) in _sql(path, f"SELECT decided_at FROM {REVIEW_TABLE}") + _sql(path, f"SELECT time FROM {AUDIT_TABLE}"):
        assert ZULU.match(when), when
    # calendar dates are GeoPackage DATEs, read back as dates
    kinds = {r[1]: r[2] for r in _sql(path, 'PRAGMA table_info("parcels")')}
    assert kinds["transfer_date"] == "DATE"
    assert reviewed.read("parcels")["transfer_date"].dtype == "datetime64[ms]"


def test_local_times_of_earlier_versions_are_converted(reviewed, tmp_path):
    ws = Workspace(tmp_path / "old.gpkg")
    shutil.copyfile(reviewed.path, ws.path)
    with ws.transaction() as con:
        con.execute(f"UPDATE {REVIEW_TABLE} SET decided_at = '2025-03-01T16:30:05'")
    ws.write({}, meta={"note": "migrate"})
    expected = gpkg.timestamp(datetime(2025, 3, 1, 16, 30, 5).astimezone())
    assert {v for (v,) in ws.query(f"SELECT decided_at FROM {REVIEW_TABLE}")} == {expected}
    assert gpkg.local_time(expected) == "2025-03-01 16:30:05"
    assert gpkg.local_time("2025-03-01T16:30:05") == "2025-03-01 16:30:05"
    assert gpkg.local_time(None) == gpkg.local_time(float("nan")) == ""


def test_a_geopackage_1_4_is_brought_back_to_1_2(tmp_path):
    path = tmp_path / "new-gdal.gpkg"
    frame = gpd.GeoDataFrame({"parcel_id": ["A"]}, geometry=[shapely.box(120.0, 30.0, 120.01, 30.01)], crs="EPSG:4490")
    pyogrio.write_dataframe(frame, path, layer="parcels", driver="GPKG", dataset_options={"VERSION": "1.4"})
    assert _sql(path, "PRAGMA user_version")[0][0] == 10400
    ws = Workspace(path)
    ws.write({}, meta={"note": "touched"})
    assert _sql(path, "PRAGMA user_version")[0][0] == 10200
    triggers = {n for (n,) in _sql(path, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"rtree_parcels_geom_update1", "rtree_parcels_geom_update3"} <= triggers
    assert not {"rtree_parcels_geom_update6", "rtree_parcels_geom_update7"} & triggers
    assert _ogrinfo(path).stderr == ""
    checked = _validate(path)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr


def test_debian_gdal_opens_every_layer_without_a_warning(reviewed):
    listed = _ogrinfo(reviewed.path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    layers = re.findall(r"^Layer name: (\S+)$", listed.stdout, flags=re.M)
    assert layers == reviewed.layers()


def test_pyogrio_reads_every_layer_without_a_warning(reviewed):
    # in a process of its own: in this one only sqlite3 opens a workspace
    script = ("import sys, pyogrio\n"
              "for name in pyogrio.list_layers(sys.argv[1])[:, 0]:\n"
              "    pyogrio.read_dataframe(sys.argv[1], layer=name)\n"
              "print(len(pyogrio.list_layers(sys.argv[1])))\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script, str(reviewed.path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert int(done.stdout) == len(reviewed.layers())


def test_gdal_validator_passes(reviewed):
    checked = _validate(reviewed.path)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr


def test_qgis_opens_the_results_as_layers(sample_workspace):
    """QGIS 3.22 (Debian 12's python3-qgis, CI installs it) adds each year's parcel results, the
    review view and the buildings' results from the GeoPackage as valid layers: every row, with
    the outlines of the parcels (or buildings) they were computed on."""
    import json
    import os

    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import qgis.core"], capture_output=True)
    assert shutil.which(python) and probe.returncode == 0, \
        "QGIS's Python bindings are missing: apt-get install python3-qgis qgis-providers (CI installs them)"
    ws = sample_workspace
    years = [int(y) for y in ws.meta()["evaluated_years"].split(",")]
    names = [*(f"result_parcel_{y}" for y in years), f"review_{years[-1]}", "result_building_features"]
    script = Path(__file__).with_name("clients") / "qgis_read.py"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([python, str(script), "--gpkg", str(ws.path), *names], capture_output=True, text=True,
                          timeout=600, env={**env, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    read = {r["collection"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert list(read) == names
    for name in names:
        table = "result_building" if name.startswith("result_building") else "result_parcel"
        year = None if table == "result_building" else int(name.rsplit("_", 1)[1])
        expected = ws.read(table, where=None if year is None else f"year = {year}")
        r = read[name]
        assert r["valid"] and r["crs"] == "EPSG:4490", r
        assert r["features"] == len(expected), r
        assert r["area"] == pytest.approx(float(expected.to_crs(4549).area.sum()), rel=1e-6), r
