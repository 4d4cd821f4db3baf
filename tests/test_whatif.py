"""What-if gains (mujun.geo.whatif): flagged parcels brought up to their peers' median, by hand.

Enterprises (亩均税收 / 亩均增加值, 万元/亩):

    D1 17xx: 10/40, 20/100, 60/150, (no figures)     -> median 20 / 100
    D1 38xx: 40/300                                  -> median 40 / 300
    D1 all:  10, 20, 40, 60 / 40, 100, 150, 300      -> median 30 / 125
    D2 17xx: 5/30, 7/50                              -> median 6 / 40 (also D2's)
    (no district): 1000/2000                         -> only in the overall median
    overall: 5 7 10 20 40 60 1000 / 30 40 50 100 150 300 2000 -> 20 / 100
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.whatif import peer_medians, whatif_gains


@pytest.fixture
def enterprises() -> pd.DataFrame:
    return pd.DataFrame({
        "credit_code": list("abcdefgh"),
        "district_id": ["D1", "D1", "D1", "D1", "D1", "D2", "D2", None],
        "industry_code": ["1711", "1752", "1790", "1721", "3824", "1711", "1762", "3911"],
        "tax_per_mu": [10.0, 20.0, 60.0, np.nan, 40.0, 5.0, 7.0, 1000.0],
        "value_added_per_mu": [40.0, 100.0, 150.0, np.nan, 300.0, 30.0, 50.0, 2000.0],
    })


@pytest.fixture
def parcels() -> pd.DataFrame:
    return pd.DataFrame({
        "parcel_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
        "district_id": ["D1", "D1", "D3", "D1", "D2", "D2", "D1"],
        "industry_code": ["1751", "2611", "1711", "1711", "1711", None, "1790"],
        "tax_per_mu": [5.0, 10.0, 0.0, 25.0, 1.0, np.nan, 5.0],
        "value_added_per_mu": [50.0, 200.0, 10.0, 90.0, 10.0, np.nan, 100.0],
        "area_mu": [10.0, 8.0, 5.0, 10.0, 10.0, 20.0, 10.0],
        "evaluated_mu": [10.0, 8.0, 0.0, 10.0, 10.0, 0.0, 4.0],
    })


FLAGGED = [True, True, True, True, False, True, True]


def test_peer_medians(enterprises):
    by_pair, by_district, overall = peer_medians(enterprises, "tax_per_mu")
    assert by_pair.to_dict() == {("D1", "17"): 20.0, ("D1", "38"): 40.0, ("D2", "17"): 6.0}
    assert by_district.to_dict() == {"D1": 30.0, "D2": 6.0}
    assert overall == 20.0


def test_gains_by_hand(parcels, enterprises):
    got = whatif_gains(parcels, enterprises, pd.Series(FLAGGED))
    assert got.index.equals(parcels.index)
    # targets: pair, else district, else overall
    assert got["target_tax_per_mu"].tolist() == [20.0, 30.0, 20.0, 20.0, 6.0, 6.0, 20.0]
    assert got["target_value_added_per_mu"].tolist() == [100.0, 125.0, 100.0, 100.0, 40.0, 40.0, 100.0]
    assert got["tax_gain"].tolist() == pytest.approx([
        (20 - 5) * 10,  # P1: D1 / 17
        (30 - 10) * 8,  # P2: no 26 peers in D1 -> D1's median
        (20 - 0) * 5,  # P3: D3 has no enterprises -> overall; no evaluated land -> its area
        0.0,  # P4: above its target
        0.0,  # P5: not flagged
        (6 - 0) * 20,  # P6: no figures start from 0; no industry -> D2's median
        (20 - 5) * 4,  # P7: only the 4 mu it works count
    ])
    assert got["value_added_gain"].tolist() == pytest.approx([
        (100 - 50) * 10, 0.0, (100 - 10) * 5, (100 - 90) * 10, 0.0, 40 * 20, 0.0])


def test_no_flag_no_gain_and_never_negative(parcels, enterprises):
    none = whatif_gains(parcels, enterprises, pd.Series([False] * len(parcels)))
    assert (none[["tax_gain", "value_added_gain"]] == 0).all().all()
    every = whatif_gains(parcels, enterprises, pd.Series([True] * len(parcels)))
    assert (every[["tax_gain", "value_added_gain"]] >= 0).all().all()
    assert every.loc[4, "tax_gain"] == pytest.approx((6 - 1) * 10)  # P5 once flagged


def test_measures_without_enterprise_figures_are_skipped(parcels, enterprises):
    got = whatif_gains(parcels, enterprises.drop(columns="value_added_per_mu"), pd.Series(FLAGGED))
    assert list(got.columns) == ["target_tax_per_mu", "tax_gain"]
    assert whatif_gains(parcels, enterprises.drop(columns="district_id"), pd.Series(FLAGGED)).columns.empty
