"""Compliance of parcels with land-use control indicators and their transfer contracts (标准地).

Each check gives one row: the parcel, the indicator, what was measured, what is required,
and whether it passes. Control indicators apply to built parcels; contract indicators are
checked once due — building indicators (投资强度, 容积率) after the agreed completion date,
output indicators (亩均税收, 亩均增加值, 单位能耗/排放增加值) after the agreed date of full
production (达产).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from mujun.geo._keys import arrow_text, lookup, pandas_text
from mujun.geo.rules import ControlRules

__all__ = ["FAILED", "LABELS", "PASSED", "STATUS_NAMES", "compliance", "compliance_parts", "division_2002",
           "with_texts"]

LABELS = {
    "building_coefficient": "建筑系数",
    "admin_share": "行政办公及生活服务设施用地比重",
    "plot_ratio": "容积率",
    "investment_intensity": "投资强度",
    "tax_per_mu": "亩均税收",
    "value_added_per_mu": "亩均增加值",
    "va_per_energy": "单位能耗增加值",
    "va_per_emission": "单位排放增加值",
}
_PERCENT = {"building_coefficient", "admin_share"}

# (measured, contract field, op, label suffix, due-date field)
_CONTRACT = (
    ("investment_intensity", "contract_investment", ">=", "agreed_finish"),
    ("plot_ratio", "planned_far_min", ">=", "agreed_finish"),
    ("plot_ratio", "planned_far_max", "<=", "agreed_finish"),
    ("tax_per_mu", "contract_tax_per_mu", ">=", "production_due"),
    ("value_added_per_mu", "contract_value_added_per_mu", ">=", "production_due"),
    ("va_per_energy", "contract_va_per_energy", ">=", "production_due"),
    ("va_per_emission", "contract_va_per_emission", ">=", "production_due"),
)


def division_2002(codes: pd.Series, edition: str, concordance: Mapping[str, Mapping[str, str]]) -> pd.Series:
    """Two-digit GB/T 4754-2002 division of industry codes given in ``edition``.

    Examples
    --------
    >>> conc = {"division": {"29": "", "38": "39", "39": "40"}, "group": {"291": "29", "292": "30"}}
    >>> division_2002(pd.Series(["3824", "2922", "1752", None]), "GB/T 4754-2017", conc).tolist()
    ['39', '30', '17', <NA>]
    """
    text = codes.astype("string").str.strip()
    div = text.str[:2]
    if edition == "GB/T 4754-2002":
        return div
    by_group = lookup(text.str[:3], pd.Series(dict(concordance.get("group", {})), dtype="string"))
    by_div = lookup(div, pd.Series(dict(concordance.get("division", {})), dtype="string")).fillna(div)
    out = by_group.fillna(by_div)
    return out.mask(out == "", pd.NA).astype("string")


def _fmt(op: str, value: np.ndarray, indicator: str) -> pd.arrays.ArrowStringArray:
    """The requirement as text ("≥ 1.2", "≤ 7.0%"), formatted once per distinct value."""
    sign = "≥" if op == ">=" else "≤"
    at, distinct = pd.factorize(value, use_na_sentinel=False)  # (hashed: the values need no sort)
    if indicator in _PERCENT:
        texts = sign + " " + (pd.Series(distinct) * 100).round(1).astype("string") + "%"
    else:
        texts = sign + " " + pd.Series(distinct).round(3).astype("string")
    return pandas_text(pa.array(texts.to_numpy(dtype=object), type=pa.string()).take(pa.array(at)))


#: A check's status by code: 0 no data, 1 pass, 2 fail, 3 not yet due.
STATUS_NAMES = ("无数据", "达标", "不达标", "未到期")
PASSED, FAILED = STATUS_NAMES[1], STATUS_NAMES[2]
_INDICATORS, _LABEL_TEXTS = tuple(LABELS), tuple(LABELS.values())
_OPS = (">=", "<=")
_CONTRACT_SOURCE, _CONTRACT_RULE_SET = "出让合同（标准地）", "出让合同"
#: The columns of the checks held as categories (:func:`compliance_parts`).
_CATEGORIES = ("source", "rule_set", "indicator", "label", "op", "status")


def _repeated(text: str, texts: tuple[str, ...], n: int) -> pd.Categorical:
    """``text`` (one of ``texts``) ``n`` times, held as a code per row: a check's constant
    texts are not built millions of times over, and every part of the checks has the same
    categories, so that the parts concatenate as categories too (the writer stores them as
    text)."""
    return pd.Categorical.from_codes(np.full(n, texts.index(text), dtype=np.int8), categories=list(texts))


def _rows(parcels: pd.DataFrame, indicator: str, measured: pd.Series, op: str, required: pd.Series,
          source: str, rule_set: str, due: pd.Series | None, texts: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    have = required.notna().to_numpy()
    m = measured.to_numpy(dtype="float64", na_value=np.nan)[have]
    r = required.to_numpy(dtype="float64", na_value=np.nan)[have]
    passed = (m >= r) if op == ">=" else (m <= r)
    status = np.where(np.isnan(m), 0, np.where(passed, 1, 2))
    if due is not None:
        not_due = ~due.fillna(False).to_numpy(dtype=bool)[have]
        status = np.where(not_due, 3, status)
    n = int(have.sum())
    return pd.DataFrame({
        "parcel_id": parcels["parcel_id"].array[have],
        "source": _repeated(source, texts["source"], n),
        "rule_set": _repeated(rule_set, texts["rule_set"], n),
        "indicator": _repeated(indicator, _INDICATORS, n),
        "label": _repeated(LABELS[indicator], _LABEL_TEXTS, n),
        "measured": m,
        "op": _repeated(op, _OPS, n),
        "required": r,
        "required_text": _fmt(op, r, indicator),
        "status": pd.Categorical.from_codes(status.astype(np.int8), categories=list(STATUS_NAMES)),
        # passed where 达标, failed where 不达标, unknown otherwise
        "passed": pd.arrays.BooleanArray(status == 1, ~np.isin(status, (1, 2))),
    }, index=parcels.index[have])  # (each check on its parcel's row label)


def compliance(
    parcels: pd.DataFrame,
    control: ControlRules,
    division: pd.Series,
    holder: pd.DataFrame,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Every control and contract check of every parcel.

    Parameters
    ----------
    parcels : DataFrame
        A year's parcel results (``parcel_id``, ``building_count``, ``plot_ratio``,
        ``building_coefficient``, ``admin_share``, ``investment_intensity``, contract fields,
        dates).
    control : ControlRules
    division : Series
        Two-digit industry division of each parcel's holder in the edition ``control``
        keys on (see :func:`division_2002`).
    holder : DataFrame
        Each parcel's holder indicators on the parcels' index (``tax_per_mu``,
        ``value_added_per_mu``, ``va_per_energy``, ``va_per_emission``).
    as_of : Timestamp
        The date contracts are judged at.

    Returns
    -------
    DataFrame
        ``parcel_id``, ``source`` (控制指标 / 出让合同), ``rule_set``, ``indicator``, ``label``,
        ``measured``, ``op``, ``required``, ``required_text``, ``status`` (达标 / 不达标 /
        未到期 / 无数据) and ``passed``.
    """
    return with_texts(pd.concat(list(compliance_parts(parcels, control, division, holder, as_of)),
                                ignore_index=True))


