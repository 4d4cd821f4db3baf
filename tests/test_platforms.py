"""万亩千亿 platform assessment (mujun.geo.platforms) on a hand-built example.

    platform PF1 (district D1, planned 12 000 mu, target 2000 亿元, lead 3973,3989):
      Q1 3973  100 mu  built   output 4 000 000 万元 = 400 亿   tax 50 000
      Q2 3989  200 mu  built   output 3 000 000 = 300 亿 (150 mu worked)  tax 30 000
      Q3 3824   50 mu  built   output 1 000 000 = 100 亿   tax 20 000
      Q4        300 mu  unsupplied (no holder, no transfer date)
      Q5         80 mu  supplied, unbuilt, idle
      Q6         20 mu  transferred (no holder code), unbuilt
    outside, D1: O1 evaluated 50 mu, output 100 000, tax 2000; O2 not evaluated
    PF2 (D2, no planned figure -> zone area 9000 mu, no target, no lead codes): R1
    PF3 (D2, lead "3973、3989"): R2 3973 output 8000, R3 1711 output 2000 -> share exactly 80 %
    outside, D2: O3 evaluated 30 mu, output 60 000, tax 600
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.platforms import GUIDE_LEAD_SHARE, GUIDE_MU, GUIDE_OUTPUT_YI, platform_assessment


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({
        "platform_id": ["PF1", "PF2", "PF3"],
        "name": ["智能汽车平台", "新材料平台", "电子平台"],
        "lead_industry": ["智能汽车", "新材料", "电子信息"],
        "planned_mu": [12000.0, np.nan, 10000.0],
        "zone_area_mu": [11000.0, 9000.0, 9500.0],
        "target_output": [2000.0, np.nan, 0.5],
        "target_year": [2025, 2026, 2027],
        "lead_industry_codes": ["3973,3989", None, "3973、3989"],
    })


@pytest.fixture
def parcels() -> pd.DataFrame:
    rows = [
        # id    platform district holder transfer      bldg  industry output      tax      area   ev_mu  evaluated
        ("Q1", "PF1", "D1", "A", "2019-01-01", 3, "3973", 4_000_000.0, 50_000.0, 100.0, 100.0, True),
        ("Q2", "PF1", "D1", "B", "2019-01-01", 2, "3989", 3_000_000.0, 30_000.0, 200.0, 150.0, True),
        ("Q3", "PF1", "D1", "C", None, 1, "3824", 1_000_000.0, 20_000.0, 50.0, 50.0, True),
        ("Q4", "PF1", "D1", None, None, 0, None, np.nan, np.nan, 300.0, 0.0, False),
        ("Q5", "PF1", "D1", "D", "2021-05-01", 0, None, np.nan, np.nan, 80.0, 0.0, False),
        ("Q6", "PF1", "D1", None, "2022-05-01", 0, None, np.nan, np.nan, 20.0, 0.0, False),
        ("O1", None, "D1", "E", None, 1, "1711", 100_000.0, 2000.0, 50.0, 50.0, True),
        ("O2", None, "D1", "F", None, 1, "1711", np.nan, np.nan, 40.0, 0.0, False),
        ("R1", "PF2", "D2", "G", None, 1, "3011", 50_000.0, 500.0, 20.0, 20.0, True),
        ("R2", "PF3", "D2", "H", None, 1, "3973", 8000.0, 80.0, 10.0, 10.0, True),
        ("R3", "PF3", "D2", "I", None, 1, "1711", 2000.0, 20.0, 10.0, 10.0, True),
        ("O3", None, "D2", "J", None, 1, "1711", 60_000.0, 600.0, 30.0, 30.0, True),
    ]
    cols = ["parcel_id", "platform_id", "district_id", "holder_code", "transfer_date", "building_count",
            "industry_code", "output_value", "tax", "area_mu", "evaluated_mu", "evaluated"]
    p = pd.DataFrame(rows, columns=cols)
    p["transfer_date"] = pd.to_datetime(p["transfer_date"])
    return p


@pytest.fixture
def assessment(summary, parcels) -> pd.DataFrame:
    idle = parcels["parcel_id"].eq("Q5")
    return platform_assessment(summary, parcels, idle).set_index("platform_id")


def test_guides():
    assert (GUIDE_MU, GUIDE_OUTPUT_YI, GUIDE_LEAD_SHARE) == (10_000.0, 1000.0, 0.80)


def test_output_against_the_guide_and_the_target(assessment):
    pf1 = assessment.loc["PF1"]
    assert pf1["name"] == "智能汽车平台" and pf1["lead_industry"] == "智能汽车"
    assert pf1["planned_mu"] == 12000.0
    assert pf1["planned_vs_guide"] == pytest.approx(12000 / 10000)
    assert pf1["output_yi"] == pytest.approx((4_000_000 + 3_000_000 + 1_000_000) / 1e4)  # 800 亿元
    assert pf1["gap_to_guide_yi"] == pytest.approx(1000 - 800)
    assert pf1["output_vs_guide"] == pytest.approx(0.8)
    assert pf1["target_output_yi"] == 2000.0 and pf1["target_year"] == 2025
    assert pf1["gap_to_target_yi"] == pytest.approx(2000 - 800)


def test_lead_industry_share(assessment):
    pf1 = assessment.loc["PF1"]
    assert pf1["lead_output_yi"] == pytest.approx((4_000_000 + 3_000_000) / 1e4)
    assert pf1["lead_share"] == pytest.approx(700 / 800)
    assert pf1["lead_share_ok"] is True
    pf3 = assessment.loc["PF3"]  # codes separated by 、
    assert pf3["lead_share"] == pytest.approx(0.8)
    assert pf3["lead_share_ok"] is False  # must be above 80 %, not equal
    pf2 = assessment.loc["PF2"]
    assert np.isnan(pf2["lead_share"]) and np.isnan(pf2["lead_output_yi"])
    assert pd.isna(pf2["lead_share_ok"])


def test_land_supply_and_use(assessment):
    pf1 = assessment.loc["PF1"]
    assert pf1["parcel_mu"] == 750.0
    assert pf1["supplied_mu"] == 100 + 200 + 50 + 80 + 20  # a holder code or a transfer date
    assert pf1["unsupplied_mu"] == 300.0
    assert pf1["built_mu"] == 350.0
    assert pf1["unbuilt_supplied_mu"] == 80 + 20
    assert pf1["idle_mu"] == 80.0
    assert pf1["supplied_mu"] + pf1["unsupplied_mu"] == pf1["parcel_mu"]


def test_inside_versus_outside_in_the_same_district(assessment):
    pf1 = assessment.loc["PF1"]
    assert pf1["district_id"] == "D1"
    assert pf1["output_per_mu"] == pytest.approx(8_000_000 / (100 + 150 + 50))
    assert pf1["tax_per_mu"] == pytest.approx(100_000 / 300)
    # only O1: O2 has no figures, D2 parcels are another district
    assert pf1["outside_output_per_mu"] == pytest.approx(100_000 / 50)
    assert pf1["outside_tax_per_mu"] == pytest.approx(2000 / 50)
    # the rest of D2 includes parcels of other platforms
    pf3 = assessment.loc["PF3"]
    assert pf3["district_id"] == "D2"
    assert pf3["outside_output_per_mu"] == pytest.approx((60_000 + 50_000) / (30 + 20))
    assert pf3["outside_tax_per_mu"] == pytest.approx((600 + 500) / 50)


def test_platform_without_planned_figure_or_target(assessment):
    pf2 = assessment.loc["PF2"]
    assert pf2["planned_mu"] == 9000.0  # the zone's own area
    assert pf2["planned_vs_guide"] == pytest.approx(0.9)
    assert np.isnan(pf2["target_output_yi"]) and np.isnan(pf2["gap_to_target_yi"])
    assert pf2["output_yi"] == pytest.approx(5.0)


def test_target_already_reached_has_no_gap(assessment):
    pf3 = assessment.loc["PF3"]
    assert pf3["output_yi"] == pytest.approx(1.0)
    assert pf3["gap_to_target_yi"] == 0.0  # target 0.5 亿元 already passed


def test_one_row_per_platform(assessment, summary):
    assert assessment.index.tolist() == summary["platform_id"].tolist()
