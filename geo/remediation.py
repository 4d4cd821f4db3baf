"""倒逼整治 over the years: what became of the firms classed D (倒逼整治) in the year after.

A D-class firm of year Y is followed into year Y + 1, where an evaluation exists:

- ``improved`` 提档: classed A, B or C;
- ``stayed`` 仍为D: classed D again;
- ``left`` 退出: no longer on the list — absent from the year's results, or not classed
  (not scored), taking its land with it.

Each row carries the firm's classes from Y on, its 亩均税收 in Y and Y + 1 and the review
decisions recorded on the parcels it held in Y. :func:`remediation_summary` counts the
outcomes by district and year, with the land (亩) of the firms that left.
"""

from __future__ import annotations

import pandas as pd

from mujun.geo.rules import CLASSES

__all__ = ["NO_DISTRICT", "OUTCOMES", "d_class_follow_up", "remediation_summary"]

#: Outcome ids of a D-class firm one year on, and their Chinese names.
OUTCOMES = {"improved": "提档", "stayed": "仍为D", "left": "退出"}
#: District name of firms whose land lies in no district (only leased land, say).
NO_DISTRICT = "（无行政区）"
_D = CLASSES[-1]
_KEYS = ["credit_code", "year"]


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string")


def d_class_follow_up(enterprises: pd.DataFrame, parcels: pd.DataFrame | None = None,
                      decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per D-class firm and year that has an evaluated year after it.

    Parameters
    ----------
    enterprises : DataFrame
        Enterprise results of every evaluated year: ``credit_code``, ``year``, ``class``,
        ``name``, ``district_id``, ``district_name``, ``land_mu``, ``tax_per_mu``.
    parcels : DataFrame, optional
        Parcel results (``parcel_id``, ``year``, ``holder_code``): whose land a decision is on.
    decisions : DataFrame, optional
        Review decisions (``parcel_id``, ``year``, ``status``, ``measure``).

    Returns
    -------
    DataFrame
        ``credit_code``, ``name``, ``district_id``, ``district_name``, ``year``,
        ``next_year``, ``next_class``, ``outcome``, ``outcome_label``, ``land_mu``,
        ``tax_per_mu``, ``next_tax_per_mu``, ``tax_per_mu_change`` (万元/亩),
        ``class_path`` (``2023 D → 2024 C → 2025 C``), ``decision_count`` and ``decisions``
        (``宗地 认定低效·整治提升``, joined by "；").

    Examples
    --------
    >>> e = pd.DataFrame({"credit_code": ["a", "a", "b", "b", "c"], "year": [2024, 2025, 2024, 2025, 2024],
    ...     "class": ["D", "B", "D", "D", "D"], "name": ["甲", "甲", "乙", "乙", "丙"],
    ...     "district_id": "d", "district_name": "越城区", "land_mu": [10.0, 10.0, 20.0, 20.0, 6.0],
    ...     "tax_per_mu": [1.0, 4.5, 2.0, 1.5, 0.5]})
    >>> d_class_follow_up(e)[["credit_code", "outcome_label", "tax_per_mu_change", "class_path"]].values.tolist()
    [['a', '提档', 3.5, '2024 D → 2025 B'], ['b', '仍为D', -0.5, '2024 D → 2025 D'], ['c', '退出', nan, '2024 D']]
    """
    e = enterprises.copy()
    e["year"] = e["year"].astype("int64")
    e["credit_code"] = _text(e["credit_code"])
    e["class"] = _text(e["class"])
    years = sorted(e["year"].unique())
    later = {y: n for y, n in zip(years, years[1:], strict=False) if n == y + 1}  # consecutive years only
    d = e[e["class"].eq(_D).fillna(False) & e["year"].isin(list(later))]
    cols = ["credit_code", "name", "district_id", "district_name", "year", "land_mu", "tax_per_mu"]
    out = d[[c for c in cols if c in d.columns]].copy()
    out["next_year"] = out["year"] + 1
    nxt = e[_KEYS + ["class", "tax_per_mu"]].rename(columns={"year": "next_year", "class": "next_class",
                                                              "tax_per_mu": "next_tax_per_mu"})
    out = out.merge(nxt, on=["credit_code", "next_year"], how="left")
    outcome = pd.Series("left", index=out.index, dtype="string")
    outcome[out["next_class"].isin(CLASSES[:-1]).fillna(False)] = "improved"
    outcome[out["next_class"].eq(_D).fillna(False)] = "stayed"
    out["outcome"] = outcome
    out["outcome_label"] = outcome.map(OUTCOMES).astype("string")
    out["tax_per_mu_change"] = out["next_tax_per_mu"] - out["tax_per_mu"]

    # the classes from the D year on: every later row of the firm, in year order
    steps = e[e["class"].notna()][["credit_code", "year", "class"]]
    steps = out[["credit_code", "year"]].rename(columns={"year": "from_year"}).drop_duplicates().merge(
        steps, on="credit_code")
    steps = steps[steps["year"] >= steps["from_year"]].sort_values(["credit_code", "from_year", "year"])
    steps["step"] = steps["year"].astype("string") + " " + steps["class"] + " → "
    path = steps.groupby(["credit_code", "from_year"])["step"].sum().str[:-3]
    key = pd.MultiIndex.from_frame(out[["credit_code", "year"]])
    out["class_path"] = pd.Series(path.reindex(key).to_numpy(), index=out.index, dtype="string")

    out["decision_count"] = 0
    out["decisions"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if parcels is not None and decisions is not None and len(decisions):
        held = parcels[["parcel_id", "year", "holder_code"]].astype({"parcel_id": "string", "holder_code": "string"})
        dec = decisions.astype({"parcel_id": "string"}).merge(held, on=["parcel_id", "year"])
        dec = dec.rename(columns={"holder_code": "credit_code"}).sort_values(["credit_code", "year", "parcel_id"])
        measure = _text(dec["measure"]).fillna("")
        dec["text"] = (dec["parcel_id"] + " " + _text(dec["status"]).fillna("")
                       + measure.where(measure.eq(""), "·" + measure) + "；")
        g = dec.groupby(["credit_code", "year"])
        out["decision_count"] = g.size().reindex(key, fill_value=0).to_numpy()
        out["decisions"] = pd.Series(g["text"].sum().str[:-1].reindex(key).to_numpy(), index=out.index,
                                     dtype="string")
    out["_order"] = out["outcome"].map({k: i for i, k in enumerate(OUTCOMES)}).astype("int64")
    out = out.sort_values(["year", "district_name", "_order", "credit_code"], kind="mergesort")
    return out.drop(columns="_order").reset_index(drop=True)


def remediation_summary(follow_up: pd.DataFrame) -> pd.DataFrame:
    """D-class firms by district and year: how many improved, stayed or left, the share
    improved (improved ÷ D firms) and the land (亩) that left with the leavers; firms outside
    every district count under :data:`NO_DISTRICT`; each year closes with a 合计 row.

    Examples
    --------
    >>> f = pd.DataFrame({"district_id": ["1", "1", "2"], "district_name": ["越城区", "越城区", "柯桥区"],
    ...     "year": 2024, "outcome": ["improved", "left", "left"], "land_mu": [10.0, 6.0, 4.0]})
    >>> remediation_summary(f)[["district_name", "d_firms", "improved", "left", "left_mu", "improved_share"]
    ...     ].values.tolist()
    [['柯桥区', 1, 0, 1, 4.0, 0.0], ['越城区', 2, 1, 1, 6.0, 0.5], ['合计', 3, 1, 2, 10.0, 0.3333333333333333]]
    """
    f = follow_up.assign(**{k: follow_up["outcome"].eq(k) for k in OUTCOMES})
    f["left_mu"] = f["land_mu"].where(f["left"], 0.0)
    f["d_firms"] = 1
    counts = ["d_firms", *OUTCOMES]
    f["district_name"] = _text(f["district_name"]).fillna(NO_DISTRICT)
    by = f.groupby(["year", "district_id", "district_name"], dropna=False)[[*counts, "left_mu"]].sum().reset_index()
    total = f.groupby("year")[[*counts, "left_mu"]].sum().reset_index().assign(district_id=pd.NA,
                                                                                 district_name="合计")
    out = pd.concat([by.assign(_total=False), total[by.columns].assign(_total=True)], ignore_index=True)
    out = out.sort_values(["year", "_total", "district_name"], kind="mergesort").drop(columns="_total")
    out = out.astype({c: "int64" for c in counts})
    out["improved_share"] = out["improved"] / out["d_firms"]
    out["left_share"] = out["left"] / out["d_firms"]
    return out.reset_index(drop=True)[["year", "district_id", "district_name", *counts, "improved_share",
                                       "left_share", "left_mu"]]
