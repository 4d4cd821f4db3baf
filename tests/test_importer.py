"""Tests for mujun.layers.sources, mujun.layers.validate and mujun.layers.importer: reading every supported
format, mapping headers, coercing values, checking ids, geometries and coordinates, and
importing into a workspace all or nothing."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import LineString, Point, Polygon, box

from mujun.geo.errors import CRSError, InputError, MujunError, SchemaError
from mujun.layers.importer import import_layer, prepare_layer
from mujun.layers.schema import KINDS
from mujun.layers.sources import read_source
from mujun.layers.validate import PLACEHOLDERS, parse_crs
from mujun.layers.workspace import Workspace

X0, Y0 = 120.58, 30.00  # Shaoxing, Keqiao
IDS = ["330602001", "330602002", "330602003"]
CODES = ["91330600MA2AAAAAA1", "91330600MA2BBBBBB2", "91330600MA2CCCCCC3"]
HOLDERS = ["绍兴纺织有限公司", "柯桥印染厂", "浙江某某机械股份有限公司"]


# -- helpers -------------------------------------------------------------------------------
def parcels_gdf(n: int = 3, crs: str = "EPSG:4490") -> gpd.GeoDataFrame:
    """``n`` square parcels of 0.002° (about 64 mu) in a row, in EPSG:4490, then ``crs``."""
    geoms = [box(X0 + 0.003 * i, Y0, X0 + 0.003 * i + 0.002, Y0 + 0.002) for i in range(n)]
    gdf = gpd.GeoDataFrame(
        {
            "宗地代码": [f"3306020{i + 1:02d}" for i in range(n)],
            "统一社会信用代码": [f"91330600MA2{i:07d}" for i in range(n)] if n > 3 else CODES[:n],
            "权利人": [f"企业{i}" for i in range(n)] if n > 3 else HOLDERS[:n],
            "宗地面积": [42000.0 + i for i in range(n)],
        },
        geometry=geoms,
        crs="EPSG:4490",
    )
    if n <= 3:
        gdf["宗地代码"] = IDS[:n]
    return gdf if crs == "EPSG:4490" else gdf.to_crs(crs)


def write(gdf: gpd.GeoDataFrame | pd.DataFrame, path: Path, **kwargs) -> Path:
    """Write a fixture file quietly (GDAL notes laundered field names and the like)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.suffix == ".parquet":
            gdf.to_parquet(path)
        else:
            pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def write_shp(gdf, path: Path, encoding: str = "gbk", cpg: bool = False, prj: bool = True) -> Path:
    write(gdf, path, encoding=encoding)
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    if not prj:
        path.with_suffix(".prj").unlink(missing_ok=True)
    return path


def write_csv(text: str, path: Path, encoding: str = "utf-8-sig") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def prep(kind, path, **kw):
    return prepare_layer(kind, path, progress=False, **kw)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


ENTERPRISE_CSV = (
    "统一社会信用代码,企业名称,年度,税收（元）,工业增加值(万元),营业收入 (万元),用电量\n"
    "91330600MA2AAAAAA1,绍兴纺织有限公司,2023,1234500,100,3000,暂无\n"
    "91330600ma2bbbbbb2,柯桥印染厂,2023,-,/,1500,12\n"
    "91330600MA2CCCCCC3,浙江某某机械股份有限公司,2023,,50,,3\n"
)


# -- formats -------------------------------------------------------------------------------
def _shp(gdf, d):
    return write_shp(gdf, d / "zd.shp")


def _gpkg(gdf, d):
    return write(gdf, d / "zd.gpkg", layer="宗地")


def _geojson(gdf, d):
    return write(gdf, d / "zd.geojson")


def _gdb(gdf, d):
    return write(gdf, d / "zd.gdb", driver="OpenFileGDB", layer="ZD")


def _fgb(gdf, d):
    return write(gdf, d / "zd.fgb")


def _parquet(gdf, d):
    return write(gdf, d / "zd.parquet")


@pytest.mark.parametrize("writer", [_shp, _gpkg, _geojson, _gdb, _fgb, _parquet])
def test_import_each_vector_format(tmp_path, writer):
    src_gdf = parcels_gdf()
    path = writer(src_gdf, tmp_path)
    res = prep("parcels", path)
    # FlatGeobuf stores features in the order of its spatial index
    f = res.frame.sort_values("parcel_id").reset_index(drop=True)
    assert isinstance(f, gpd.GeoDataFrame)
    assert CRS.from_user_input(f.crs).to_epsg() == 4490
    assert f["parcel_id"].tolist() == IDS
    assert f["holder_code"].tolist() == CODES
    assert f["holder_name"].tolist() == HOLDERS
    assert f["registered_area_m2"].tolist() == [42000.0, 42001.0, 42002.0]
    # same shapes within a centimetre (FileGDB snaps coordinates to its grid)
    assert (shapely.hausdorff_distance(f.geometry.values, src_gdf.geometry.values) < 1e-7).all()


def test_gpkg_layer_name_in_summary(tmp_path):
    res = prep("parcels", _gpkg(parcels_gdf(), tmp_path))
    assert res.layer == "宗地"
    assert res.summary()[0] == "已导入 3 个地块（zd.gpkg 图层 宗地）"


def test_multi_layer_gpkg_needs_layer(tmp_path):
    path = tmp_path / "multi.gpkg"
    write(parcels_gdf(), path, layer="宗地2023")
    write(parcels_gdf(2), path, layer="宗地2024", append=False)
    with pytest.raises(InputError, match=r"multi\.gpkg 含多个图层（宗地2023, 宗地2024）；请用 --layer"):
        prep("parcels", path)
    res = prep("parcels", path, layer="宗地2024")
    assert res.frame["parcel_id"].tolist() == IDS[:2]
    with pytest.raises(InputError, match=r"没有图层 '宗地2025'；现有图层：宗地2023, 宗地2024"):
        prep("parcels", path, layer="宗地2025")


def test_multi_layer_filegdb_with_layer(tmp_path):
    path = tmp_path / "cadastre.gdb"
    write(parcels_gdf(), path, driver="OpenFileGDB", layer="ZD")
    write(parcels_gdf(2), path, driver="OpenFileGDB", layer="ZD_OLD")
    with pytest.raises(InputError, match="含多个图层"):
        prep("parcels", path)
    assert len(prep("parcels", path, layer="ZD").frame) == 3


def test_enterprises_from_gpkg_attribute_table(tmp_path):
    df = pd.DataFrame({"统一社会信用代码": CODES[:2], "年度": [2023, 2023], "税收": [1.5, None]})
    path = write(df, tmp_path / "qy.gpkg", layer="企业", driver="GPKG")
    res = prep("enterprises", path)
    assert res.frame["credit_code"].tolist() == CODES[:2]
    assert res.frame["tax"].iloc[0] == 1.5 and pd.isna(res.frame["tax"].iloc[1])
    assert any("按缺失处理：第 2 个要素" in line for line in res.report.lines)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_enterprise_csv_encodings(tmp_path, encoding):
    path = write_csv(ENTERPRISE_CSV, tmp_path / "qy.csv", encoding)
    res = prep("enterprises", path)
    f = res.frame
    assert f["credit_code"].tolist() == CODES  # upper-cased
    assert f["name"].tolist() == HOLDERS
    assert f["year"].tolist() == [2023] * 3
    assert str(f["year"].dtype) == "Int64"
    np.testing.assert_allclose(f["tax"].to_numpy(dtype=float), [123.45, np.nan, np.nan])
    np.testing.assert_allclose(f["value_added"].to_numpy(dtype=float), [100, np.nan, 50])
    np.testing.assert_allclose(f["revenue"].to_numpy(dtype=float), [3000, 1500, np.nan])
    np.testing.assert_allclose(f["electricity"].to_numpy(dtype=float), [np.nan, 12, 3])
    # 规上 derived from revenue ≥ 2000 万元 when there is no 是否规上 column
    assert f["above_scale"].tolist()[:2] == [True, False] and pd.isna(f["above_scale"].iloc[2])
    assert res.years == [2023]


