"""Tests for the ``mujun import``, ``rank`` and ``info`` commands (mujun.cli)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import warnings
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS
from shapely.geometry import Point, Polygon, box

from mujun.cli import main
from mujun.layers.workspace import Workspace

X0, Y0 = 120.58, 30.00
CODES = ["91330600MA2AAAAAA1", "91330600MA2BBBBBB2", "91330600MA2CCCCCC3"]
HOLDERS = ["绍兴纺织有限公司", "柯桥印染厂", "浙江某某机械股份有限公司"]
SIDES = [0.002, 0.003, 0.001]  # degrees: about 64, 144 and 16 mu
TAXES = [640.0, 144.0, 480.0]  # 万元: per mu about 10, 1 and 30


# -- helpers -------------------------------------------------------------------------------
def parcels_gdf() -> gpd.GeoDataFrame:
    geoms, x = [], X0
    for side in SIDES:
        geoms.append(box(x, Y0, x + side, Y0 + side))
        x += side + 0.001
    return gpd.GeoDataFrame(
        {"宗地代码": ["330602001", "330602002", "330602003"], "统一社会信用代码": CODES, "权利人": HOLDERS,
         "约定开工日期": ["2020-01-01", "2021-03-05", "2022-06-30"], "土地用途": ["工业用地"] * 3},
        geometry=geoms, crs="EPSG:4490",
    )


def area_mu(gdf: gpd.GeoDataFrame) -> pd.Series:
    """Independent area in mu: Gauss-Krüger CM 120°E, 1 mu = 10000/15 m²."""
    return gdf.to_crs("EPSG:4549").area / (10000 / 15)


def write(gdf, path: Path, **kw) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(gdf, path, **kw)
    return path


def gbk_shapefile(d: Path, gdf=None, name: str = "宗地.shp") -> Path:
    path = write(parcels_gdf() if gdf is None else gdf, d / name, encoding="gbk")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def enterprises_csv(d: Path, year: int = 2023, encoding: str = "utf-8-sig", name: str | None = None) -> Path:
    lines = ["统一社会信用代码,企业名称,年度,税收（万元）,工业增加值(万元),营业收入(万元),是否规上"]
    for code, holder, tax in zip(CODES, HOLDERS, TAXES, strict=True):
        lines.append(f"{code},{holder},{year},{tax:g},{tax * 3:g},{tax * 10:g},是")
    path = d / (name or f"企业{year}.csv")
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def run(*args: str | Path, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_user_error(result, *fragments: str) -> str:
    """Exit 2, one line on stderr starting with 错误：, no traceback anywhere."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    err = result.stderr
    assert err.startswith("错误："), err
    assert len(err.rstrip("\n").splitlines()) == 1, err
    assert "Traceback" not in result.output and "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)
    return err


# -- successful imports --------------------------------------------------------------------
def test_import_gbk_shapefile_without_cpg(tmp_path):
    shp = gbk_shapefile(tmp_path)
    ws_path = tmp_path / "ws.gpkg"
    result = run("import", "parcels", shp, "--workspace", ws_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "已导入 3 个地块（宗地.shp 图层 宗地）" in out
    assert "统一社会信→holder_code" in out and "约定开工日→agreed_start" in out
    assert "属性编码：无 .cpg，按字节判定为 GBK/GB18030" in out
    assert f"工作空间：{ws_path}" in out
    assert result.stderr == ""
    back = Workspace(ws_path).read("parcels")
    assert back["holder_name"].tolist() == HOLDERS
    assert back["holder_code"].tolist() == CODES
    assert back["land_use"].tolist() == ["工业用地"] * 3
    assert back["agreed_start"].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-03-05"),
                                             pd.Timestamp("2022-06-30")]
    assert CRS.from_user_input(back.crs).to_epsg() == 4490


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_import_enterprise_csv(tmp_path, encoding):
    ws_path = tmp_path / "ws.gpkg"
    result = run("import", "enterprises", enterprises_csv(tmp_path, encoding=encoding), "-w", ws_path)
    assert result.exit_code == 0, result.output
    assert "已导入 3 条企业记录" in result.stdout and "年度：2023" in result.stdout
    e = Workspace(ws_path).read("enterprises")
    assert e["name"].tolist() == HOLDERS
    assert e["tax"].tolist() == TAXES


