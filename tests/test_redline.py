"""The industrial-land red line (geo/redline.py): areas in the Gauss-Krüger zone, shares, the
30 % rule at its boundary, parcels in 工业产业单元 no longer industrial; the service, the CLI and
the import of the two layer kinds."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from conftest import xlsx_rows

from mujun.cli import main
from mujun.geo.area import M2_PER_MU, area_m2
from mujun.geo.redline import (
    classify_patches,
    redline_rules_from_dict,
    redline_table,
    unit_parcels,
)
from mujun.geo.rules import RuleError
from mujun.layers.importer import import_layer
from mujun.layers.rulesets import available_rules, load_redline_rules
from mujun.layers.workspace import Workspace
from mujun.service import export_redline, redline

GK = "EPSG:4549"  # CGCS2000 3-degree GK, CM 120°E: x = 500 000 at 120°E
X0, Y0 = 500_000.0, 3_300_000.0


def rules(**city) -> object:
    return redline_rules_from_dict({
        "name": "t", "title": "测试",
        "city": city or {"industrial_km2": 4.0, "industrial_share": 0.25, "new_industrial_share": 0.3},
        "district_default": {"industrial_share": 0.25, "new_industrial_share": 0.3},
        "units": {"overlap_min": 0.5, "allowed_codes": ["0601", "0508"], "allowed_uses": ["工业", "仓储"]},
        "land_classes": {"scheme": "三调", "industrial": ["0601"],
                         "construction": ["05", "06", "07", "08", "09", "1004", "1005", "1201"],
                         "urban": ["201", "202"]},
    }, "t.toml")


def box(x, y, w, h):
    """A w × h m box with its lower left corner x, y metres from (X0, Y0)."""
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


@pytest.fixture
def districts():
    """Two 10 km × 10 km districts side by side in EPSG:4549."""
    return gpd.GeoDataFrame({"district_id": ["330601", "330602"], "name": ["甲区", "乙区"]},
                            geometry=[box(0, 0, 10_000, 10_000), box(10_000, 0, 10_000, 10_000)], crs=GK)


@pytest.fixture
def landuse():
    """Patches with known areas: 甲区 3 km² industrial of 9 km² urban construction land, 乙区 1 of 4."""
    rows = [
        ("T1", "0601", "201", None, box(1000, 1000, 1000, 2000)),       # 2 km² industrial, 甲区
        ("T2", "0701", "201", None, box(3000, 1000, 2000, 3000)),       # 6 km² housing, 甲区
        ("T3", "0601", "202", None, box(9000, 5000, 2000, 1000)),       # 2 km² industrial across the line
        ("T4", "0701", "202", None, box(12000, 1000, 1000, 3000)),      # 3 km² housing, 乙区
        ("T5", "0101", None, None, box(14000, 1000, 1000, 1000)),       # 1 km² paddy: not construction land
        ("T6", "0601", "203", None, box(16000, 1000, 500, 1000)),       # 0.5 km² industrial in a village
    ]
    return gpd.GeoDataFrame({"patch_id": [r[0] for r in rows], "land_class_code": [r[1] for r in rows],
                             "urban_code": [r[2] for r in rows], "new_year": pd.array([r[3] for r in rows], "Int64")},
                            geometry=[r[4] for r in rows], crs=GK)


# -- rules ------------------------------------------------------------------------------------

def test_shipped_rules_are_the_hangzhou_figures_marked_as_an_example():
    r = load_redline_rules()
    assert (r.city.industrial_km2, r.city.industrial_share, r.city.new_industrial_share) == (240.0, 0.25, 0.30)
    assert not r.verified and "杭州" in r.source
    assert all(k in r.sources for k in ("industrial_km2", "industrial_share", "new_industrial_share"))
    assert r.classes.industrial == ("0601",) and "GB/T 21010-2017" in r.classes.source
    assert [i.name for i in available_rules() if i.kind == "redline"] == ["redline-example"]


@pytest.mark.parametrize(("change", "message"), [
    ({"city": {"industrial_share": 25}}, r"city\.industrial_share.*0 到 1"),
    ({"city": {"industrial_km2": -1}}, r"city\.industrial_km2.*不小于 0"),
    ({"city": {"km2": 1}}, "未知的键 km2"),
    ({"units": {"overlap_min": 0, "allowed_codes": ["0601"]}}, "overlap_min"),
    ({"land_classes": {"industrial": [], "construction": ["06"], "urban": ["201"]}}, r"land_classes\.industrial"),
])
def test_bad_rules_are_refused_naming_the_key(change, message):
    d = {"name": "t", "title": "测试", "units": {"overlap_min": 0.5, "allowed_codes": ["0601"]},
         "land_classes": {"industrial": ["0601"], "construction": ["06"], "urban": ["201"]}, **change}
    with pytest.raises(RuleError, match=message):
        redline_rules_from_dict(d, "x.toml")


def test_a_rule_file_of_another_kind_is_refused():
    from mujun.layers.rulesets import RULES_DIR

    with pytest.raises(RuleError, match="不是工业用地红线规则"):
        load_redline_rules(RULES_DIR / "zones-example.toml")


# -- areas and shares -------------------------------------------------------------------------

def test_classes_come_from_the_rules():
    lu = pd.DataFrame({"land_class_code": ["0601", "0701", "0601", "0101", "05H1"],
                       "urban_code": ["201", "202", "203", None, "201A"]})
    c = classify_patches(lu, rules().classes)
    assert c["industrial"].tolist() == [True, False, True, False, False]
    assert c["urban"].tolist() == [True, True, False, False, True]
    # without 城镇村属性码 (planned urban construction land) every construction patch is urban
    assert classify_patches(lu.drop(columns="urban_code"), rules().classes)["urban"].tolist() == \
        [True, True, True, False, True]


def _rows(table):
    return table.set_index("name")


def test_km2_and_shares_by_district_and_city(landuse, districts):
    t = _rows(redline_table(landuse, districts, rules(), None))
    assert t.loc["甲区", "industrial_km2"] == pytest.approx(3.0, rel=1e-12)  # 2 + half of T3
    assert t.loc["甲区", "urban_construction_km2"] == pytest.approx(9.0, rel=1e-12)
    assert t.loc["甲区", "industrial_share"] == pytest.approx(1 / 3, rel=1e-12)
    assert t.loc["乙区", "industrial_km2"] == pytest.approx(1.0, rel=1e-12)
    assert t.loc["乙区", "urban_construction_km2"] == pytest.approx(4.0, rel=1e-12)
    assert t.loc["乙区", "industrial_share"] == pytest.approx(0.25, rel=1e-12)
    assert t.loc["乙区", "industrial_outside_km2"] == pytest.approx(0.5, rel=1e-12)  # the village's, apart
    assert t.loc["全市", "industrial_km2"] == pytest.approx(4.0, rel=1e-12)
    assert t.loc["全市", "urban_construction_km2"] == pytest.approx(13.0, rel=1e-12)
    # 乙区 is exactly at the 25 % floor: it passes; the city's 4 km² meets its 4 km² floor
    assert bool(t.loc["乙区", "industrial_share_ok"])
    assert bool(t.loc["全市", "industrial_km2_ok"]) and pd.isna(t.loc["甲区", "industrial_km2_ok"])
    assert t["level"].tolist() == ["district", "district", "city"]


def test_areas_come_from_the_gauss_krueger_zone_not_degrees(landuse, districts):
    """The same patches in CGCS2000 degrees give the same km²: each is measured in its zone."""
    t = _rows(redline_table(landuse.to_crs(4490), districts.to_crs(4490), rules(), None))
    assert t.loc["甲区", "industrial_km2"] == pytest.approx(3.0, rel=1e-9)
    assert t.loc["全市", "urban_construction_km2"] == pytest.approx(13.0, rel=1e-9)
    assert t.loc["乙区", "industrial_share"] == pytest.approx(0.25, rel=1e-9)
    assert bool(t.loc["乙区", "industrial_share_ok"])  # 25 % from reprojected areas still meets 25 %
    # Web Mercator would have inflated them by about a fifth at 30°N
    mercator = landuse.to_crs(3857).area.sum() / 1e6
    assert mercator / landuse.area.sum() * 1e6 > 1.15


def _new_land(industrial_m, crs=GK):
    """2025's new land: an industrial patch 1000 × ``industrial_m`` m beside 7 km² of new housing."""
    lu = gpd.GeoDataFrame({"land_class_code": ["0601", "0701"], "urban_code": ["201", "201"],
                           "new_year": pd.array([2025, 2025], "Int64")},
                          geometry=[box(1000, 1000, 1000, industrial_m), box(3000, 1000, 1000, 7000)], crs=GK)
    d = gpd.GeoDataFrame({"district_id": ["330601"], "name": ["甲区"]}, geometry=[box(0, 0, 10_000, 10_000)], crs=GK)
    return lu.to_crs(crs), d.to_crs(crs)


