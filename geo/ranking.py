"""Rankings of results by an indicator."""

from __future__ import annotations

import pandas as pd

from mujun.geo.errors import InputError

__all__ = ["numeric_fields", "ranked"]


def numeric_fields(frame: pd.DataFrame, exclude: tuple[str, ...] = ("year", "rank")) -> list[str]:
    """Columns of ``frame`` that can rank it (numeric, not bool, not ``year``/``rank``)."""
    return [
        c for c in frame.columns
        if c not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def ranked(frame: pd.DataFrame, by: str, *, ascending: bool = False, top: int | None = None) -> pd.DataFrame:
    """``frame`` sorted by ``by`` with a ``rank`` column (1 = best, ties share a rank).

    Missing values are not ranked and come last.

    Examples
    --------
    >>> f = pd.DataFrame({"id": list("abcd"), "tax_per_mu": [10.0, 30.0, None, 30.0]})
    >>> ranked(f, "tax_per_mu")[["id", "rank"]].to_dict("list")
    {'id': ['b', 'd', 'a', 'c'], 'rank': [1, 1, 3, None]}
    """
    fields = numeric_fields(frame)
    if by not in fields:
        raise InputError(f"无法按 '{by}' 排名；可用的数值字段：{', '.join(fields)}")
    values = pd.to_numeric(frame[by], errors="coerce")
    out = frame.assign(rank=values.rank(method="min", ascending=ascending).astype("Int64"))
    order = values.reset_index(drop=True).sort_values(ascending=ascending, na_position="last", kind="stable")
    out = out.iloc[order.index]
    if top is not None:
        out = out.head(top)
    return out