def test_csv_gbk_encoding_reported(tmp_path):
    res = prep("enterprises", write_csv(ENTERPRISE_CSV, tmp_path / "qy.csv", "gbk"))
    assert "属性编码：按字节判定为 gb18030" in res.report.lines


def _workbook(path: Path) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame([
            ["2023年度工业企业亩均效益评价数据", None, None, None],
            ["统一社会信用代码", "企业名称", "年度", "税收(万元)"],
            [CODES[0], HOLDERS[0], 2023, 12.5],
            [CODES[1], HOLDERS[1], 2023, "暂无"],
            [CODES[2], HOLDERS[2], 2023, 3],
        ]).to_excel(xw, sheet_name="汇总", header=False, index=False)
        pd.DataFrame([
            ["统一社会信用代码", "企业名称", "年度", "税收(万元)"],
            [CODES[0], HOLDERS[0], 2024, 20.0],
        ]).to_excel(xw, sheet_name="2024年", header=False, index=False)
    return path


def test_xlsx_first_sheet_title_row_skipped(tmp_path):
    res = prep("enterprises", _workbook(tmp_path / "qy.xlsx"))
    f = res.frame
    assert res.layer == "汇总"
    assert f["credit_code"].tolist() == CODES
    assert f["year"].tolist() == [2023] * 3
    assert f["tax"].iloc[0] == 12.5 and pd.isna(f["tax"].iloc[1]) and f["tax"].iloc[2] == 3.0
    # title on row 1, headers on row 2: the second record is on spreadsheet row 4
    assert res.report.missing == {"tax": [4]}
    assert any("按缺失处理：第 4 行" in line for line in res.report.lines)


def test_xlsx_named_sheet(tmp_path):
    res = prep("enterprises", _workbook(tmp_path / "qy.xlsx"), layer="2024年")
    assert res.frame["year"].tolist() == [2024]
    assert res.frame["tax"].tolist() == [20.0]


def test_xlsx_unknown_sheet_lists_sheets(tmp_path):
    with pytest.raises(InputError, match=r"qy\.xlsx 中没有工作表 '2025'；现有工作表：汇总, 2024年"):
        prep("enterprises", _workbook(tmp_path / "qy.xlsx"), layer="2025")


def test_xlsx_blank_tail_rows_are_not_records(tmp_path):
    path = tmp_path / "qy.xlsx"
    pd.DataFrame([["统一社会信用代码", "年度"], [CODES[0], 2023], [None, None], [None, None]]).to_excel(
        path, header=False, index=False)
    assert len(prep("enterprises", path).frame) == 1


def test_csv_title_row_skipped(tmp_path):
    text = "绍兴市2023年企业数据,,\n统一社会信用代码,年度,税收\nA1,2023,1\nA2,2023,暂无\n"
    res = prep("enterprises", write_csv(text, tmp_path / "qy.csv"))
    assert res.frame["credit_code"].tolist() == ["A1", "A2"]
    assert res.report.missing == {"tax": [4]}


def test_csv_title_line_with_a_single_cell(tmp_path):
    # a title typed above the table, without the trailing commas Excel would add
    text = "绍兴市2023年企业数据\n统一社会信用代码,年度,税收\nA1,2023,1\nA2,2023,2\n"
    res = prep("enterprises", write_csv(text, tmp_path / "qy.csv"))
    assert res.frame["credit_code"].tolist() == ["A1", "A2"]
    assert res.frame["tax"].tolist() == [1.0, 2.0]


_CSV_CASES = {
    "rectangular": ("utf-8", "名称,税收\n甲,1\n乙,\n"),
    "byte-order mark": ("utf-8-sig", "名称,税收\n甲,1\n"),
    "gb18030 with a quoted comma": ("gb18030", '名称,税收\n甲公司,1\n"乙,公司",2\n'),
    "title line": ("utf-8", "2025年企业表\n名称,税收\n甲,1\n"),
    "quoted line break and quotes": ("utf-8", '名称,备注\n"甲","多\n行"\n"乙""丙",x\n'),
    "blank line": ("utf-8", "名称,税收\n\n甲,1\n"),
    "CRLF, no last line break": ("utf-8", "名称,税收\r\n甲,1\r\n乙,2"),
    "quote inside a cell": ("utf-8", '名称,税收\n甲"乙,1\n'),
    "spaces and an empty last column": ("utf-8", " 名称 , 税收 ,\n 甲 , 1 ,\n"),
}


@pytest.mark.parametrize("case", list(_CSV_CASES))
def test_csv_cells_read_as_the_csv_module_reads_them(tmp_path, monkeypatch, case):
    """Arrow's CSV reader takes a table whose rows are as wide as its first, Python's csv module
    any other: the cells are the same either way (rows padded with "" to the widest)."""
    import pyarrow.csv as pa_csv

    from mujun.layers import sources

    encoding, text = _CSV_CASES[case]
    path = tmp_path / "qy.csv"
    path.write_bytes(text.encode(encoding))
    with path.open(encoding=encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    width = max(map(len, rows))
    expected = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)
    arrow = []

    def read_csv(*args, **kwargs):
        try:
            table = pa_csv.read_csv(*args, **kwargs)
        except Exception:
            arrow.append("refused")
            raise
        arrow.append(table.num_columns)
        return table

    monkeypatch.setattr(sources, "pa_csv", SimpleNamespace(**{**vars(pa_csv), "read_csv": read_csv}))
    pd.testing.assert_frame_equal(sources._csv_cells(path, encoding), expected)
    # Arrow reads the table unless a title line is narrower than the rows below it (a blank line
    # it reads as a row of empty cells, as the csv module's padding does)
    assert arrow == ([width] if len(rows[0]) == width else ["refused"])


@pytest.mark.parametrize("text", ["", "\n\n", "\r\n"])
def test_empty_csv_refused(tmp_path, text):
    with pytest.raises(InputError, match=r"qy\.csv：表格是空的"):
        prep("enterprises", write_csv(text, tmp_path / "qy.csv", "utf-8"))


# -- refused sources -----------------------------------------------------------------------
def test_missing_file_refused(tmp_path):
    with pytest.raises(InputError, match="文件不存在"):
        prep("parcels", tmp_path / "nope.shp")


def test_unknown_kind_refused(tmp_path):
    with pytest.raises(InputError, match="未知的图层类型 'parcel'.*parcels"):
        prep("parcel", _gpkg(parcels_gdf(), tmp_path))


def test_old_xls_refused(tmp_path):
    p = tmp_path / "qy.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=r"不支持旧版 \.xls.*另存为 \.xlsx"):
        prep("enterprises", p)


def test_unknown_suffix_refused(tmp_path):
    p = tmp_path / "zd.dwg"
    p.write_bytes(b"AC1027")
    with pytest.raises(InputError, match="无法识别的文件类型 '.dwg'"):
        prep("parcels", p)


def test_table_for_polygon_kind_refused(tmp_path):
    with pytest.raises(InputError, match="需要带几何图形的矢量文件"):
        prep("parcels", write_csv("宗地编号\nA\n", tmp_path / "zd.csv"))


@pytest.mark.parametrize("name", ["zd.gpkg", "zd.geojson", "zd.parquet", "qy.xlsx"])
def test_damaged_file_refused(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"this is not a real file\x00\x01")
    kind = "enterprises" if name.endswith("xlsx") else "parcels"
    with pytest.raises(InputError, match=f"{name}：无法读取"):
        prep(kind, p)


def test_read_source_row_numbers(tmp_path):
    src = read_source(write_csv("说明\n统一社会信用代码,年度\nA,2023\n,\nB,2023\n", tmp_path / "q.csv"),
                      KINDS["enterprises"])
    assert src.row_word == "行"
    assert src.row_no.tolist() == [3, 5]  # the blank row 4 is not a record
    vec = read_source(_gpkg(parcels_gdf(), tmp_path), KINDS["parcels"])
    assert vec.row_word == "个要素" and vec.row_no.tolist() == [1, 2, 3]