def test_import_encoding_option_overrides_cpg(tmp_path):
    shp = gbk_shapefile(tmp_path)
    shp.with_suffix(".cpg").write_text("UTF-8")  # a lie
    ws_path = tmp_path / "ws.gpkg"
    assert_user_error(run("import", "parcels", shp, "-w", ws_path), "--encoding")
    assert not ws_path.exists()
    result = run("import", "parcels", shp, "-w", ws_path, "--encoding", "GBK")
    assert result.exit_code == 0, result.output
    assert "属性编码：按 --encoding 指定为 GBK" in result.stdout
    assert Workspace(ws_path).read("parcels")["holder_name"].tolist() == HOLDERS


def test_import_multi_layer_gpkg_with_layer_option(tmp_path):
    path = write(parcels_gdf(), tmp_path / "cadastre.gpkg", layer="宗地")
    write(parcels_gdf().iloc[:1], path, layer="宗地_旧")
    ws_path = tmp_path / "ws.gpkg"
    assert_user_error(run("import", "parcels", path, "-w", ws_path),
                      "含多个图层（宗地, 宗地_旧）", "--layer")
    result = run("import", "parcels", path, "-w", ws_path, "--layer", "宗地_旧")
    assert result.exit_code == 0, result.output
    assert "已导入 1 个地块（cadastre.gpkg 图层 宗地_旧）" in result.stdout


def test_import_xlsx_sheet_option(tmp_path):
    path = tmp_path / "企业.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame([["说明：2023年", None, None], ["统一社会信用代码", "年度", "税收(元)"], [CODES[0], 2023, 10000]]).to_excel(
            xw, sheet_name="2023", header=False, index=False)
        pd.DataFrame([["统一社会信用代码", "年度", "税收(元)"], [CODES[1], 2024, 20000]]).to_excel(
            xw, sheet_name="2024", header=False, index=False)
    ws_path = tmp_path / "ws.gpkg"
    assert run("import", "enterprises", path, "-w", ws_path).exit_code == 0
    result = run("import", "enterprises", path, "-w", ws_path, "--layer", "2024")
    assert result.exit_code == 0, result.output
    e = Workspace(ws_path).read("enterprises")
    assert e.sort_values("year")[["credit_code", "year", "tax"]].values.tolist() == [
        [CODES[0], 2023, 1.0], [CODES[1], 2024, 2.0]]


def test_import_map_crs_and_year_options(tmp_path):
    gdf = parcels_gdf().to_crs("EPSG:4528").rename(columns={"宗地代码": "DKMC"})
    shp = write(gdf, tmp_path / "zd.shp", encoding="gbk")
    shp.with_suffix(".prj").unlink()
    ws_path = tmp_path / "ws.gpkg"
    result = run("import", "parcels", shp, "-w", ws_path, "--crs", "EPSG:4528", "--map", "DKMC=parcel_id")
    assert result.exit_code == 0, result.output
    assert "DKMC→parcel_id" in result.stdout
    back = Workspace(ws_path).read("parcels")
    assert back["parcel_id"].tolist() == ["330602001", "330602002", "330602003"]
    assert abs(back.total_bounds - parcels_gdf().total_bounds).max() < 1e-8

    table = tmp_path / "noyear.csv"
    table.write_text("信用码,纳税额\n" + "\n".join(f"{c},{t:g}" for c, t in zip(CODES, TAXES, strict=True)))
    result = run("import", "enterprises", table, "-w", ws_path, "--year", "2024",
                 "--map", "信用码=credit_code", "--map", "纳税额=tax")
    assert result.exit_code == 0, result.output
    e = Workspace(ws_path).read("enterprises")
    assert e["year"].tolist() == [2024] * 3 and e["tax"].tolist() == TAXES


def test_enterprise_import_replaces_only_its_years(tmp_path):
    ws_path = tmp_path / "ws.gpkg"
    assert run("import", "enterprises", enterprises_csv(tmp_path, 2023), "-w", ws_path).exit_code == 0
    assert run("import", "enterprises", enterprises_csv(tmp_path, 2024), "-w", ws_path).exit_code == 0
    again = enterprises_csv(tmp_path, 2023, name="again.csv")
    result = run("import", "enterprises", again, "-w", ws_path)
    assert result.exit_code == 0
    assert "替换了工作空间中原有的 3 条同年度企业记录" in result.stdout
    e = Workspace(ws_path).read("enterprises")
    assert e.groupby("year").size().to_dict() == {2023: 3, 2024: 3}