@pytest.mark.parametrize(("industrial_m", "share", "passes"), [
    (3000.0, 0.3, True),                       # exactly 30 %: 3 km² of 10 km²
    (2999.0, 2.999 / 9.999, False),            # just below
    (3001.0, 3.001 / 10.001, True),            # just above
])
def test_new_industrial_share_at_the_30_percent_boundary(industrial_m, share, passes):
    lu, d = _new_land(industrial_m)
    t = _rows(redline_table(lu, d, rules(), 2025))
    assert t.loc["甲区", "new_construction_km2"] == pytest.approx(7.0 + industrial_m / 1000, rel=1e-12)
    assert t.loc["甲区", "new_industrial_km2"] == pytest.approx(industrial_m / 1000, rel=1e-12)
    assert t.loc["甲区", "new_industrial_share"] == pytest.approx(share, rel=1e-12)
    assert bool(t.loc["甲区", "new_industrial_share_ok"]) is passes
    assert bool(t.loc["全市", "new_industrial_share_ok"]) is passes
    assert bool(t.loc["甲区", "redline_ok"]) is passes


def test_exactly_30_percent_passes_from_degrees_too():
    lu, d = _new_land(3000.0, crs=4490)
    t = _rows(redline_table(lu, d, rules(), 2025))
    assert t.loc["甲区", "new_industrial_share"] == pytest.approx(0.3, rel=1e-9)
    assert bool(t.loc["甲区", "new_industrial_share_ok"])


