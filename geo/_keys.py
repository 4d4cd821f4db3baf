"""Matching text keys (parcel ids, credit codes) in bulk with Arrow's hash kernels.

pandas' ``isin`` and ``map`` on Arrow-backed text go through Python objects; at a
province's millions of ids they dominate an evaluation. These give the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin", "lookup", "positions"]


def _text(values) -> pa.Array | pa.ChunkedArray:
    """``values`` as Arrow text (no copy when they are Arrow-backed already)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        if not isinstance(values, pd.Series | pd.Index):
            values = pd.Index(np.asarray(values, dtype=object))
        values = pa.array(values.astype("string").array)
    return values.cast(pa.large_string())


def isin(keys, values) -> np.ndarray:
    """Whether each of ``keys`` is among ``values`` (missing keys: False).

    Examples
    --------
    >>> isin(pd.Series(["a", None, "c"], dtype="string"), ["c", "d"]).tolist()
    [False, False, True]
    """
    hit = pc.is_in(_text(keys), value_set=_text(values), skip_nulls=True)
    return hit.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def positions(keys, values) -> np.ndarray:
    """Position of each of ``keys`` in ``values`` (its first occurrence), -1 where absent.

    Examples
    --------
    >>> positions(pd.Series(["b", "x", None], dtype="string"), pd.Index(["a", "b"])).tolist()
    [1, -1, -1]
    """
    at = pc.index_in(_text(keys), value_set=_text(values), skip_nulls=True)
    return at.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")


def lookup(keys, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)``: the value of each key in ``mapping`` (indexed by key),
    missing where absent, on ``keys``' index when it has one, with ``mapping``'s dtype
    (or its missing-value dtype).

    Examples
    --------
    >>> lookup(pd.Series(["b", "x"], dtype="string"), pd.Series([1.5, 2.5], index=["a", "b"])).tolist()
    [2.5, nan]
    """
    at = positions(keys, mapping.index)
    index = keys.index if isinstance(keys, pd.Series) else pd.RangeIndex(len(at))
    if not len(mapping):
        return pd.Series(index=index, name=mapping.name, dtype=mapping.dtype if mapping.dtype != "int64" else "float64")
    found = at >= 0
    out = pd.Series(mapping.array.take(np.where(found, at, 0)), index=index, name=mapping.name)
    return out if found.all() else out.where(found)
