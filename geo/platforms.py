"""万亩千亿新产业平台 assessment (浙政办发〔2019〕10号).

A platform plans about 10,000 mu for a leading industry expected to exceed 1000 亿元 of
output, the leading industry making up more than 80 % of the platform's output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo.intensity import safe_ratio

__all__ = ["GUIDE_MU", "GUIDE_OUTPUT_YI", "GUIDE_LEAD_SHARE", "platform_assessment"]

GUIDE_MU = 10_000.0
GUIDE_OUTPUT_YI = 1000.0
GUIDE_LEAD_SHARE = 0.80
WAN_PER_YI = 1e4  # 1 亿元 = 10,000 万元


def _ratio(amount: float, mu: float) -> float:
    """amount / mu, NaN when there is no land (see :func:`mujun.geo.intensity.safe_ratio`)."""
    return float(safe_ratio(pd.Series([amount]), pd.Series([mu])).iloc[0])


def _codes(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    return [c.strip() for c in text.replace("，", ",").replace("、", ",").replace(";", ",").split(",") if c.strip()]


def platform_assessment(
    summary: pd.DataFrame, parcels: pd.DataFrame, idle: pd.Series
) -> pd.DataFrame:
    """Progress of each platform against the 万亩千亿 guide and its own target.

    Parameters
    ----------
    summary : DataFrame
        The year's platform results from :func:`mujun.geo.evaluation.zone_summary`, with the
        platform attributes (``platform_id``, ``planned_mu``, ``target_output``,
        ``target_year``, ``lead_industry_codes``).
    parcels : DataFrame
        The year's parcel results (``platform_id``, ``district_id``, ``area_mu``,
        ``evaluated_mu``, ``holder_code``, ``transfer_date``, ``building_count``,
        ``industry_code``, ``output_value``, ``tax``).
    idle : Series of bool
        Whether each parcel is flagged idle, on the parcels' index.

    Returns
    -------
    DataFrame
        One row per platform: planned land against 10,000 mu, output (亿元) against
        1000 亿元 and against its own target, the leading industry's share of output
        against 80 %, land supplied / unsupplied / built / supplied but unbuilt / idle (亩),
        and 亩均产值 and 亩均税收 inside the platform and in the rest of its district.
    """
    rows = []
    p = parcels
    supplied = p["holder_code"].notna() if "holder_code" in p.columns else pd.Series(False, index=p.index)
    if "transfer_date" in p.columns:
        supplied |= p["transfer_date"].notna()
    built = p["building_count"] > 0
    division = p["industry_code"].astype("string") if "industry_code" in p.columns else \
        pd.Series(pd.NA, index=p.index, dtype="string")
    # the columns the figures below read: a platform's rows copy no other
    used = [c for c in ("district_id", "output_value", "evaluated", "area_mu", "tax", "evaluated_mu") if c in p.columns]
    for _, z in summary.iterrows():  # a handful of platforms, not parcels
        pid = z["platform_id"]
        inside = (p["platform_id"] == pid).fillna(False).astype(bool)
        zone = p.loc[inside, used]
        planned = z.get("planned_mu")
        planned = float(planned) if planned is not None and pd.notna(planned) else float(z["zone_area_mu"])
        output = float(zone["output_value"].sum()) / WAN_PER_YI
        codes = _codes(z.get("lead_industry_codes"))
        if codes:
            lead = division[inside].fillna("").str.startswith(tuple(codes))
            lead_output = float(zone.loc[lead, "output_value"].sum()) / WAN_PER_YI
            lead_share = lead_output / output if output > 0 else np.nan
        else:
            lead_output, lead_share = np.nan, np.nan
        district = zone["district_id"].mode()
        district = district.iloc[0] if len(district) else None
        outside = (p["district_id"] == district).fillna(False).astype(bool) & ~inside & p["evaluated"].astype(bool)
        ev_in = zone[zone["evaluated"].astype(bool)]
        target = z.get("target_output")
        target = float(target) if target is not None and pd.notna(target) else np.nan
        rows.append({
            "platform_id": pid,
            "name": z.get("name"),
            "lead_industry": z.get("lead_industry"),
            "planned_mu": planned,
            "planned_vs_guide": planned / GUIDE_MU,
            "output_yi": output,
            "gap_to_guide_yi": max(GUIDE_OUTPUT_YI - output, 0.0),
            "output_vs_guide": output / GUIDE_OUTPUT_YI,
            "target_output_yi": target,
            "target_year": z.get("target_year"),
            "gap_to_target_yi": max(target - output, 0.0) if np.isfinite(target) else np.nan,
            "lead_output_yi": lead_output,
            "lead_share": lead_share,
            "lead_share_ok": bool(lead_share > GUIDE_LEAD_SHARE) if np.isfinite(lead_share) else pd.NA,
            "parcel_mu": float(zone["area_mu"].sum()),
            "supplied_mu": float(zone.loc[supplied[inside], "area_mu"].sum()),
            "unsupplied_mu": float(zone.loc[~supplied[inside], "area_mu"].sum()),
            "built_mu": float(zone.loc[built[inside], "area_mu"].sum()),
            "unbuilt_supplied_mu": float(zone.loc[supplied[inside] & ~built[inside], "area_mu"].sum()),
            "idle_mu": float(zone.loc[idle[inside].to_numpy(), "area_mu"].sum()),
            "district_id": district,
            "output_per_mu": _ratio(ev_in["output_value"].sum(), ev_in["evaluated_mu"].sum()),
            "outside_output_per_mu": _ratio(p.loc[outside, "output_value"].sum(), p.loc[outside, "evaluated_mu"].sum()),
            "tax_per_mu": _ratio(ev_in["tax"].sum(), ev_in["evaluated_mu"].sum()),
            "outside_tax_per_mu": _ratio(p.loc[outside, "tax"].sum(), p.loc[outside, "evaluated_mu"].sum()),
        })
    return pd.DataFrame(rows)
