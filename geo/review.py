"""Land-bureau review of flagged parcels: what enters the queue, how urgent it is, and
which decisions are well-formed.

The queue holds every parcel flagged idle (闲置), inefficient (低效) or non-compliant
(不达标), every parcel whose imagery contradicts its building layer (需现场核查, see
:func:`mujun.geo.flags.site_checks`), and every parcel whose holder is classed D. Severity is the yearly tax the parcel
falls short by: ``max(target − 亩均税收, 0) × 面积`` in 万元, where the target is the median
亩均税收 of its district's firms in its industry (see :mod:`mujun.geo.whatif`); a parcel with no
figures (idle, no record) starts from zero.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mujun.geo.errors import InputError
from mujun.geo.flags import CHECK_KINDS, FLAG_KINDS
from mujun.geo.rules import CLASSES

__all__ = ["DECISIONS", "MEASURES", "PENDING", "QUEUE_KINDS", "RECOVERY_MEASURES", "STATUSES", "check_decision", "queue", "severity"]

#: The decisions a reviewer records.
DECISIONS = ("认定闲置", "认定低效", "不予认定", "需现场核查")
#: Measures that take the land back from its holder (腾笼换鸟: see :mod:`mujun.geo.ledger`).
RECOVERY_MEASURES = ("协议收回", "依法收回")
#: Measures (处置措施) for confirmed idle or inefficient land.
MEASURES = ("限期开工", "整治提升", *RECOVERY_MEASURES, "二次开发", "其他")
#: Status of a parcel without a decision.
PENDING = "待审核"
STATUSES = (PENDING, "需现场核查", "认定闲置", "认定低效", "不予认定")
#: Why a parcel is in the queue: flag column -> label.
QUEUE_KINDS = {**FLAG_KINDS, **CHECK_KINDS, "class_d": f"{CLASSES[-1]}类企业用地"}
MAX_COMMENT = 2000


def severity(parcels: pd.DataFrame) -> pd.Series:
    """Yearly tax shortfall (万元) of each parcel against its peers' median 亩均税收.

    Examples
    --------
    >>> p = pd.DataFrame({"target_tax_per_mu": [10.0, 10.0, 10.0, None],
    ...                   "tax_per_mu": [4.0, None, 12.0, 1.0], "area_mu": [20.0, 5.0, 8.0, 3.0]})
    >>> severity(p).tolist()
    [120.0, 50.0, 0.0, 0.0]
    """
    target = pd.to_numeric(parcels["target_tax_per_mu"], errors="coerce").astype("float64")
    have = pd.to_numeric(parcels["tax_per_mu"], errors="coerce").astype("float64").fillna(0.0)
    gap = (target - have).clip(lower=0.0).fillna(0.0)
    return (gap * pd.to_numeric(parcels["area_mu"], errors="coerce").astype("float64")).rename("severity")


def queue(parcels: pd.DataFrame) -> pd.DataFrame:
    """The parcels to review, most severe first, with ``kinds`` (labels, joined by 、),
    one boolean column per :data:`QUEUE_KINDS` key and ``severity``.

    Examples
    --------
    >>> p = pd.DataFrame({"parcel_id": ["a", "b", "c"], "idle": [True, False, False],
    ...     "inefficient": [False, False, False], "noncompliant": [False, False, True],
    ...     "class": ["B", "B", "D"], "target_tax_per_mu": [10.0, 10.0, 10.0],
    ...     "tax_per_mu": [None, 20.0, 5.0], "area_mu": [3.0, 9.0, 10.0]})
    >>> queue(p)[["parcel_id", "kinds", "severity"]].values.tolist()
    [['c', '不达标、D类企业用地', 50.0], ['a', '闲置', 30.0]]
    """
    kinds = pd.DataFrame(index=parcels.index)
    for key in QUEUE_KINDS:
        if key == "class_d":
            col = parcels["class"] if "class" in parcels.columns else pd.Series(pd.NA, index=parcels.index)
            kinds[key] = col.astype("string").eq("D").fillna(False).astype(bool)
        else:
            col = parcels[key] if key in parcels.columns else pd.Series(False, index=parcels.index)
            kinds[key] = col.astype("boolean").fillna(False).astype(bool)
    keep = kinds.any(axis=1)
    out = parcels.loc[keep].copy()
    for key in QUEUE_KINDS:
        out[key] = kinds.loc[keep, key]
    labels = np.array([f"{v}、" for v in QUEUE_KINDS.values()], dtype=object)
    joined = kinds.loc[keep].to_numpy(dtype=object).dot(labels) if keep.any() else np.array([], dtype=object)
    out["kinds"] = pd.Series(joined, index=out.index, dtype="string").str.rstrip("、")
    out["severity"] = severity(out)
    return out.sort_values(["severity", "area_mu", "parcel_id"], ascending=[False, False, True], kind="mergesort")


def check_decision(status: str, measure: str, deadline: str, comment: str, *, today: dt.date | None = None) -> dt.date | None:
    """Refuse an ill-formed decision with a message saying what to fix; the deadline parsed.

    认定闲置 and 认定低效 need a measure and a deadline; 不予认定 needs a reason in the
    comment; a deadline is a date (YYYY-MM-DD) not in the past.

    Examples
    --------
    >>> check_decision("认定闲置", "限期开工", "2027-06-30", "", today=dt.date(2026, 1, 1))
    datetime.date(2027, 6, 30)
    >>> check_decision("不予认定", "", "", "")
    Traceback (most recent call last):
    ...
    mujun.geo.errors.InputError: 不予认定须在“审核意见”中写明理由
    """
    if status not in DECISIONS:
        raise InputError(f"审核结论 '{status}' 无效；请选择 {' / '.join(DECISIONS)}")
    if measure and measure not in MEASURES:
        raise InputError(f"处置措施 '{measure}' 无效；请选择 {' / '.join(MEASURES)}")
    if len(comment) > MAX_COMMENT:
        raise InputError(f"审核意见过长（{len(comment)} 字）；请控制在 {MAX_COMMENT} 字以内")
    when = None
    if deadline:
        try:
            when = dt.date.fromisoformat(deadline)
        except ValueError:
            raise InputError(f"整改期限 '{deadline}' 不是日期；请按 YYYY-MM-DD 填写") from None
        if when < (today or dt.date.today()):
            raise InputError(f"整改期限 {deadline} 已过；请填写今天或以后的日期")
    if status in ("认定闲置", "认定低效"):
        if not measure:
            raise InputError(f"{status}须选择处置措施")
        if when is None:
            raise InputError(f"{status}须填写整改期限")
    if status == "不予认定" and not comment.strip():
        raise InputError("不予认定须在“审核意见”中写明理由")
    return when
