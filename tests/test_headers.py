"""Tests for mujun.layers.headers: header normalisation, units, aliases, truncations, overrides."""

from __future__ import annotations

import pytest

from mujun.geo.errors import SchemaError
from mujun.layers.headers import map_headers, normalise_header, parse_overrides, unit_factor
from mujun.layers.schema import KINDS

PARCELS = KINDS["parcels"]
ENTERPRISES = KINDS["enterprises"]


# -- normalise_header ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("税收(万元)", ("税收", "万元")),
        ("税收（万元）", ("税收", "万元")),  # full-width brackets
        (" 税收 （ 元 ） ", ("税收", "元")),  # stray spaces everywhere
        ("税 收(万元)", ("税收", "万元")),  # a space inside the name
        ("税收【元】", ("税收", "元")),
        ("用电量〔千瓦时〕", ("用电量", "千瓦时")),
        ("用地面积 [m²]", ("用地面积", "m2")),  # NFKC folds the superscript
        ("ＺＤＤＭ", ("zddm", None)),  # full-width Latin letters
        ("ZDDM", ("zddm", None)),
        ("企业名称", ("企业名称", None)),
        ("（元）", ("(元)", None)),  # a bracket alone is not a unit of nothing
    ],
)
def test_normalise_header(header, expected):
    assert normalise_header(header) == expected


def test_normalise_header_accepts_non_strings():
    assert normalise_header(2024) == ("2024", None)


# -- unit_factor ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "field", "unit", "factor"),
    [
        (ENTERPRISES, "tax", None, 1.0),
        (ENTERPRISES, "tax", "万元", 1.0),
        (ENTERPRISES, "tax", "元", 1e-4),
        (ENTERPRISES, "tax", "千元", 0.1),
        (ENTERPRISES, "tax", "亿元", 1e4),
        (ENTERPRISES, "leased_in_mu", "平方米", 0.0015),
        (ENTERPRISES, "leased_in_mu", "公顷", 15.0),
        (ENTERPRISES, "electricity", "千瓦时", 1e-4),
        (ENTERPRISES, "electricity", "万kwh", 1.0),
        (ENTERPRISES, "energy_tce", "万吨标准煤", 1e4),
        (PARCELS, "registered_area_m2", "亩", 10000.0 / 15.0),
        (PARCELS, "registered_area_m2", "公顷", 10000.0),
        (PARCELS, "contract_investment", "万元/公顷", 1.0 / 15.0),
        (PARCELS, "parcel_id", "编号", 1.0),  # text fields ignore a bracketed note
    ],
)
def test_unit_factor(kind, field, unit, factor):
    assert unit_factor(kind.field(field), unit) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("kind", "field", "unit"),
    [
        (ENTERPRISES, "tax", "美元"),
        (ENTERPRISES, "leased_in_mu", "英亩"),
        (PARCELS, "planned_far_min", "层"),  # a unitless number given a unit
    ],
)
def test_unit_factor_unknown_unit_is_none(kind, field, unit):
    assert unit_factor(kind.field(field), unit) is None


# -- map_headers: aliases ------------------------------------------------------------------
def test_chinese_enterprise_headers_with_units():
    headers = ["统一社会信用代码", "企业名称", "年度", "税收（元）", "工业增加值(万元)",
               "营业收入 (万元)", "用电量（千瓦时）", "租入面积(平方米)", "备注"]
    m = map_headers(headers, ENTERPRISES)
    assert m.columns == {
        "统一社会信用代码": "credit_code",
        "企业名称": "name",
        "年度": "year",
        "税收（元）": "tax",
        "工业增加值(万元)": "value_added",
        "营业收入 (万元)": "revenue",
        "用电量（千瓦时）": "electricity",
        "租入面积(平方米)": "leased_in_mu",
    }
    assert m.factors == pytest.approx({"tax": 1e-4, "electricity": 1e-4, "leased_in_mu": 0.0015})
    assert m.units == {"tax": "元", "value_added": "万元", "revenue": "万元", "electricity": "千瓦时",
                       "leased_in_mu": "平方米"}
    assert m.ignored == ["备注"]


def test_pinyin_cadastral_codes():
    headers = ["ZDDM", "BDCDYH", "QLRMC", "QLRZJH", "TDYT", "DLBM", "ZDMJ", "TDSYQX", "BSM"]
    m = map_headers(headers, PARCELS)
    assert m.columns == {
        "ZDDM": "parcel_id",
        "BDCDYH": "property_unit_id",
        "QLRMC": "holder_name",
        "QLRZJH": "holder_code",
        "TDYT": "land_use",
        "DLBM": "land_class_code",
        "ZDMJ": "registered_area_m2",
        "TDSYQX": "use_term",
    }
    assert m.ignored == ["BSM"]
    assert m.factors == {}