def test_a_year_without_new_land_has_no_verdict(landuse, districts):
    t = _rows(redline_table(landuse, districts, rules(), 2024))
    assert t.loc["甲区", "new_construction_km2"] == 0.0
    assert pd.isna(t.loc["甲区", "new_industrial_share"]) and pd.isna(t.loc["甲区", "new_industrial_share_ok"])


def test_district_floors_override_the_default(landuse, districts):
    r = redline_rules_from_dict({
        "name": "t", "title": "测试", "district_default": {"industrial_share": 0.25},
        "districts": {"乙区": {"industrial_share": 0.3, "industrial_km2": 0.5}},
        "units": {"overlap_min": 0.5, "allowed_codes": ["0601"]},
        "land_classes": {"industrial": ["0601"], "construction": ["06", "07"], "urban": ["201", "202"]}})
    t = _rows(redline_table(landuse, districts, r, None))
    assert t.loc["乙区", "industrial_share_min"] == 0.3 and not bool(t.loc["乙区", "industrial_share_ok"])
    assert bool(t.loc["乙区", "industrial_km2_ok"]) and bool(t.loc["甲区", "industrial_share_ok"])


# -- 工业产业单元 ---------------------------------------------------------------------------

def test_parcels_in_units_no_longer_industrial(districts):
    units = gpd.GeoDataFrame({"unit_id": ["U1"], "name": ["甲区工业产业单元"]},
                             geometry=[box(0, 0, 2000, 1000)], crs=GK)
    parcels = gpd.GeoDataFrame({
        "parcel_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
        "land_use": ["工业用地", "商务金融用地", "工业用地", "城镇住宅用地", "工业用地", "仓储用地", None],
        "land_class_code": ["0601", "0505", "0601", "0701", "0601", "0508", None],
    }, geometry=[box(100, 100, 200, 200), box(400, 100, 200, 200), box(700, 100, 200, 200),
                 box(1900, 100, 250, 200),  # 40 % inside: not a unit parcel
                 box(1000, 100, 200, 200), box(1300, 100, 200, 200), box(1600, 100, 200, 200)], crs=GK)
    landuse = gpd.GeoDataFrame({"land_class_code": ["0601", "05H1", "0701", "0701", "0101", "0508", "0701"],
                                "land_class_name": ["工业用地", "商业服务业设施用地", "城镇住宅用地", "城镇住宅用地", "水田",
                                                    "物流仓储用地", "城镇住宅用地"],
                                "urban_code": ["201", "201", "201", "201", None, "201", "201"]},
                               geometry=list(parcels.geometry), crs=GK)
    out = unit_parcels(parcels, units, rules(), landuse=landuse, districts=districts)
    assert out["parcel_id"].tolist() == ["P2", "P3", "P7"]
    by = out.set_index("parcel_id")
    assert "宗地用途为商务金融用地" in by.loc["P2", "reason"]
    assert "宗地用途" not in by.loc["P3", "reason"] and "0701 城镇住宅用地" in by.loc["P3", "reason"]
    assert by.loc["P7", "survey_other_share"] == pytest.approx(1.0)  # no use on record: the survey decides
    assert by["area_mu"].tolist() == pytest.approx([40_000 / M2_PER_MU] * 3, rel=1e-12)
    assert by["unit_id"].tolist() == ["U1"] * 3 and by["district_name"].tolist() == ["甲区"] * 3
    # without the land-use layer only the parcels' own records count
    assert unit_parcels(parcels, units, rules())["parcel_id"].tolist() == ["P2"]
    # the counts go into the table, by district and for the city
    t = _rows(redline_table(landuse, districts, rules(), None, out))
    assert t.loc["甲区", "converted_count"] == 3 and t.loc["乙区", "converted_count"] == 0
    assert t.loc["全市", "converted_mu"] == pytest.approx(3 * 40_000 / M2_PER_MU)


