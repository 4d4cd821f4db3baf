"""Constant prices and the province's 2025 targets for 规上工业.

A price index (上年 = 100, one value a year) is chained into price levels relative to its
base year; an amount in a year's prices divided by that year's level is the amount in base-year
prices. The targets of 浙委办发〔2020〕8号 (appendix) are compared with figures at 2019 prices
("其余涉及价格因素的指标…按2019年不变价计"), all of them ratios of sums over 规上 firms.

The index and the targets are data (``data/price_index.toml``, ``data/province_targets.toml``),
parsed and checked here from plain dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mujun.geo.errors import InputError

__all__ = [
    "KPIS",
    "PriceIndex",
    "Target",
    "at_constant_prices",
    "price_index_from_dict",
    "price_levels",
    "target_indicators",
    "targets_from_dict",
]


class PriceIndexError(InputError):
    """A price index or target file is invalid, or lacks a year the data needs."""


@dataclass(frozen=True)
class Kpi:
    """How a target indicator is computed: Σ numerator / Σ denominator × factor.

    ``deflate`` names the sides that are money in current prices and are divided by the price
    level; a ratio of two money amounts is the same at constant prices.
    """

    numerator: str
    denominator: str
    factor: float
    deflate: tuple[str, ...]


#: The target indicators (definitions, not policy values). 用水量 is in 万吨 (1 吨 = 1 立方米),
#: so 万吨 / 万元 × 10⁴ gives 立方米/万元.
KPIS: dict[str, Kpi] = {
    "value_added_per_mu": Kpi("value_added", "land_mu", 1.0, ("value_added",)),
    "tax_per_mu": Kpi("tax", "land_mu", 1.0, ("tax",)),
    "labour_productivity": Kpi("value_added", "employees", 1.0, ("value_added",)),
    "value_added_rate": Kpi("value_added", "output_value", 100.0, ("value_added", "output_value")),
    "rd_intensity": Kpi("rd_expense", "revenue", 100.0, ("rd_expense", "revenue")),
    "water_per_value_added": Kpi("water", "value_added", 1e4, ("value_added",)),
}


@dataclass(frozen=True)
class PriceIndex:
    """A yearly price index, previous year = 100, chained to ``base_year``."""

    name: str
    title: str
    series: str  # the statistical series the values should be
    base_year: int
    index: dict[int, float]  # year -> index (上年 = 100)
    example: bool = True
    source: str = ""
    file: str = ""


@dataclass(frozen=True)
class Target:
    """A 2025 target for 规上工业: ``value`` with ``op`` (``>=`` or ``<=``), and its 2019 baseline."""

    key: str
    value: float
    op: str = ">="
    baseline: float | None = None
    source: str = ""


def _where(file: str, key: str) -> str:
    return f"{file} 的 {key}" if file else key


def _positive(value: Any, key: str, file: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise PriceIndexError(f"{_where(file, key)} 应为正数，现为 {value!r}")
    return float(value)


def price_index_from_dict(d: Mapping[str, Any], file: str = "") -> PriceIndex:
    """A :class:`PriceIndex` from a parsed TOML table, checked.

    The ``[index]`` table maps years to the index with the previous year = 100; its years must
    follow one another and reach from the base year (or the year after it) onwards.

    Examples
    --------
    >>> p = price_index_from_dict({"name": "x", "base_year": 2019, "index": {"2020": 98.0, "2021": 110.0}})
    >>> sorted(p.index.items())
    [(2020, 98.0), (2021, 110.0)]
    """
    allowed = {"name", "title", "series", "base_year", "index", "example", "source", "note"}
    extra = sorted(set(d) - allowed)
    if extra:
        raise PriceIndexError(f"{_where(file, '顶层')} 有未知的键 {', '.join(extra)}；可用：{', '.join(sorted(allowed))}")
    base = d.get("base_year", 2019)
    if isinstance(base, bool) or not isinstance(base, int):
        raise PriceIndexError(f"{_where(file, 'base_year')} 应为年份（整数），现为 {base!r}")
    raw = d.get("index")
    if not isinstance(raw, Mapping) or not raw:
        raise PriceIndexError(f"{_where(file, '[index]')} 缺失或为空；请按“年份 = 指数（上年=100）”逐年填写")
    index: dict[int, float] = {}
    for k, v in raw.items():
        try:
            year = int(str(k))
        except ValueError:
            raise PriceIndexError(f"{_where(file, f'[index] 的 {k}')} 不是年份；请写成 2021 = 108.1") from None
        index[year] = _positive(v, f"[index] 的 {year}", file)
    years = sorted(index)
    gaps = [y for y in range(years[0], years[-1] + 1) if y not in index]
    if gaps:
        raise PriceIndexError(f"{_where(file, '[index]')} 缺少 {'、'.join(map(str, gaps))} 年；年份须逐年连续")
    if not years[0] - 1 <= base <= years[-1]:
        raise PriceIndexError(f"{_where(file, '[index]')} 的年份 {years[0]}–{years[-1]} 接不到基年 {base}；"
                              f"请从 {base + 1} 年起逐年填写")
    example = d.get("example", True)
    if not isinstance(example, bool):
        raise PriceIndexError(f"{_where(file, 'example')} 应为 true 或 false，现为 {example!r}")
    return PriceIndex(str(d.get("name", "")), str(d.get("title", "")), str(d.get("series", "")), base, index,
                      example, str(d.get("source", "")), file)


def price_levels(index: PriceIndex) -> pd.Series:
    """The price level of each year the index reaches, base year = 1 (the chained index ÷ 100).

    Examples
    --------
    >>> p = price_index_from_dict({"base_year": 2019, "index": {"2019": 90.0, "2020": 98.0, "2021": 110.0}})
    >>> price_levels(p).round(4).to_dict()
    {2018: 1.1111, 2019: 1.0, 2020: 0.98, 2021: 1.078}
    """
    years = sorted(index.index)
    rel = pd.Series([index.index[y] / 100.0 for y in years], index=years)
    chained = pd.concat([pd.Series([1.0], index=[years[0] - 1]), rel.cumprod()])  # level relative to years[0] - 1
    levels = chained / chained[index.base_year]
    levels.index.name = "year"
    return levels.rename("price_level")


def at_constant_prices(values: pd.Series, years: pd.Series | int, index: PriceIndex, *,
                       strict: bool = True) -> pd.Series:
    """``values`` (each in the prices of its year) in the prices of the index's base year:
    value ÷ price level of its year. A missing value stays missing; a year the index lacks is
    refused (``strict``) or gives a missing value.

    Examples
    --------
    >>> p = price_index_from_dict({"base_year": 2019, "index": {"2020": 98.0, "2021": 110.0}})
    >>> at_constant_prices(pd.Series([107.8, 50.0]), pd.Series([2021, 2019]), p).round(6).tolist()
    [100.0, 50.0]
    """
    years_s = years if isinstance(years, pd.Series) else pd.Series(years, index=values.index)
    levels = price_levels(index)
    level = pd.to_numeric(years_s, errors="coerce").map(levels)
    needed = pd.to_numeric(values, errors="coerce").notna() & level.isna()
    if strict and needed.any():
        lacking = sorted({str(y) for y in years_s[needed].unique()})
        reach = f"{int(levels.index.min())}–{int(levels.index.max())}"
        raise PriceIndexError(
            f"价格指数 {index.file or index.name} 没有 {'、'.join(lacking)} 年（可折算年度 {reach}）；"
            f"请在文件的 [index] 中补上该年的指数（上年=100），或用 --deflator 指定其他价格指数文件")
    return pd.to_numeric(values, errors="coerce") / level


def targets_from_dict(d: Mapping[str, Any], file: str = "") -> dict[str, Target]:
    """The targets of a parsed TOML file (``[[targets]]`` with ``key``, ``target``, ``op``,
    ``baseline``), checked against :data:`KPIS`.

    Examples
    --------
    >>> t = targets_from_dict({"targets": [{"key": "tax_per_mu", "target": 37, "baseline": 30.5}]})
    >>> t["tax_per_mu"].value, t["tax_per_mu"].op
    (37.0, '>=')
    """
    items = d.get("targets")
    if not isinstance(items, list) or not items:
        raise PriceIndexError(f"{_where(file, '[[targets]]')} 缺失或为空")
    source = str(d.get("source", ""))
    out: dict[str, Target] = {}
    for i, t in enumerate(items, 1):
        where = f"第 {i} 个 [[targets]]"
        if not isinstance(t, Mapping):
            raise PriceIndexError(f"{_where(file, where)} 应为表")
        key = t.get("key")
        if key not in KPIS:
            raise PriceIndexError(f"{_where(file, where)} 的 key '{key}' 未知；可用：{', '.join(KPIS)}")
        op = t.get("op", ">=")
        if op not in (">=", "<="):
            raise PriceIndexError(f"{_where(file, where)} 的 op 应为 \">=\" 或 \"<=\"，现为 {op!r}")
        baseline = t.get("baseline")
        out[key] = Target(key, _positive(t.get("target"), f"{where} 的 target", file), op,
                          None if baseline is None else _positive(baseline, f"{where} 的 baseline", file),
                          str(t.get("source", source)))
    return out


def target_indicators(firms: pd.DataFrame, index: PriceIndex, targets: Mapping[str, Target], *,
                      strict: bool = True) -> pd.DataFrame:
    """The target indicators of ``firms`` (规上 firms of one year, say) in current prices and in the
    index's base-year prices, each a ratio of sums, against ``targets``.

    A firm counts in an indicator when it has both figures (and land > 0 for per-mu figures).
    Rows (indexed by indicator key, in the order of ``targets``): ``numerator``, ``denominator``
    (sums in current prices), ``firms``, ``value`` (current prices), ``value_constant`` (base-year
    prices), ``target``, ``op``, ``baseline``, ``attainment`` (value_constant ÷ target for a floor,
    target ÷ value_constant for a ceiling ``<=``; 1 or more is met), ``met``
    (at base-year prices) and ``missing`` (the fields no firm has, comma-separated, else empty).

    Examples
    --------
    >>> p = price_index_from_dict({"base_year": 2019, "index": {"2020": 110.0}})
    >>> t = targets_from_dict({"targets": [{"key": "tax_per_mu", "target": 37},
    ...                                    {"key": "rd_intensity", "target": 2.5}]})
    >>> f = pd.DataFrame({"year": [2020, 2020], "tax": [330.0, 110.0], "land_mu": [8.0, 2.0],
    ...                   "rd_expense": [3.0, None], "revenue": [100.0, 50.0]})
    >>> r = target_indicators(f, p, t)
    >>> r.loc["tax_per_mu", ["value", "value_constant", "firms"]].tolist()
    [44.0, 40.0, 2.0]
    >>> r.loc["rd_intensity", ["value", "value_constant", "firms"]].tolist()
    [3.0, 3.0, 1.0]
    """
    rows = []
    for key, target in targets.items():  # a handful of indicators, not firms
        kpi = KPIS[key]
        lacking = [c for c in (kpi.numerator, kpi.denominator)
                   if c not in firms.columns or pd.to_numeric(firms[c], errors="coerce").notna().sum() == 0]
        row: dict[str, Any] = {"key": key, "target": target.value, "op": target.op, "baseline": target.baseline,
                               "missing": ",".join(lacking)}
        if lacking:
            row |= {"numerator": np.nan, "denominator": np.nan, "firms": 0, "value": np.nan, "value_constant": np.nan}
        else:
            num = pd.to_numeric(firms[kpi.numerator], errors="coerce")
            den = pd.to_numeric(firms[kpi.denominator], errors="coerce")
            use = num.notna() & den.notna() & (den > 0 if kpi.denominator == "land_mu" else True)
            num, den = num[use], den[use]
            years = firms.loc[use, "year"]
            num_c = at_constant_prices(num, years, index, strict=strict) if kpi.numerator in kpi.deflate else num
            den_c = at_constant_prices(den, years, index, strict=strict) if kpi.denominator in kpi.deflate else den
            row |= {"numerator": float(num.sum()), "denominator": float(den.sum()), "firms": int(use.sum()),
                    "value": _ratio(num.sum(), den.sum(), kpi.factor),
                    "value_constant": _ratio(num_c.sum(), den_c.sum(), kpi.factor)}
        rows.append(row)
    out = pd.DataFrame(rows).set_index("key")
    ratio = out["value_constant"] / out["target"]
    out["attainment"] = ratio.where(out["op"] == ">=", 1.0 / ratio)  # a ceiling is attained as it is approached
    above = out["value_constant"] >= out["target"]
    below = out["value_constant"] <= out["target"]
    met = above.where(out["op"] == ">=", below).astype(object)
    out["met"] = met.where(out["value_constant"].notna(), None)
    cols = ["numerator", "denominator", "firms", "value", "value_constant", "target", "op", "baseline",
            "attainment", "met", "missing"]
    return out[cols]


def _ratio(num: float, den: float, factor: float) -> float:
    return float(num) / float(den) * factor if den > 0 else float("nan")
