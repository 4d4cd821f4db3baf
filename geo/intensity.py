"""Per-mu output (亩均效益): tax, value added, revenue and output value per mu of land."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo._checks import _check_columns
from mujun.geo._keys import lookup

__all__ = [
    "PER_MU",
    "enterprise_land_mu",
    "per_mu",
    "per_mu_metrics",
    "area_missing_reason",
    "ratio_of_sums",
    "safe_ratio",
]

#: per-mu indicator -> the amount (万元) it divides by land (亩).
PER_MU: dict[str, str] = {
    "tax_per_mu": "tax",
    "value_added_per_mu": "value_added",
    "revenue_per_mu": "revenue",
    "output_per_mu": "output_value",
}


def per_mu(amount: pd.Series, land_mu: pd.Series, name: str | None = None) -> pd.Series:
    """``amount / land_mu``, missing (never inf) where the land is zero, negative or missing.

    Examples
    --------
    >>> per_mu(pd.Series([30.0, 5.0, 8.0, None]), pd.Series([2.0, 0.0, None, 4.0]),
    ...        "tax_per_mu").tolist()
    [15.0, nan, nan, nan]
    """
    out = safe_ratio(amount, land_mu)
    return out.rename(name if name is not None else out.name)


def area_missing_reason(land_mu: pd.Series, *, linked: pd.Series | None = None) -> pd.Series:
    """Why a per-mu value is missing because of the land: a Chinese reason or ``<NA>``.

    Parameters
    ----------
    land_mu : Series
        Land in mu.
    linked : Series of bool, optional
        Whether the record has any land linked to it at all (parcels or leases); records
        with none get "未关联任何用地".

    Examples
    --------
    >>> area_missing_reason(pd.Series([3.0, 0.0, -1.0, None])).tolist()
    [<NA>, '用地面积为0', '用地面积为负（出租面积大于自有与租入面积之和）', '缺少用地面积']
    """
    m = pd.to_numeric(land_mu, errors="coerce")
    reason = pd.Series(pd.NA, index=land_mu.index, dtype="string")
    reason[m.isna()] = "缺少用地面积"
    reason[m == 0] = "用地面积为0"
    reason[m < 0] = "用地面积为负（出租面积大于自有与租入面积之和）"
    if linked is not None:
        reason[~linked.astype(bool) & ~(m > 0)] = "未关联任何用地（无地块、无租入面积）"
    return reason.rename("missing_reason")


def enterprise_land_mu(
    enterprises: pd.DataFrame, owned_mu: pd.Series
) -> pd.DataFrame:
    """Land used by each enterprise: owned parcels + land leased in − land leased out.

    Parameters
    ----------
    enterprises : DataFrame
        One row per enterprise, with ``credit_code`` and optionally ``leased_in_mu`` and
        ``leased_out_mu``.
    owned_mu : Series
        Σ area (mu) of the parcels each credit code holds, indexed by credit code.

    Returns
    -------
    DataFrame
        ``owned_mu``, ``leased_in_mu``, ``leased_out_mu``, ``land_mu`` and ``parcel_linked``
        on the enterprises' index.

    Examples
    --------
    >>> ent = pd.DataFrame({"credit_code": ["a", "b", "c"], "leased_in_mu": [2.0, None, None]})
    >>> enterprise_land_mu(ent, pd.Series({"a": 10.0, "b": 4.5}))["land_mu"].tolist()
    [12.0, 4.5, 0.0]
    """
    _check_columns(enterprises, ["credit_code"], "enterprises")
    owned = lookup(enterprises["credit_code"], owned_mu).astype("float64")
    linked = owned.notna()
    owned = owned.fillna(0.0)
    lease_in = _numeric_or_zero(enterprises, "leased_in_mu")
    lease_out = _numeric_or_zero(enterprises, "leased_out_mu")
    return pd.DataFrame(
        {
            "owned_mu": owned,
            "leased_in_mu": lease_in,
            "leased_out_mu": lease_out,
            "land_mu": owned + lease_in - lease_out,
            "parcel_linked": linked | (lease_in > 0),
        },
        index=enterprises.index,
    )


def _numeric_or_zero(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").fillna(0.0)


def per_mu_metrics(frame: pd.DataFrame, land: str = "land_mu") -> pd.DataFrame:
    """All per-mu indicators of :data:`PER_MU` for the amount columns present in ``frame``.

    Examples
    --------
    >>> f = pd.DataFrame({"tax": [30.0], "value_added": [120.0], "land_mu": [2.0]})
    >>> per_mu_metrics(f).to_dict("records")
    [{'tax_per_mu': 15.0, 'value_added_per_mu': 60.0}]
    """
    cols = {
        name: per_mu(frame[amount], frame[land], name)
        for name, amount in PER_MU.items()
        if amount in frame.columns
    }
    return pd.DataFrame(cols, index=frame.index)


def ratio_of_sums(
    frame: pd.DataFrame, by: str, amounts: list[str], land: str
) -> pd.DataFrame:
    """Group totals and per-mu values as Σ amount / Σ land (never a mean of ratios).

    Rows whose land is missing or not positive are left out of both sums, so a group's
    per-mu value is the total amount of its evaluated land over that land. A row whose
    amount is missing (say, a 规下 firm without value added) is left out of that amount's
    per-mu value: its land is not in the denominator.

    Examples
    --------
    >>> f = pd.DataFrame({"park": ["A", "A", "B"], "tax": [10.0, 90.0, 5.0],
    ...                   "mu": [10.0, 30.0, 0.0]})
    >>> ratio_of_sums(f, "park", ["tax"], "mu")
          mu    tax  tax_per_mu
    park
    A     40.0  100.0         2.5
    B      0.0    0.0         NaN
    """
    _check_columns(frame, [by, land, *amounts], "frame")
    land_v = pd.to_numeric(frame[land], errors="coerce")
    usable = land_v > 0
    data = pd.DataFrame({by: frame[by], land: land_v.where(usable, 0.0)})
    for a in amounts:
        data[a] = pd.to_numeric(frame[a], errors="coerce").where(usable, 0.0)
    sums = data.groupby(by, sort=True, dropna=True)[[land, *amounts]].sum(min_count=0)
    for name, amount in PER_MU.items():
        if amount in amounts:
            known_land = data[land].where(data[amount].notna(), 0.0)
            known_land = known_land.groupby(data[by], sort=True, dropna=True).sum()
            sums[name] = per_mu(sums[amount], known_land, name)
    return sums.astype("float64")


def safe_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` with NaN (never inf) where the denominator is not positive or missing.

    Examples
    --------
    >>> safe_ratio(pd.Series([1.0, 1.0, 1.0]), pd.Series([4.0, 0.0, None])).tolist()
    [0.25, nan, nan]
    """
    d = pd.to_numeric(den, errors="coerce").astype("float64")
    return pd.to_numeric(num, errors="coerce").astype("float64") / d.where(d > 0, np.nan)
