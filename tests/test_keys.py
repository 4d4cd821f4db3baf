"""Tests for mujun.geo._keys: Arrow key matching gives what pandas' isin, map and reindex give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mujun.geo._keys import (
    Coded,
    first_rows,
    isin,
    lookup,
    lookup_rows,
    number_text,
    positions,
    rows_at,
)


@pytest.fixture
def keys() -> pd.Series:
    rng = np.random.default_rng(11)
    values = [None if v % 17 == 0 else f"P{v:05d}" for v in rng.integers(0, 3000, 5000)]
    return pd.Series(values, dtype="string", index=rng.permutation(5000) + 100)


def test_isin_equals_pandas(keys):
    wanted = pd.Series([f"P{v:05d}" for v in range(0, 3000, 7)], dtype="string")
    assert (isin(keys, wanted) == keys.isin(wanted).fillna(False).to_numpy(dtype=bool)).all()
    assert isin(keys, []).sum() == 0
    assert isin(pd.Series([1, 2, 3]), pd.Index(["2"])).tolist() == [False, True, False]  # ids as text


@pytest.mark.parametrize("dtype", ["float64", "string", "int64", "bool"])
def test_lookup_equals_map(keys, dtype):
    index = pd.Index([f"P{v:05d}" for v in range(0, 3000, 3)], dtype="string")
    raw = np.arange(len(index))
    values = {"float64": raw * 1.5, "string": [f"v{v}" for v in raw], "int64": raw, "bool": raw % 2 == 0}[dtype]
    mapping = pd.Series(values, index=index, dtype=dtype if dtype != "string" else "string")
    got = lookup(keys, mapping)
    expected = keys.map(mapping)
    assert got.index.equals(keys.index)
    assert got.isna().tolist() == expected.isna().tolist()
    assert got.dropna().astype(str).tolist() == expected.dropna().astype(str).tolist()


def test_first_rows_equals_positions(keys):
    """One hash over both gives what two lookups give: duplicates, missing keys, chunked
    others, keys not among the rows."""
    others = pa.chunked_array([pa.array(keys.iloc[::3], from_pandas=True).cast(pa.string()),
                               pa.array(["P99999", None, *keys.iloc[1::5].dropna()], pa.string())])
    first, at = first_rows(keys, others)
    assert first.tolist() == positions(keys, keys).tolist()
    assert at.tolist() == positions(others, keys).tolist()
    assert (first[keys.isna().to_numpy()] == -1).all() and (at == -1).any()
    unique = pd.Series(["c", "a", "b"], dtype="string")
    assert [x.tolist() for x in first_rows(unique, [])] == [[0, 1, 2], []]
    assert [x.tolist() for x in first_rows(pd.Series([], dtype="string"), ["a"])] == [[], [-1]]


def test_coded_keys_give_what_lookups_and_group_bys_give(keys):
    """Hashed once, the keys give the positions, sums, counts and first rows that looking each
    up and grouping by the text give (missing keys in none; each key's sum in its rows' order)."""
    coded = Coded(keys)
    index = pd.Index([f"P{v:05d}" for v in range(0, 3000, 3)], dtype="string")
    assert coded.positions(index).tolist() == positions(keys, index).tolist()
    assert coded.first_rows().tolist() == positions(keys, keys).tolist()
    assert coded.index.dtype == keys.dtype and coded.index.is_unique and not coded.index.hasnans
    values = pd.Series(np.random.default_rng(3).random(len(keys)) * 1e6 / 3, index=keys.index, name="area_mu")
    sums = coded.sums(values)
    expected = values.groupby(keys).sum()
    assert sums.name == "area_mu"
    pd.testing.assert_series_equal(sums.sort_index(), expected, check_index_type=False, check_names=False)
    pd.testing.assert_series_equal(coded.counts().sort_index(), keys.groupby(keys).size(), check_index_type=False,
                                   check_names=False, check_dtype=False)
    frame = pd.DataFrame({"n": np.arange(len(index)) * 1.5, "c": [f"v{v}" for v in range(len(index))]}, index=index)
    pd.testing.assert_frame_equal(rows_at(frame, coded.positions(index), keys.index), lookup_rows(keys, frame))
    none = Coded(pd.Series([None, None], dtype="string"))
    assert none.codes.tolist() == [-1, -1] and none.first_rows().tolist() == [-1, -1] and none.counts().empty
    assert none.sums(pd.Series([1.0, 2.0])).empty and none.positions(index).tolist() == [-1, -1]
    assert Coded(pd.Series([], dtype="string")).first_rows().tolist() == []


def test_positions_first_occurrence_and_missing():
    assert positions(["b", "a", None, "z"], ["a", "b", "a"]).tolist() == [1, 0, -1, -1]
    assert lookup(pd.Series(["a"]), pd.Series([], dtype="int64")).isna().all()


def _typed_frame(index: pd.Index) -> pd.DataFrame:
    """One column of each dtype the results carry, with missing values."""
    n = len(index)
    raw = np.arange(n)
    return pd.DataFrame({
        "float": np.where(raw % 5 == 0, np.nan, raw * 1.5), "int": raw, "bool": raw % 2 == 0,
        "boolean": pd.array([None if v % 7 == 0 else bool(v % 2) for v in raw], dtype="boolean"),
        "Int64": pd.array([None if v % 7 == 0 else int(v) for v in raw], dtype="Int64"),
        "string": pd.array([None if v % 3 == 0 else f"v{v}" for v in raw], dtype="string"),
        "str": pd.Series([None if v % 4 == 0 else f"s{v}" for v in raw], dtype="str").to_numpy(),
        "date": pd.to_datetime(["2020-01-01" if v % 6 else None for v in raw]),
    }, index=index)


@pytest.mark.parametrize("rows", [1000, 0])
def test_lookup_rows_equals_reindex(keys, rows):
    index = pd.Index([f"P{v:05d}" for v in range(0, 3 * rows, 3)], dtype="string")
    frame = _typed_frame(index)
    expected = frame.reindex(keys.to_numpy())
    expected.index = keys.index
    pd.testing.assert_frame_equal(lookup_rows(keys, frame), expected)
    every = pd.Series(index[::-1], index=np.arange(rows) + 7)  # every key found: nothing made missing
    expected = frame.reindex(every.to_numpy())
    expected.index = every.index
    pd.testing.assert_frame_equal(lookup_rows(every, frame), expected)


def test_number_text_equals_astype():
    rng = np.random.default_rng(5)
    values = pd.Series(rng.gamma(2.0, 50.0, 5000).round(3), index=rng.permutation(5000))
    values.iloc[::13] = np.nan
    values.iloc[::17] = 2.0
    pd.testing.assert_series_equal(number_text(values), values.astype("string"))
    assert number_text(pd.Series([], dtype="float64")).tolist() == []
