"""腾笼换鸟: land taken back from its holder, where it went and what it yields now.

A parcel enters the ledger when a review decision on it names a measure that takes the land
back (协议收回 or 依法收回, :data:`mujun.geo.review.RECOVERY_MEASURES`). It is then followed
through four stages:

- ``decided`` 已决定收回: the decision (its evaluation year, measure and time);
- ``recovered`` 已收回: a 收回与再供应 record gives the date and the land recovered (亩; the
  parcel's area when the record leaves it blank);
- ``supplied`` 已再供应: the record names the new holder and the supply date — or, without
  one, a later year's stored result shows the parcel under another holder than in the
  decision year (the parcel changed holder between imports; the date is then unknown and
  the year of the first result under the new holder stands for it);
- ``yielding`` 已产出: the new holder has per-mu figures on the parcel in an evaluated year
  from the supply year on (the latest such year is taken).

Before and after are the parcel's stored per-mu figures (万元/亩): before in the decision
year, under the old holder; after in that latest year, under the new one. Totals are
ratios of sums over the parcels that yield again: Σ 税收 ÷ Σ 地块面积 of the same land before
and after, a parcel without figures before (idle, its holder absent from the enterprise
table) counting as yielding nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo.review import RECOVERY_MEASURES

__all__ = ["BASES", "STAGES", "TOTAL_COLUMNS", "ledger_rows", "ledger_totals"]

#: Stage ids of a recovered parcel, in order, and their Chinese names.
STAGES = {"decided": "已决定收回", "recovered": "已收回", "supplied": "已再供应", "yielding": "已产出"}
#: How the new holder became known: supply record, or a holder change between imports.
BASES = {"record": "供地记录", "holder_change": "权利人变更（评价结果）"}
#: Total row's district name.
TOTAL = "合计"
_FIGURES = ["holder_code", "holder_name", "district_id", "district_name", "area_mu", "evaluated_mu", "tax",
            "value_added", "tax_per_mu", "value_added_per_mu"]
_PER_MU = {"tax_per_mu": "tax", "value_added_per_mu": "value_added"}


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string")


def _column(frame: pd.DataFrame, name: str, dtype: str = "string") -> pd.Series:
    """``frame[name]`` as ``dtype`` (``string``, ``float64`` or ``datetime``), missing throughout if absent."""
    if dtype == "datetime":
        return pd.to_datetime(frame[name]) if name in frame.columns else pd.Series(pd.NaT, index=frame.index)
    if name in frame.columns:
        return frame[name].astype(dtype)
    return pd.Series(np.nan if dtype == "float64" else pd.NA, index=frame.index, dtype=dtype)


def _stored(parcels: pd.DataFrame) -> pd.DataFrame:
    p = pd.DataFrame(parcels.drop(columns="geometry", errors="ignore"))
    for col in _FIGURES:
        if col not in p.columns:
            p[col] = pd.NA
    p = p[["parcel_id", "year", *_FIGURES]].copy()
    p["parcel_id"] = _text(p["parcel_id"])
    p["year"] = p["year"].astype("int64")
    for col in ("holder_code", "holder_name", "district_id", "district_name"):
        p[col] = _text(p[col])
    for col in ("area_mu", "evaluated_mu", "tax", "value_added", "tax_per_mu", "value_added_per_mu"):
        p[col] = pd.to_numeric(p[col], errors="coerce").astype("float64")
    return p


def ledger_rows(decisions: pd.DataFrame, supplies: pd.DataFrame | None, parcels: pd.DataFrame) -> pd.DataFrame:
    """One row per parcel decided 协议收回 or 依法收回, followed through the stages.

    Parameters
    ----------
    decisions : DataFrame
        Review decisions: ``parcel_id``, ``year``, ``status``, ``measure``, ``decided_at``,
        ``decided_by``. A parcel decided in several years enters with its first such decision;
        decisions 不予认定 are left out.
    supplies : DataFrame, optional
        收回与再供应 records (the ``supplies`` table): ``parcel_id``, ``recovered_date``,
        ``recovered_mu``, ``recovery_method``, ``supply_date``, ``new_holder_code``,
        ``new_holder_name``, ``supply_method``, ``price``.
    parcels : DataFrame
        Stored parcel results (``result_parcel``) of every year, of these parcels at least:
        ``parcel_id``, ``year``, ``holder_code``, ``holder_name``, ``district_id``,
        ``district_name``, ``area_mu``, ``evaluated_mu``, ``tax``, ``value_added``,
        ``tax_per_mu``, ``value_added_per_mu``.

    Returns
    -------
    DataFrame
        ``parcel_id``, district, ``year`` (of the decision), ``measure``, ``decided_at``,
        ``decided_by``, ``area_mu``, the old holder (``holder_code``, ``holder_name``) and its
        ``tax_per_mu``/``value_added_per_mu`` with amounts (``*_before``), the recovery
        (``recovered_date``, ``recovered_mu``, ``recovery_method``), the supply
        (``supply_basis``, ``supply_date``, ``supply_year``, ``new_holder_code``,
        ``new_holder_name``, ``supply_method``, ``price``, ``supplied_mu``), the yield
        (``after_year`` and the ``*_after`` figures), the per-mu changes
        (``tax_per_mu_change``, ``value_added_per_mu_change``, 万元/亩), ``stage`` and
        ``stage_label``; ordered by year, district and parcel.
    """
    d = decisions.copy()
    d["parcel_id"] = _text(d["parcel_id"])
    keep = _text(d["measure"]).isin(RECOVERY_MEASURES).fillna(False) & ~_text(d["status"]).eq("不予认定").fillna(False)
    d = d[keep.astype(bool)].sort_values(["parcel_id", "year"], kind="mergesort").drop_duplicates("parcel_id")
    out = d[["parcel_id", "year", "measure", "decided_at", "decided_by"]].copy()
    out["year"] = out["year"].astype("int64")
    out["measure"] = _text(out["measure"])
    p = _stored(parcels)
    p = p[p["parcel_id"].isin(out["parcel_id"])]

    # before: the decision year's result, under the old holder
    before = p.rename(columns={"tax_per_mu": "tax_per_mu_before", "value_added_per_mu": "value_added_per_mu_before",
                               "tax": "tax_before", "value_added": "value_added_before"}).drop(columns="evaluated_mu")
    out = out.merge(before, on=["parcel_id", "year"], how="left")

    # the recovery and the supply of the record
    s = supplies if supplies is not None else pd.DataFrame(columns=["parcel_id"])
    rec = pd.DataFrame({"parcel_id": _text(s["parcel_id"]),
                        "recovered_date": _column(s, "recovered_date", "datetime"),
                        "recovered_mu": _column(s, "recovered_mu", "float64"),
                        "recovery_method": _column(s, "recovery_method"),
                        "supply_date": _column(s, "supply_date", "datetime"),
                        "rec_code": _column(s, "new_holder_code").str.upper(),
                        "rec_name": _column(s, "new_holder_name"),
                        "supply_method": _column(s, "supply_method"),
                        "price": _column(s, "price", "float64")}).drop_duplicates("parcel_id")
    out = out.merge(rec, on="parcel_id", how="left")
    recovered = out["recovered_date"].notna()

    # a holder change between imports: the first later year under another holder
    later = p.merge(out[["parcel_id", "year", "holder_code"]].rename(columns={"year": "decided", "holder_code": "old"}),
                    on="parcel_id")
    changed = later["year"].gt(later["decided"]) & later["holder_code"].notna() & \
        later["holder_code"].ne(later["old"]).fillna(True)
    first = later[changed.astype(bool)].sort_values(["parcel_id", "year"]).drop_duplicates("parcel_id")
    first = first.set_index("parcel_id")[["year", "holder_code", "holder_name"]]
    seen = first.reindex(out["parcel_id"])
    seen.index = out.index

    by_record = out["supply_date"].notna()
    by_change = ~by_record & seen["year"].notna()
    out["supply_basis"] = pd.Series(np.where(by_record, BASES["record"], np.where(by_change, BASES["holder_change"], None)),
                                    index=out.index, dtype="string")
    out["supply_year"] = pd.Series(np.where(by_record, out["supply_date"].dt.year, seen["year"]),
                                   index=out.index).astype("Int64")
    out["new_holder_code"] = out["rec_code"].where(by_record, seen["holder_code"].astype("string"))
    out["new_holder_name"] = out["rec_name"].where(by_record, seen["holder_name"].astype("string"))
    supplied = by_record | by_change
    # land supplied again was recovered first, on a date the holder change does not tell
    out["recovered_mu"] = out["recovered_mu"].where(out["recovered_mu"].notna(), out["area_mu"]).where(
        recovered | supplied)
    out["supplied_mu"] = out["recovered_mu"].where(supplied)

    # after: the new holder's figures on the parcel, the latest year from the supply on
    cand = p.merge(out.loc[supplied, ["parcel_id", "year", "supply_year", "new_holder_code", "new_holder_name"]]
                   .rename(columns={"year": "decided"}), on="parcel_id")
    same = cand["holder_code"].eq(cand["new_holder_code"]).where(cand["new_holder_code"].notna(),
                                                                 cand["holder_name"].eq(cand["new_holder_name"]))
    with_figures = cand["tax_per_mu"].notna() | cand["value_added_per_mu"].notna()
    ok = same.fillna(False).astype(bool) & with_figures & (cand["year"] >= cand["supply_year"]).fillna(False) & \
        (cand["year"] > cand["decided"])
    last = cand[ok.astype(bool)].sort_values(["parcel_id", "year"]).drop_duplicates("parcel_id", keep="last")
    last = last.set_index("parcel_id")[["year", "tax_per_mu", "value_added_per_mu", "tax", "value_added"]]
    last.columns = ["after_year", "tax_per_mu_after", "value_added_per_mu_after", "tax_after", "value_added_after"]
    after = last.reindex(out["parcel_id"])
    after.index = out.index
    out = pd.concat([out, after], axis=1)
    out["after_year"] = out["after_year"].astype("Int64")
    for per_mu in _PER_MU:
        out[f"{per_mu}_change"] = out[f"{per_mu}_after"] - out[f"{per_mu}_before"]

    stage = pd.Series("decided", index=out.index, dtype="string")
    stage[recovered] = "recovered"
    stage[supplied] = "supplied"
    stage[out["after_year"].notna()] = "yielding"
    out["stage"] = stage
    out["stage_label"] = stage.map(STAGES).astype("string")
    out = out.drop(columns=["rec_code", "rec_name"])
    out = out.sort_values(["year", "district_name", "parcel_id"], kind="mergesort", na_position="last")
    return out.reset_index(drop=True)


def ledger_totals(rows: pd.DataFrame) -> pd.DataFrame:
    """The ledger by decision year and district, each year closed by a 合计 row.

    Counts (宗) and land (亩) at each stage (a parcel at a later stage counts at the earlier
    ones); per-mu figures (万元/亩) of the parcels that yield again, before and after, as
    ratios of sums over the same land: Σ 税收 ÷ Σ 地块面积 under the old holder in the
    decision year (no figures: nothing yielded) and under the new holder in the latest year.

    Examples
    --------
    >>> r = pd.DataFrame({"year": 2023, "district_id": "1", "district_name": "越城区",
    ...     "area_mu": [10.0, 30.0, 5.0], "stage": ["yielding", "yielding", "decided"],
    ...     "recovered_mu": [10.0, 30.0, None], "supplied_mu": [10.0, 30.0, None],
    ...     "tax_before": [10.0, None, 1.0], "value_added_before": [50.0, None, 2.0],
    ...     "tax_after": [100.0, 60.0, None], "value_added_after": [400.0, 200.0, None]})
    >>> ledger_totals(r)[["district_name", "parcels", "yielding", "tax_per_mu_before", "tax_per_mu_after"]
    ...     ].values.tolist()
    [['越城区', 3, 2, 0.25, 4.0], ['合计', 3, 2, 0.25, 4.0]]
    """
    f = rows.copy()
    f["district_name"] = _text(f["district_name"]).fillna("（无行政区）")
    stage_no = f["stage"].map({k: i for i, k in enumerate(STAGES)}).astype("int64")
    f["parcels"] = 1
    f["recovered"] = (stage_no >= 1).astype("int64")
    f["supplied"] = (stage_no >= 2).astype("int64")
    f["yielding"] = (stage_no >= 3).astype("int64")
    f["decided_mu"] = f["area_mu"].astype("float64").fillna(0.0)
    f["recovered_mu"] = f["recovered_mu"].astype("float64").fillna(0.0)
    f["supplied_mu"] = f["supplied_mu"].astype("float64").fillna(0.0)
    y = f["yielding"].astype(bool)
    f["_mu"] = f["decided_mu"].where(y, 0.0)
    for when in ("before", "after"):
        for amount in _PER_MU.values():
            f[f"_{amount}_{when}"] = f[f"{amount}_{when}"].astype("float64").where(y, 0.0).fillna(0.0)
    sums = ["parcels", "recovered", "supplied", "yielding", "decided_mu", "recovered_mu", "supplied_mu",
            *[c for c in f.columns if c.startswith("_")]]
    by = f.groupby(["year", "district_id", "district_name"], dropna=False)[sums].sum().reset_index()
    total = f.groupby("year")[sums].sum().reset_index().assign(district_id=pd.NA, district_name=TOTAL)
    out = pd.concat([by.assign(_total=False), total[by.columns].assign(_total=True)], ignore_index=True)
    out = out.sort_values(["year", "_total", "district_name"], kind="mergesort").drop(columns="_total")
    mu = out["_mu"].where(out["_mu"] > 0)
    for per_mu, amount in _PER_MU.items():
        for when in ("before", "after"):
            out[f"{per_mu}_{when}"] = out[f"_{amount}_{when}"] / mu
        out[f"{per_mu}_change"] = out[f"{per_mu}_after"] - out[f"{per_mu}_before"]
    out = out.rename(columns={"_mu": "yielding_mu"})
    out = out.astype({c: "int64" for c in ("parcels", "recovered", "supplied", "yielding")})
    return out.reset_index(drop=True)[list(TOTAL_COLUMNS)]


#: Columns of :func:`ledger_totals`.
TOTAL_COLUMNS = ("year", "district_id", "district_name", "parcels", "decided_mu", "recovered", "recovered_mu",
                 "supplied", "supplied_mu", "yielding", "yielding_mu", "tax_per_mu_before", "tax_per_mu_after",
                 "tax_per_mu_change", "value_added_per_mu_before", "value_added_per_mu_after",
                 "value_added_per_mu_change")
