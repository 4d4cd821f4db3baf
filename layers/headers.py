"""Mapping source headers to canonical fields, with their units.

Headers from tax and statistics systems and cadastral exports vary: units in half- or
full-width brackets ("税收(万元)", "税收（元）"), stray spaces, pinyin codes, Chinese names cut
to 10 bytes by the Shapefile format. :func:`map_headers` resolves them all, honours explicit
``SRC=DST`` overrides, and returns the factor that converts each column to the canonical unit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from mujun.geo.errors import SchemaError
from mujun.layers.schema import Field, Kind

__all__ = ["HeaderMapping", "alias_table", "map_headers", "normalise_header", "parse_overrides", "unit_factor"]

_BRACKETED = re.compile(r"^(?P<key>.*?)\s*[\(\[【〔](?P<unit>[^\)\]】〕]*)[\)\]】〕]\s*$")
# 等价值 / 当量值 in a bracket after an energy header say which measure of energy it is (the
# 等价值 counts electricity at the coal burnt to make it, the 当量值 at its heat): part of the
# field's name, not a unit. Also "（等价值，吨标准煤）", the unit after it.
_QUALIFIER = re.compile(r"\s*(?P<open>[\(\[【〔])\s*(?P<q>等价值|当量值)\s*(?:(?P<close>[\)\]】〕])|[,;、/]\s*)")
_ENERGY_WORDS = ("能耗", "能源")
#: The qualifier of the energy figure the indicators use (单位能耗增加值 = 增加值 / 综合能耗(等价值)).
ENERGY_MEASURE = "等价值"

# unit -> {spelling: factor to the canonical unit}
_UNITS: dict[str, dict[str, float]] = {
    "万元": {"万元": 1.0, "元": 1e-4, "千元": 0.1, "百万元": 100.0, "亿元": 1e4},
    "亿元": {"亿元": 1.0, "万元": 1e-4, "元": 1e-8},
    "亩": {"亩": 1.0, "mu": 1.0, "平方米": 0.0015, "m2": 0.0015, "公顷": 15.0, "ha": 15.0},
    "m2": {"m2": 1.0, "平方米": 1.0, "平米": 1.0, "亩": 10000.0 / 15.0, "公顷": 10000.0, "ha": 10000.0},
    "万元/亩": {"万元/亩": 1.0, "元/亩": 1e-4, "万元/公顷": 1.0 / 15.0},
    "吨标准煤": {"吨标准煤": 1.0, "吨标煤": 1.0, "tce": 1.0, "万吨标准煤": 1e4, "吨": 1.0},
    "吨": {"吨": 1.0, "t": 1.0, "千克": 1e-3, "kg": 1e-3},
    "万千瓦时": {"万千瓦时": 1.0, "万kwh": 1.0, "万度": 1.0, "千瓦时": 1e-4, "kwh": 1e-4, "度": 1e-4},
    # water: 1 吨 = 1 立方米; gas only by volume (a mass of LNG is not converted)
    "万吨": {"万吨": 1.0, "吨": 1e-4, "t": 1e-4, "万立方米": 1.0, "万m3": 1.0, "立方米": 1e-4, "m3": 1e-4},
    "万立方米": {"万立方米": 1.0, "万m3": 1.0, "立方米": 1e-4, "m3": 1e-4, "亿立方米": 1e4},
    "人": {"人": 1.0},
    "层": {"层": 1.0},
    "米": {"米": 1.0, "m": 1.0},
}


def normalise_header(header: object) -> tuple[str, str | None]:
    """Split a source header into a comparison key and the unit in brackets, if any.

    Full-width characters are folded (NFKC), spaces removed and Latin letters lower-cased.

    Examples
    --------
    >>> normalise_header(" 税收（万元） ")
    ('税收', '万元')
    >>> normalise_header("用地面积 [m²]")
    ('用地面积', 'm2')
    >>> normalise_header("ZDDM")
    ('zddm', None)
    >>> normalise_header("综合能耗（等价值）"), normalise_header("综合能耗(当量值)(万吨标准煤)")
    (('综合能耗(等价值)', None), ('综合能耗(当量值)', '万吨标准煤'))
    """
    text = unicodedata.normalize("NFKC", str(header)).strip()
    qualifier = ""
    q = _QUALIFIER.search(text)
    if q and any(w in text[: q.start()] for w in _ENERGY_WORDS):
        qualifier = f"({q.group('q')})"
        text = text[: q.start()] + ("" if q.group("close") else q.group("open")) + text[q.end():]
    unit = None
    m = _BRACKETED.match(text)
    if m and m.group("key").strip():
        text, unit = m.group("key"), re.sub(r"\s+", "", m.group("unit")).lower() or None
    key = re.sub(r"\s+", "", text).lower() + qualifier
    return key, unit


def unit_factor(f: Field, unit: str | None) -> float | None:
    """Factor converting a value given in ``unit`` to ``f``'s canonical unit.

    ``None`` when the unit is not recognised for the field. A header without a unit is
    taken to be in the canonical unit.

    Examples
    --------
    >>> from mujun.layers.schema import KINDS
    >>> tax = KINDS["enterprises"].field("tax")
    >>> unit_factor(tax, "元"), unit_factor(tax, None), unit_factor(tax, "美元")
    (0.0001, 1.0, None)
    """
    if unit is None or f.unit is None and f.dtype not in ("float", "int"):
        return 1.0
    if f.unit is None:
        return None
    return _UNITS.get(f.unit, {f.unit.lower(): 1.0}).get(unit.lower())


def _truncations(alias: str) -> set[str]:
    """``alias`` cut to the 10 bytes a Shapefile (dBASE) field name may hold."""
    out = set()
    for enc in ("gb18030", "utf-8"):
        raw = alias.encode(enc)
        if len(raw) > 10:
            out.add(raw[:10].decode(enc, errors="ignore"))
    return out


def alias_table(kind: Kind) -> dict[str, str]:
    """Comparison key (see :func:`normalise_header`) -> canonical field, for one kind."""
    exact: dict[str, str] = {}
    for f in kind.fields:
        for a in (f.name, f.label, *f.aliases):
            exact.setdefault(normalise_header(a)[0], f.name)
    cut: dict[str, set[str]] = {}
    for f in kind.fields:
        for a in (f.label, *f.aliases):
            for t in _truncations(a):
                cut.setdefault(normalise_header(t)[0], set()).add(f.name)
    for key, names in cut.items():
        if len(names) == 1 and key not in exact:  # ambiguous cuts are left for --map
            exact[key] = names.pop()
    return exact


@dataclass
class HeaderMapping:
    """How source columns map onto a kind's canonical fields.

    Attributes
    ----------
    columns : dict
        Source column -> canonical field name.
    factors : dict
        Canonical field name -> factor to its canonical unit (only where ≠ 1).
    units : dict
        Canonical field name -> the unit written in the source header.
    ignored : list
        Source columns that map to nothing (left out of the layer).
    notes : list
        Messages for the import report (assumed units …).
    """

    columns: dict[str, str] = field(default_factory=dict)
    factors: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _other_energy_measure(header: object) -> bool:
    """Whether ``header`` names an energy figure by its 当量值 (not the 等价值 the indicators use)."""
    return normalise_header(header)[0].endswith("(当量值)")


def parse_overrides(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Parse ``--map SRC=DST`` options into a dict; a malformed item is refused.

    Examples
    --------
    >>> parse_overrides(["纳税额=tax", " DKMC = parcel_id "])
    {'纳税额': 'tax', 'DKMC': 'parcel_id'}
    """
    out: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise SchemaError(f"--map '{item}' 的格式应为 源字段=标准字段，例如 --map 纳税额=tax")
        out[src.strip()] = dst.strip()
    return out


