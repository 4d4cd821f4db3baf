"""Tests for mujun.layers.encoding and the Shapefile / CSV text decoding in mujun.layers.sources."""

from __future__ import annotations

import codecs
import warnings

import geopandas as gpd
import pytest
from shapely.geometry import box

from mujun.geo.errors import InputError
from mujun.layers.encoding import (
    cpg_encoding,
    detect_bytes_encoding,
    shapefile_encoding,
    text_file_encoding,
)
from mujun.layers.importer import prepare_layer
from mujun.layers.schema import KINDS
from mujun.layers.sources import read_source

HOLDERS = ["绍兴纺织有限公司", "柯桥印染厂（普通合伙）"]


def _parcels() -> gpd.GeoDataFrame:
    x, y = 120.58, 30.0
    return gpd.GeoDataFrame(
        {
            "宗地代码": ["330602001", "330602002"],
            "统一社会信用代码": ["91330600MA2AAAAAA1", "91330600MA2BBBBBB2"],
            "权利人": HOLDERS,
            "约定开工日期": ["2020-01-01", "2021-03-05"],
        },
        geometry=[box(x, y, x + 0.002, y + 0.002), box(x + 0.003, y, x + 0.005, y + 0.002)],
        crs="EPSG:4490",
    )


def _write_shp(gdf: gpd.GeoDataFrame, path, encoding: str, cpg: str | None = "keep"):
    """Write a Shapefile in ``encoding``; ``cpg`` None deletes the .cpg, a string replaces it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL notes laundered (truncated) field names
        gdf.to_file(path, encoding=encoding, engine="pyogrio")
    cpg_path = path.with_suffix(".cpg")
    if cpg is None:
        cpg_path.unlink(missing_ok=True)
    elif cpg != "keep":
        cpg_path.write_text(cpg)
    return path


# -- cpg_encoding --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("936", "gb18030"),
        ("GBK", "gb18030"),
        ("gb2312", "gb18030"),
        ("CP936", "gb18030"),
        ("ANSI 936", "gb18030"),
        ("UTF-8", "utf-8"),
        ("utf8\r\n", "utf-8"),
        ("65001", "utf-8"),
        ("BIG5", "big5"),
        ("ISO-8859-1", "latin-1"),
        ("cp1251", "cp1251"),  # not in the table: looked up by Python
    ],
)
def test_cpg_encoding(tmp_path, text, codec):
    p = tmp_path / "a.cpg"
    p.write_text(text)
    assert cpg_encoding(p) == codec


def test_cpg_encoding_unknown_refused(tmp_path):
    p = tmp_path / "a.cpg"
    p.write_text("klingon")
    with pytest.raises(InputError, match=r"a\.cpg：编码 'klingon' 无法识别.*--encoding"):
        cpg_encoding(p)


# -- detect_bytes_encoding -----------------------------------------------------------------
def test_detect_gbk():
    assert detect_bytes_encoding(["绍兴市柯桥区".encode("gbk"), b"ABC"]) == "gb18030"


def test_detect_utf8():
    assert detect_bytes_encoding(["绍兴市柯桥区".encode()]) == "utf-8"


def test_detect_tolerates_a_cut_last_character():
    cut_utf8 = "统一社会信用代码".encode()[:10]
    cut_gbk = "A统一社会信用".encode("gbk")[:10]
    assert detect_bytes_encoding([cut_utf8]) == "utf-8"
    assert detect_bytes_encoding([cut_gbk]) == "gb18030"


def test_detect_ascii_is_utf8():
    assert detect_bytes_encoding([b"ZDDM", b"12345"]) == "utf-8"


def test_detect_neither():
    assert detect_bytes_encoding([b"\xff\xfe\xff"]) is None


def test_detect_mixed_chunks_need_one_codec_for_all():
    # one GBK chunk makes the whole set GBK even if another chunk is valid UTF-8 too
    assert detect_bytes_encoding(["权利人".encode(), "权利人".encode("gbk")]) == "gb18030"


# -- shapefile_encoding --------------------------------------------------------------------
def test_shapefile_gbk_without_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    codec, how = shapefile_encoding(shp)
    assert codec == "gb18030"
    assert "无 .cpg" in how and "GBK" in how


def test_shapefile_utf8_without_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "utf-8", cpg=None)
    assert shapefile_encoding(shp) == ("utf-8", "无 .cpg，按字节判定为 UTF-8")


@pytest.mark.parametrize("cpg", ["936", "GBK"])
def test_shapefile_cpg_honoured(tmp_path, cpg):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=cpg)
    assert shapefile_encoding(shp) == ("gb18030", "由 zd.cpg 指定")


def test_shapefile_cpg_with_upper_case_suffix(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    (tmp_path / "zd.CPG").write_text("UTF-8")
    assert shapefile_encoding(shp) == ("utf-8", "由 zd.CPG 指定")


def test_shapefile_cpg_of_another_file_ignored(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    (tmp_path / "zd2.cpg").write_text("UTF-8")
    assert shapefile_encoding(shp)[0] == "gb18030"


def test_shapefile_ascii_only(tmp_path):
    gdf = gpd.GeoDataFrame({"ZDDM": ["A1"], "QLR": ["ACME"]}, geometry=[box(120, 30, 120.1, 30.1)],
                           crs="EPSG:4490")
    shp = _write_shp(gdf, tmp_path / "zd.shp", "utf-8", cpg=None)
    assert shapefile_encoding(shp) == ("utf-8", "属性全为 ASCII 字符")


def test_shapefile_gbk_field_names_only(tmp_path):
    gdf = gpd.GeoDataFrame({"宗地代码": ["A1"]}, geometry=[box(120, 30, 120.1, 30.1)], crs="EPSG:4490")
    shp = _write_shp(gdf, tmp_path / "zd.shp", "gbk", cpg=None)
    assert shapefile_encoding(shp)[0] == "gb18030"


def test_shapefile_without_dbf_refused(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    (tmp_path / "zd.dbf").unlink()
    with pytest.raises(InputError, match=r"zd\.shp：缺少同名 \.dbf"):
        shapefile_encoding(shp)


def _latin1_shapefile(tmp_path):
    """A Shapefile whose text bytes are valid neither as UTF-8 nor as GB18030."""
    gdf = gpd.GeoDataFrame({"NAME": ["ÿÿÿ"]}, geometry=[box(120, 30, 120.1, 30.1)], crs="EPSG:4490")
    return _write_shp(gdf, tmp_path / "x.shp", "latin1", cpg=None)


def test_shapefile_undecidable_refused(tmp_path):
    shp = _latin1_shapefile(tmp_path)
    with pytest.raises(InputError, match=r"x\.dbf：属性文字既不是 UTF-8 也不是 GBK.*--encoding"):
        shapefile_encoding(shp)


def test_shapefile_language_driver_byte_decides(tmp_path):
    shp = _latin1_shapefile(tmp_path)
    dbf = tmp_path / "x.dbf"
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0x4D  # dBASE language driver: GBK
    dbf.write_bytes(bytes(raw))
    codec, how = shapefile_encoding(shp)
    assert codec == "gb18030"
    assert "语言驱动" in how


# -- text_file_encoding --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (codecs.BOM_UTF8 + "企业名称,税收\n甲,1\n".encode(), "utf-8-sig"),
        ("企业名称,税收\n甲,1\n".encode(), "utf-8"),
        ("企业名称,税收\n甲,1\n".encode("gbk"), "gb18030"),
        (b"name,tax\nA,1\n", "utf-8"),
    ],
)
def test_text_file_encoding(tmp_path, data, codec):
    p = tmp_path / "e.csv"
    p.write_bytes(data)
    assert text_file_encoding(p) == codec


def test_text_file_encoding_neither_refused(tmp_path):
    p = tmp_path / "e.csv"
    p.write_bytes(b"name\n\xff\xfe\xff\n")
    with pytest.raises(InputError, match=r"e\.csv：文字既不是 UTF-8 也不是 GBK"):
        text_file_encoding(p)


# -- reading Shapefiles in each encoding (mujun.layers.sources) ----------------------------------
PARCELS = KINDS["parcels"]


def test_read_gbk_shapefile_without_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    src = read_source(shp, PARCELS)
    # GDAL cut 统一社会信用代码 (16 bytes in GBK) and 约定开工日期 (12) to 10 bytes
    assert list(src.frame.columns) == ["宗地代码", "统一社会信", "权利人", "约定开工日", "geometry"]
    assert src.frame["权利人"].tolist() == HOLDERS
    assert "GBK" in src.encoding_note


def test_read_utf8_shapefile_with_names_cut_mid_character(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "utf-8")
    assert (tmp_path / "zd.cpg").read_text().strip().upper() == "UTF-8"
    src = read_source(shp, PARCELS)
    # 10 bytes of UTF-8 hold three Chinese characters and a third of the fourth
    assert list(src.frame.columns) == ["宗地代", "统一社", "权利人", "约定开", "geometry"]
    assert src.frame["权利人"].tolist() == HOLDERS


def test_read_utf8_shapefile_without_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "utf-8", cpg=None)
    res = prepare_layer("parcels", shp, progress=False)
    assert res.frame["holder_name"].tolist() == HOLDERS
    assert res.frame["holder_code"].tolist() == ["91330600MA2AAAAAA1", "91330600MA2BBBBBB2"]


def test_read_gbk_field_name_cut_mid_character(tmp_path):
    gdf = _parcels()
    gdf["A统一社会信用"] = ["x", "y"]  # 13 bytes in GBK: the cut at 10 bytes halves 信
    shp = _write_shp(gdf, tmp_path / "zd.shp", "gbk", cpg=None)
    src = read_source(shp, PARCELS)
    assert "A统一社会" in src.frame.columns
    assert src.frame["A统一社会"].tolist() == ["x", "y"]


@pytest.mark.parametrize("cpg", ["936", "GBK", "cp936"])
def test_read_gbk_shapefile_with_cpg(tmp_path, cpg):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=cpg)
    res = prepare_layer("parcels", shp, progress=False)
    assert res.frame["holder_name"].tolist() == HOLDERS
    assert "属性编码：由 zd.cpg 指定" in res.report.lines


def test_encoding_option_overrides_wrong_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg="UTF-8")
    with pytest.raises(InputError, match="--encoding"):
        prepare_layer("parcels", shp, progress=False)
    res = prepare_layer("parcels", shp, encoding="GBK", progress=False)
    assert res.frame["holder_name"].tolist() == HOLDERS
    assert "属性编码：按 --encoding 指定为 GBK" in res.report.lines


def test_encoding_option_overrides_unknown_cpg(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg="klingon")
    with pytest.raises(InputError, match="klingon"):
        prepare_layer("parcels", shp, progress=False)
    res = prepare_layer("parcels", shp, encoding="gb18030", progress=False)
    assert res.frame["holder_name"].tolist() == HOLDERS


def test_encoding_option_unknown_codec_refused(tmp_path):
    shp = _write_shp(_parcels(), tmp_path / "zd.shp", "gbk", cpg=None)
    with pytest.raises(InputError, match="'no-such-codec' 无法识别"):
        prepare_layer("parcels", shp, encoding="no-such-codec", progress=False)


def test_encoding_option_for_csv(tmp_path):
    # GBK bytes that also happen to decode as UTF-8 do not exist for Chinese text, but a user
    # may still say what the file is: --encoding wins over detection
    p = tmp_path / "e.csv"
    p.write_bytes("统一社会信用代码,企业名称,年度\n91330600A,绍兴甲公司,2024\n".encode("gbk"))
    res = prepare_layer("enterprises", p, encoding="gbk", progress=False)
    assert res.frame["name"].tolist() == ["绍兴甲公司"]
    assert "属性编码：按 --encoding 指定为 gbk" in res.report.lines
