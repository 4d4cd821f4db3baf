"""Tests for mujun.geo._keys: Arrow key matching gives what pandas' isin and map give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo._keys import isin, lookup, positions


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


def test_positions_first_occurrence_and_missing():
    assert positions(["b", "a", None, "z"], ["a", "b", "a"]).tolist() == [1, 0, -1, -1]
    assert lookup(pd.Series(["a"]), pd.Series([], dtype="int64")).isna().all()
