"""Finding and reading rule sets: TOML files shipped in ``layers/rules`` or given by path."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mujun.geo.measures import BASES, MeasureRules, measure_rules_from_dict
from mujun.geo.prices import PriceIndex, Target, price_index_from_dict, targets_from_dict
from mujun.geo.redline import RedlineRules, redline_rules_from_dict
from mujun.geo.rules import (
    ControlRules,
    RuleError,
    RuleSet,
    control_rules_from_dict,
    rule_set_from_dict,
)
from mujun.geo.standard_land import StandardLandRules, standard_land_rules_from_dict
from mujun.geo.zones import ZoneRules, zone_rules_from_dict

__all__ = ["RULES_DIR", "RuleInfo", "available_rules", "industry_concordance", "load_control_rules",
           "load_measure_rules", "load_price_index", "load_redline_rules", "load_province_targets", "load_standard_land_rules",
           "load_zone_rules", "measure_bases", "read_veto", "load_rule_set"]

RULES_DIR = Path(__file__).with_name("rules")
DEFAULT_RULES = "zhejiang-default"
DEFAULT_CONTROL = "gb-2008"
DEFAULT_MEASURES = "measures-example"
DEFAULT_STANDARD_LAND = "standard-land-example"
DEFAULT_ZONES = "zones-example"
DEFAULT_REDLINE = "redline-example"


@dataclass(frozen=True)
class _RuleKind:
    """A kind of rule file: what it is called, the refusal when a file of another kind is
    given for it, and how its parsed TOML becomes the rules."""

    label: str
    wrong: str  # formatted with the file's name
    parse: Callable[[dict, str], Any]


#: Every kind of rule file, by the kind :func:`_kind` tells from its keys.
_KINDS: dict[str, _RuleKind] = {
    "evaluation": _RuleKind("评价规则", "规则文件 {name} 是用地控制指标，不是评价规则；请用 --control 指定它",
                            rule_set_from_dict),
    "control": _RuleKind("用地控制指标", "规则文件 {name} 是评价规则，不是用地控制指标；请用 --rules 指定它",
                         control_rules_from_dict),
    "measures": _RuleKind("差别化措施规则",
                          "规则文件 {name} 不是差别化措施规则（没有 [[measures]]）；评价规则请用 --rules 指定",
                          lambda d, name: measure_rules_from_dict(d, measure_bases(), name)),
    "standard_land": _RuleKind("标准地指标规则", "规则文件 {name} 不是标准地指标规则（没有 [standard_land]）",
                               standard_land_rules_from_dict),
    "zones": _RuleKind("区域综合评价规则", "规则文件 {name} 不是区域综合评价规则（没有 [[zone_indicators]]）",
                       zone_rules_from_dict),
    "redline": _RuleKind("工业用地红线规则", "规则文件 {name} 不是工业用地红线规则（没有 [land_classes]）",
                         redline_rules_from_dict),
}


@dataclass(frozen=True)
class RuleInfo:
    """A shipped rule set, for listing."""

    name: str
    kind: str  # "evaluation", "control", "measures", "standard_land", "zones" or "redline"
    title: str
    verified: bool
    path: Path


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise RuleError(f"规则文件 {path.name} 不是有效的 TOML（{err}）") from None
    except OSError as err:
        raise RuleError(f"无法读取规则文件 {path}（{err.strerror}）") from None


def _kind(d: dict) -> str:
    if "measures" in d:
        return "measures"
    if "standard_land" in d:
        return "standard_land"
    if "zone_indicators" in d:
        return "zones"
    if "land_classes" in d:
        return "redline"
    return "control" if "limits" in d or "plot_ratio_min" in d else "evaluation"


def available_rules() -> list[RuleInfo]:
    """Every rule set shipped with mujun."""
    out = []
    for p in sorted(RULES_DIR.glob("*.toml")):
        d = _read(p)
        out.append(RuleInfo(str(d.get("name", p.stem)), _kind(d), str(d.get("title", "")),
                            bool(d.get("verified", True)), p))
    return out


def _locate(name_or_path: str | Path, kind: str) -> Path:
    p = Path(name_or_path)
    if p.suffix.lower() == ".toml" or p.exists():
        if not p.exists():
            raise RuleError(f"规则文件 {p} 不存在")
        return p
    for info in available_rules():
        if info.name == str(name_or_path) and info.kind == kind:
            return info.path
    names = [i.name for i in available_rules() if i.kind == kind]
    raise RuleError(f"没有名为 '{name_or_path}' 的{_KINDS[kind].label}；可用：{', '.join(names)}，或给出 .toml 文件路径")


def _load(name_or_path: str | Path, kind: str) -> Any:
    """Rules of ``kind`` by shipped name or TOML path; a file of another kind is refused."""
    p = _locate(name_or_path, kind)
    d = _read(p)
    if _kind(d) != kind:
        raise RuleError(_KINDS[kind].wrong.format(name=p.name))
    return _KINDS[kind].parse(d, p.name)


def load_rule_set(name_or_path: str | Path = DEFAULT_RULES) -> RuleSet:
    """An evaluation rule set by shipped name (``zhejiang-default``) or TOML path."""
    return _load(name_or_path, "evaluation")


def load_control_rules(name_or_path: str | Path = DEFAULT_CONTROL) -> ControlRules:
    """Land-use control indicators by shipped name (``gb-2008``) or TOML path."""
    return _load(name_or_path, "control")


def measure_bases() -> dict[str, tuple[str, str]]:
    """Each base a measure may be charged on (:data:`mujun.geo.measures.BASES`) with its label and
    unit from the schema: ``{"electricity": ("用电量", "万千瓦时"), …}``."""
    from mujun.layers.schema import FIELDS_BY_NAME

    return {b: (FIELDS_BY_NAME[b].label, FIELDS_BY_NAME[b].unit or "") for b in BASES}


def load_measure_rules(name_or_path: str | Path = DEFAULT_MEASURES) -> MeasureRules:
    """Measures by class (差别化措施) by shipped name (``measures-example``) or TOML path."""
    return _load(name_or_path, "measures")


def load_standard_land_rules(name_or_path: str | Path = DEFAULT_STANDARD_LAND) -> StandardLandRules:
    """How 标准地 sets are drawn (percentile, fewest firms) by shipped name or TOML path."""
    return _load(name_or_path, "standard_land")


def load_price_index(path: str | Path | None = None) -> PriceIndex:
    """The price index that deflates to 2019 prices: ``path`` (a TOML file, ``--deflator``) or the
    one shipped in ``mujun.data`` (``price_index.toml``, example values)."""
    from mujun.layers.sample import data_dir

    p = data_dir() / "price_index.toml" if path is None else Path(path)
    if not p.exists():
        raise RuleError(f"价格指数文件 {p} 不存在；请给出 .toml 文件（格式见 mujun 自带的 price_index.toml）")
    if p.suffix.lower() != ".toml":
        raise RuleError(f"价格指数文件 {p.name} 应为 .toml 文件（[index] 表：年份 = 指数，上年=100）")
    return price_index_from_dict(_read(p), p.name)


def load_province_targets() -> dict[str, Target]:
    """The province's 2025 targets for 规上工业 shipped in ``mujun.data`` (``province_targets.toml``)."""
    from mujun.layers.sample import data_dir

    p = data_dir() / "province_targets.toml"
    return targets_from_dict(_read(p), p.name)


