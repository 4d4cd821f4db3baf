"""Enterprise indicators of the 亩均效益综合评价 and their population benchmarks.

| indicator | formula | unit |
|---|---|---|
| tax_per_mu 亩均税收 | tax / land_mu | 万元/亩 |
| value_added_per_mu 亩均增加值 | value_added / land_mu | 万元/亩 |
| revenue_per_mu 亩均营业收入 | revenue / land_mu | 万元/亩 |
| output_per_mu 亩均产值 | output_value / land_mu | 万元/亩 |
| va_per_energy 单位能耗增加值 | value_added / energy_tce | 万元/吨标准煤 |
| va_per_emission 单位排放增加值 | value_added / emissions | 万元/吨 |
| labour_productivity 全员劳动生产率 | value_added / employees | 万元/人 |
| rd_intensity R&D 经费占比 | rd_expense / revenue × 100 | % |
| tax_per_kwh 单位用电税收 | tax / electricity | 万元/万千瓦时 |
"""

from __future__ import annotations

import pandas as pd

from mujun.geo.errors import InputError
from mujun.geo.intensity import safe_ratio

__all__ = ["INDICATORS", "benchmarks", "enterprise_indicators"]

#: indicator -> (numerator, denominator, factor)
INDICATORS: dict[str, tuple[str, str, float]] = {
    "tax_per_mu": ("tax", "land_mu", 1.0),
    "value_added_per_mu": ("value_added", "land_mu", 1.0),
    "revenue_per_mu": ("revenue", "land_mu", 1.0),
    "output_per_mu": ("output_value", "land_mu", 1.0),
    "va_per_energy": ("value_added", "energy_tce", 1.0),
    "va_per_emission": ("value_added", "emissions", 1.0),
    "labour_productivity": ("value_added", "employees", 1.0),
    "rd_intensity": ("rd_expense", "revenue", 100.0),
    "tax_per_kwh": ("tax", "electricity", 1.0),
}


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return pd.Series(float("nan"), index=frame.index)


def enterprise_indicators(frame: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """The indicators ``keys`` (default: all) of each enterprise; missing where undefined.

    Examples
    --------
    >>> f = pd.DataFrame({"tax": [30.0], "value_added": [120.0], "land_mu": [2.0],
    ...                   "energy_tce": [40.0], "revenue": [500.0], "rd_expense": [15.0]})
    >>> enterprise_indicators(f, ["tax_per_mu", "va_per_energy", "rd_intensity"]).to_dict("records")
    [{'tax_per_mu': 15.0, 'va_per_energy': 3.0, 'rd_intensity': 3.0}]
    """
    keys = list(INDICATORS) if keys is None else keys
    unknown = [k for k in keys if k not in INDICATORS]
    if unknown:
        raise InputError(f"未知的评价指标 {', '.join(unknown)}；可用：{', '.join(INDICATORS)}")
    out = {}
    for k in keys:
        num, den, factor = INDICATORS[k]
        out[k] = safe_ratio(_col(frame, num), _col(frame, den)) * factor
    return pd.DataFrame(out, index=frame.index)


def benchmarks(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Population benchmark of each indicator: Σ numerator / Σ denominator (ratio of sums).

    Only records with both parts known and a positive denominator count.

    Examples
    --------
    >>> f = pd.DataFrame({"tax": [10.0, 90.0, 5.0], "land_mu": [10.0, 30.0, None]})
    >>> benchmarks(f, ["tax_per_mu"]).to_dict()
    {'tax_per_mu': 2.5}
    """
    out = {}
    for k in keys:
        num, den, factor = INDICATORS[k]
        n, d = _col(frame, num), _col(frame, den)
        ok = n.notna() & (d > 0)
        total = d[ok].sum()
        out[k] = float(n[ok].sum() / total * factor) if total > 0 else float("nan")
    return pd.Series(out, dtype="float64", name="benchmark")