def map_headers(
    headers: list[str], kind: Kind, overrides: dict[str, str] | None = None, source: str = ""
) -> HeaderMapping:
    """Map source ``headers`` to ``kind``'s canonical fields.

    Parameters
    ----------
    headers : list of str
        Column names as read from the source.
    kind : Kind
        The layer kind being imported.
    overrides : dict, optional
        ``{source header: canonical name}`` from ``--map``; these win over the aliases.
    source : str
        File name used in messages.

    Returns
    -------
    HeaderMapping

    Raises
    ------
    SchemaError
        An override names a header or a field that does not exist, two columns map to the
        same field, a unit is not recognised, or a required field is missing.

    Examples
    --------
    >>> from mujun.layers.schema import KINDS
    >>> m = map_headers(["统一社会信用代码", "企业名称", "税收（元）", "备注"], KINDS["enterprises"])
    >>> m.columns, m.factors, m.ignored
    ({'统一社会信用代码': 'credit_code', '企业名称': 'name', '税收（元）': 'tax'}, {'tax': 0.0001}, ['备注'])
    """
    where = f"{source}：" if source else ""
    overrides = dict(overrides or {})
    names = set(kind.field_names)
    for src, dst in overrides.items():
        if src not in headers:
            raise SchemaError(
                f"{where}--map 指定的源字段 '{src}' 不在文件中（文件字段：{', '.join(map(str, headers))}）"
            )
        if dst not in names:
            raise SchemaError(
                f"{where}--map 指定的标准字段 '{dst}' 不属于 {kind.name}（可用：{', '.join(kind.field_names)}）"
            )
    table = alias_table(kind)
    out = HeaderMapping()
    taken: dict[str, str] = {}
    other_measure = {h for h in headers if h not in overrides and _other_energy_measure(h)}
    for h in headers:
        key, unit = normalise_header(h)
        explicit = h in overrides
        dst = overrides.get(h) or table.get(key)
        if dst is None or (not explicit and dst in overrides.values()):
            out.ignored.append(h)
            continue
        if h in other_measure:
            # the 当量值 column beside a 等价值 (or unqualified) one of the same field is left out
            twin = next((o for o in headers if o != h and o not in other_measure
                         and (overrides.get(o) or table.get(normalise_header(o)[0])) == dst), None)
            if twin is not None:
                out.ignored.append(h)
                out.notes.append(f"字段 '{h}' 未导入：{kind.field(dst).label}取 '{twin}'，单位能耗增加值按{ENERGY_MEASURE}计算")
                continue
            out.notes.append(f"字段 '{h}' 按当量值导入为{kind.field(dst).label}；单位能耗增加值通常按{ENERGY_MEASURE}计算，"
                             f"如有{ENERGY_MEASURE}数据请改用它")
        if dst in taken:
            raise SchemaError(
                f"{where}字段 '{taken[dst]}' 和 '{h}' 都对应 {dst}（{kind.field(dst).label}）；"
                f"请用 --map 指明用哪一个，或删去其中一列"
            )
        f = kind.field(dst)
        factor = unit_factor(f, unit)
        if factor is None:
            want = f.unit or "无单位的数值"  # e.g. 容积率 has no unit
            if not explicit:
                raise SchemaError(
                    f"{where}字段 '{h}' 的单位 '{unit}' 无法识别（{f.label} 应为 {want}）；"
                    f"请换算后重新导入，或用 --map '{h}={dst}' 确认按 {want} 处理"
                )
            out.notes.append(f"字段 '{h}' 的单位 '{unit}' 未识别，按 --map 指定视为 {want}")
            factor = 1.0
        taken[dst] = h
        out.columns[h] = dst
        if unit is not None and f.unit is not None:
            out.units[dst] = unit
        if factor != 1.0:
            out.factors[dst] = factor
    return out
