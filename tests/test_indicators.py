"""Enterprise indicators and population benchmarks (ratios of sums), checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mujun.geo.errors import InputError
from mujun.geo.indicators import INDICATORS, benchmarks, enterprise_indicators


@pytest.fixture
def firms() -> pd.DataFrame:
    return pd.DataFrame({
        "tax": [300.0, 50.0, -10.0, 80.0],
        "value_added": [1200.0, 400.0, 90.0, None],
        "revenue": [6000.0, 2500.0, 0.0, 900.0],
        "output_value": [7000.0, 2600.0, 100.0, 1000.0],
        "land_mu": [20.0, 8.0, 5.0, 0.0],
        "energy_tce": [400.0, 0.0, 30.0, 10.0],
        "emissions": [0.3, None, 0.05, 1.0],
        "employees": [100.0, 20.0, 6.0, 4.0],
        "rd_expense": [180.0, 25.0, 0.0, 9.0],
        "electricity": [1000.0, 200.0, 40.0, "n/a"],
    })


def test_every_indicator_by_hand(firms):
    got = enterprise_indicators(firms)
    assert list(got.columns) == list(INDICATORS)
    assert got.index.equals(firms.index)
    first = got.iloc[0]
    assert first["tax_per_mu"] == pytest.approx(300 / 20, abs=1e-12)
    assert first["value_added_per_mu"] == pytest.approx(1200 / 20, abs=1e-12)
    assert first["revenue_per_mu"] == pytest.approx(6000 / 20, abs=1e-12)
    assert first["output_per_mu"] == pytest.approx(7000 / 20, abs=1e-12)
    assert first["va_per_energy"] == pytest.approx(1200 / 400, abs=1e-12)
    assert first["va_per_emission"] == pytest.approx(1200 / 0.3, abs=1e-9)
    assert first["labour_productivity"] == pytest.approx(1200 / 100, abs=1e-12)
    assert first["rd_intensity"] == pytest.approx(180 / 6000 * 100, abs=1e-12)  # per cent
    assert first["tax_per_kwh"] == pytest.approx(300 / 1000, abs=1e-12)


def test_undefined_indicators_are_missing_never_inf(firms):
    got = enterprise_indicators(firms)
    assert np.isfinite(got.to_numpy(dtype="float64")[~got.isna().to_numpy()]).all()
    assert math.isnan(got.loc[1, "va_per_energy"])  # energy 0
    assert math.isnan(got.loc[1, "va_per_emission"])  # no emissions record
    assert math.isnan(got.loc[2, "rd_intensity"])  # revenue 0
    assert math.isnan(got.loc[3, "tax_per_mu"])  # land 0
    assert math.isnan(got.loc[3, "value_added_per_mu"])  # no value added
    assert math.isnan(got.loc[3, "tax_per_kwh"])  # electricity not a number
    # a negative tax is a value, not a gap
    assert got.loc[2, "tax_per_mu"] == pytest.approx(-2.0)


def test_selected_keys_and_missing_source_columns():
    f = pd.DataFrame({"tax": [30.0], "land_mu": [3.0]}, index=[7])
    got = enterprise_indicators(f, ["tax_per_mu", "va_per_energy"])
    assert list(got.columns) == ["tax_per_mu", "va_per_energy"]
    assert got.index.tolist() == [7]
    assert got.loc[7, "tax_per_mu"] == 10.0
    assert math.isnan(got.loc[7, "va_per_energy"])  # no value_added, no energy_tce columns


def test_unknown_indicator_is_refused_listing_the_known():
    with pytest.raises(InputError, match="profit_per_mu.*tax_per_mu"):
        enterprise_indicators(pd.DataFrame({"tax": [1.0]}), ["profit_per_mu"])


def test_benchmark_is_ratio_of_sums_not_mean_of_ratios(firms):
    b = benchmarks(firms, ["tax_per_mu", "va_per_energy", "va_per_emission", "rd_intensity", "tax_per_kwh"])
    # land 0 of the fourth firm leaves it out of both sums
    assert b["tax_per_mu"] == pytest.approx((300 + 50 - 10) / (20 + 8 + 5), abs=1e-12)
    mean_of_ratios = (300 / 20 + 50 / 8 - 10 / 5) / 3
    assert abs(b["tax_per_mu"] - mean_of_ratios) > 1  # the two really differ here
    # energy 0 of the second firm: out; the fourth has no value added: out
    assert b["va_per_energy"] == pytest.approx((1200 + 90) / (400 + 30), abs=1e-12)
    # the second has no emissions record: out of numerator and denominator
    assert b["va_per_emission"] == pytest.approx((1200 + 90) / (0.3 + 0.05), abs=1e-9)
    assert b["rd_intensity"] == pytest.approx((180 + 25 + 9) / (6000 + 2500 + 900) * 100, abs=1e-12)
    assert b["tax_per_kwh"] == pytest.approx((300 + 50 - 10) / (1000 + 200 + 40), abs=1e-12)
    assert b.name == "benchmark"


def test_benchmark_of_an_empty_population_is_missing():
    b = benchmarks(pd.DataFrame({"tax": [5.0], "land_mu": [0.0]}), ["tax_per_mu", "va_per_energy"])
    assert b.isna().all()