def test_workspace_from_environment(tmp_path):
    ws_path = tmp_path / "env.gpkg"
    result = run("import", "parcels", gbk_shapefile(tmp_path), env={"MUJUN_WORKSPACE": str(ws_path)})
    assert result.exit_code == 0, result.output
    assert Workspace(ws_path).has("parcels")
    info = run("info", env={"MUJUN_WORKSPACE": str(ws_path)})
    assert info.exit_code == 0 and f"工作空间：{ws_path}" in info.stdout


def test_workspace_default_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MUJUN_WORKSPACE", raising=False)
    src = tmp_path / "src"
    src.mkdir()
    shp = gbk_shapefile(src)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run("import", "parcels", shp)
    assert result.exit_code == 0, result.output
    assert "工作空间：mujun.gpkg" in result.stdout
    assert (work / "mujun.gpkg").is_file()


# -- user errors ---------------------------------------------------------------------------
def _no_crs(d):
    shp = gbk_shapefile(d, parcels_gdf().to_crs("EPSG:4549"), "nocrs.shp")
    shp.with_suffix(".prj").unlink()
    return ["parcels", shp], ["文件没有坐标系信息", "--crs"]


def _degrees_as_projected(d):
    return (["parcels", write(parcels_gdf(), d / "deg.gpkg"), "--crs", "EPSG:4549"],
            ["坐标是经纬度", "EPSG:4490"])


def _metres_as_4490(d):
    lying = parcels_gdf().to_crs("EPSG:4549").set_crs("EPSG:4490", allow_override=True)
    return ["parcels", write(lying, d / "m.gpkg")], ["超出经纬度范围", "EPSG:4549"]


def _zone_as_4549(d):
    return (["parcels", write(parcels_gdf().to_crs("EPSG:4528"), d / "z.gpkg"), "--crs", "EPSG:4549"],
            ["中国范围以外"])


def _bad_crs(d):
    return ["parcels", write(parcels_gdf(), d / "a.gpkg"), "--crs", "EPSG:99999999"], ["无法识别坐标系"]


def _duplicate_ids(d):
    gdf = parcels_gdf()
    gdf["宗地代码"] = ["Z1", "Z1", "Z2"]
    return ["parcels", write(gdf, d / "dup.gpkg")], ["宗地编号 重复", "Z1"]


def _duplicate_enterprises(d):
    p = d / "dup.csv"
    p.write_text("统一社会信用代码,年度\nA,2023\nA,2023\n")
    return ["enterprises", p], ["统一社会信用代码+年度 重复", "A/2023", "第 2、3 行"]


def _not_a_number(d):
    p = d / "nan.csv"
    p.write_text("统一社会信用代码,年度,税收\nA,2023,1\nB,2023,12abc\n")
    return ["enterprises", p], ["'税收' 应为数字", "第 3 行", "12abc"]


def _negative_area(d):
    p = d / "neg.csv"
    p.write_text("统一社会信用代码,年度,租入面积\nA,2023,-3\n")
    return ["enterprises", p], ["不能为负", "第 2 行"]


def _points(d):
    gdf = gpd.GeoDataFrame({"宗地代码": ["A"]}, geometry=[Point(X0, Y0)], crs="EPSG:4490")
    return ["parcels", write(gdf, d / "pts.gpkg")], ["应为面要素", "点"]


def _unknown_map_source(d):
    return ["parcels", write(parcels_gdf(), d / "a.gpkg"), "--map", "DKBH=parcel_id"], ["'DKBH' 不在文件中"]


def _unknown_map_target(d):
    return ["parcels", write(parcels_gdf(), d / "a.gpkg"), "--map", "权利人=owner"], ["'owner' 不属于 parcels"]


def _bad_map_syntax(d):
    return ["parcels", write(parcels_gdf(), d / "a.gpkg"), "--map", "权利人"], ["源字段=标准字段"]


def _unknown_unit(d):
    p = d / "u.csv"
    p.write_text("统一社会信用代码,年度,税收(美元)\nA,2023,1\n")
    return ["enterprises", p], ["单位 '美元' 无法识别"]


def _two_columns_one_field(d):
    p = d / "two.csv"
    p.write_text("统一社会信用代码,年度,税收,实缴税金\nA,2023,1,1\n")
    return ["enterprises", p], ["都对应 tax"]


def _no_year(d):
    p = d / "ny.csv"
    p.write_text("统一社会信用代码,税收\nA,1\n")
    return ["enterprises", p], ["--year"]


def _year_absent(d):
    return ["enterprises", enterprises_csv(d), "--year", "2025"], ["没有 2025 年的记录", "2023"]