def test_pinyin_codes_are_case_insensitive():
    m = map_headers(["zddm", "Qlr", "zdmj"], PARCELS)
    assert m.columns == {"zddm": "parcel_id", "Qlr": "holder_name", "zdmj": "registered_area_m2"}


def test_canonical_names_map_to_themselves():
    m = map_headers(["parcel_id", "holder_code", "registered_area_m2"], PARCELS)
    assert m.columns == {"parcel_id": "parcel_id", "holder_code": "holder_code",
                         "registered_area_m2": "registered_area_m2"}


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # GBK cuts to 10 bytes = 5 characters
        ("统一社会信", "holder_code"),
        ("约定开工日", "agreed_start"),
        ("约定竣工日", "agreed_finish"),
        ("实际开工日", "actual_start"),
        ("实际竣工日", "actual_finish"),
        # UTF-8 cuts to 10 bytes = 3 characters (the 4th cut in half and dropped)
        ("统一社", "holder_code"),
        ("约定开", "agreed_start"),
        ("宗地代", "parcel_id"),
    ],
)
def test_shapefile_truncated_names(header, field):
    m = map_headers(["ZDDM", header] if field != "parcel_id" else [header], PARCELS)
    assert m.columns[header] == field


def test_truncation_shared_by_two_fields_is_left_unmapped():
    # 规划容积率下限 and 规划容积率上限 both cut to 规划容积率: ambiguous, so not guessed
    m = map_headers(["ZDDM", "规划容积率"], PARCELS)
    assert m.columns == {"ZDDM": "parcel_id"}
    assert m.ignored == ["规划容积率"]


def test_gbk_truncated_cadastral_table():
    headers = ["宗地代码", "统一社会信", "权利人", "约定开工日", "约定竣工日", "宗地面积"]
    m = map_headers(headers, PARCELS)
    assert m.columns == {
        "宗地代码": "parcel_id",
        "统一社会信": "holder_code",
        "权利人": "holder_name",
        "约定开工日": "agreed_start",
        "约定竣工日": "agreed_finish",
        "宗地面积": "registered_area_m2",
    }


def test_area_in_mu_converted_to_square_metres():
    m = map_headers(["ZDDM", "宗地面积（亩）"], PARCELS)
    assert m.columns["宗地面积（亩）"] == "registered_area_m2"
    assert m.factors["registered_area_m2"] == pytest.approx(666.6667, rel=1e-6)


# -- map_headers: overrides ----------------------------------------------------------------
def test_override_maps_an_unknown_header():
    m = map_headers(["信用码", "纳税额", "年份"], ENTERPRISES, {"纳税额": "tax", "信用码": "credit_code"})
    assert m.columns == {"信用码": "credit_code", "纳税额": "tax", "年份": "year"}
    assert m.ignored == []


def test_override_wins_over_alias_for_the_same_field():
    # 税收 would map to tax by itself; --map 纳税额=tax says which column to use
    m = map_headers(["纳税额", "税收", "年份"], ENTERPRISES, {"纳税额": "tax"})
    assert m.columns == {"纳税额": "tax", "年份": "year"}
    assert m.ignored == ["税收"]


def test_override_can_remap_a_known_header():
    m = map_headers(["宗地号", "宗地代码"], PARCELS, {"宗地代码": "property_unit_id"})
    assert m.columns == {"宗地号": "parcel_id", "宗地代码": "property_unit_id"}


def test_override_unknown_source_refused():
    with pytest.raises(SchemaError, match=r"a\.csv：--map 指定的源字段 '纳税' 不在文件中.*纳税额"):
        map_headers(["纳税额", "年份"], ENTERPRISES, {"纳税": "tax"}, source="a.csv")


def test_override_unknown_target_refused():
    with pytest.raises(SchemaError, match=r"标准字段 'taxes' 不属于 enterprises.*tax"):
        map_headers(["纳税额", "年份"], ENTERPRISES, {"纳税额": "taxes"})


def test_override_target_of_another_kind_refused():
    with pytest.raises(SchemaError, match="不属于 parcels"):
        map_headers(["纳税额"], PARCELS, {"纳税额": "tax"})


def test_override_confirms_unrecognised_unit():
    m = map_headers(["税收(美元)", "年份"], ENTERPRISES, {"税收(美元)": "tax"})
    assert m.columns["税收(美元)"] == "tax"
    assert "tax" not in m.factors
    assert any("美元" in n for n in m.notes)