# -- headers in imports --------------------------------------------------------------------
def test_pinyin_headers_import(tmp_path):
    gdf = parcels_gdf().rename(columns={"宗地代码": "ZDDM", "统一社会信用代码": "QLRZJH", "权利人": "QLRMC",
                                        "宗地面积": "ZDMJ"})
    gdf["TDYT"] = "工业用地"
    gdf["BSM"] = [1, 2, 3]
    res = prep("parcels", write_shp(gdf, tmp_path / "zd.shp"))
    assert res.mapping == {"ZDDM": "parcel_id", "QLRZJH": "holder_code", "QLRMC": "holder_name",
                           "ZDMJ": "registered_area_m2", "TDYT": "land_use"}
    assert res.ignored == ["BSM"]
    assert res.frame["land_use"].tolist() == ["工业用地"] * 3
    assert any("未导入的字段" in line and "BSM" in line for line in res.summary())


def test_map_override_in_import(tmp_path):
    text = "信用码,纳税额（元）,税收,年份\nA1,10000,5,2023\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"),
               overrides=["信用码=credit_code", "纳税额（元）=tax"])
    assert res.frame["tax"].tolist() == [1.0]  # 10000 元 = 1 万元, the 税收 column is ignored
    assert "税收" in res.ignored
    assert "字段 税收 的单位为 元，已换算为 万元" in res.report.lines


def test_map_override_as_dict(tmp_path):
    res = prep("enterprises", write_csv("信用码,年份\nA1,2023\n", tmp_path / "q.csv"),
               overrides={"信用码": "credit_code"})
    assert res.frame["credit_code"].tolist() == ["A1"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["纳税=tax"], "源字段 '纳税' 不在文件中"),
        (["纳税额=taxes"], "标准字段 'taxes' 不属于 enterprises"),
        (["纳税额"], "格式应为 源字段=标准字段"),
    ],
)
def test_bad_map_refused(tmp_path, overrides, message):
    path = write_csv("统一社会信用代码,纳税额,年度\nA1,1,2023\n", tmp_path / "q.csv")
    with pytest.raises(SchemaError, match=message):
        prep("enterprises", path, overrides=overrides)


