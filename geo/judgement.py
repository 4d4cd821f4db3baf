"""Turning a year's per-mu results into judgements: scores and classes, compliance, idle and
inefficient land, the 万亩千亿 platform assessment and the what-if gains.

Pure: frames and rule sets in, frames out (see :func:`judge_year`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.geo._keys import Coded, first_rows, lookup, lookup_rows
from mujun.geo.compliance import compliance_parts, division_2002, with_texts
from mujun.geo.flags import (
    CHECK_KINDS,
    FLAG_KINDS,
    idle_flags,
    idle_tiers,
    inefficient_flags,
    noncompliance_flags,
    site_checks,
)
from mujun.geo.platforms import platform_assessment
from mujun.geo.rules import ControlRules, RuleSet
from mujun.geo.scoring import class_change, score_enterprises
from mujun.geo.whatif import whatif_gains

__all__ = ["DATA_EDITION", "class_counts", "judge_year"]

#: Edition of GB/T 4754 that industry codes in the data are taken to follow.
DATA_EDITION = "GB/T 4754-2017"


def _division(codes: pd.Series, edition: str, concordance: Mapping) -> pd.Series:
    if edition == "GB/T 4754-2002" and edition != DATA_EDITION:
        return division_2002(codes, DATA_EDITION, concordance)
    return codes.astype("string").str.strip().str[:2]


def judge_year(
    results: dict[str, pd.DataFrame],
    rules: RuleSet,
    control: ControlRules,
    *,
    as_of: pd.Timestamp,
    concordance: Mapping,
    previous_class: pd.Series | None = None,
    veto: Mapping[str, str] | None = None,
    builtup: pd.Series | None = None,
    emit: Callable[[str, pd.DataFrame | Iterator[pd.DataFrame]], None] | None = None,
    zones: Callable[[], Mapping[str, pd.DataFrame]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Add the year's judgements to the results of :func:`mujun.geo.evaluation.evaluate_year`.

    Parameters
    ----------
    results : dict
        ``{"enterprise": …, "parcel": …, "platform": …}`` of one year.
    rules, control : RuleSet, ControlRules
    as_of : Timestamp
        Date idle land and contracts are judged at.
    concordance : mapping
        GB/T 4754-2017 → 2002 table (:func:`mujun.layers.rulesets.industry_concordance`).
    previous_class : Series, optional
        Last year's class by credit code.
    veto : mapping, optional
        Extra vetoes (credit code -> reason).
    builtup : Series, optional
        Observed built-up fraction of each parcel by ``parcel_id``.
    emit : callable, optional
        Given, the long tables ``compliance`` and ``flag`` are handed to ``emit(name, table)``
        and not returned: a province's millions of rows can be written (and let go) while the
        rest is judged. ``flag`` is handed over complete, ``compliance`` as an iterator of its
        parts (one per check, each computed when it is taken; their repeated texts as
        categories, see :func:`~mujun.geo.compliance.compliance_parts`). ``enterprise`` is
        handed over as soon as it is complete (once the parcels are flagged, before their
        measures, reasons and gains), then ``parcel`` (before the platforms' assessment); both
        are returned as well.
    zones : callable, optional
        The zone levels' results (``park``, ``platform``, ``district``) of
        :func:`~mujun.geo.evaluation.year_figures`, summed up when called: called once the
        parcels are judged (and handed to ``emit``), and added to the results as if given in
        ``results``.

    Returns
    -------
    dict
        ``enterprise`` scored and classed; ``parcel`` with the holder's class and score,
        ``idle``, ``inefficient``, ``noncompliant``, ``site_check``, ``flags``, ``flag_reasons``,
        the idle-land measures (:func:`mujun.geo.flags.idle_tiers`) and the what-if gains;
        ``flag`` and ``compliance`` (long tables, unless ``emit``; each flag indexed by the row
        of ``parcel`` it marks, ``parcel_row``: the first with its ``parcel_id``, -1 for none);
        ``benchmark``; and
        ``platform`` with the assessment columns.
    """
    year = int(results["enterprise"]["year"].iloc[0])
    out = dict(results)
    ent, bench = score_enterprises(results["enterprise"], rules, veto)
    ent["rule_set"] = rules.name
    prev = previous_class if previous_class is not None else pd.Series(dtype="string")
    ent["previous_class"] = lookup(ent["credit_code"], prev).astype("string")
    ent["class_change"] = class_change(ent["class"], ent["previous_class"])
    out["enterprise"] = ent
    bench.insert(0, "year", year)
    bench["rule_set"] = rules.name
    out["benchmark"] = bench

    p = results["parcel"].copy(deep=False)  # copy-on-write: judgements are added, the year's columns shared
    holder_cols = ["score", "class", "class_name", "va_per_energy", "va_per_emission"]
    holder = ent.drop_duplicates("credit_code").set_index("credit_code")
    holder = holder[[c for c in holder_cols if c in holder.columns]]
    joined = lookup_rows(p["holder_code"], holder)
    for col in joined.columns:
        p[col] = joined[col]
    codes = p["industry_code"] if "industry_code" in p.columns else pd.Series(pd.NA, index=p.index, dtype="string")
    if builtup is not None:
        p["builtup_fraction"] = lookup(p["parcel_id"], builtup).astype("float64")
    observed = p["builtup_fraction"] if "builtup_fraction" in p.columns else None

    kept: list[pd.DataFrame] = []

    def checked() -> Iterator[pd.DataFrame]:
        for part in compliance_parts(p, control, _division(codes, control.edition, concordance), p, as_of):
            part.insert(1, "year", year)
            kept.append(part)
            yield part

    # the checks are handed over one check at a time, each as soon as it is computed (a
    # writer writes the longest table while the rest is judged), and let go once their flags
    # are drawn, before the other flags are built
    if emit is not None:
        parts = checked()
        emit("compliance", parts)
        for _ in parts:  # what emit did not take is computed all the same
            pass
    else:
        out["compliance"] = with_texts(pd.concat(list(checked()), ignore_index=True))
    # the failed checks' flags drawn part by part (each on its parcel's row), the parts not put together
    noncompliant = pd.concat([noncompliance_flags(part) for part in kept])
    kept.clear()
    # bare imagery over buildings that cover the control minimum is checked on site, not idle
    op, coverage_min = control.limits.get("building_coefficient", (">=", None))
    coverage_min = coverage_min if op == ">=" else None
    flags = pd.concat(
        [
            idle_flags(p, rules, as_of, observed, coverage_min=coverage_min),
            inefficient_flags(p, rules, _division(codes, rules.industry_edition, concordance)),
            noncompliant,
            site_checks(p, rules, observed, coverage_min),
        ],
    )  # (each flag on the label of its parcel's row)
    del noncompliant
    flags.insert(1, "year", year)
    # the first parcel row of each parcel's id and of each flag's: a flag marks every row with its id
    if p.index.equals(pd.RangeIndex(len(p))):  # the flags' labels are their parcels' rows
        first = Coded(p["parcel_id"]).first_rows()
        at = first[np.asarray(flags.index, dtype="int64")]
    else:
        first, at = first_rows(p["parcel_id"], flags["parcel_id"])
    flags.index = pd.Index(at, name="parcel_row")
    # the flags are complete: written (and let go) while they mark their parcels
    if emit is not None:
        emit("flag", flags)
    else:
        out["flag"] = flags
    own = np.where(first >= 0, first, 0)
    for kind in (*FLAG_KINDS, *CHECK_KINDS):
        hit = at[(flags["kind"] == kind).to_numpy(dtype=bool, na_value=False)]
        marked = np.zeros(len(p), dtype=bool)
        marked[hit[hit >= 0]] = True
        p[kind] = marked[own] & (first >= 0)
    # an enterprise carries the flags of the parcels it holds: complete now, written while the
    # parcels' measures, reasons and gains are judged
    held = (p.loc[p[list(FLAG_KINDS)].any(axis=1) & p["holder_code"].notna(), ["holder_code", *FLAG_KINDS]]
            if "holder_code" in p.columns else p.iloc[0:0])
    kinds = _labels(held.groupby("holder_code")[list(FLAG_KINDS)].any(), list(FLAG_KINDS.values()))
    ent["flags"] = lookup(ent["credit_code"], kinds).astype("string")
    out["enterprise"] = ent
    if emit is not None:
        emit("enterprise", ent)
    tiers = idle_tiers(p, rules, as_of, observed)
    for col in tiers.columns:
        p[col] = tiers[col]
    p["flags"] = _labels(p[list(FLAG_KINDS)], list(FLAG_KINDS.values()))
    reason = pa.array(flags["reason"], from_pandas=True).cast(pa.large_string())
    # each reason's parcel: the row of the first parcel with its id (-1: none, or no reason)
    at = np.where(reason.is_valid().to_numpy(zero_copy_only=False), at, -1)
    del flags
    p["flag_reasons"] = _joined(at, reason, first)
    flagged = p[list(FLAG_KINDS)].any(axis=1)
    gains = whatif_gains(p, ent, flagged)
    for col in gains.columns:
        p[col] = gains[col]
    out["parcel"] = p
    if emit is not None:  # complete: written while the rest is judged (and still returned)
        emit("parcel", p)

    if zones is not None:  # the parcels are handed over: the zone levels summed up now
        out.update(zones())
    if "platform" in out:
        assessment = platform_assessment(out["platform"], p, p["idle"])
        plat = out["platform"]
        # the zone summary already has the platform's attributes and its own per-mu figures
        extra = assessment.drop(columns=["name", "lead_industry", "planned_mu", "target_year", "district_id",
                                         "tax_per_mu"]).rename(columns={"output_per_mu": "inside_output_per_mu"})
        merged = plat.drop(columns=[c for c in extra.columns if c != "platform_id" and c in plat.columns])
        out["platform"] = merged.merge(extra, on="platform_id", how="left")
    return out