# -- map_headers: refusals -----------------------------------------------------------------
@pytest.mark.parametrize("header", ["税收(美元)", "税收（万美元）", "用电量(焦耳)"])
def test_unrecognised_unit_refused(header):
    with pytest.raises(SchemaError, match="单位 .* 无法识别") as err:
        map_headers(["统一社会信用代码", header], ENTERPRISES, source="e.csv")
    assert header in str(err.value)
    assert "--map" in str(err.value)


def test_unit_on_unitless_number_refused_with_readable_message():
    with pytest.raises(SchemaError, match="容积率下限") as err:
        map_headers(["ZDDM", "容积率下限(层)"], PARCELS)
    assert "None" not in str(err.value)


@pytest.mark.parametrize(
    ("headers", "first", "second"),
    [
        (["统一社会信用代码", "税收", "实缴税金"], "税收", "实缴税金"),
        (["统一社会信用代码", "税收(万元)", "税收（元）"], "税收(万元)", "税收（元）"),
        (["统一社会信用代码", "USCC"], "统一社会信用代码", "USCC"),
        (["统一社会信用代码", "税收", "税 收"], "税收", "税 收"),
    ],
)
def test_two_columns_for_one_field_refused(headers, first, second):
    with pytest.raises(SchemaError, match="都对应") as err:
        map_headers(headers, ENTERPRISES)
    assert f"'{first}' 和 '{second}'" in str(err.value)


# -- energy measures: 等价值 / 当量值 qualify the field, they are not units ---------------------
@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("综合能耗(等价值)", None),
        ("综合能耗（等价值）", None),  # full-width brackets
        ("综合能耗（当量值）", None),
        ("综合能耗 【等价值】", None),
        ("综合能源消费量（等价值）", None),
        ("综合能耗(等价值)(万吨标准煤)", 1e4),  # the unit in a second bracket
        ("综合能耗（等价值，万吨标准煤）", 1e4),  # or after the qualifier in the same one
        ("综合能耗(当量值)(吨标煤)", None),
    ],
)
def test_energy_measure_in_brackets_is_not_a_unit(header, factor):
    m = map_headers(["统一社会信用代码", header], ENTERPRISES)
    assert m.columns[header] == "energy_tce"
    assert m.factors.get("energy_tce") == factor


def test_normalise_header_keeps_the_energy_measure_in_the_key():
    assert normalise_header("综合能耗（等价值）") == ("综合能耗(等价值)", None)
    assert normalise_header("综合能耗（当量值，吨标准煤）") == ("综合能耗(当量值)", "吨标准煤")
    # only after an energy header: elsewhere the bracket is still read as a unit
    assert normalise_header("税收(等价值)") == ("税收", "等价值")


def test_measure_bracket_after_other_headers_is_still_an_unknown_unit():
    with pytest.raises(SchemaError, match="单位 '等价值' 无法识别"):
        map_headers(["统一社会信用代码", "税收(等价值)"], ENTERPRISES)


@pytest.mark.parametrize("first", ["综合能耗(等价值)", "综合能耗"])
def test_dangliang_column_beside_the_dengjia_one_is_left_out(first):
    m = map_headers(["统一社会信用代码", "综合能耗（当量值）", first], ENTERPRISES)
    assert m.columns == {"统一社会信用代码": "credit_code", first: "energy_tce"}
    assert m.ignored == ["综合能耗（当量值）"]
    assert m.notes == [f"字段 '综合能耗（当量值）' 未导入：综合能耗取 '{first}'，单位能耗增加值按等价值计算"]


def test_dangliang_column_alone_is_imported_with_a_note():
    m = map_headers(["统一社会信用代码", "综合能耗(当量值)"], ENTERPRISES)
    assert m.columns["综合能耗(当量值)"] == "energy_tce"
    assert len(m.notes) == 1 and "按当量值导入" in m.notes[0]


def test_two_dengjia_columns_are_still_refused():
    with pytest.raises(SchemaError, match="都对应"):
        map_headers(["统一社会信用代码", "综合能耗(等价值)", "综合能源消费量（等价值）"], ENTERPRISES)


# -- parse_overrides -----------------------------------------------------------------------
def test_parse_overrides():
    assert parse_overrides(["纳税额=tax", " DKMC = parcel_id ", "a=b=c"]) == {
        "纳税额": "tax", "DKMC": "parcel_id", "a": "b=c"}
    assert parse_overrides(()) == {}


@pytest.mark.parametrize("item", ["纳税额", "=tax", "纳税额=", " = ", ""])
def test_parse_overrides_malformed(item):
    with pytest.raises(SchemaError, match="源字段=标准字段"):
        parse_overrides([item])
