"""Rule sets as data: the evaluation (weights, benchmarks, classes, vetoes, flags) and the
land-use control indicators. Parsed and checked from plain dicts (read from TOML by
:mod:`mujun.layers.rulesets`); an invalid rule set is refused naming the key and the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mujun.geo.errors import InputError
from mujun.geo.indicators import INDICATORS

__all__ = [
    "CLASSES",
    "ClassRule",
    "ControlRules",
    "Indicator",
    "RuleSet",
    "control_rules_from_dict",
    "rule_set_from_dict",
]

CLASSES = ("A", "B", "C", "D")
GROUPS = {"above_scale": "规上企业", "below_scale": "规下企业"}
DEFAULT_CLASS_NAMES = {"A": "优先发展", "B": "提升发展", "C": "调控帮扶", "D": "倒逼整治"}
#: Scope when a rule file says nothing: every 规上 firm whatever its land, 规下 from 3 mu
#: (as in several counties' rules, e.g. Suichang 2023, Cixi 2024).
DEFAULT_MIN_LAND_MU = {"above_scale": 0.0, "below_scale": 3.0}
_OPS = (">=", "<=")


class RuleError(InputError):
    """A rule file is invalid; the message names the key and the problem."""


@dataclass(frozen=True)
class Indicator:
    """One weighted indicator: sub-score = weight × value / benchmark, kept between
    floor × weight and cap × weight."""

    key: str
    weight: float
    benchmark: float | None = None  # None: the evaluated population's ratio of sums
    cap: float | None = None
    floor: float | None = 0.0  # None: no floor (a sub-score may be negative)


@dataclass(frozen=True)
class ClassRule:
    """How scores become classes A–D: by shares of each group, or by score thresholds."""

    method: str  # "shares" or "thresholds"
    shares: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASS_NAMES))


@dataclass(frozen=True)
class RuleSet:
    """An evaluation rule set (亩均效益综合评价)."""

    name: str
    title: str
    groups: dict[str, tuple[Indicator, ...]]
    classes: ClassRule
    #: group -> minimum land (mu) to be scored; a firm needs land > 0 in any case
    min_land_mu: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_LAND_MU))
    #: firms in their first N years of production (投产年份 > year − N) are not scored
    new_production_years: int = 1
    veto: dict[str, str] = field(default_factory=dict)
    verified: bool = True
    description: str = ""
    source: str = ""
    # low-efficiency land (低效用地)
    low_tax_per_mu: dict[str, float] = field(default_factory=dict)  # 2-digit industry or "default"
    low_plot_ratio: float | None = 1.0
    low_plot_ratio_exempt: tuple[str, ...] = ()
    d_class_is_inefficient: bool = True
    # idle land (闲置土地, 令第53号) and raster evidence
    idle_developed_share: float = 1.0 / 3.0
    idle_investment_share: float = 0.25
    idle_coverage_target: float = 0.30
    bare_builtup_max: float = 0.10
    idle_fee_years: int = 1  # full years idle: 土地闲置费 due, and the land counts as idle
    idle_fee_share: float = 0.20  # of the 出让价款
    idle_recovery_years: int = 2  # full years idle: a candidate for 无偿收回
    idle_source: str = ""
    industry_edition: str = "GB/T 4754-2017"


@dataclass(frozen=True)
class ControlRules:
    """Land-use control indicators (工业项目建设用地控制指标)."""

    name: str
    title: str
    edition: str  # the GB/T 4754 edition the industry table keys on
    limits: dict[str, tuple[str, float]]  # indicator -> (op, value)
    plot_ratio_min: dict[str, float]  # 2-digit industry code -> minimum
    verified: bool = True
    description: str = ""
    source: str = ""


def _where(source: str, key: str) -> str:
    return f"规则文件 {source} 的 {key}" if source else key


def _number(value: Any, key: str, source: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{_where(source, key)} 应为数字，现为 {value!r}")
    if low is not None and value < low:
        raise RuleError(f"{_where(source, key)} 不能小于 {low:g}，现为 {value:g}")
    if high is not None and value > high:
        raise RuleError(f"{_where(source, key)} 不能大于 {high:g}，现为 {value:g}")
    return float(value)


def _years(value: Any, key: str, source: str) -> int:
    years = _number(value, key, source, low=1, high=50)
    if not years.is_integer():
        raise RuleError(f"{_where(source, key)} 应为整年数，现为 {years:g}")
    return int(years)


def _table(value: Any, key: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RuleError(f"{_where(source, key)} 应为表（[{key}]），现为 {type(value).__name__}")
    return value


def _unknown(d: Mapping[str, Any], allowed: set[str], key: str, source: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise RuleError(f"{_where(source, key or '顶层')} 有未知的键 {', '.join(extra)}；可用：{', '.join(sorted(allowed))}")


def _indicators(items: Any, key: str, source: str, defaults: Mapping[str, float | None]) -> tuple[Indicator, ...]:
    if not isinstance(items, list) or not items:
        raise RuleError(f"{_where(source, key)} 应为至少一项指标的列表（[[{key}]]）")
    out = []
    for i, it in enumerate(items):
        k = f"{key}[{i}]"
        it = _table(it, k, source)
        _unknown(it, {"key", "weight", "benchmark", "cap", "floor"}, k, source)
        name = it.get("key")
        if not isinstance(name, str) or name not in INDICATORS:
            raise RuleError(f"{_where(source, k + '.key')} 为 {name!r}，不是已知指标；可用：{', '.join(INDICATORS)}")
        weight = _number(it.get("weight"), k + ".weight", source, low=0)
        bench = it.get("benchmark")
        bench = None if bench is None else _number(bench, k + ".benchmark", source)
        if bench is not None and bench <= 0:
            raise RuleError(f"{_where(source, k + '.benchmark')} 必须大于 0，现为 {bench:g}")
        cap = _bound(it.get("cap", defaults["cap"]), k + ".cap", source)
        floor = _bound(it.get("floor", defaults["floor"]), k + ".floor", source, low=None)
        if cap is not None and floor is not None and floor > cap:
            raise RuleError(f"{_where(source, k)} 的 floor（{floor:g}）不能大于 cap（{cap:g}）")
        out.append(Indicator(name, weight, bench, cap, floor))
    keys = [i.key for i in out]
    if len(set(keys)) != len(keys):
        raise RuleError(f"{_where(source, key)} 中有重复的指标")
    return tuple(out)


def _bound(value: Any, key: str, source: str, low: float | None = 0) -> float | None:
    """A floor or cap (a multiple of the weight); ``false`` or absent: none."""
    if value is None or value is False:
        return None
    return _number(value, key, source, low=low)


def _score_bounds(d: Mapping[str, Any], source: str) -> dict[str, float | None]:
    """``[scores]``: the floor and cap of every sub-score unless an indicator sets its own."""
    _unknown(d, {"floor", "cap"}, "scores", source)
    bounds = {"floor": _bound(d.get("floor", 0.0), "scores.floor", source, low=None),
              "cap": _bound(d.get("cap"), "scores.cap", source)}
    if bounds["floor"] is not None and bounds["cap"] is not None and bounds["floor"] > bounds["cap"]:
        raise RuleError(f"{_where(source, 'scores')} 的 floor（{bounds['floor']:g}）不能大于 cap（{bounds['cap']:g}）")
    return bounds


def _population(d: Mapping[str, Any], source: str) -> tuple[dict[str, float], int]:
    """``[population]``: the minimum land of each group and the years a new firm is exempt.

    ``min_land_mu`` (older files) sets both groups' minimum unless a group's own key does.
    """
    _unknown(d, {"min_land_mu", "above_scale_min_land_mu", "below_scale_min_land_mu", "new_production_years"},
             "population", source)
    both = d.get("min_land_mu")
    both = None if both is None else _number(both, "population.min_land_mu", source, low=0)
    minimum = {}
    for g, default in DEFAULT_MIN_LAND_MU.items():
        key = f"{g}_min_land_mu"
        given = d.get(key, both if both is not None else default)
        minimum[g] = _number(given, f"population.{key}", source, low=0)
    years = d.get("new_production_years", 1)
    if isinstance(years, bool) or not isinstance(years, int) or years < 0:
        raise RuleError(f"{_where(source, 'population.new_production_years')} 应为不小于 0 的整数，现为 {years!r}")
    return minimum, years


def _classes(d: Mapping[str, Any], source: str) -> ClassRule:
    _unknown(d, {"method", "shares", "thresholds", "names"}, "classes", source)
    method = d.get("method", "shares")
    names = dict(DEFAULT_CLASS_NAMES)
    if "names" in d:
        given = _table(d["names"], "classes.names", source)
        _unknown(given, set(CLASSES), "classes.names", source)
        names.update({k: str(v) for k, v in given.items()})
    if method == "shares":
        shares = _table(d.get("shares", {"A": 0.10, "B": 0.35, "C": 0.45, "D": 0.10}), "classes.shares", source)
        if set(shares) != set(CLASSES):
            raise RuleError(f"{_where(source, 'classes.shares')} 必须给出 A、B、C、D 四类的比例")
        vals = {c: _number(shares[c], f"classes.shares.{c}", source, low=0, high=1) for c in CLASSES}
        if abs(sum(vals.values()) - 1.0) > 1e-6:
            raise RuleError(f"{_where(source, 'classes.shares')} 之和应为 1，现为 {sum(vals.values()):g}")
        return ClassRule("shares", shares=vals, names=names)
    if method == "thresholds":
        th = _table(d.get("thresholds"), "classes.thresholds", source)
        if set(th) != {"A", "B", "C"}:
            raise RuleError(f"{_where(source, 'classes.thresholds')} 必须给出 A、B、C 三类的最低得分（其余为 D）")
        vals = {c: _number(th[c], f"classes.thresholds.{c}", source) for c in ("A", "B", "C")}
        if not vals["A"] >= vals["B"] >= vals["C"]:
            raise RuleError(f"{_where(source, 'classes.thresholds')} 应满足 A ≥ B ≥ C")
        return ClassRule("thresholds", thresholds=vals, names=names)
    raise RuleError(f"{_where(source, 'classes.method')} 应为 \"shares\"（按比例）或 \"thresholds\"（按分数线），现为 {method!r}")


def rule_set_from_dict(d: Mapping[str, Any], source: str = "") -> RuleSet:
    """Build and check a :class:`RuleSet` from a dict (the parsed TOML).

    Examples
    --------
    >>> r = rule_set_from_dict({"name": "t", "title": "测试",
    ...     "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}}})
    >>> r.groups["above_scale"][0], r.classes.method
    (Indicator(key='tax_per_mu', weight=100.0, benchmark=None, cap=None, floor=0.0), 'shares')
    >>> r.min_land_mu, r.new_production_years
    ({'above_scale': 0.0, 'below_scale': 3.0}, 1)
    >>> rule_set_from_dict({"name": "t", "title": "x", "groups": {}})
    Traceback (most recent call last):
    ...
    mujun.geo.rules.RuleError: groups 至少要有 above_scale（规上企业）或 below_scale（规下企业）之一
    """
    d = _table(d, "顶层", source)
    _unknown(d, {"name", "title", "description", "source", "verified", "population", "scores", "groups", "classes",
                 "veto", "inefficient", "idle", "industry_edition"}, "", source)
    for key in ("name", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RuleError(f"{_where(source, key)} 必须是非空文字")
    groups_d = _table(d.get("groups", {}), "groups", source)
    _unknown(groups_d, set(GROUPS), "groups", source)
    if not groups_d:
        raise RuleError(f"{_where(source, 'groups')} 至少要有 above_scale（规上企业）或 below_scale（规下企业）之一")
    bounds = _score_bounds(_table(d.get("scores", {}), "scores", source), source)
    groups = {}
    for g, gd in groups_d.items():
        gd = _table(gd, f"groups.{g}", source)
        _unknown(gd, {"indicators", "label"}, f"groups.{g}", source)
        groups[g] = _indicators(gd.get("indicators"), f"groups.{g}.indicators", source, bounds)
    min_land, new_years = _population(_table(d.get("population", {}), "population", source), source)
    veto_d = _table(d.get("veto", {}), "veto", source)
    veto = {str(k).strip().upper(): str(v) for k, v in veto_d.items()}
    ineff = _table(d.get("inefficient", {}), "inefficient", source)
    _unknown(ineff, {"tax_per_mu_min", "plot_ratio_min", "plot_ratio_exempt", "d_class"}, "inefficient", source)
    low_tax_d = _table(ineff.get("tax_per_mu_min", {}), "inefficient.tax_per_mu_min", source)
    low_tax = {str(k): _number(v, f"inefficient.tax_per_mu_min.{k}", source) for k, v in low_tax_d.items()}
    for k in low_tax:
        if k != "default" and not (k.isdigit() and len(k) == 2):
            raise RuleError(f"{_where(source, 'inefficient.tax_per_mu_min')} 的键应为 default 或两位行业代码，现为 {k!r}")
    far = ineff.get("plot_ratio_min", 1.0)
    far = None if far is False else _number(far, "inefficient.plot_ratio_min", source, low=0)
    exempt = ineff.get("plot_ratio_exempt", [])
    if not isinstance(exempt, list) or not all(isinstance(x, str) and x.isdigit() and len(x) == 2 for x in exempt):
        raise RuleError(f"{_where(source, 'inefficient.plot_ratio_exempt')} 应为两位行业代码的列表，如 [\"25\", \"26\"]")
    d_class = ineff.get("d_class", True)
    if not isinstance(d_class, bool):
        raise RuleError(f"{_where(source, 'inefficient.d_class')} 应为 true 或 false")
    idle = _table(d.get("idle", {}), "idle", source)
    _unknown(idle, {"developed_share", "investment_share", "coverage_target", "bare_builtup_max", "fee_years",
                    "fee_share", "recovery_years", "source"}, "idle", source)
    fee_years, recovery_years = (_years(idle.get(k, v), f"idle.{k}", source)
                                 for k, v in (("fee_years", 1), ("recovery_years", 2)))
    if recovery_years <= fee_years:
        raise RuleError(f"{_where(source, 'idle.recovery_years')} 应大于 idle.fee_years（{fee_years}），现为 {recovery_years}")
    if not isinstance(d.get("verified", True), bool):
        raise RuleError(f"{_where(source, 'verified')} 应为 true 或 false，现为 {d['verified']!r}")
    edition = d.get("industry_edition", "GB/T 4754-2017")
    if edition not in ("GB/T 4754-2002", "GB/T 4754-2011", "GB/T 4754-2017"):
        raise RuleError(f"{_where(source, 'industry_edition')} 应为 GB/T 4754-2002、-2011 或 -2017，现为 {edition!r}")
    return RuleSet(
        name=d["name"], title=d["title"], groups=groups, classes=_classes(_table(d.get("classes", {}), "classes", source), source),
        min_land_mu=min_land, new_production_years=new_years, veto=veto, verified=bool(d.get("verified", True)),
        description=str(d.get("description", "")), source=str(d.get("source", "")),
        low_tax_per_mu=low_tax, low_plot_ratio=far, low_plot_ratio_exempt=tuple(str(x) for x in exempt),
        d_class_is_inefficient=d_class,
        idle_developed_share=_number(idle.get("developed_share", 1 / 3), "idle.developed_share", source, low=0, high=1),
        idle_investment_share=_number(idle.get("investment_share", 0.25), "idle.investment_share", source, low=0, high=1),
        idle_coverage_target=_number(idle.get("coverage_target", 0.30), "idle.coverage_target", source, low=0.01, high=1),
        bare_builtup_max=_number(idle.get("bare_builtup_max", 0.10), "idle.bare_builtup_max", source, low=0, high=1),
        idle_fee_years=fee_years, idle_recovery_years=recovery_years,
        idle_fee_share=_number(idle.get("fee_share", 0.20), "idle.fee_share", source, low=0, high=1),
        idle_source=str(idle.get("source", "")),
        industry_edition=edition,
    )


def control_rules_from_dict(d: Mapping[str, Any], source: str = "") -> ControlRules:
    """Build and check :class:`ControlRules` from a dict (the parsed TOML).

    Examples
    --------
    >>> c = control_rules_from_dict({"name": "x", "title": "t", "edition": "GB/T 4754-2002",
    ...     "limits": {"building_coefficient": [">=", 0.3]}, "plot_ratio_min": {"17": 0.8}})
    >>> c.limits, c.plot_ratio_min
    ({'building_coefficient': ('>=', 0.3)}, {'17': 0.8})
    """
    d = _table(d, "顶层", source)
    _unknown(d, {"name", "title", "edition", "limits", "plot_ratio_min", "verified", "description", "source"},
             "", source)
    for key in ("name", "title", "edition"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RuleError(f"{_where(source, key)} 必须是非空文字")
    if not isinstance(d.get("verified", True), bool):
        raise RuleError(f"{_where(source, 'verified')} 应为 true 或 false，现为 {d['verified']!r}")
    if d["edition"] not in ("GB/T 4754-2002", "GB/T 4754-2011", "GB/T 4754-2017"):
        raise RuleError(f"{_where(source, 'edition')} 应为 GB/T 4754-2002、-2011 或 -2017，现为 {d['edition']!r}")
    limits = {}
    allowed = {"building_coefficient", "admin_share", "plot_ratio", "investment_intensity"}
    for k, v in _table(d.get("limits", {}), "limits", source).items():
        if k not in allowed:
            raise RuleError(f"{_where(source, 'limits.' + k)} 不是可检查的指标；可用：{', '.join(sorted(allowed))}")
        if not isinstance(v, list) or len(v) != 2 or v[0] not in _OPS:
            raise RuleError(f"{_where(source, 'limits.' + k)} 应写成 [\">=\", 数值] 或 [\"<=\", 数值]，现为 {v!r}")
        limits[k] = (v[0], _number(v[1], f"limits.{k}", source))
    far = {}
    for k, v in _table(d.get("plot_ratio_min", {}), "plot_ratio_min", source).items():
        if not (isinstance(k, str) and k.isdigit() and len(k) == 2):
            raise RuleError(f"{_where(source, 'plot_ratio_min')} 的键应为两位行业代码，现为 {k!r}")
        far[k] = _number(v, f"plot_ratio_min.{k}", source, low=0)
    return ControlRules(d["name"], d["title"], d["edition"], limits, far, bool(d.get("verified", True)),
                        str(d.get("description", "")), str(d.get("source", "")))