def test_required_field_missing_refused(tmp_path):
    with pytest.raises(SchemaError, match=r"缺少必需字段 统一社会信用代码（credit_code）.*--map 源字段=credit_code"):
        prep("enterprises", write_csv("企业,年度\n甲,2023\n", tmp_path / "q.csv"))
    gdf = parcels_gdf().drop(columns=["宗地代码"])
    with pytest.raises(SchemaError, match=r"缺少必需字段 宗地编号（parcel_id）"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def test_unrecognised_unit_refused_in_import(tmp_path):
    with pytest.raises(SchemaError, match="单位 '美元' 无法识别"):
        prep("enterprises", write_csv("统一社会信用代码,年度,税收(美元)\nA,2023,1\n", tmp_path / "q.csv"))


def test_two_columns_same_field_refused_in_import(tmp_path):
    with pytest.raises(SchemaError, match="'税收' 和 '实缴税金' 都对应 tax"):
        prep("enterprises", write_csv("统一社会信用代码,年度,税收,实缴税金\nA,2023,1,1\n", tmp_path / "q.csv"))


def test_units_converted(tmp_path):
    text = "统一社会信用代码,年度,税收（元）,租入面积(平方米),用电量(千瓦时),营业收入（亿元）\nA,2023,50000,6666.67,20000,0.3\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    row = res.frame.iloc[0]
    assert row["tax"] == pytest.approx(5.0)
    assert row["leased_in_mu"] == pytest.approx(10.0, rel=1e-5)
    assert row["electricity"] == pytest.approx(2.0)
    assert row["revenue"] == pytest.approx(3000.0)
    assert bool(row["above_scale"]) is True


def test_area_in_mu_stored_in_square_metres(tmp_path):
    gdf = parcels_gdf().rename(columns={"宗地面积": "宗地面积（亩）"})
    gdf["宗地面积（亩）"] = [1.5, 3.0, 0.0]
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    np.testing.assert_allclose(res.frame["registered_area_m2"], [1000.0, 2000.0, 0.0])


# -- CRS -----------------------------------------------------------------------------------
def test_shapefile_without_prj_refused(tmp_path):
    path = write_shp(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.shp", prj=False)
    with pytest.raises(CRSError, match=r"zd\.shp：文件没有坐标系信息.*--crs"):
        prep("parcels", path)


def test_file_without_crs_accepted_with_crs_option(tmp_path):
    path = write_shp(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.shp", prj=False)
    res = prep("parcels", path, crs="EPSG:4549")
    assert CRS.from_user_input(res.frame.crs).to_epsg() == 4490
    np.testing.assert_allclose(res.frame.total_bounds, parcels_gdf().total_bounds, atol=1e-8)


@pytest.mark.parametrize("crs", ["EPSG:4549", "4549", "epsg:4549"])
def test_crs_option_spellings(tmp_path, crs):
    path = write_shp(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.shp", prj=False)
    np.testing.assert_allclose(prep("parcels", path, crs=crs).frame.total_bounds,
                               parcels_gdf().total_bounds, atol=1e-8)


def test_unknown_crs_option_refused(tmp_path):
    path = write_shp(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.shp", prj=False)
    with pytest.raises(CRSError, match="无法识别坐标系 'CGCS9999'"):
        prep("parcels", path, crs="CGCS9999")


def test_crs_option_overrides_file_crs_and_is_reported(tmp_path):
    # metres written under a wrong geographic CRS, corrected by --crs
    wrong = parcels_gdf(crs="EPSG:4549").set_crs("EPSG:4326", allow_override=True)
    res = prep("parcels", write(wrong, tmp_path / "zd.gpkg"), crs="EPSG:4549")
    np.testing.assert_allclose(res.frame.total_bounds, parcels_gdf().total_bounds, atol=1e-8)
    assert any("按 --crs 改为" in line for line in res.report.lines)


def test_projected_file_moved_to_4490(tmp_path):
    res = prep("parcels", write(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.gpkg"))
    assert CRS.from_user_input(res.frame.crs).to_epsg() == 4490
    np.testing.assert_allclose(res.frame.total_bounds, parcels_gdf().total_bounds, atol=1e-8)


def test_degrees_under_projected_crs_refused(tmp_path):
    lying = parcels_gdf().set_crs("EPSG:4549", allow_override=True)
    with pytest.raises(CRSError, match=r"坐标是经纬度.*投影坐标系.*--crs EPSG:4490"):
        prep("parcels", write(lying, tmp_path / "zd.gpkg"))


def test_degrees_with_crs_option_projected_refused(tmp_path):
    path = write_shp(parcels_gdf(), tmp_path / "zd.shp", prj=False)
    with pytest.raises(CRSError, match="坐标是经纬度"):
        prep("parcels", path, crs="EPSG:4549")


def test_metres_declared_geographic_refused_with_suggestion(tmp_path):
    lying = parcels_gdf(crs="EPSG:4549").set_crs("EPSG:4490", allow_override=True)
    with pytest.raises(CRSError, match=r"超出经纬度范围.*地理坐标系.*EPSG:4549") as err:
        prep("parcels", write(lying, tmp_path / "zd.gpkg"))
    assert IDS[0] in str(err.value)


def test_zone_prefixed_metres_declared_geographic_suggest_zone(tmp_path):
    lying = parcels_gdf(crs="EPSG:4528").set_crs("EPSG:4490", allow_override=True)
    with pytest.raises(CRSError, match=r"坐标带号为 40，可能是 EPSG:4528"):
        prep("parcels", write(lying, tmp_path / "zd.gpkg"))


def test_zone_prefixed_coordinates(tmp_path):
    gdf = parcels_gdf(crs="EPSG:4528")
    assert 40_500_000 < gdf.total_bounds[0] < 40_600_000  # zone 40 prefix in the easting
    path = write_shp(gdf, tmp_path / "zd.shp", prj=False)
    res = prep("parcels", path, crs="EPSG:4528")
    np.testing.assert_allclose(res.frame.total_bounds, parcels_gdf().total_bounds, atol=1e-8)
    # the same file declared in the zone without prefix lands far outside China
    with pytest.raises(CRSError, match="中国范围以外"):
        prep("parcels", path, crs="EPSG:4549")


def test_zone_prefixed_prj_read_from_file(tmp_path):
    res = prep("parcels", write(parcels_gdf(crs="EPSG:4528"), tmp_path / "zd.gpkg"))
    np.testing.assert_allclose(res.frame.total_bounds, parcels_gdf().total_bounds, atol=1e-8)


def test_parse_crs():
    assert parse_crs("4549").to_epsg() == 4549
    assert parse_crs("EPSG:4528").to_epsg() == 4528
    with pytest.raises(CRSError):
        parse_crs("not a crs")


# -- geometry ------------------------------------------------------------------------------
BOWTIE = Polygon([(X0, Y0), (X0 + 0.002, Y0 + 0.002), (X0 + 0.002, Y0), (X0, Y0 + 0.002), (X0, Y0)])


def test_bowtie_repaired_and_reported(tmp_path):
    gdf = parcels_gdf()
    gdf.loc[1, "geometry"] = BOWTIE
    assert not gdf.geometry.is_valid.iloc[1]
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    f = res.frame
    assert len(f) == 3
    assert f.geometry.is_valid.all()
    assert set(shapely.get_type_id(f.geometry.values)) <= {3, 6}
    # the two triangles of the bow-tie keep its whole area (half the bounding square)
    assert shapely.area(f.geometry.values[1]) == pytest.approx(0.002 * 0.002 / 2, rel=1e-6)
    assert f"修复了 1 个无效几何（自相交等）：{IDS[1]}" in res.report.lines


def test_empty_and_missing_geometries_dropped_and_reported(tmp_path):
    gdf = parcels_gdf(5)
    gdf.loc[1, "geometry"] = None
    gdf.loc[3, "geometry"] = Polygon()
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    kept = gdf["宗地代码"].tolist()
    assert res.frame["parcel_id"].tolist() == [kept[0], kept[2], kept[4]]
    assert f"去掉了 2 个空几何：{kept[1]}、{kept[3]}" in res.report.lines
    assert res.summary()[0].startswith("已导入 3 个地块")


def test_all_geometries_empty_refused(tmp_path):
    gdf = parcels_gdf(2)
    gdf["geometry"] = [Polygon(), Polygon()]
    with pytest.raises(InputError, match="没有可用的几何图形"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


@pytest.mark.parametrize(
    ("geom", "word"),
    [(Point(X0, Y0), "点"), (LineString([(X0, Y0), (X0 + 0.01, Y0)]), "线")],
)
def test_non_polygon_layer_refused(tmp_path, geom, word):
    gdf = gpd.GeoDataFrame({"宗地代码": ["A1", "A2"]}, geometry=[geom, geom], crs="EPSG:4490")
    with pytest.raises(InputError, match=f"地块应为面要素，但有 2 个{word}要素（如 A1）"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def test_multipolygon_and_3d_accepted(tmp_path):
    gdf = parcels_gdf(2)
    gdf.loc[0, "geometry"] = shapely.multipolygons([box(X0, Y0, X0 + 0.001, Y0 + 0.001),
                                                    box(X0 + 0.0015, Y0, X0 + 0.002, Y0 + 0.001)])
    gdf.loc[1, "geometry"] = shapely.force_3d(gdf.geometry.iloc[1], z=5.0)
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    assert not res.frame.geometry.has_z.any()
    assert shapely.area(res.frame.geometry.values[0]) == pytest.approx(1.5e-6)


def test_kinds_without_id_get_numbered(tmp_path):
    gdf = gpd.GeoDataFrame({"园区名称": ["柯桥经济技术开发区", "袍江工业园区"]},
                           geometry=[box(X0, Y0, X0 + 0.05, Y0 + 0.05), box(X0 + 0.1, Y0, X0 + 0.15, Y0 + 0.05)],
                           crs="EPSG:4490")
    res = prep("parks", write(gdf, tmp_path / "yq.gpkg"))
    assert res.frame["park_id"].tolist() == ["PK001", "PK002"]
    assert res.frame["name"].tolist() == ["柯桥经济技术开发区", "袍江工业园区"]


# -- ids -----------------------------------------------------------------------------------
def test_duplicate_parcel_ids_refused(tmp_path):
    gdf = parcels_gdf(5)
    gdf["宗地代码"] = ["Z1", "Z2", "Z1", "Z3", "Z2"]
    with pytest.raises(SchemaError, match=r"宗地编号 重复 2 处，如 Z1、Z2（第 1、2、3、5 个要素）；宗地编号必须唯一"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def test_many_duplicates_named_first_five(tmp_path):
    gdf = parcels_gdf(14)
    gdf["宗地代码"] = [f"Z{i % 7}" for i in range(14)]
    with pytest.raises(SchemaError) as err:
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    msg = str(err.value)
    assert "重复 7 处，如 Z0、Z1、Z2、Z3、Z4（" in msg
    assert "Z5" not in msg.split("（")[0]
    assert "等共 14 处" in msg


def test_missing_parcel_id_refused(tmp_path):
    gdf = parcels_gdf()
    gdf["宗地代码"] = ["Z1", None, "暂无"]
    with pytest.raises(SchemaError, match=r"宗地编号 为空，第 2、3 个要素"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def test_enterprise_duplicate_code_and_year_refused(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,2023,1\nA1,2024,2\nb2,2023,3\nB2,2023,4\n"
    with pytest.raises(SchemaError, match=r"统一社会信用代码\+年度 重复 1 处，如 B2/2023（第 4、5 行）"):
        prep("enterprises", write_csv(text, tmp_path / "q.csv"))


def test_enterprise_same_code_other_years_accepted(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,2023,1\nA1,2024,2\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    assert res.years == [2023, 2024]


# -- numbers, dates, yes/no ----------------------------------------------------------------
@pytest.mark.parametrize("placeholder", ["暂无", "-", "/", "", "  ", "——", "N/A", "null", "无"])
def test_placeholders_become_missing(tmp_path, placeholder):
    assert placeholder.strip().lower() in PLACEHOLDERS
    text = f"统一社会信用代码,年度,税收\nA1,2023,1.5\nA2,2023,{placeholder}\nA3,2023,2\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    assert pd.isna(res.frame["tax"].iloc[1])
    assert res.frame["tax"].iloc[[0, 2]].tolist() == [1.5, 2.0]
    assert res.report.missing == {"tax": [3]}
    assert "字段 '税收'（税收）有 1 个空值或占位符，按缺失处理：第 3 行" in res.report.lines


def test_placeholders_in_several_fields_reported_with_rows(tmp_path):
    text = ("统一社会信用代码,年度,税收,工业增加值,营业收入\n"
            "A1,2023,暂无,1,1\nA2,2023,-,/,2\nA3,2023,3,3,\nA4,2023,4,4,4\n")
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    assert res.report.missing == {"tax": [2, 3], "value_added": [3], "revenue": [4]}


def test_placeholders_in_xlsx_rows(tmp_path):
    path = tmp_path / "q.xlsx"
    pd.DataFrame([["统一社会信用代码", "年度", "税收(万元)"], ["A1", 2023, "暂无"], ["A2", 2023, 2.5],
                  ["A3", 2023, "/"], ["A4", 2023, None]]).to_excel(path, header=False, index=False)
    res = prep("enterprises", path)
    assert res.report.missing == {"tax": [2, 4, 5]}
    assert res.frame["tax"].iloc[1] == 2.5


def test_non_number_refused_naming_row_and_field(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,2023,1\nA2,2023,2\nA3,2023,12abc\n"
    with pytest.raises(SchemaError, match=r"q\.csv 字段 '税收' 应为数字，第 4 行不是（如 '12abc'）"):
        prep("enterprises", write_csv(text, tmp_path / "q.csv"))


def test_non_number_in_shapefile_refused_naming_feature(tmp_path):
    gdf = parcels_gdf()
    gdf["宗地面积"] = ["100", "12abc", "300"]
    with pytest.raises(SchemaError, match=r"字段 '宗地面积' 应为数字，第 2 个要素不是（如 '12abc'）"):
        prep("parcels", write_shp(gdf, tmp_path / "zd.shp"))


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_numbers_read_plain_cells_as_the_separators_pass_would(dtype):
    """Cells that are plain numbers skip the regular expressions; every cell reads as it would
    through them."""
    from mujun.layers import validate

    cells = ["1,234", "（12）", "(3)", None, "4", "-5.5", "+.5", "1e3", "1 000", "abc", "", "NA", "  7 ", "5.",
             "１２", "-", ".", "1.2.3", "(-3)", "（1,2）", "1\u30002", "0x10", "inf", "1_000", "007"]
    raw = pd.Series(cells, dtype=dtype)
    text = validate._text(raw)
    missing = validate._placeholder(text)
    cleaned = text.str.replace(r"[,，\s]", "", regex=True).str.replace(r"^[（(](.*)[）)]$", r"-\1", regex=True)
    values = pd.to_numeric(cleaned.where(~missing), errors="coerce").astype("float64")
    got = validate._numbers(raw)
    for a, b in zip(got, (values, missing, values.isna() & ~missing), strict=True):
        pd.testing.assert_series_equal(a, b)
    assert got[0].iloc[:3].tolist() == [1234.0, -12.0, -3.0]


def test_number_spellings(tmp_path):
    text = 'statement\n统一社会信用代码,年度,税收\nA1,2023,"1,234.5"\nA2,2023,（12）\nA3,2023, 7 \nA4,2023,-3\n'
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    assert res.frame["tax"].tolist() == [1234.5, -12.0, 7.0, -3.0]  # tax may be negative


@pytest.mark.parametrize(
    ("kind", "path_maker", "field"),
    [
        ("enterprises", lambda d: write_csv("统一社会信用代码,年度,租入面积\nA1,2023,1\nA2,2023,-2\n", d / "q.csv"),
         "租入面积"),
        ("parcels", None, "宗地面积"),
    ],
)
def test_negative_land_area_refused(tmp_path, kind, path_maker, field):
    if path_maker is None:
        gdf = parcels_gdf()
        gdf["宗地面积"] = [100.0, -5.0, 300.0]
        path = write(gdf, tmp_path / "zd.gpkg")
        where = "第 2 个要素为负"
    else:
        path = path_maker(tmp_path)
        where = "第 3 行为负"
    with pytest.raises(SchemaError, match=f"字段 '{field}'.*不能为负，{where}"):
        prep(kind, path)


def test_fractional_year_refused(tmp_path):
    with pytest.raises(SchemaError, match="'年度' 应为整数，第 2 行"):
        prep("enterprises", write_csv("统一社会信用代码,年度\nA1,2023.5\n", tmp_path / "q.csv"))


def test_dates_in_many_spellings(tmp_path):
    gdf = parcels_gdf(5)
    gdf["约定开工日期"] = ["2021年3月5日", "2021/03/05", "20210305", "2021-03-05 00:00:00", "暂无"]
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    got = res.frame["agreed_start"]
    assert pd.api.types.is_datetime64_any_dtype(got)
    assert got.iloc[:4].tolist() == [pd.Timestamp("2021-03-05")] * 4
    assert pd.isna(got.iloc[4])
    assert res.report.missing == {"agreed_start": [5]}


@pytest.mark.parametrize("column", [
    ["2021-03-05", None, "2020-02-29", "1999-12-31"],
    ["2021-03-05", "2021-02-30", None],  # no such day: refused either way
    [None, None],
    ["0999-01-01", "2021-03-05"],
])
def test_iso_dates_read_as_every_spelling_reads_them(column):
    from mujun.layers import validate

    raw = pd.Series(column, dtype="string")
    fast = validate._dates(raw)
    # one compact date among them takes the general parsing; the ISO rows must read the same
    general = validate._dates(pd.concat([raw, pd.Series(["20210305"], dtype="string")], ignore_index=True))
    for a, b in zip(fast, general, strict=False):
        pd.testing.assert_series_equal(a, b.iloc[: len(raw)])
    assert general[0].iloc[-1] == pd.Timestamp("2021-03-05")


def test_excel_serial_day_numbers(tmp_path):
    gdf = parcels_gdf(2)
    gdf["出让日期"] = ["44261", "2020-01-02"]  # 44261 = 2021-03-06 as an Excel serial
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    assert res.frame["transfer_date"].tolist() == [pd.Timestamp("2021-03-06"), pd.Timestamp("2020-01-02")]


def test_bad_date_refused(tmp_path):
    gdf = parcels_gdf()
    gdf["约定开工日期"] = ["2021-01-01", "2021-13-45", "明年"]
    with pytest.raises(SchemaError, match=r"字段 '约定开工日期' 应为日期.*第 2、3 个要素不是（如 '2021-13-45'）"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def test_yes_no_values(tmp_path):
    text = "统一社会信用代码,年度,是否规上\nA1,2023,是\nA2,2023,否\nA3,2023,规上\nA4,2023,规下\nA5,2023,\nA6,2023,1\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"))
    assert res.frame["above_scale"].tolist()[:4] == [True, False, True, False]
    assert pd.isna(res.frame["above_scale"].iloc[4])
    assert bool(res.frame["above_scale"].iloc[5]) is True
    with pytest.raises(SchemaError, match="'是否规上' 应为是/否，第 2 行不是（如 '也许'）"):
        prep("enterprises", write_csv("统一社会信用代码,年度,是否规上\nA1,2023,也许\n", tmp_path / "r.csv"))


# -- years ---------------------------------------------------------------------------------
def test_year_option_for_table_without_year(tmp_path):
    res = prep("enterprises", write_csv("统一社会信用代码,税收\nA1,1\nA2,2\n", tmp_path / "q.csv"), year=2024)
    assert res.frame["year"].tolist() == [2024, 2024]
    assert res.years == [2024]


def test_table_without_year_needs_year_option(tmp_path):
    with pytest.raises(SchemaError, match="没有年度字段；请用 --year"):
        prep("enterprises", write_csv("统一社会信用代码,税收\nA1,1\n", tmp_path / "q.csv"))


def test_year_option_filters_multi_year_table(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,2022,1\nA1,2023,2\nA2,2023,3\nA2,2024,4\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"), year=2023)
    assert res.frame["credit_code"].tolist() == ["A1", "A2"]
    assert res.frame["tax"].tolist() == [2.0, 3.0]
    assert res.years == [2023]
    assert "按 --year 2023 只导入该年度，略过其他年度 2 行" in res.report.lines


def test_year_option_filter_keeps_row_numbers(tmp_path):
    # duplicates in the chosen year are named by their rows in the file, not after filtering
    text = "统一社会信用代码,年度,税收\nA1,2022,1\nA1,2023,2\nA1,2023,3\n"
    with pytest.raises(SchemaError, match=r"第 3、4 行"):
        prep("enterprises", write_csv(text, tmp_path / "q.csv"), year=2023)


def test_year_option_absent_year_refused(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,2022,1\nA1,2023,2\n"
    with pytest.raises(SchemaError, match="没有 2025 年的记录（表中年度：2022、2023）"):
        prep("enterprises", write_csv(text, tmp_path / "q.csv"), year=2025)


# -- careless inputs: parts that do not match, non-finite values, implausible years -------------
def _shp_with_dbf_of(d: Path, shapes: int, records: int) -> Path:
    """A Shapefile of ``shapes`` parcels whose .dbf comes from an export of ``records``."""
    write_shp(parcels_gdf(records), d / "other.shp")
    shp = write_shp(parcels_gdf(shapes), d / "zd.shp")
    shutil.copyfile(d / "other.dbf", d / "zd.dbf")
    return shp


def _truncated_shp(d: Path, fix_header: bool) -> Path:
    """A Shapefile of 4 parcels whose .shp lost its second half (the .shx and .dbf are whole)."""
    shp = write_shp(parcels_gdf(4), d / "zd.shp")
    raw = shp.read_bytes()
    cut = raw[: len(raw) // 2]
    if fix_header:  # a copy tool that rewrote the length: only the .shx offsets tell
        cut = cut[:24] + (len(cut) // 2).to_bytes(4, "big") + cut[28:]
    shp.write_bytes(cut)
    return shp


def test_shapefile_dbf_with_fewer_records_refused(tmp_path):
    with pytest.raises(InputError, match=r"zd\.shp 与 zd\.dbf 的记录数不一致：图形 5 个（zd\.shx），属性 2 条"):
        prep("parcels", _shp_with_dbf_of(tmp_path, 5, 2))


@pytest.mark.parametrize("fix_header", [False, True], ids=["header", "shx-offsets"])
def test_truncated_shp_refused(tmp_path, fix_header):
    with pytest.raises(InputError, match=r"zd\.shp：文件不完整.*请重新复制或导出完整的 Shapefile") as info:
        prep("parcels", _truncated_shp(tmp_path, fix_header))
    if fix_header:
        assert "索引 zd.shx 记有 4 个图形" in str(info.value)


def test_truncated_dbf_refused(tmp_path):
    shp = write_shp(parcels_gdf(4), tmp_path / "zd.shp")
    dbf = tmp_path / "zd.dbf"
    dbf.write_bytes(dbf.read_bytes()[:-200])
    with pytest.raises(InputError, match=r"zd\.dbf：文件不完整，文件头记有 4 条属性记录"):
        prep("parcels", shp)


def test_whole_shapefile_passes_the_parts_check(tmp_path):
    assert len(prep("parcels", write_shp(parcels_gdf(5), tmp_path / "zd.shp")).frame) == 5


@pytest.mark.parametrize("source", ["csv", "gpkg"])
def test_infinite_numbers_refused_naming_column_and_rows(tmp_path, source):
    if source == "csv":
        text = "统一社会信用代码,年度,税收\nA1,2023,1\nA2,2023,inf\nA3,2023,-1e309\n"
        path, where = write_csv(text, tmp_path / "q.csv"), "'税收' 第 3、4 行"
        kind = "enterprises"
    else:
        gdf = parcels_gdf(3)
        gdf["宗地面积"] = [1.0, np.inf, 3.0]
        path, where, kind = write(gdf, tmp_path / "zd.gpkg"), "'宗地面积' 第 2 个要素", "parcels"
    with pytest.raises(SchemaError, match=f"{where}为无穷大或超出数值范围"):
        prep(kind, path)


@pytest.mark.parametrize("bad", ["-2025", "99999"])
def test_implausible_year_in_table_refused(tmp_path, bad):
    text = f"统一社会信用代码,年度,税收\nA1,2023,1\nA2,{bad},2\n"
    with pytest.raises(SchemaError, match=rf"'年度'（年度）应在 1990–\d{{4}} 之间，第 3 行不是（如 {bad}）"):
        prep("enterprises", write_csv(text, tmp_path / "q.csv"))


@pytest.mark.parametrize("year", [-2025, 99999, 1989])
def test_implausible_year_option_refused(tmp_path, year):
    path = write_csv(f"统一社会信用代码,税收\n{CODES[0]},1\n", tmp_path / "q.csv")
    with pytest.raises(InputError, match=f"--year {year} 不是合理的年度"):
        prep("enterprises", path, year=year)


def test_year_range_can_be_widened(tmp_path):
    text = "统一社会信用代码,年度,税收\nA1,1985,1\n"
    res = prep("enterprises", write_csv(text, tmp_path / "q.csv"), year_range=(1980, 2030))
    assert res.years == [1985]


def test_header_only_csv_refused(tmp_path):
    with pytest.raises(InputError, match=r"q\.csv：只有表头（第 1 行），没有数据行"):
        prep("enterprises", write_csv("统一社会信用代码,年度,税收\n", tmp_path / "q.csv"))


def test_header_only_xlsx_refused(tmp_path):
    path = tmp_path / "q.xlsx"
    pd.DataFrame([["统一社会信用代码", "年度"], [None, None]]).to_excel(path, header=False, index=False,
                                                                  sheet_name="表1")
    with pytest.raises(InputError, match=r"q\.xlsx（工作表 表1）：只有表头"):
        prep("enterprises", path)


@pytest.mark.parametrize("name", ["zd.gpkg", "zd.shp", "zd.parquet"])
def test_layer_without_features_refused(tmp_path, name):
    path = write(parcels_gdf(1).iloc[:0], tmp_path / name)
    with pytest.raises(InputError, match=f"{name}.*没有任何要素（0 条记录）"):
        prep("parcels", path)


def test_attribute_table_without_records_refused(tmp_path):
    empty = pd.DataFrame({"统一社会信用代码": pd.Series([], dtype=str), "年度": pd.Series([], dtype="int64")})
    path = write(empty, tmp_path / "qy.gpkg", layer="企业")
    with pytest.raises(InputError, match=r"qy\.gpkg（图层 企业）：没有任何要素（0 条记录）"):
        prep("enterprises", path)


def _formula_xlsx(path: Path, cached: bool) -> Path:
    """An enterprise table whose 税收 column is a formula, saved with or without its results."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["统一社会信用代码", "年度", "基数", "税收"])
    sheet.append([CODES[0], 2023, 10, "=C2*2"])
    sheet.append([CODES[1], 2023, 20, "=C3*2"])
    book.save(path)
    if cached:  # what Excel saves: the formula and its last result (openpyxl cannot write one)
        import zipfile

        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        xml = parts["xl/worksheets/sheet1.xml"].decode()
        for cell, value in (("D2", 20), ("D3", 40)):  # an empty <v/> as lxml or the standard library write it
            xml, n = re.subn(rf'(<c r="{cell}"[^>]*><f>C{cell[1]}\*2</f>)(<v\s*/>|<v></v>)?', rf"\g<1><v>{value}</v>", xml)
            assert n == 1, xml
        parts["xl/worksheets/sheet1.xml"] = xml.encode()
        with zipfile.ZipFile(path, "w") as z:
            for n, data in parts.items():
                z.writestr(n, data)
    return path


def test_xlsx_formulas_without_saved_results_refused(tmp_path):
    with pytest.raises(InputError, match=r"q\.xlsx：单元格 Sheet1!D2、Sheet1!D3 是公式，但文件中没有保存计算结果"):
        prep("enterprises", _formula_xlsx(tmp_path / "q.xlsx", cached=False))


def test_xlsx_formulas_with_saved_results_read_as_values(tmp_path):
    res = prep("enterprises", _formula_xlsx(tmp_path / "q.xlsx", cached=True))
    assert res.frame["tax"].tolist() == [20.0, 40.0]


def test_z_values_dropped_with_a_note(tmp_path):
    gdf = parcels_gdf(3)
    gdf.loc[1, "geometry"] = shapely.force_3d(gdf.geometry.iloc[1], z=5.0)
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    assert not res.frame.geometry.has_z.any()
    assert f"去掉了 1 个要素的 Z/M 值（高程等），只保留平面坐标：{IDS[1]}" in res.report.lines


def test_geometry_collection_reduced_to_its_polygons_with_a_note(tmp_path):
    gdf = parcels_gdf(3)
    square = gdf.geometry.iloc[1]
    gdf.loc[1, "geometry"] = shapely.GeometryCollection([square, Point(X0, Y0), LineString([(X0, Y0), (X0 + 1e-3, Y0)])])
    res = prep("parcels", write(gdf, tmp_path / "zd.gpkg"))
    assert res.frame["parcel_id"].tolist() == IDS
    assert shapely.equals(res.frame.geometry.values[1], square)
    assert set(shapely.get_type_id(res.frame.geometry.values)) <= {3, 6}
    assert f"1 个几何集合（GeometryCollection）只保留了其中的面，去掉了点、线：{IDS[1]}" in res.report.lines


def test_geometry_collection_without_polygons_refused(tmp_path):
    gdf = parcels_gdf(3)
    gdf.loc[2, "geometry"] = shapely.GeometryCollection([Point(X0, Y0), Point(X0 + 1e-3, Y0)])
    with pytest.raises(InputError, match=rf"zd\.gpkg：第 3 个要素是不含面的几何集合.*如 {IDS[2]}"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


def _triangle_with(x: float) -> Polygon:
    """A triangle with one corner at ``x`` (NaN or infinite: shapely warns on building it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return Polygon([(X0, Y0), (x, Y0), (X0 + 1e-3, Y0 + 1e-3)])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_coordinates_refused_naming_rows(tmp_path, bad):
    gdf = parcels_gdf(3)
    gdf.loc[1, "geometry"] = _triangle_with(bad)
    with pytest.raises(InputError, match=rf"zd\.gpkg：第 2 个要素的坐标不是有限数值（NaN 或无穷大），如 {IDS[1]}"):
        prep("parcels", write(gdf, tmp_path / "zd.gpkg"))


# -- into the workspace --------------------------------------------------------------------
def _enterprises_csv(d: Path, year: int, taxes: list[float], name: str | None = None) -> Path:
    rows = "\n".join(f"{c},{h},{year},{t}" for c, h, t in zip(CODES, HOLDERS, taxes, strict=False))
    return write_csv(f"统一社会信用代码,企业名称,年度,税收\n{rows}\n", d / (name or f"qy{year}.csv"))


def test_gbk_shapefile_without_cpg_round_trips(tmp_path):
    gdf = parcels_gdf()
    gdf["约定开工日期"] = ["2020-01-01", "2021年3月5日", None]
    gdf["土地用途"] = ["工业用地", "工业用地", "仓储用地"]
    shp = write_shp(gdf, tmp_path / "宗地.shp", encoding="gbk")
    assert not (tmp_path / "宗地.cpg").exists()
    raw = (tmp_path / "宗地.dbf").read_bytes()
    assert "绍兴纺织有限公司".encode("gbk") in raw and "统一社会信".encode("gbk") in raw

    ws = Workspace(tmp_path / "ws.gpkg")
    res = import_layer(ws, "parcels", shp, progress=False)
    assert res.mapping == {"宗地代码": "parcel_id", "统一社会信": "holder_code", "权利人": "holder_name",
                           "宗地面积": "registered_area_m2", "约定开工日": "agreed_start", "土地用途": "land_use"}
    back = ws.read("parcels")
    assert back["parcel_id"].tolist() == IDS
    assert back["holder_code"].tolist() == CODES
    assert back["holder_name"].tolist() == HOLDERS
    assert back["land_use"].tolist() == ["工业用地", "工业用地", "仓储用地"]
    assert back["agreed_start"].iloc[:2].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-03-05")]
    assert pd.isna(back["agreed_start"].iloc[2])
    assert CRS.from_user_input(back.crs).to_epsg() == 4490
    assert (back.geom_type == "MultiPolygon").all()
    np.testing.assert_allclose(back.total_bounds, gdf.total_bounds, atol=1e-9)


def test_projected_import_stored_as_4490(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    import_layer(ws, "parcels", write(parcels_gdf(crs="EPSG:4549"), tmp_path / "zd.gpkg"), progress=False)
    info = pyogrio.read_info(ws.path, layer="parcels")
    assert CRS.from_user_input(info["crs"]).to_epsg() == 4490
    np.testing.assert_allclose(ws.read("parcels").total_bounds, parcels_gdf().total_bounds, atol=1e-8)


def test_parcel_import_replaces_layer(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    import_layer(ws, "parcels", write(parcels_gdf(3), tmp_path / "a.gpkg"), progress=False)
    res = import_layer(ws, "parcels", write(parcels_gdf(2), tmp_path / "b.gpkg"), progress=False)
    assert res.replaced == 3
    assert "替换了工作空间中原有的 3 个地块" in res.report.lines
    assert ws.read("parcels")["parcel_id"].tolist() == IDS[:2]


def test_enterprise_import_replaces_only_its_years(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    import_layer(ws, "enterprises", _enterprises_csv(tmp_path, 2023, [1, 2, 3]), progress=False)
    import_layer(ws, "enterprises", _enterprises_csv(tmp_path, 2024, [4, 5, 6]), progress=False)
    res = import_layer(ws, "enterprises", _enterprises_csv(tmp_path, 2023, [7, 8], "fix2023.csv"), progress=False)
    assert res.replaced == 3
    assert "替换了工作空间中原有的 3 条同年度企业记录" in res.report.lines
    e = ws.read("enterprises")
    assert sorted(e["year"].unique().tolist()) == [2023, 2024]
    y23 = e[e["year"] == 2023].sort_values("credit_code")
    y24 = e[e["year"] == 2024].sort_values("credit_code")
    assert y23["tax"].tolist() == [7.0, 8.0]  # the third firm of 2023 is gone with the old year
    assert y24["tax"].tolist() == [4.0, 5.0, 6.0]
    assert y24["name"].tolist() == HOLDERS
    assert str(e["year"].dtype) == "Int64"


def test_enterprises_stored_by_year_and_code_from_the_first_import(tmp_path):
    """However a table lists the firms, they are stored by year and code, the first import as
    every later one: a corrected table in another order leaves each firm's row where it was
    (and so its results' row, which a re-evaluation then revises rather than writes whole)."""
    ws = Workspace(tmp_path / "ws.gpkg")
    order = [2, 0, 1]
    rows = "\n".join(f"{CODES[i]},{HOLDERS[i]},2024,{i + 1}" for i in order)
    import_layer(ws, "enterprises", write_csv(f"统一社会信用代码,企业名称,年度,税收\n{rows}\n", tmp_path / "a.csv"),
                 progress=False)
    first = ws.read("enterprises")
    assert first["credit_code"].tolist() == sorted(CODES) and first["tax"].tolist() == [1.0, 2.0, 3.0]
    rows = "\n".join(f"{CODES[i]},{HOLDERS[i]},2024,{i + 10}" for i in (1, 2, 0))
    import_layer(ws, "enterprises", write_csv(f"统一社会信用代码,企业名称,年度,税收\n{rows}\n", tmp_path / "b.csv"),
                 progress=False)
    again = ws.read("enterprises")
    assert again["credit_code"].tolist() == first["credit_code"].tolist() and again["tax"].tolist() == [10.0, 11.0, 12.0]


def test_enterprise_import_with_year_option_keeps_other_years(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    import_layer(ws, "enterprises", _enterprises_csv(tmp_path, 2023, [1, 2, 3]), progress=False)
    noyear = write_csv(f"统一社会信用代码,税收\n{CODES[0]},9\n", tmp_path / "noyear.csv")
    res = import_layer(ws, "enterprises", noyear, year=2024, progress=False)
    assert res.years == [2024] and res.replaced == 0
    e = ws.read("enterprises")
    assert e.groupby("year").size().to_dict() == {2023: 3, 2024: 1}


def test_import_log_records_each_import(tmp_path):
    ws = Workspace(tmp_path / "ws.gpkg")
    import_layer(ws, "parcels", write(parcels_gdf(), tmp_path / "zd.gpkg"), progress=False)
    import_layer(ws, "enterprises", _enterprises_csv(tmp_path, 2023, [1, 2, 3]), progress=False)
    log = ws.read("mujun_import_log")
    assert log["kind"].tolist() == ["parcels", "enterprises"]
    assert log["rows"].tolist() == ["3", "3"]
    assert log["years"].tolist()[1] == "2023"


# -- atomicity -----------------------------------------------------------------------------
def _bad_no_crs(d):
    return "parcels", write_shp(parcels_gdf(crs="EPSG:4549"), d / "nocrs.shp", prj=False), {}


def _bad_degrees_projected(d):
    return "parcels", write(parcels_gdf().set_crs("EPSG:4549", allow_override=True), d / "deg.gpkg"), {}


def _bad_zone_as_4549(d):
    return "parcels", write_shp(parcels_gdf(crs="EPSG:4528"), d / "z.shp", prj=False), {"crs": "EPSG:4549"}


def _bad_duplicate_ids(d):
    gdf = parcels_gdf()
    gdf["宗地代码"] = ["Z1", "Z1", "Z2"]
    return "parcels", write(gdf, d / "dup.gpkg"), {}


def _bad_not_a_number(d):
    gdf = parcels_gdf()
    gdf["宗地面积"] = ["1", "12abc", "3"]
    return "parcels", write_shp(gdf, d / "nan.shp"), {}


def _bad_negative_area(d):
    gdf = parcels_gdf()
    gdf["宗地面积"] = [1.0, -1.0, 3.0]
    return "parcels", write(gdf, d / "neg.gpkg"), {}


def _bad_points(d):
    gdf = gpd.GeoDataFrame({"宗地代码": ["A"]}, geometry=[Point(X0, Y0)], crs="EPSG:4490")
    return "parcels", write(gdf, d / "pts.gpkg"), {}


def _bad_multi_layer(d):
    p = d / "multi.gpkg"
    write(parcels_gdf(), p, layer="a")
    write(parcels_gdf(), p, layer="b")
    return "parcels", p, {}


def _bad_map(d):
    return "parcels", write(parcels_gdf(), d / "zd.gpkg"), {"overrides": ["DKBH=parcel_id"]}


def _bad_unit(d):
    return "enterprises", write_csv("统一社会信用代码,年度,税收(美元)\nA,2023,1\n", d / "q.csv"), {}


def _bad_enterprise_dup(d):
    return "enterprises", write_csv("统一社会信用代码,年度\nA,2023\nA,2023\n", d / "q.csv"), {}


def _bad_year(d):
    return "enterprises", _enterprises_csv(d, 2023, [1, 2, 3]), {"year": 2025}


def _bad_damaged(d):
    p = d / "broken.gpkg"
    p.write_bytes(b"not a geopackage")
    return "parcels", p, {}


def _bad_missing_file(d):
    return "parcels", d / "nope.shp", {}


def _bad_kind(d):
    return "parcel", write(parcels_gdf(), d / "zd.gpkg"), {}


def _bad_empty_geometries(d):
    gdf = parcels_gdf(2)
    gdf["geometry"] = [None, None]
    return "parcels", write(gdf, d / "empty.gpkg"), {}


def _bad_dbf_of_other_export(d):
    return "parcels", _shp_with_dbf_of(d, 5, 2), {}


def _bad_truncated_shp(d):
    return "parcels", _truncated_shp(d, fix_header=True), {}


def _bad_infinite_tax(d):
    return "enterprises", write_csv("统一社会信用代码,年度,税收\nA1,2023,inf\n", d / "q.csv"), {}


def _bad_year_column(d):
    return "enterprises", write_csv("统一社会信用代码,年度,税收\nA1,99999,1\n", d / "q.csv"), {}


def _bad_year_option(d):
    return "enterprises", write_csv("统一社会信用代码,税收\nA1,1\n", d / "q.csv"), {"year": -2025}


def _bad_header_only(d):
    return "enterprises", write_csv("统一社会信用代码,年度,税收\n", d / "q.csv"), {}


def _bad_formulas(d):
    return "enterprises", _formula_xlsx(d / "q.xlsx", cached=False), {}


def _bad_nan_coordinate(d):
    gdf = parcels_gdf(2)
    gdf.loc[1, "geometry"] = _triangle_with(np.nan)
    return "parcels", write(gdf, d / "nan.gpkg"), {}


BAD_INPUTS = [_bad_no_crs, _bad_degrees_projected, _bad_zone_as_4549, _bad_duplicate_ids,
              _bad_not_a_number, _bad_negative_area, _bad_points, _bad_multi_layer, _bad_map,
              _bad_unit, _bad_enterprise_dup, _bad_year, _bad_damaged, _bad_missing_file, _bad_kind,
              _bad_empty_geometries, _bad_dbf_of_other_export, _bad_truncated_shp, _bad_infinite_tax,
              _bad_year_column, _bad_year_option, _bad_header_only, _bad_formulas, _bad_nan_coordinate]


@pytest.fixture(scope="module")
def filled_workspace(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("filled")
    ws = Workspace(d / "ws.gpkg")
    import_layer(ws, "parcels", write(parcels_gdf(), d / "zd.gpkg"), progress=False)
    import_layer(ws, "enterprises", _enterprises_csv(d, 2023, [1, 2, 3]), progress=False)
    return ws.path


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda f: f.__name__[5:])
def test_refused_import_leaves_workspace_unchanged(tmp_path, filled_workspace, bad):
    ws_path = tmp_path / "ws" / "mujun.gpkg"
    ws_path.parent.mkdir()
    shutil.copyfile(filled_workspace, ws_path)
    before = sha256(ws_path)
    kind, path, kw = bad(tmp_path)
    with pytest.raises(MujunError):
        import_layer(Workspace(ws_path), kind, path, progress=False, **kw)
    assert sha256(ws_path) == before
    left = sorted(p.name for p in ws_path.parent.iterdir() if not p.name.endswith(".lock"))
    assert left == ["mujun.gpkg"]  # no temporary copy left behind


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda f: f.__name__[5:])
def test_refused_import_creates_no_workspace(tmp_path, bad):
    ws_dir = tmp_path / "ws"
    kind, path, kw = bad(tmp_path)
    with pytest.raises(MujunError):
        import_layer(Workspace(ws_dir / "mujun.gpkg"), kind, path, progress=False, **kw)
    assert not (ws_dir / "mujun.gpkg").exists()
    assert not ws_dir.exists() or [p for p in ws_dir.iterdir() if not p.name.endswith(".lock")] == []


def test_invalid_credit_codes_are_reported_not_refused(tmp_path):
    from mujun.layers.importer import prepare_layer

    csv_path = tmp_path / "企业.csv"
    csv_path.write_text(
        "统一社会信用代码,企业名称,年度,税收(万元)\n"
        "91330602MA2D4F7H1Q,甲,2025,10\n"
        "91330602MA2D4F7H1R,乙,2025,20\n",
        encoding="utf-8",
    )
    res = prepare_layer("enterprises", csv_path, progress=False)
    assert len(res.frame) == 2
    line = next(x for x in res.report.lines if "GB 32100" in x)
    assert "91330602MA2D4F7H1R" in line and "第 3 行" in line


def test_prefixed_coordinates_under_unprefixed_crs_name_the_likely_zone(tmp_path):
    import geopandas as gpd
    import shapely

    from mujun.geo.errors import CRSError
    from mujun.layers.importer import prepare_layer

    gdf = gpd.GeoDataFrame({"宗地代码": ["A"]}, geometry=[shapely.box(40500000, 3300000, 40500100, 3300100)],
                           crs=4549)
    path = tmp_path / "p.gpkg"
    gdf.to_file(path)
    with pytest.raises(CRSError, match="EPSG:4528") as info:
        prepare_layer("parcels", path, progress=False)
    assert "inf" not in str(info.value)