def _missing_file(d):
    return ["parcels", d / "nope.shp"], ["文件不存在"]


def _unknown_kind(d):
    return ["parcel", write(parcels_gdf(), d / "a.gpkg")], ["未知的图层类型 'parcel'", "parcels"]


def _old_xls(d):
    p = d / "qy.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0")
    return ["enterprises", p], [".xlsx"]


def _damaged(d):
    p = d / "broken.gpkg"
    p.write_bytes(b"garbage")
    return ["parcels", p], ["无法读取"]


def _unknown_sheet(d):
    p = d / "q.xlsx"
    pd.DataFrame({"统一社会信用代码": ["A"], "年度": [2023]}).to_excel(p, index=False, sheet_name="表1")
    return ["enterprises", p, "--layer", "表2"], ["没有工作表 '表2'", "表1"]


def _table_for_parcels(d):
    return ["parcels", enterprises_csv(d)], ["需要带几何图形的矢量文件"]


def _dbf_of_other_export(d):
    shp = gbk_shapefile(d)
    write(parcels_gdf().iloc[:2], d / "other.shp", encoding="gbk")
    (d / "宗地.dbf").write_bytes((d / "other.dbf").read_bytes())
    return ["parcels", shp], ["宗地.shp 与 宗地.dbf 的记录数不一致", "图形 3 个", "属性 2 条"]


def _truncated_shp(d):
    shp = gbk_shapefile(d)
    shp.write_bytes(shp.read_bytes()[:150])
    return ["parcels", shp], ["宗地.shp：文件不完整"]


def _infinite_numbers(d):
    p = d / "inf.csv"
    p.write_text("统一社会信用代码,年度,税收\nA,2023,1\nB,2023,inf\nC,2023,-1e309\n")
    return ["enterprises", p], ["'税收' 第 3、4 行为无穷大"]


def _year_column_implausible(d):
    p = d / "y.csv"
    p.write_text("统一社会信用代码,年度,税收\nA,-2025,1\nB,99999,2\n")
    return ["enterprises", p], ["应在 1990–", "第 2、3 行"]


def _year_option_implausible(d):
    p = d / "ny.csv"
    p.write_text("统一社会信用代码,税收\nA,1\n")
    return ["enterprises", p, "--year", "99999"], ["--year 99999 不是合理的年度"]


def _header_only(d):
    p = d / "h.csv"
    p.write_text("统一社会信用代码,年度,税收\n")
    return ["enterprises", p], ["只有表头", "没有数据行"]


def _formulas_without_results(d):
    p = d / "f.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.active.append(["统一社会信用代码", "年度", "营业收入", "税收"])
    book.active.append(["A", 2023, 100, None])
    book.active.append(["B", 2023, 100, None])
    book.active.append(["C", 2023, 100, None])
    book.active.append(["D", 2023, 100, "=C5*0.1"])
    book.save(p)
    return ["enterprises", p], ["Sheet1!D5", "没有保存计算结果"]


def _nan_coordinate(d):
    gdf = parcels_gdf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # shapely warns on building it
        gdf.loc[1, "geometry"] = Polygon([(X0, Y0), (float("nan"), Y0), (X0, Y0 + 0.001)])
    return ["parcels", write(gdf, d / "nan.gpkg")], ["第 2 个要素的坐标不是有限数值", "330602002"]


def _no_polygon_in_collection(d):
    gdf = parcels_gdf()
    gdf.loc[0, "geometry"] = shapely.GeometryCollection([Point(X0, Y0)])
    return ["parcels", write(gdf, d / "gc.gpkg")], ["不含面的几何集合", "330602001"]


USER_ERRORS = [_no_crs, _degrees_as_projected, _metres_as_4490, _zone_as_4549, _bad_crs, _duplicate_ids,
               _duplicate_enterprises, _not_a_number, _negative_area, _points, _unknown_map_source,
               _unknown_map_target, _bad_map_syntax, _unknown_unit, _two_columns_one_field, _no_year,
               _year_absent, _missing_file, _unknown_kind, _old_xls, _damaged, _unknown_sheet,
               _table_for_parcels, _dbf_of_other_export, _truncated_shp, _infinite_numbers,
               _year_column_implausible, _year_option_implausible, _header_only, _formulas_without_results,
               _nan_coordinate, _no_polygon_in_collection]