# -- the sample, the service and the CLI --------------------------------------------------------

@pytest.fixture(scope="module")
def sample_redline(sample_workspace):
    return redline(sample_workspace)


def test_sample_red_line(sample_workspace, sample_redline):
    r = sample_redline
    assert r.years == [2023, 2024, 2025] and r.year == 2025
    t = r.table
    city = t[t["level"] == "city"].iloc[0]
    districts = t[t["level"] == "district"]
    assert len(districts) == 6
    # the city's industrial land, measured independently patch by patch in the GK zone
    lu = sample_workspace.read("landuse")
    urban_ind = (lu["land_class_code"] == "0601") & lu["urban_code"].astype("string").str.match(r"20[12]").fillna(False)
    assert city["industrial_km2"] == pytest.approx(area_m2(lu[urban_ind.astype(bool)]).sum() / 1e6, rel=1e-9)
    assert districts["industrial_km2"].sum() == pytest.approx(city["industrial_km2"], rel=1e-4)
    # the example set: the city misses Hangzhou's 240 km², some districts miss 25 % and 30 %, some pass
    assert not bool(city["industrial_km2_ok"])
    assert districts["industrial_share_ok"].astype(bool).any() and not districts["industrial_share_ok"].astype(bool).all()
    for y in r.years:
        yt = redline(sample_workspace, y).table
        ok = yt.loc[yt["level"] == "district", "new_industrial_share_ok"].dropna().astype(bool)
        assert ok.any() and not ok.all(), y
    # the parcels whose use changed inside units
    assert len(r.converted) == 8
    assert (r.converted["unit_share"] >= 0.5).all() and r.converted["reason"].str.len().gt(0).all()
    assert int(city["converted_count"]) == 8


def test_sample_units_are_gbk_and_labelled_synthetic(sample_workspace):
    units = sample_workspace.read("units")
    assert units["name"].str.endswith("工业产业单元（示例）").all()
    assert units["unit_id"].str.startswith("GYDY").all() and units["planned_mu"].gt(0).all()


