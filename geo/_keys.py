"""Matching text keys (parcel ids, credit codes) in bulk with Arrow's hash kernels.

pandas' ``isin`` and ``map`` on Arrow-backed text go through Python objects; at a
province's millions of ids they dominate an evaluation. These give the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Coded", "arrow_text", "first_rows", "isin", "lookup", "lookup_rows", "number_text", "pandas_text",
           "positions", "repeat_text", "rows_at"]


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
    return rows_at(frame, positions(keys, frame.index), index)


def rows_at(frame: pd.DataFrame, at: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
    """The rows of ``frame`` at the positions ``at`` (missing where -1), on ``index`` (default:
    0, 1, …): :func:`lookup_rows` once the keys' positions are known (:meth:`Coded.positions`).

    Examples
    --------
    >>> rows_at(pd.DataFrame({"n": [1.5, 2.5]}), np.array([1, -1]))["n"].tolist()
    [2.5, nan]
    """
    found = at >= 0
    out = frame.take(np.where(found, at, 0))
    out.index = index if index is not None else pd.RangeIndex(len(at))
    return out if found.all() else out.where(pd.Series(found, index=out.index), axis=0)


class Coded:
    """A text key column hashed once by Arrow, for the several lookups and group sums a
    province's million holder codes take part in: ``codes`` (each row's place among the
    distinct keys, -1 where missing) and ``index`` (the distinct keys, in the order they first
    appear, with the column's text type).

    Examples
    --------
    >>> k = Coded(pd.Series(["b", None, "a", "b"], dtype="string"))
    >>> k.codes.tolist(), k.index.tolist()
    ([0, -1, 1, 0], ['b', 'a'])
    >>> k.positions(pd.Index(["a", "x"])).tolist()
    [-1, -1, 0, -1]
    >>> k.sums(pd.Series([1.0, 2.0, 3.0, 4.0])).to_dict(), k.counts().to_dict()
    ({'b': 5.0, 'a': 3.0}, {'b': 2, 'a': 1})
    """

    def __init__(self, keys) -> None:
        text = _text(keys)
        encoded = pc.dictionary_encode(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
        self.codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
        dtype = (keys.dtype if isinstance(keys, pd.Series | pd.Index) and isinstance(keys.dtype, pd.StringDtype)
                 else pd.StringDtype("pyarrow", na_value=np.nan))
        self.index = pd.Index(pd.array(encoded.dictionary, dtype=dtype))

    def positions(self, values) -> np.ndarray:
        """:func:`positions` of each row's key in ``values`` (-1: missing or absent); the
        distinct keys are looked up, not the rows."""
        return np.append(positions(self.index, values), -1)[self.codes]

    def sums(self, values: pd.Series) -> pd.Series:
        """``values`` summed per key (the rows with a key), indexed by key: as a group-by on the
        keys sums them (each key's rows in their order), grouped by the codes."""
        keep = self.codes >= 0
        summed = pd.Series(np.asarray(values)[keep]).groupby(self.codes[keep]).sum()
        return pd.Series(summed.to_numpy(), index=self.index[summed.index.to_numpy()], name=values.name)

    def first_rows(self) -> np.ndarray:
        """The first row with each row's key (-1 where missing): :func:`first_rows` of the keys
        alone (Arrow numbers the distinct keys in the order they first appear).

        Examples
        --------
        >>> Coded(pd.Series(["a", "b", "a", None], dtype="string")).first_rows().tolist()
        [0, 1, 0, -1]
        """
        seen = np.maximum.accumulate(np.r_[-1, self.codes[:-1]]) if len(self.codes) else self.codes
        firsts = np.flatnonzero(self.codes > seen)  # the first row of code 0, 1, …
        return np.append(firsts, -1)[self.codes]

    def counts(self) -> pd.Series:
        """The number of rows of each key, indexed by key."""
        return pd.Series(np.bincount(self.codes[self.codes >= 0], minlength=len(self.index)), index=self.index)


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