@pytest.fixture(scope="module")
def filled_workspace(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("filled")
    ws_path = d / "ws.gpkg"
    assert run("import", "parcels", gbk_shapefile(d), "-w", ws_path).exit_code == 0
    assert run("import", "enterprises", enterprises_csv(d), "-w", ws_path).exit_code == 0
    return ws_path


@pytest.mark.parametrize("case", USER_ERRORS, ids=lambda f: f.__name__.lstrip("_"))
def test_user_error_exits_2_and_leaves_workspace_unchanged(tmp_path, filled_workspace, case):
    ws_path = tmp_path / "ws" / "ws.gpkg"
    ws_path.parent.mkdir()
    ws_path.write_bytes(filled_workspace.read_bytes())
    before = sha256(ws_path)
    args, fragments = case(tmp_path)
    result = run("import", *args, "--workspace", ws_path)
    assert_user_error(result, *fragments)
    assert result.stdout == ""
    assert sha256(ws_path) == before
    assert [p.name for p in ws_path.parent.iterdir() if not p.name.endswith(".lock")] == ["ws.gpkg"]


@pytest.mark.parametrize("case", [_no_crs, _duplicate_ids, _not_a_number, _unknown_kind, _damaged],
                         ids=lambda f: f.__name__.lstrip("_"))
def test_user_error_creates_no_workspace(tmp_path, case):
    ws_path = tmp_path / "new" / "ws.gpkg"
    args, _ = case(tmp_path)
    assert_user_error(run("import", *args, "-w", ws_path))
    assert not ws_path.exists()


def test_dropped_z_values_are_reported(tmp_path):
    gdf = parcels_gdf()
    gdf["geometry"] = shapely.force_3d(gdf.geometry.values, z=12.5)
    result = run("import", "parcels", write(gdf, tmp_path / "z.gpkg"), "-w", tmp_path / "ws.gpkg")
    assert result.exit_code == 0, result.output
    assert "去掉了 3 个要素的 Z/M 值（高程等），只保留平面坐标" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--year", "abc"], ["mujun import：--year 应为整数，收到 'abc'", "mujun import --help"]),
        (["--bogus"], ["没有选项 --bogus"]),
        (["--layer"], ["选项 --layer 需要一个值"]),
        (["--kind", "dem"], ["--kind 应为 builtup、landcover 之一，收到 'dem'"]),
        (["extra"], ["多余的参数：extra"]),
    ],
)
def test_usage_errors_are_one_line(tmp_path, filled_workspace, args, fragments):
    ws_path = tmp_path / "ws.gpkg"
    ws_path.write_bytes(filled_workspace.read_bytes())
    before = sha256(ws_path)
    shp = gbk_shapefile(tmp_path)
    # the option under test comes last so that one expecting a value finds none
    result = CliRunner().invoke(main, ["import", "parcels", str(shp), "-w", str(ws_path), *args],
                                prog_name="mujun")
    assert_user_error(result, *fragments)
    assert result.stdout == ""
    assert sha256(ws_path) == before


def test_missing_argument_is_a_usage_error(tmp_path):
    result = run("import", "parcels")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# -- info ----------------------------------------------------------------------------------
def test_info_lists_layers_with_counts(filled_workspace):
    result = run("info", "-w", filled_workspace)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"工作空间：{filled_workspace}"
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[1:] if ln.startswith("  ")}
    assert rows["parcels"] == ["3", "地块"]
    assert rows["enterprises"] == ["3", "企业"]
    assert "已评价年度" not in result.stdout


def test_info_missing_workspace(tmp_path):
    assert_user_error(run("info", "-w", tmp_path / "none.gpkg"), "不存在", "mujun import")
    assert not (tmp_path / "none.gpkg").exists()


# -- rank ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, filled_workspace) -> Path:
    d = tmp_path_factory.mktemp("evaluated")
    ws_path = d / "ws.gpkg"
    ws_path.write_bytes(filled_workspace.read_bytes())
    assert run("import", "enterprises", enterprises_csv(d, 2024), "-w", ws_path).exit_code == 0
    result = run("evaluate", "-w", ws_path, "--all-years")
    assert result.exit_code == 0, result.output
    return ws_path


def test_info_shows_evaluated_years(evaluated):
    result = run("info", "-w", evaluated)
    assert result.exit_code == 0
    assert "已评价年度：2023、2024" in result.stdout
    assert "result_enterprise" in result.stdout


