"""Differentiated resource allocation (差别化资源要素配置): what each class of firm is charged,
granted or refused, by measure and agency.

A measure rule set (parsed here from the dict of a ``layers/rules/measures-*.toml`` file) names
for each measure the classes (and 规上/规下) it applies to, the agency, the kind, the rate with
its unit and the enterprise figure it is charged on. :func:`measure_rows` gives one row per
firm and measure: 金额 (万元) = 标准 × 计费基数 in consistent units for the monetary kinds
(加价, 减免), the treatment (and a quantity where there is one) for the others. A firm without
the figure a measure is charged on is listed with the reason, never with 0.

Units are converted by dimension: the rate's denominator (元/千瓦时, 元/立方米, 元/平方米 …)
against the unit the base is stored in (万千瓦时, 万立方米, 亩 …), e.g.
0.3 元/千瓦时 × 120 万千瓦时 = 0.3 × 1 200 000 元 = 36 万元.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mujun.geo.rules import (  # the rule files' own value checks
    CLASSES,
    GROUPS,
    RuleError,
    _number,
    _where,
)

__all__ = [
    "AGENCIES",
    "BASES",
    "MEASURE_KINDS",
    "MONETARY",
    "Measure",
    "MeasureRules",
    "amount_factor",
    "consecutive_years",
    "measure_rows",
    "measure_rules_from_dict",
    "measure_summary",
    "measure_totals",
]

#: Agency ids and their Chinese names, in the order of the export's sheets.
AGENCIES = {"power": "供电", "water": "供水", "gas": "燃气", "environment": "生态环境", "tax": "税务",
            "finance": "金融", "land": "自然资源"}
#: Measure kinds and their Chinese names.
MEASURE_KINDS = {"surcharge": "加价", "tax_reduction": "减免", "energy_quota": "用能指标", "credit": "信贷",
                 "land_supply": "用地供应"}
#: Kinds whose result is a sum of money (金额, 万元); the others show a treatment.
MONETARY = ("surcharge", "tax_reduction")
#: Enterprise figures a measure may be charged on (canonical field names; labels and units come
#: from the schema through the caller).
BASES = ("electricity", "water", "gas", "energy_tce", "owned_mu")
#: Scope ids: every classified firm, or one of the evaluation's groups (规上/规下).
SCOPES = {"all": "全部企业", **GROUPS}

# unit -> (dimension, size in the dimension's base unit). 吨 is a water volume (1 吨 = 1 立方米)
# and measures only a water base; rates per 立方米 fit either.
_QUANTITY = {
    "千瓦时": ("kwh", 1.0), "度": ("kwh", 1.0), "万千瓦时": ("kwh", 1e4), "万度": ("kwh", 1e4),
    "立方米": ("m3", 1.0), "万立方米": ("m3", 1e4),
    "吨": ("water", 1.0), "万吨": ("water", 1e4),
    "平方米": ("m2", 1.0), "亩": ("m2", 10000.0 / 15.0), "公顷": ("m2", 1e4),
    "吨标准煤": ("tce", 1.0), "万吨标准煤": ("tce", 1e4),
}
_MONEY = {"元": 1e-4, "万元": 1.0}  # -> 万元


@dataclass(frozen=True)
class Measure:
    """One measure of a rule set.

    ``rate``/``unit`` is the charge per unit of ``base`` (加价); for 减免 ``share`` of the tax due,
    the tax due being ``tax_rate`` (``tax_unit``, e.g. 元/平方米) × ``base``; for 用能指标 an
    optional ``share`` of ``base`` granted or withheld. From ``consecutive_years`` years in a
    row in the measure's classes (counting the year itself) the rate is ``consecutive_rate``.
    """

    id: str
    title: str
    agency: str
    kind: str
    classes: tuple[str, ...]
    scope: str = "all"
    base: str | None = None
    base_label: str = ""
    base_unit: str = ""
    rate: float | None = None
    unit: str = ""
    share: float | None = None
    tax_rate: float | None = None
    tax_unit: str = ""
    consecutive_years: int | None = None
    consecutive_rate: float | None = None
    treatment: str = ""
    source: str = ""
    example: bool = True

    @property
    def monetary(self) -> bool:
        return self.kind in MONETARY


@dataclass(frozen=True)
class MeasureRules:
    """A measure rule set (差别化措施)."""

    name: str
    title: str
    measures: tuple[Measure, ...]
    verified: bool = False
    description: str = ""
    source: str = ""


def amount_factor(rate_unit: str, base_unit: str) -> float:
    """Factor turning rate × base into 万元, for a rate in ``rate_unit`` on a base in ``base_unit``.

    Examples
    --------
    >>> amount_factor("元/千瓦时", "万千瓦时")   # 0.3 元/kWh × 120 万kWh = 36 万元
    1.0
    >>> round(amount_factor("元/平方米", "亩"), 6)  # 元/m² × 亩 → 万元
    0.066667
    >>> amount_factor("元/立方米", "万吨")
    1.0
    """
    num, _, den = rate_unit.partition("/")
    if num not in _MONEY or den not in _QUANTITY:
        raise ValueError(f"unknown rate unit {rate_unit!r}")
    rate_dim, rate_size = _QUANTITY[den]
    base_dim, base_size = _QUANTITY[base_unit]
    if not _fits(rate_dim, base_dim):
        raise ValueError(f"{rate_unit!r} does not fit a base in {base_unit!r}")
    return _MONEY[num] * base_size / rate_size


def _fits(rate_dim: str, base_dim: str) -> bool:
    return rate_dim == base_dim or (rate_dim == "m3" and base_dim == "water")


# -- parsing ---------------------------------------------------------------------------------

def _text(d: Mapping[str, Any], key: str, where: str, source: str, *, required: bool = True) -> str:
    value = d.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleError(f"{_where(source, f'{where}.{key}' if where else key)} 必须是非空文字")
    return value.strip()


def _choice(d: Mapping[str, Any], key: str, choices: Mapping[str, str], where: str, source: str) -> str:
    value = d.get(key)
    if value not in choices:
        listed = "、".join(f"{k}（{v}）" for k, v in choices.items())
        raise RuleError(f"{_where(source, f'{where}.{key}')} 为 {value!r}；可用：{listed}")
    return value


def _rate_unit(unit: Any, base_unit: str, key: str, source: str) -> str:
    if not isinstance(unit, str):
        raise RuleError(f"{_where(source, key)} 应为单位文字，如 \"元/千瓦时\"，现为 {unit!r}")
    try:
        amount_factor(unit, base_unit)
    except ValueError:
        dens = [u for u, (dim, _) in _QUANTITY.items() if _fits(dim, _QUANTITY[base_unit][0])]
        raise RuleError(f"{_where(source, key)} 为 {unit!r}，与计费基数的单位 {base_unit} 不相符；"
                        f"可用：{'、'.join(f'元/{u}' for u in dens)}（或 万元/…）") from None
    return unit


_KEYS = {"id", "title", "agency", "kind", "classes", "scope", "base", "rate", "unit", "share", "tax_rate",
         "tax_unit", "consecutive", "treatment", "source", "example"}


def _measure(d: Any, key: str, source: str, bases: Mapping[str, tuple[str, str]]) -> Measure:
    if not isinstance(d, Mapping):
        raise RuleError(f"{_where(source, key)} 应为表（[[measures]]）")
    extra = sorted(set(d) - _KEYS)
    if extra:
        raise RuleError(f"{_where(source, key)} 有未知的键 {', '.join(extra)}；可用：{', '.join(sorted(_KEYS))}")
    mid = _text(d, "id", key, source)
    title = _text(d, "title", key, source)
    agency = _choice(d, "agency", AGENCIES, key, source)
    kind = _choice(d, "kind", MEASURE_KINDS, key, source)
    classes = d.get("classes")
    if not isinstance(classes, list) or not classes or not set(classes) <= set(CLASSES):
        raise RuleError(f"{_where(source, key + '.classes')} 应为分类的列表，如 [\"D\"]（可用 A、B、C、D），现为 {classes!r}")
    scope = d.get("scope", "all")
    if scope not in SCOPES:
        raise RuleError(f"{_where(source, key + '.scope')} 为 {scope!r}；可用：" +
                        "、".join(f"{k}（{v}）" for k, v in SCOPES.items()))
    example = d.get("example", True)
    if not isinstance(example, bool):
        raise RuleError(f"{_where(source, key + '.example')} 应为 true 或 false")
    base = d.get("base")
    needs_base = kind in MONETARY or "share" in d
    if needs_base and base not in bases:
        raise RuleError(f"{_where(source, key + '.base')} 为 {base!r}；可用的计费基数：" +
                        "、".join(f"{b}（{label}）" for b, (label, _) in bases.items()))
    if not needs_base and base is not None:
        raise RuleError(f"{_where(source, key + '.base')}：{MEASURE_KINDS[kind]}措施只有给出 share 时才需要计费基数")
    base_label, base_unit = bases[base] if base else ("", "")
    out: dict[str, Any] = {}
    if kind == "surcharge":
        out["rate"] = _number(d.get("rate"), key + ".rate", source, low=0)
        out["unit"] = _rate_unit(d.get("unit"), base_unit, key + ".unit", source)
    elif kind == "tax_reduction":
        out["share"] = _number(d.get("share"), key + ".share", source, low=0, high=1)
        out["tax_rate"] = _number(d.get("tax_rate"), key + ".tax_rate", source, low=0)
        out["tax_unit"] = _rate_unit(d.get("tax_unit"), base_unit, key + ".tax_unit", source)
    else:
        for k in ("rate", "unit", "tax_rate", "tax_unit", "consecutive"):
            if k in d:
                raise RuleError(f"{_where(source, f'{key}.{k}')}：{MEASURE_KINDS[kind]}措施不收费，不用 {k}")
        if "share" in d:
            out["share"] = _number(d["share"], key + ".share", source, low=0, high=1)
    if kind in MONETARY:
        for k in ("rate", "unit", "share", "tax_rate", "tax_unit"):
            if k in d and k not in out:
                raise RuleError(f"{_where(source, f'{key}.{k}')}：{MEASURE_KINDS[kind]}措施不用 {k}")
    treatment = _text(d, "treatment", key, source, required=kind not in MONETARY)
    if "consecutive" in d:
        if kind != "surcharge":
            raise RuleError(f"{_where(source, key + '.consecutive')} 只用于加价措施")
        c = d["consecutive"]
        if not isinstance(c, Mapping) or set(c) - {"years", "rate", "source"} or not {"years", "rate"} <= set(c):
            raise RuleError(f"{_where(source, key + '.consecutive')} 应写成 {{ years = 3, rate = 0.4 }}")
        years = c["years"]
        if isinstance(years, bool) or not isinstance(years, int) or years < 2:
            raise RuleError(f"{_where(source, key + '.consecutive.years')} 应为不小于 2 的整数，现为 {years!r}")
        out["consecutive_years"] = years
        out["consecutive_rate"] = _number(c["rate"], key + ".consecutive.rate", source, low=0)
    return Measure(id=mid, title=title, agency=agency, kind=kind, classes=tuple(sorted(set(classes))), scope=scope,
                   base=base, base_label=base_label, base_unit=base_unit, treatment=treatment,
                   source=_text(d, "source", key, source), example=example, **out)


def measure_rules_from_dict(d: Mapping[str, Any], bases: Mapping[str, tuple[str, str]],
                            source: str = "") -> MeasureRules:
    """Build and check :class:`MeasureRules` from a dict (the parsed TOML).

    ``bases`` maps each base a measure may use (:data:`BASES`) to its (label, unit), from the schema.

    Examples
    --------
    >>> r = measure_rules_from_dict({"name": "t", "title": "测试", "measures": [
    ...     {"id": "e", "title": "差别电价", "agency": "power", "kind": "surcharge", "classes": ["D"],
    ...      "base": "electricity", "rate": 0.3, "unit": "元/千瓦时", "source": "示例"}]},
    ...     {"electricity": ("用电量", "万千瓦时")})
    >>> r.measures[0].rate, r.measures[0].base_unit
    (0.3, '万千瓦时')
    >>> measure_rules_from_dict({"name": "t", "title": "测试", "measures": [
    ...     {"id": "e", "title": "差别电价", "agency": "power", "kind": "surcharge", "classes": ["D"],
    ...      "base": "electricity", "rate": 0.3, "unit": "元/立方米", "source": "示例"}]},
    ...     {"electricity": ("用电量", "万千瓦时")})
    Traceback (most recent call last):
    ...
    mujun.geo.rules.RuleError: measures[0].unit 为 '元/立方米'，与计费基数的单位 万千瓦时 不相符；可用：元/千瓦时、元/度、元/万千瓦时、元/万度（或 万元/…）
    """
    if not isinstance(d, Mapping):
        raise RuleError(f"{_where(source, '顶层')} 应为表")
    extra = sorted(set(d) - {"name", "title", "description", "source", "verified", "measures"})
    if extra:
        raise RuleError(f"{_where(source, '顶层')} 有未知的键 {', '.join(extra)}")
    name, title = _text(d, "name", "", source), _text(d, "title", "", source)
    items = d.get("measures")
    if not isinstance(items, list) or not items:
        raise RuleError(f"{_where(source, 'measures')} 应为至少一项措施的列表（[[measures]]）")
    measures = tuple(_measure(it, f"measures[{i}]", source, bases) for i, it in enumerate(items))
    ids = [m.id for m in measures]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise RuleError(f"{_where(source, 'measures')} 中措施 id 重复：{', '.join(dup)}")
    verified = d.get("verified", False)
    if not isinstance(verified, bool):
        raise RuleError(f"{_where(source, 'verified')} 应为 true 或 false，现为 {verified!r}")
    return MeasureRules(name, title, measures, verified, str(d.get("description", "")).strip(),
                        str(d.get("source", "")).strip())


# -- computing -------------------------------------------------------------------------------

def consecutive_years(history: pd.DataFrame, year: int, classes: tuple[str, ...]) -> pd.Series:
    """Years in a row, up to and including ``year``, each firm was in ``classes``.

    ``history`` has ``credit_code``, ``year`` and ``class`` (the stored classes of the
    evaluated years); a year without a class for the firm ends the run.

    Examples
    --------
    >>> h = pd.DataFrame({"credit_code": ["a", "a", "a", "b", "b", "c"], "year": [2023, 2024, 2025, 2023, 2025, 2025],
    ...                   "class": ["D", "D", "D", "D", "D", "C"]})
    >>> consecutive_years(h, 2025, ("D",)).to_dict()
    {'a': 3, 'b': 1, 'c': 0}
    """
    h = history[history["year"] <= year]
    hit = h["class"].isin(list(classes)).fillna(False).astype(bool)
    wide = (pd.DataFrame({"credit_code": h["credit_code"], "year": h["year"].astype(int), "hit": hit})
            .pivot_table(index="credit_code", columns="year", values="hit", aggfunc="max", fill_value=False))
    years = list(range(year, int(wide.columns.min()) - 1, -1)) if len(wide.columns) else [year]
    wide = wide.reindex(columns=years, fill_value=False).astype("int64")
    # the run is the count of leading hits, read from ``year`` backwards
    return wide.cumprod(axis=1).sum(axis=1).astype("int64").rename("consecutive_years")


def _fmt(v: float) -> str:
    return f"{v:,.4f}".rstrip("0").rstrip(".")


def _in_scope(firms: pd.DataFrame, m: Measure) -> pd.Series:
    cls = firms["class"].isin(list(m.classes)).fillna(False).astype(bool)
    if m.scope == "all":
        return cls
    above = firms["above_scale"].astype("boolean").fillna(False).astype(bool)
    return cls & (above if m.scope == "above_scale" else ~above)


_COLUMNS = ["year", "credit_code", "name", "district_id", "district_name", "group_label", "class", "class_name",
            "measure_id", "measure", "agency", "measure_kind", "standard", "rate", "rate_unit", "charge_base",
            "base_label", "base_value", "base_unit", "amount", "quantity", "quantity_unit", "treatment", "note",
            "measure_source"]


def measure_rows(firms: pd.DataFrame, rules: MeasureRules, year: int,
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per firm and measure that applies to it.

    Parameters
    ----------
    firms : DataFrame
        A year's enterprise results: ``credit_code``, ``name``, ``class``, ``above_scale`` and the
        base fields the measures use (a missing column counts as no figure); ``district_id``,
        ``district_name``, ``group_label``, ``class_name`` if present are carried along.
    rules : MeasureRules
    year : int
    history : DataFrame, optional
        ``credit_code``, ``year``, ``class`` of the evaluated years, for the consecutive-years
        rates; without it every firm is in its first year.

    Returns
    -------
    DataFrame
        ``amount`` (万元) = ``rate`` × ``base_value`` × the unit factor for 加价, ``share`` × tax due
        for 减免; ``NaN`` with the reason in ``note`` where the base figure is missing.
        Non-monetary measures carry ``treatment`` (and ``quantity`` where a share is given).

    Examples
    --------
    >>> f = pd.DataFrame({"credit_code": ["x"], "name": ["甲"], "class": ["D"], "above_scale": [True],
    ...                   "electricity": [120.0]})
    >>> r = measure_rules_from_dict({"name": "t", "title": "测试", "measures": [
    ...     {"id": "e", "title": "差别电价", "agency": "power", "kind": "surcharge", "classes": ["D"],
    ...      "base": "electricity", "rate": 0.3, "unit": "元/千瓦时", "source": "示例"}]},
    ...     {"electricity": ("用电量", "万千瓦时")})
    >>> measure_rows(f, r, 2025)[["standard", "charge_base", "amount"]].to_dict("records")[0]
    {'standard': '0.3 元/千瓦时', 'charge_base': '120 万千瓦时', 'amount': 36.0}
    """
    missing = [c for c in ("credit_code", "class") if c not in firms.columns]
    if missing:
        raise RuleError(f"企业结果缺少字段 {', '.join(missing)}；请先运行 mujun evaluate")
    frames = []
    for m in rules.measures:  # a handful of measures; each is vectorised over the firms
        f = firms[_in_scope(firms, m)]
        if f.empty:
            continue
        out = pd.DataFrame(index=f.index)
        for c in ("credit_code", "name", "district_id", "district_name", "group_label", "class", "class_name"):
            out[c] = f[c] if c in f.columns else None
        out["year"] = int(year)
        out["measure_id"], out["measure"] = m.id, m.title
        out["agency"], out["measure_kind"] = AGENCIES[m.agency], MEASURE_KINDS[m.kind]
        out["measure_source"] = ("示例值；" if m.example else "") + m.source
        out["treatment"] = m.treatment or None
        note = pd.Series(None, index=f.index, dtype=object)
        base = (pd.to_numeric(f[m.base], errors="coerce").astype("float64") if m.base in f.columns
                else pd.Series(np.nan, index=f.index)) if m.base else None
        if base is not None:
            out["base_label"], out["base_unit"], out["base_value"] = m.base_label, m.base_unit, base
            note = note.mask(base.isna(), f"缺少{m.base_label}，无法计算")
        if m.kind == "surcharge":
            rate = pd.Series(m.rate, index=f.index, dtype="float64")
            if m.consecutive_years and history is not None and len(history):
                run = consecutive_years(history, year, m.classes).reindex(f["credit_code"]).fillna(0).to_numpy()
                longer = run >= m.consecutive_years
                rate = rate.mask(longer, m.consecutive_rate)
                note = note.mask(longer & note.isna().to_numpy(),
                                 f"连续 {m.consecutive_years} 年及以上为 {'/'.join(m.classes)} 类，按 "
                                 f"{_fmt(m.consecutive_rate)} {m.unit}")
            out["rate"], out["rate_unit"] = rate, m.unit
            out["standard"] = rate.map(_fmt) + f" {m.unit}"
            out["charge_base"] = _with_unit(base, m.base_unit)
            out["amount"] = rate * base * amount_factor(m.unit, m.base_unit)
        elif m.kind == "tax_reduction":
            due = base * m.tax_rate * amount_factor(m.tax_unit, m.base_unit)
            out["rate"], out["rate_unit"] = m.share * 100, "%"
            out["standard"] = f"减免 {_fmt(m.share * 100)}%（税额标准 {_fmt(m.tax_rate)} {m.tax_unit}）"
            out["charge_base"] = ("应纳税额 " + _with_unit(due.round(4), "万元") + "（" + m.base_label + " "
                                  + _with_unit(base, m.base_unit) + "）").where(base.notna(), "—")
            out["amount"] = m.share * due
            note = note.mask(base.eq(0) & note.isna(), f"{m.base_label}为 0，不缴城镇土地使用税")
        else:
            out["standard"] = m.treatment
            if m.share is not None and base is not None:
                out["rate"], out["rate_unit"] = m.share * 100, "%"
                out["standard"] = f"{m.treatment} {_fmt(m.share * 100)}%"
                out["charge_base"] = _with_unit(base, m.base_unit)
                out["quantity"], out["quantity_unit"] = m.share * base, m.base_unit
        out["note"] = note
        frames.append(out.reindex(columns=_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=_COLUMNS)
    rows = pd.concat(frames, ignore_index=True)
    for c in ("rate", "base_value", "amount", "quantity"):
        rows[c] = pd.to_numeric(rows[c]).astype("float64")
    order = {a: i for i, a in enumerate(AGENCIES.values())}
    rows = rows.assign(_a=rows["agency"].map(order)).sort_values(["_a", "measure_id", "credit_code"], kind="stable")
    return rows.drop(columns="_a").reset_index(drop=True)


def _with_unit(values: pd.Series, unit: str) -> pd.Series:
    text = values.map(_fmt, na_action="ignore").astype(object)
    return (text + f" {unit}").where(values.notna(), "—")


def measure_totals(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Firms, sums of 金额 and quantities, and firms without a base figure, grouped by ``by``.

    Sums only add what was computed: a firm without its base figure is counted in
    ``missing_count``, never added as 0.

    Examples
    --------
    >>> rows = pd.DataFrame({"agency": ["供电", "供电", "供电"], "amount": [36.0, 4.0, np.nan],
    ...                      "quantity": [np.nan] * 3, "note": [None, None, "缺少用电量，无法计算"],
    ...                      "credit_code": ["a", "b", "c"], "base_value": [120.0, 10.0, np.nan]})
    >>> measure_totals(rows, ["agency"]).to_dict("records")[0]
    {'agency': '供电', 'enterprise_count': 3, 'amount': 40.0, 'quantity': nan, 'missing_count': 1}
    """
    missing = rows["base_value"].isna() & rows["note"].astype("string").str.startswith("缺少").fillna(False)
    g = rows.assign(_missing=missing.astype("int64")).groupby(by, sort=False, dropna=False)
    out = pd.DataFrame({
        "enterprise_count": g["credit_code"].nunique(),
        # a group of firms that all lack the figure has no sum, not a sum of 0
        "amount": g["amount"].sum(min_count=1),
        "quantity": g["quantity"].sum(min_count=1),
        "missing_count": g["_missing"].sum(),
    })
    return out.reset_index()


def measure_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Totals by district, class and measure, with a 全部 row per class and measure over the districts."""
    keys = ["agency", "measure", "measure_kind", "class", "quantity_unit"]
    by_district = measure_totals(rows.assign(district_name=rows["district_name"].fillna("（无行政区）")),
                                 ["district_name", *keys])
    overall = measure_totals(rows, keys).assign(district_name="全部")
    out = pd.concat([overall, by_district], ignore_index=True)
    order = {a: i for i, a in enumerate(AGENCIES.values())}
    out = out.assign(_d=out["district_name"] != "全部", _a=out["agency"].map(order))
    out = out.sort_values(["_d", "district_name", "_a", "measure", "class"], kind="stable").drop(columns=["_d", "_a"])
    cols = ["district_name", "class", "agency", "measure", "measure_kind", "enterprise_count", "amount", "quantity",
            "quantity_unit", "missing_count"]
    return out[cols].reset_index(drop=True)
