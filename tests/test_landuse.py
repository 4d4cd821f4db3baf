"""Land-use control ratios (国土资发〔2008〕24号): plot ratio, building coefficient, admin share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.landuse import (
    admin_footprint_m2,
    admin_share,
    building_coefficient,
    counted_floor_area_m2,
    investment_intensity,
    is_industrial,
    plot_ratio,
)


def _floor(rows: list[dict], footprints: list[float]) -> list[float]:
    b = pd.DataFrame(rows)
    return counted_floor_area_m2(b, pd.Series(footprints, index=b.index)).tolist()


def test_single_storey_above_8m_counts_twice():
    # a 1-storey 12 m workshop of 1000 m² counts 2000 m²
    assert _floor([{"floors": 1, "height": 12.0, "use": "生产"}], [1000.0]) == [2000.0]


def test_multi_storey_with_low_storeys_does_not_double():
    # 3 storeys in 12 m: 4 m each -> 3 × 1000
    assert _floor([{"floors": 3, "height": 12.0, "use": "生产"}], [1000.0]) == [3000.0]


def test_exactly_8m_storey_is_not_doubled():
    # only a storey *higher* than 8 m counts twice
    assert _floor([{"floors": 2, "height": 16.0, "use": "仓储"}], [500.0]) == [1000.0]
    assert _floor([{"floors": 2, "height": 16.2, "use": "仓储"}], [500.0]) == [2000.0]


def test_recorded_floor_area_preferred_over_footprint_times_floors():
    rows = [
        {"floors": 3, "height": 12.0, "floor_area_m2": 2500.0, "use": "生产"},
        {"floors": 3, "height": 12.0, "floor_area_m2": np.nan, "use": "生产"},
        {"floors": 3, "height": 12.0, "floor_area_m2": 0.0, "use": "生产"},  # 0 = not recorded
    ]
    assert _floor(rows, [1000.0, 1000.0, 1000.0]) == [2500.0, 3000.0, 3000.0]


def test_recorded_floor_area_of_a_high_single_storey_still_doubles():
    rows = [{"floors": 1, "height": 9.0, "floor_area_m2": 1200.0, "use": "生产"}]
    assert _floor(rows, [1000.0]) == [2400.0]


@pytest.mark.parametrize("use", ["构筑物", "堆场", "露天堆场"])
def test_structures_and_yards_have_no_floor_area(use):
    rows = [{"floors": 1, "height": 20.0, "floor_area_m2": 300.0, "use": use}]
    assert _floor(rows, [800.0]) == [0.0]


def test_unknown_floors_and_height_count_one_storey():
    rows = [{"floors": None, "height": None, "use": "仓储"}, {"floors": 0, "height": None, "use": None}]
    assert _floor(rows, [640.0, 50.0]) == [640.0, 50.0]


def test_floor_area_without_optional_columns():
    b = pd.DataFrame(index=[4, 9])
    out = counted_floor_area_m2(b, pd.Series([100.0, 250.0], index=[4, 9]))
    assert out.name == "counted_floor_area_m2"
    assert out.index.tolist() == [4, 9]
    assert out.tolist() == [100.0, 250.0]


def test_text_numbers_are_read():
    rows = [{"floors": "2", "height": "20", "use": "生产"}]  # 10 m storeys
    assert _floor(rows, [100.0]) == [400.0]


def test_plot_ratio_of_a_parcel():
    # 10 000 m² parcel: 1-storey 12 m workshop 2000 m² (counts 4000), 3-storey office 500 m²
    # (1500), a 600 m² yard (0) -> 5500 / 10000
    b = pd.DataFrame(
        {"floors": [1, 3, None], "height": [12.0, 12.0, None], "use": ["生产", "办公", "堆场"]}
    )
    fp = pd.Series([2000.0, 500.0, 600.0])
    floor = counted_floor_area_m2(b, fp)
    parcel = pd.Series([10000.0])
    assert plot_ratio(pd.Series([floor.sum()]), parcel).tolist() == [pytest.approx(0.55)]
    # the yard counts in the building coefficient but not in the floor area
    assert building_coefficient(pd.Series([fp.sum()]), parcel).tolist() == [pytest.approx(0.31)]
    # the office is the admin footprint
    admin = admin_footprint_m2(b, fp)
    assert admin.tolist() == [0.0, 500.0, 0.0]
    assert admin_share(pd.Series([admin.sum()]), parcel).tolist() == [pytest.approx(0.05)]


@pytest.mark.parametrize(
    ("use", "admin"),
    [("办公", True), ("生活", True), ("宿舍", True), ("食堂", True), ("办公楼", True),
     ("生产", False), ("仓储", False), ("构筑物", False), ("堆场", False), (None, False)],
)
def test_admin_uses(use, admin):
    b = pd.DataFrame({"use": [use]})
    out = admin_footprint_m2(b, pd.Series([120.0]))
    assert out.name == "admin_footprint_m2"
    assert out.tolist() == [120.0 if admin else 0.0]


def test_admin_footprint_without_use_column_is_zero():
    out = admin_footprint_m2(pd.DataFrame(index=[0, 1]), pd.Series([10.0, 20.0]))
    assert out.tolist() == [0.0, 0.0]


def test_ratios_are_named_and_nan_without_parcel_area():
    area = pd.Series([20000.0, 0.0, np.nan])
    pr = plot_ratio(pd.Series([30000.0, 100.0, 100.0]), area)
    bc = building_coefficient(pd.Series([8000.0, 100.0, 100.0]), area)
    ad = admin_share(pd.Series([1000.0, 100.0, 100.0]), area)
    assert (pr.name, bc.name, ad.name) == ("plot_ratio", "building_coefficient", "admin_share")
    assert pr.iloc[0] == 1.5 and bc.iloc[0] == 0.4 and ad.iloc[0] == 0.05
    for s in (pr, bc, ad):
        assert s.iloc[1:].isna().all()


def test_investment_intensity():
    out = investment_intensity(pd.Series([5400.0, 3000.0, None, 100.0]), pd.Series([20.0, 15.0, 10.0, 0.0]))
    assert out.name == "investment_intensity"
    assert out.iloc[0] == 270.0
    assert out.iloc[1] == 200.0
    assert out.iloc[2:].isna().all()


@pytest.mark.parametrize(
    ("land_use", "code", "industrial"),
    [
        ("工业用地", None, True),
        ("工矿仓储用地", None, True),
        ("二类工业用地", None, True),
        ("商业用地", None, False),
        ("住宅用地", None, False),
        (None, "0601", True),      # GB/T 21010-2017 工业用地
        (None, "061", True),       # GB/T 21010-2007 工业用地
        (None, "100101", True),    # 国土空间调查 2020: 一类工业用地
        (None, "1001", True),
        (None, "M1", True),        # planning class
        (None, " m2 ", True),      # case and spaces ignored
        (None, "0602", False),     # 采矿用地
        (None, "1002", False),     # 采矿用地
        (None, "05", False),       # 商服用地
        (None, "0701", False),     # 住宅
        ("商业用地", "0601", True),  # either source can say industrial
        (None, None, True),        # unknown: the parcel layer is the industrial inventory
    ],
)
def test_is_industrial(land_use, code, industrial):
    p = pd.DataFrame({"land_use": [land_use], "land_class_code": [code]}, dtype="object")
    out = is_industrial(p)
    assert out.name == "industrial"
    assert out.dtype == bool
    assert out.tolist() == [industrial]


def test_is_industrial_with_one_or_no_column():
    assert is_industrial(pd.DataFrame({"land_use": ["工业", "商业", None]})).tolist() == [True, False, True]
    assert is_industrial(pd.DataFrame({"land_class_code": ["0601", "05"]})).tolist() == [True, False]
    assert is_industrial(pd.DataFrame(index=["a", "b"])).tolist() == [True, True]


def test_is_industrial_keeps_index():
    p = pd.DataFrame({"land_use": ["工业用地", "商业用地"]}, index=["P7", "P3"])
    assert is_industrial(p).index.tolist() == ["P7", "P3"]