def test_rank_prints_table(evaluated):
    result = run("rank", "-w", evaluated, "--year", "2023")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2023 年企业排名（按 亩均税收(万元/亩)）"
    assert lines[1].split() == ["排名", "统一社会信用代码", "企业名称", "行政区", "亩均税收(万元/亩)", "分类", "分类名称",
                                "用地面积(亩)"]
    body = [ln.split() for ln in lines[3:6]]
    assert [r[1] for r in body] == [CODES[2], CODES[0], CODES[1]]  # ≈30, ≈10, ≈1 万元/亩
    assert [r[0] for r in body] == ["1", "2", "3"]


def test_rank_ascending_and_top(evaluated):
    result = run("rank", "-w", evaluated, "--ascending", "--top", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "2024 年企业排名（按 亩均税收(万元/亩)，从低到高）"
    rows = [ln for ln in result.stdout.splitlines()[3:] if ln.strip()]
    assert len(rows) == 1 and CODES[1] in rows[0]


def test_rank_csv_export(evaluated, tmp_path):
    out = tmp_path / "企业排名.csv"
    result = run("rank", "-w", evaluated, "--year", "2023", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"已导出 3 条到 {out}" in result.stdout
    raw = out.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    header = list(rows[0])
    assert header[:2] == ["排名", "统一社会信用代码"]
    for h in ["企业名称", "亩均税收(万元/亩)", "用地面积(亩)", "税收(万元)"]:
        assert h in header
    assert not any(h.isascii() for h in header)  # every header is Chinese
    assert [r["统一社会信用代码"] for r in rows] == [CODES[2], CODES[0], CODES[1]]
    assert [r["排名"] for r in rows] == ["1", "2", "3"]
    expected_mu = dict(zip(CODES, area_mu(parcels_gdf()), strict=True))
    taxes = dict(zip(CODES, TAXES, strict=True))
    for r in rows:
        code = r["统一社会信用代码"]
        # 亩 and 万元/亩 are written with 2 decimals
        assert float(r["用地面积(亩)"]) == pytest.approx(expected_mu[code], abs=0.005)
        assert float(r["亩均税收(万元/亩)"]) == pytest.approx(taxes[code] / expected_mu[code], abs=0.005)
        assert float(r["税收(万元)"]) == taxes[code]


def test_rank_xlsx_export(evaluated, tmp_path):
    out = tmp_path / "企业排名.xlsx"
    result = run("rank", "-w", evaluated, "--year", "2024", "--out", out)
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["企业排名", "说明"]
    ws = wb["企业排名"]
    header = [c.value for c in ws[1]]
    assert header[:2] == ["排名", "统一社会信用代码"]
    for h in ["企业名称", "亩均税收(万元/亩)", "用地面积(亩)"]:
        assert h in header
    codes = [ws.cell(row=r, column=2).value for r in range(2, ws.max_row + 1)]
    assert codes == [CODES[2], CODES[0], CODES[1]]
    notes = {r[0].value: r[1].value for r in wb["说明"].iter_rows(min_row=2)}
    assert notes["年度"] == "2024"


def test_rank_gpkg_export_parcels(evaluated, tmp_path):
    out = tmp_path / "地块排名.gpkg"
    result = run("rank", "-w", evaluated, "--level", "parcel", "--year", "2023", "--out", out)
    assert result.exit_code == 0, result.output
    back = pyogrio.read_dataframe(out)
    for col in ["rank", "parcel_id", "area_mu", "tax_per_mu", "holder_name", "year", "geometry"]:
        assert col in back.columns
    assert CRS.from_user_input(back.crs).to_epsg() == 4490
    assert back.sort_values("rank")["parcel_id"].tolist() == ["330602003", "330602001", "330602002"]
    assert set(back["holder_name"]) == set(HOLDERS)
    got = back.set_index("parcel_id")["area_mu"]
    want = pd.Series(area_mu(parcels_gdf()).to_numpy(), index=["330602001", "330602002", "330602003"])
    assert (abs(got[want.index] / want - 1) < 1e-3).all()


def test_rank_without_evaluation(filled_workspace):
    assert_user_error(run("rank", "-w", filled_workspace), "mujun evaluate")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--by", "nope"], ["无法按 'nope' 排名", "tax_per_mu"]),
        (["--year", "2030"], ["没有 2030 年的评价结果"]),
        (["--out", "r.txt"], ["无法导出为 'r.txt'"]),
        (["--level", "park"], ["园区"]),
    ],
)
def test_rank_user_errors(evaluated, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    before = sha256(evaluated)
    assert_user_error(run("rank", "-w", evaluated, *args), *fragments)
    assert sha256(evaluated) == before
    assert not (tmp_path / "r.txt").exists()