def test_cli_redline_prints_the_tables_and_exports(sample_workspace, sample_redline, tmp_path):
    runner = CliRunner()
    out = tmp_path / "红线.xlsx"
    res = runner.invoke(main, ["redline", "-w", str(sample_workspace.path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    city = sample_redline.table.iloc[-1]
    assert "工业用地(平方公里)" in res.output and "2025 年新增建设用地中的工业用地" in res.output
    assert f"{city['industrial_km2']:,.2f}" in res.output and f"{city['industrial_share'] * 100:,.2f}" in res.output
    assert "工业产业单元内已改变用途的地块：8 宗" in res.output and "含示例值" in res.output
    rows = xlsx_rows(out.read_bytes(), "工业用地红线")
    assert rows[0][0] == "区域" and rows[-1][0] == "全市"
    assert rows[-1][2] == pytest.approx(city["industrial_km2"])
    assert rows[-1][4] == pytest.approx(city["industrial_share"])  # a fraction shown as a percentage
    book = openpyxl.load_workbook(out, read_only=False)
    try:
        assert book["工业用地红线"].cell(row=len(rows), column=5).number_format == "0.0%"
    finally:
        book.close()
    assert len(xlsx_rows(out.read_bytes(), "单元内改变用途的地块")) == 9
    assert any("杭州" in str(r[1]) for r in xlsx_rows(out.read_bytes(), "说明"))


def test_cli_redline_errors_are_one_line(sample_workspace, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["redline", "-w", str(sample_workspace.path), "--year", "2019"])
    assert res.exit_code == 2 and "没有 2019 年新增的图斑" in res.output and "Traceback" not in res.output
    ws = Workspace(tmp_path / "w.gpkg")
    import_layer(ws, "districts", sample_workspace.path.with_name("sample-sample") / "行政区.geojson", progress=False)
    res = runner.invoke(main, ["redline", "-w", str(ws.path)])
    assert res.exit_code == 2 and "mujun import landuse" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_export_csv_is_the_table(sample_workspace, sample_redline, tmp_path):
    p = export_redline(sample_redline, tmp_path / "红线.csv", sample_workspace)
    frame = pd.read_csv(p, encoding="utf-8-sig")
    assert frame["区域"].tolist()[-1] == "全市" and len(frame) == 7
    city = sample_redline.table.iloc[-1]
    assert frame["工业用地占城镇建设用地比例(%)"].iloc[-1] == round(city["industrial_share"] * 100, 1)  # per cent


# -- importing the two kinds --------------------------------------------------------------------

def test_import_units_from_a_gbk_shapefile_without_cpg(tmp_path):
    src = tmp_path / "工业产业单元.shp"
    gdf = gpd.GeoDataFrame({"单元名称": ["袍江工业产业单元", "滨海工业产业单元"], "规划面积": [1500.0, 3000.0],
                            "批准文号": ["绍政函〔2020〕8号", "绍政函〔2021〕3号"]},
                           geometry=[box(0, 0, 1000, 1000), box(2000, 0, 1000, 2000)], crs=GK)
    gdf.to_file(src, driver="ESRI Shapefile", encoding="gbk")
    src.with_suffix(".cpg").unlink(missing_ok=True)
    ws = Workspace(tmp_path / "w.gpkg")
    res = CliRunner().invoke(main, ["import", "units", str(src), "-w", str(ws.path)])
    assert res.exit_code == 0, res.output
    units = ws.read("units")
    assert units["name"].tolist() == ["袍江工业产业单元", "滨海工业产业单元"]
    assert units["unit_id"].tolist() == ["U001", "U002"]  # numbered in file order when absent
    assert units["approval_no"].tolist()[0] == "绍政函〔2020〕8号" and units["planned_mu"].tolist() == [1500.0, 3000.0]
    assert units.crs.to_epsg() == 4490
    assert area_m2(units).tolist() == pytest.approx([1e6, 2e6], rel=1e-9)


def test_import_landuse_with_survey_field_names(tmp_path):
    src = tmp_path / "国土调查.gpkg"
    gdf = gpd.GeoDataFrame({"BSM": ["330600000001", "330600000002"], "TBBH": ["1", "2"], "DLBM": ["0601", "0701"],
                            "DLMC": ["工业用地", "城镇住宅用地"], "CZCSXM": ["201", "201"],
                            "ZLDWDM": ["3306021000000000000", "3306021000000000000"], "TBMJ": [1e6, 2e6],
                            "变更年份": [2024, None]},
                           geometry=[box(0, 0, 1000, 1000), box(2000, 0, 1000, 2000)], crs=GK)
    gdf.to_file(src, driver="GPKG", layer="DLTB")
    ws = Workspace(tmp_path / "w.gpkg")
    res = import_layer(ws, "landuse", src, progress=False)
    assert res.mapping == {"BSM": "patch_id", "TBBH": "patch_no", "DLBM": "land_class_code", "DLMC": "land_class_name",
                           "CZCSXM": "urban_code", "ZLDWDM": "location_code", "TBMJ": "survey_area_m2",
                           "变更年份": "new_year"}
    lu = ws.read("landuse")
    assert lu["new_year"].tolist()[0] == 2024 and pd.isna(lu["new_year"].tolist()[1])
    assert np.allclose(area_m2(lu), [1e6, 2e6], rtol=1e-9)


def test_import_landuse_needs_the_class_code(tmp_path):
    src = tmp_path / "地类.gpkg"
    gpd.GeoDataFrame({"DLMC": ["工业用地"]}, geometry=[box(0, 0, 100, 100)], crs=GK).to_file(src, driver="GPKG")
    res = CliRunner().invoke(main, ["import", "landuse", str(src), "-w", str(tmp_path / "w.gpkg")])
    assert res.exit_code == 2 and "地类编码" in res.output and "--map" in res.output
