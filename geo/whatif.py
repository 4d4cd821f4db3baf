"""What-if: the tax and value added gained if flagged parcels reached their peers' median."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo._keys import lookup

__all__ = ["peer_medians", "whatif_gains"]

_MEASURES = (("tax_per_mu", "tax_gain"), ("value_added_per_mu", "value_added_gain"))


def peer_medians(enterprises: pd.DataFrame, measure: str) -> tuple[pd.Series, pd.Series, float]:
    """Median per-mu value by (district, industry division), by district, and overall.

    Only enterprises with a value (positive land) count.
    """
    e = enterprises[enterprises[measure].notna()]
    division = e["industry_code"].astype("string").str[:2] if "industry_code" in e.columns else pd.Series(
        pd.NA, index=e.index, dtype="string")
    by_pair = e.groupby([e["district_id"], division])[measure].median()
    by_district = e.groupby("district_id")[measure].median()
    return by_pair, by_district, float(e[measure].median()) if len(e) else float("nan")


def _pair_key(district, division) -> pd.Series:
    """``district`` and ``division`` joined as one text key (missing where either is), on their
    index (both have the same)."""
    return pd.Series(district, dtype="string") + "\x1f" + pd.Series(division, dtype="string")


def whatif_gains(parcels: pd.DataFrame, enterprises: pd.DataFrame, flagged: pd.Series) -> pd.DataFrame:
    """Gains (万元) if each flagged parcel reached its district's median per-mu for its industry.

    The target is the median 亩均税收 (亩均增加值) of the year's enterprises in the parcel's
    district and two-digit industry, else of its district, else of all. A parcel below the
    target gains (target − its per-mu) × its land; parcels at or above it, or not
    flagged, gain nothing. A parcel with no figures (idle, no record) starts from zero.

    Examples
    --------
    >>> ent = pd.DataFrame({"district_id": ["d", "d", "d"], "industry_code": ["1711", "1752", "3311"],
    ...                     "tax_per_mu": [10.0, 20.0, 50.0], "value_added_per_mu": [40.0, 80.0, 200.0]})
    >>> par = pd.DataFrame({"district_id": ["d", "d"], "industry_code": ["1751", None],
    ...     "tax_per_mu": [5.0, None], "value_added_per_mu": [30.0, None],
    ...     "area_mu": [10.0, 20.0], "evaluated_mu": [10.0, 0.0]})
    >>> whatif_gains(par, ent, pd.Series([True, True]))[["tax_gain", "value_added_gain"]].to_dict("list")
    {'tax_gain': [100.0, 400.0], 'value_added_gain': [300.0, 1600.0]}
    """
    out = pd.DataFrame(index=parcels.index)
    land = parcels["evaluated_mu"].where(parcels["evaluated_mu"] > 0, parcels["area_mu"])
    division = parcels["industry_code"].astype("string").str[:2] if "industry_code" in parcels.columns else \
        pd.Series(pd.NA, index=parcels.index, dtype="string")
    for measure, gain in _MEASURES:
        if measure not in enterprises.columns or "district_id" not in enterprises.columns:
            continue
        by_pair, by_district, overall = peer_medians(enterprises, measure)
        # (district, division) pairs as one text key, looked up by Arrow's hash (a million parcels)
        pairs = pd.Series(by_pair.to_numpy(dtype="float64"), index=_pair_key(
            by_pair.index.get_level_values(0), by_pair.index.get_level_values(1)))
        target = lookup(_pair_key(parcels["district_id"], division), pairs).astype("float64")
        target = target.fillna(lookup(parcels["district_id"], by_district).astype("float64")).fillna(overall)
        current = parcels[measure].astype("float64").fillna(0.0)
        out[f"target_{measure}"] = target
        out[gain] = np.where(flagged.to_numpy(), ((target - current).clip(lower=0) * land).to_numpy(), 0.0)
    return out