def _joined(at: np.ndarray, texts: pa.Array | pa.ChunkedArray, first: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The texts of each row joined by "；" in their order, missing where a row has none:
    ``texts[k]`` belongs to row ``at[k]`` (-1: to none), and row ``i`` takes the texts of row
    ``first[i]`` (the first row with its key; -1: none). Arrow lists and joins them, no Python
    call per row.

    Examples
    --------
    >>> _joined(np.array([1, 0, 1, -1]), pa.array(["a", "b", "c", "d"]), np.array([0, 1, 1, -1])).tolist()
    ['b', 'a；c', 'a；c', <NA>]
    """
    kept = np.flatnonzero(at >= 0)
    order = kept[np.argsort(at[kept], kind="stable")]  # by row, each row's texts in their order
    counts = np.bincount(at[kept], minlength=len(first))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype("int32" if len(kept) < 2**31 else "int64")
    values = texts.take(pa.array(order))
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    listed = (pa.ListArray if offsets.dtype == "int32" else pa.LargeListArray).from_arrays(
        pa.array(offsets), values, mask=pa.array(counts == 0))  # (a row without texts: missing)
    joined = pc.binary_join(listed, pa.scalar("；", type=values.type))
    if not np.array_equal(first, np.arange(len(first))):  # rows sharing a key, or without one
        joined = joined.take(pa.array(first, mask=first < 0))
    return pd.array(joined, dtype="string")


def _labels(marks: pd.DataFrame, labels: list[str]) -> pd.Series:
    """The labels of the true columns of each row, joined by "、" (missing where none).

    Examples
    --------
    >>> _labels(pd.DataFrame({"a": [True, False, False], "b": [True, True, False]}), ["闲置", "低效"]).tolist()
    ['闲置、低效', '低效', <NA>]
    """
    # each row's marks as a number (bit k: column k), its text made once per number and taken
    bits = marks.astype(bool).to_numpy(dtype=bool).reshape(len(marks), len(labels)) @ (1 << np.arange(len(labels)))
    texts = pa.array(["、".join(w for k, w in enumerate(labels) if n >> k & 1) or None for n in range(1 << len(labels))],
                     type=pa.large_string())
    return pd.Series(pd.array(texts.take(pa.array(bits)), dtype="string"), index=marks.index)


def class_counts(enterprises: pd.DataFrame) -> pd.DataFrame:
    """Number and share of each class per group (规上 / 规下)."""
    e = enterprises[enterprises["class"].notna()]
    counts = e.groupby(["group", "class"]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0).add_suffix("_share")
    return pd.concat([counts, shares], axis=1).astype("float64")
