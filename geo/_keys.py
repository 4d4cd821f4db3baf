"""Matching text keys (parcel ids, credit codes) in bulk with Arrow's hash kernels.

pandas' ``isin`` and ``map`` on Arrow-backed text go through Python objects; at a
province's millions of ids they dominate an evaluation. These give the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow_text", "first_rows", "isin", "lookup", "lookup_rows", "number_text", "pandas_text", "positions",
           "repeat_text"]


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


def first_rows(keys, others) -> tuple[np.ndarray, np.ndarray]:
    """``(positions(keys, keys), positions(others, keys))`` in one pass of Arrow's hash over
    both: the first row of each key among ``keys``, and that of each of ``others`` (-1 where
    missing or absent).

    Examples
    --------
    >>> first, at = first_rows(pd.Series(["a", "b", "a", None], dtype="string"), ["b", "x", "a", None])
    >>> first.tolist(), at.tolist()
    ([0, 1, 0, -1], [1, -1, 0, -1])
    """
    own, their = _text(keys), _text(others)
    chunks = [*(own.chunks if isinstance(own, pa.ChunkedArray) else [own]),
              *(their.chunks if isinstance(their, pa.ChunkedArray) else [their])]
    codes = pc.dictionary_encode(pa.concat_arrays(chunks) if chunks else pa.array([], pa.large_string())).indices
    codes = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    n = len(own)
    mine = codes[:n]
    rows = np.flatnonzero(mine >= 0)
    distinct, first_at = np.unique(mine[rows], return_index=True)
    row_of = np.full(int(codes.max(initial=-1)) + 2, -1, dtype="int64")  # (the last: missing keys' -1)
    row_of[distinct] = rows[first_at]
    return row_of[mine], row_of[codes[n:]]


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


def lookup_rows(keys, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.reindex(keys)``: the row of each key in ``frame`` (indexed by distinct keys),
    missing where absent, on ``keys``' index when it has one — without turning a million text
    keys into Python strings to hash them.

    Examples
    --------
    >>> f = pd.DataFrame({"n": [1.5, 2.5], "c": ["A", "B"]}, index=["a", "b"])
    >>> lookup_rows(pd.Series(["b", None, "x"], dtype="string"), f).to_dict("list")
    {'n': [2.5, nan, nan], 'c': ['B', nan, nan]}
    """
    index = keys.index if isinstance(keys, pd.Series) else None
    if not len(frame):  # nothing to take from: every row missing, typed as reindex types it
        out = frame.reindex(pd.Index(np.asarray(keys, dtype=object)))
        out.index = index if index is not None else pd.RangeIndex(len(out))
        return out
    at = positions(keys, frame.index)
    found = at >= 0
    out = frame.take(np.where(found, at, 0))
    out.index = index if index is not None else pd.RangeIndex(len(at))
    return out if found.all() else out.where(pd.Series(found, index=out.index), axis=0)


def number_text(values: pd.Series) -> pd.Series:
    """``values.astype("string")`` for floating-point values, each distinct value formatted
    once (the reasons of a million flags repeat few numbers).

    Examples
    --------
    >>> number_text(pd.Series([1.5, float("nan"), 2.0, 1.5])).tolist()
    ['1.5', <NA>, '2.0', '1.5']
    """
    distinct, at = np.unique(values.to_numpy(dtype="float64", na_value=np.nan), return_inverse=True)
    texts = pd.Series(distinct).astype("string")
    return pd.Series(texts.array.take(at.ravel()), index=values.index, name=values.name)


def pandas_text(values: pa.Array | pa.ChunkedArray) -> pd.arrays.ArrowStringArray:
    """Arrow text as a pandas text column (as a frame built from Python strings holds it)."""
    return pd.array(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def repeat_text(text: str, n: int) -> pd.arrays.ArrowStringArray:
    """``text`` ``n`` times as a pandas text column, built by Arrow."""
    return pandas_text(pa.repeat(pa.scalar(text, type=pa.string()), n))


def arrow_text(values: pd.Series) -> pd.arrays.ArrowStringArray:
    """A text column as Arrow-backed text (without a copy when it is already; categories
    decoded by Arrow): a million values are not turned into Python strings and back.

    Examples
    --------
    >>> arrow_text(pd.Series(["a", None], dtype=object)).tolist()
    ['a', nan]
    >>> arrow_text(pd.Series(pd.Categorical.from_codes([1, 1, -1], ["a", "b"]))).tolist()
    ['b', 'b', nan]
    """
    array = pa.array(values, from_pandas=True)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return pandas_text(array)