def with_texts(checks: pd.DataFrame) -> pd.DataFrame:
    """``checks`` (or parts of them, :func:`compliance_parts`) with their categories as text."""
    out = checks.copy(deep=False)
    for col in _CATEGORIES:
        if col in out.columns:
            out[col] = arrow_text(out[col])
    return out


def compliance_parts(
    parcels: pd.DataFrame,
    control: ControlRules,
    division: pd.Series,
    holder: pd.DataFrame,
    as_of: pd.Timestamp,
) -> Iterator[pd.DataFrame]:
    """The rows of :func:`compliance`, in its order, one check at a time, each computed when it
    is asked for (a writer can write the first while the next are computed); at least one
    part, empty where nothing is checked.

    The repeated texts (``source``, ``rule_set``, ``indicator``, ``label``, ``op``,
    ``status``) are categories, the same in every part: a province's four million checks
    hold a code per row, not the texts (:func:`compliance` and :func:`with_texts` give them as
    text). Each part is on the labels of the rows of ``parcels`` it checks."""
    built = parcels["building_count"] > 0
    src = f"控制指标（{control.title}）"
    texts = {"source": tuple(dict.fromkeys((src, _CONTRACT_SOURCE))),
             "rule_set": tuple(dict.fromkeys((control.name, _CONTRACT_RULE_SET)))}
    any_part = False
    for ind, (op, value) in control.limits.items():
        if ind in parcels.columns:
            req = pd.Series(np.where(built, value, np.nan), index=parcels.index)
            any_part = True
            yield _rows(parcels, ind, parcels[ind], op, req, src, control.name, None, texts)
    if control.plot_ratio_min:
        req = lookup(division, pd.Series(control.plot_ratio_min, dtype="float64")).where(built)
        any_part = True
        yield _rows(parcels, "plot_ratio", parcels["plot_ratio"], ">=", req, src, control.name, None, texts)
    for ind, field, op, due_field in _CONTRACT:
        if field not in parcels.columns:
            continue
        measured = holder[ind] if ind in holder.columns else parcels.get(ind)
        if measured is None:
            continue
        due_dates = pd.to_datetime(parcels[due_field], errors="coerce") if due_field in parcels.columns else None
        due = (due_dates <= as_of) if due_dates is not None else pd.Series(True, index=parcels.index)
        any_part = True
        yield _rows(parcels, ind, measured, op, pd.to_numeric(parcels[field], errors="coerce"),
                    _CONTRACT_SOURCE, _CONTRACT_RULE_SET, due, texts)
    if not any_part:
        yield pd.DataFrame(columns=["parcel_id", "source", "rule_set", "indicator", "label", "measured", "op",
                                    "required", "required_text", "status", "passed"])