def load_zone_rules(name_or_path: str | Path = DEFAULT_ZONES) -> ZoneRules:
    """Zone composite rules (区域综合评价，四提升两降低) by shipped name (``zones-example``) or TOML path."""
    return _load(name_or_path, "zones")


def load_redline_rules(name_or_path: str | Path = DEFAULT_REDLINE) -> RedlineRules:
    """Industrial-land red-line rules (工业用地总量保护) by shipped name (``redline-example``) or TOML path."""
    return _load(name_or_path, "redline")


@cache
def _concordance() -> dict[str, dict[str, str]]:
    return _read(Path(__file__).with_name("gbt4754-2017-to-2002.toml"))


def industry_concordance() -> dict[str, dict[str, str]]:
    """GB/T 4754-2017 → 2002 manufacturing concordance: ``{"division": {...}, "group": {...}}``."""
    return {k: dict(v) for k, v in _concordance().items()}  # a copy: callers may not change the cache


def read_veto(path: str | Path) -> dict[str, str]:
    """A veto list (一票否决) from CSV or XLSX: 统一社会信用代码 and 原因 columns."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise RuleError(f"否决名单 {p} 不存在")
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm"):
            t = pd.read_excel(p, dtype=str)
        else:
            from mujun.layers.encoding import text_file_encoding

            t = pd.read_csv(p, dtype=str, encoding=text_file_encoding(p), keep_default_na=False)
    except (OSError, ValueError) as err:
        raise RuleError(f"否决名单 {p.name} 无法读取（{err}）") from None
    cols = {c.strip(): c for c in t.columns}
    code = next((cols[c] for c in ("统一社会信用代码", "credit_code", "信用代码") if c in cols), None)
    reason = next((cols[c] for c in ("原因", "否决原因", "reason", "事由") if c in cols), None)
    if code is None or reason is None:
        raise RuleError(f"否决名单 {p.name} 需要“统一社会信用代码”和“原因”两列；现有列：{', '.join(t.columns)}")
    t = t[t[code].astype(str).str.strip() != ""]
    return dict(zip(t[code].astype(str).str.strip().str.upper(), t[reason].astype(str).str.strip(), strict=True))
