"""Rankings: ties share a rank, missing values last and unranked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from mujun.geo.errors import InputError
from mujun.geo.ranking import numeric_fields, ranked


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["甲", "乙", "丙", "丁", "戊", "己"],
            "tax_per_mu": [10.0, 30.0, np.nan, 30.0, 5.0, 20.0],
            "parcel_count": [1, 2, 3, 4, 5, 6],
            "above_scale": [True, False, True, True, False, True],
            "year": [2023] * 6,
        },
        index=[101, 102, 103, 104, 105, 106],
    )


def _reference_rank(values: pd.Series, ascending: bool) -> dict:
    """Competition ('min') ranking by scipy, NaN left unranked."""
    v = values.dropna()
    r = rankdata(v if ascending else -v, method="min")
    return dict(zip(v.index, r.astype(int).tolist(), strict=True))


def test_descending_ties_share_rank_and_nan_last(frame):
    out = ranked(frame, "tax_per_mu")
    assert out["name"].tolist() == ["乙", "丁", "己", "甲", "戊", "丙"]
    assert out["rank"].tolist()[:5] == [1, 1, 3, 4, 5]
    assert pd.isna(out["rank"].iloc[-1])
    assert out.index.tolist() == [102, 104, 106, 101, 105, 103]  # rows keep their labels
    assert out["rank"].dropna().to_dict() == _reference_rank(frame["tax_per_mu"], ascending=False)


def test_ascending(frame):
    out = ranked(frame, "tax_per_mu", ascending=True)
    assert out["name"].tolist() == ["戊", "甲", "己", "乙", "丁", "丙"]
    assert out["rank"].tolist()[:5] == [1, 2, 3, 4, 4]
    assert pd.isna(out["rank"].iloc[-1])
    assert out["rank"].dropna().to_dict() == _reference_rank(frame["tax_per_mu"], ascending=True)


def test_rank_is_nullable_integer(frame):
    out = ranked(frame, "tax_per_mu")
    assert str(out["rank"].dtype) == "Int64"
    assert out["rank"].isna().sum() == 1


@pytest.mark.parametrize(("top", "names"), [(1, ["乙"]), (3, ["乙", "丁", "己"]), (0, []), (99, None)])
def test_top_n(frame, top, names):
    out = ranked(frame, "tax_per_mu", top=top)
    if names is None:
        assert len(out) == len(frame)
    else:
        assert out["name"].tolist() == names


def test_ranks_are_computed_before_cutting_the_top(frame):
    out = ranked(frame, "tax_per_mu", ascending=True, top=2)
    assert out["rank"].tolist() == [1, 2]


def test_integer_field_and_all_distinct(frame):
    out = ranked(frame, "parcel_count")
    assert out["parcel_count"].tolist() == [6, 5, 4, 3, 2, 1]
    assert out["rank"].tolist() == [1, 2, 3, 4, 5, 6]


def test_all_missing_values():
    f = pd.DataFrame({"v": [np.nan, np.nan]})
    out = ranked(f, "v")
    assert out["rank"].isna().all()
    assert len(out) == 2


def test_nullable_float_column():
    f = pd.DataFrame({"v": pd.array([2.0, pd.NA, 7.0], dtype="Float64")}, index=list("xyz"))
    out = ranked(f, "v")
    assert out.index.tolist() == ["z", "x", "y"]
    assert out["rank"].tolist()[:2] == [1, 2]
    assert pd.isna(out["rank"].iloc[2])


def test_input_is_not_modified(frame):
    before = frame.copy()
    ranked(frame, "tax_per_mu", top=2)
    pd.testing.assert_frame_equal(frame, before)
    assert "rank" not in frame.columns


@pytest.mark.parametrize("field", ["no_such_field", "name", "above_scale", "year"])
def test_unknown_or_unrankable_field_raises_input_error_listing_fields(frame, field):
    with pytest.raises(InputError) as err:
        ranked(frame, field)
    msg = str(err.value)
    assert field in msg
    assert "tax_per_mu" in msg and "parcel_count" in msg


def test_numeric_fields(frame):
    assert numeric_fields(frame) == ["tax_per_mu", "parcel_count"]
    assert numeric_fields(frame.assign(rank=1)) == ["tax_per_mu", "parcel_count"]
    assert numeric_fields(frame, exclude=()) == ["tax_per_mu", "parcel_count", "year"]
