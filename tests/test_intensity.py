"""Per-mu indicators: ratios of sums, missing land, enterprise land."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.errors import SchemaError
from mujun.geo.intensity import (
    PER_MU,
    area_missing_reason,
    enterprise_land_mu,
    per_mu,
    per_mu_metrics,
    ratio_of_sums,
    safe_ratio,
)

NEGATIVE = "用地面积为负（出租面积大于自有与租入面积之和）"
UNLINKED = "未关联任何用地（无地块、无租入面积）"


def test_per_mu_indicator_table():
    assert PER_MU == {
        "tax_per_mu": "tax",
        "value_added_per_mu": "value_added",
        "revenue_per_mu": "revenue",
        "output_per_mu": "output_value",
    }


def test_per_mu_divides_and_names():
    out = per_mu(pd.Series([30.0, 45.0, -6.0]), pd.Series([2.0, 3.0, 1.5]), "tax_per_mu")
    assert out.name == "tax_per_mu"
    assert out.tolist() == [15.0, 15.0, -4.0]  # negative tax is a real value


@pytest.mark.parametrize("land", [0.0, -2.0, np.nan, None])
def test_per_mu_without_positive_land_is_nan_never_inf(land):
    out = per_mu(pd.Series([30.0, 10.0]), pd.Series([land, 5.0], dtype="float64"), "tax_per_mu")
    assert np.isnan(out.iloc[0])
    assert out.iloc[1] == 2.0
    assert not np.isinf(out.to_numpy()).any()


def test_per_mu_zero_amount_on_zero_land_is_nan():
    out = per_mu(pd.Series([0.0]), pd.Series([0.0]), "tax_per_mu")
    assert np.isnan(out.iloc[0])


def test_per_mu_keeps_index_and_coerces_text():
    idx = pd.Index(["x", "y"])
    out = per_mu(pd.Series(["12", "oops"], index=idx), pd.Series([4, 2], index=idx))
    assert out.index.equals(idx)
    assert out.iloc[0] == 3.0
    assert np.isnan(out.iloc[1])


def test_safe_ratio_nullable_input():
    out = safe_ratio(pd.Series([1.0, 2.0], dtype="Float64"), pd.Series([pd.NA, 4.0], dtype="Float64"))
    assert np.isnan(out.iloc[0])
    assert out.iloc[1] == 0.5


def test_area_missing_reason():
    land = pd.Series([12.0, 0.0, -1.5, np.nan], index=list("abcd"))
    out = area_missing_reason(land)
    assert out.name == "missing_reason"
    assert out.index.equals(land.index)
    assert pd.isna(out["a"])
    assert out["b"] == "用地面积为0"
    assert out["c"] == NEGATIVE
    assert out["d"] == "缺少用地面积"


def test_area_missing_reason_unlinked_overrides_only_where_land_is_not_positive():
    land = pd.Series([12.0, 0.0, 3.0, -1.0])
    linked = pd.Series([True, False, False, True])
    out = area_missing_reason(land, linked=linked)
    assert pd.isna(out[0])
    assert out[1] == UNLINKED
    assert pd.isna(out[2])  # land without a link (cannot happen upstream) is not flagged
    assert out[3] == NEGATIVE


def test_per_mu_missing_exactly_where_a_reason_is_given():
    land = pd.Series([10.0, 0.0, -3.0, np.nan, 0.5])
    value = per_mu(pd.Series([50.0] * 5), land)
    reason = area_missing_reason(land)
    assert (value.isna() == reason.notna()).all()


def test_enterprise_land_is_owned_plus_leased_in_minus_leased_out():
    ent = pd.DataFrame(
        {
            "credit_code": ["A", "B", "C", "D", "E", "F"],
            "leased_in_mu": [None, 12.5, 0.0, 8.0, None, "3"],
            "leased_out_mu": [2.0, None, 0.0, None, 9.0, 0.0],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    owned = pd.Series({"A": 30.0, "B": 20.0, "E": 6.0, "F": 1.0, "Z": 99.0})
    out = enterprise_land_mu(ent, owned)
    assert out.index.equals(ent.index)
    assert list(out.columns) == ["owned_mu", "leased_in_mu", "leased_out_mu", "land_mu", "parcel_linked"]
    assert out["owned_mu"].tolist() == [30.0, 20.0, 0.0, 0.0, 6.0, 1.0]
    assert out["leased_in_mu"].tolist() == [0.0, 12.5, 0.0, 8.0, 0.0, 3.0]
    assert out["leased_out_mu"].tolist() == [2.0, 0.0, 0.0, 0.0, 9.0, 0.0]
    assert out["land_mu"].tolist() == [28.0, 32.5, 0.0, 8.0, -3.0, 4.0]
    # linked: holds parcels or leases land in
    assert out["parcel_linked"].tolist() == [True, True, False, True, True, True]


def test_enterprise_land_without_lease_columns():
    ent = pd.DataFrame({"credit_code": ["A", "B"]})
    out = enterprise_land_mu(ent, pd.Series({"A": 7.5}))
    assert out["land_mu"].tolist() == [7.5, 0.0]
    assert out["parcel_linked"].tolist() == [True, False]


def test_enterprise_land_requires_credit_code():
    with pytest.raises(SchemaError, match="credit_code"):
        enterprise_land_mu(pd.DataFrame({"name": ["甲"]}), pd.Series(dtype="float64"))


def test_per_mu_metrics_only_for_present_amounts():
    f = pd.DataFrame(
        {"tax": [30.0, 8.0], "revenue": [600.0, 100.0], "land_mu": [2.0, 0.0]}, index=["p", "q"]
    )
    out = per_mu_metrics(f)
    assert list(out.columns) == ["tax_per_mu", "revenue_per_mu"]
    assert out.index.equals(f.index)
    assert out.loc["p"].tolist() == [15.0, 300.0]
    assert out.loc["q"].isna().all()


def test_per_mu_metrics_other_land_column():
    f = pd.DataFrame({"output_value": [900.0], "value_added": [300.0], "mu": [3.0]})
    out = per_mu_metrics(f, land="mu")
    assert out.to_dict("records") == [{"value_added_per_mu": 100.0, "output_per_mu": 300.0}]


@pytest.fixture
def firms() -> pd.DataFrame:
    # park A: 10 mu paying 10 and 30 mu paying 90 -> 100 / 40 = 2.5 (mean of ratios: 2.0)
    # park B: 5 mu paying 50, 15 mu paying 15, 0 mu paying 7 -> 65 / 20 = 3.25 (mean: 5.5)
    return pd.DataFrame(
        {
            "park": ["A", "A", "B", "B", "B", None],
            "tax": [10.0, 90.0, 50.0, 15.0, 7.0, 1000.0],
            "revenue": [100.0, 300.0, 40.0, 60.0, 9.0, 1.0],
            "mu": [10.0, 30.0, 5.0, 15.0, 0.0, 1.0],
        }
    )


def test_ratio_of_sums_is_sum_over_sum(firms):
    out = ratio_of_sums(firms, "park", ["tax", "revenue"], "mu")
    assert out.index.tolist() == ["A", "B"]  # rows without a group are left out
    assert out.loc["A", "tax"] == 100.0
    assert out.loc["A", "mu"] == 40.0
    assert out.loc["A", "tax_per_mu"] == pytest.approx(100.0 / 40.0)
    assert out.loc["B", "tax_per_mu"] == pytest.approx(65.0 / 20.0)
    assert out.loc["B", "revenue_per_mu"] == pytest.approx(100.0 / 20.0)
    # …which is not the mean of the firms' ratios
    ratios = firms["tax"] / firms["mu"].where(firms["mu"] > 0)
    mean_of_ratios = ratios.groupby(firms["park"]).mean()
    assert mean_of_ratios["A"] == pytest.approx(2.0)
    assert out.loc["A", "tax_per_mu"] != pytest.approx(mean_of_ratios["A"])
    assert out.loc["B", "tax_per_mu"] != pytest.approx(mean_of_ratios["B"])


def test_ratio_of_sums_leaves_rows_without_land_out_of_both_sums(firms):
    out = ratio_of_sums(firms, "park", ["tax"], "mu")
    assert out.loc["B", "tax"] == 65.0  # not 72: the 0-mu firm's tax is not counted
    assert out.loc["B", "mu"] == 20.0


def test_ratio_of_sums_group_without_land_is_nan_not_inf():
    f = pd.DataFrame({"park": ["A", "B", "B"], "tax": [5.0, 3.0, 4.0], "mu": [1.0, 0.0, -2.0]})
    out = ratio_of_sums(f, "park", ["tax"], "mu")
    assert out.loc["A", "tax_per_mu"] == 5.0
    assert np.isnan(out.loc["B", "tax_per_mu"])
    assert out.loc["B", "mu"] == 0.0
    assert not np.isinf(out.to_numpy()).any()


def test_ratio_of_sums_missing_amount_does_not_dilute():
    # a 规下 firm without value added must not add its land to the value-added denominator:
    # Σ value_added / Σ mu over the firms whose value added is known = 400 / 10
    f = pd.DataFrame(
        {"park": ["A", "A"], "tax": [40.0, 30.0], "value_added": [400.0, np.nan], "mu": [10.0, 30.0]}
    )
    out = ratio_of_sums(f, "park", ["tax", "value_added"], "mu")
    assert out.loc["A", "tax_per_mu"] == pytest.approx(70.0 / 40.0)
    assert out.loc["A", "value_added_per_mu"] == pytest.approx(400.0 / 10.0)
    assert out.loc["A", "mu"] == 40.0


def test_ratio_of_sums_requires_columns(firms):
    with pytest.raises(SchemaError, match="value_added"):
        ratio_of_sums(firms, "park", ["tax", "value_added"], "mu")


def test_ratio_of_sums_of_no_rows():
    f = pd.DataFrame({"park": pd.Series([], dtype="string"), "tax": pd.Series([], dtype="float64"),
                      "mu": pd.Series([], dtype="float64")})
    out = ratio_of_sums(f, "park", ["tax"], "mu")
    assert len(out) == 0
    assert {"mu", "tax", "tax_per_mu"} <= set(out.columns)


def test_ratio_of_sums_all_amounts_missing_in_a_group():
    f = pd.DataFrame({"park": ["A", "B"], "value_added": [np.nan, 20.0], "mu": [10.0, 4.0]})
    out = ratio_of_sums(f, "park", ["value_added"], "mu")
    assert np.isnan(out.loc["A", "value_added_per_mu"])
    assert out.loc["B", "value_added_per_mu"] == 5.0
