"""The industrial-land red line (工业用地总量保护): the stock of industrial land, its share of
urban construction land, the share of industrial land in each year's new construction land,
and parcels inside 工业产业单元 whose use is no longer industrial.

All areas are measured in the CGCS2000 Gauss-Krüger zone of the data (:mod:`mujun.geo.area`);
which land-use codes count as industrial, as construction land and as urban (城镇村属性码) is
the rule file's, never this module's.

Definitions used here:

- 城镇建设用地 urban construction land: patches of a construction class whose 城镇村属性码 is
  an urban one (201 城市, 202 建制镇 by default); a layer without 城镇村属性码 (planned urban
  construction land) counts all its construction patches.
- 工业用地 industrial land: industrial patches inside urban construction land; industrial
  patches outside it (村庄 …) are reported apart and not counted in the stock or the share.
- The year's new construction land: construction patches (urban or not) whose 新增年份 is the
  year; new industrial land: the industrial ones among them.
- A parcel is inside a unit when at least ``overlap_min`` of its area lies in one unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mujun.geo.area import M2_PER_MU, area_m2, local_gk_crs
from mujun.geo.rules import RuleError

__all__ = [
    "CHECKS",
    "Floors",
    "LandClasses",
    "RedlineRules",
    "classify_patches",
    "district_pieces",
    "meets",
    "redline_rules_from_dict",
    "redline_table",
    "unit_parcels",
]

#: The floors a rule file may set: key -> (Chinese name, unit, upper bound).
CHECKS = {
    "industrial_km2": ("工业用地面积下限", "平方公里", math.inf),
    "industrial_share": ("工业用地占城镇建设用地比例下限", "", 1.0),
    "new_industrial_share": ("新增工业用地占新增建设用地比例下限", "", 1.0),
}
#: Shares within this of a floor count as meeting it: areas reprojected from degrees carry
#: rounding of about 1e-12, which must not fail a share that is exactly the floor.
TOLERANCE = 1e-9
_TOP = {"name", "title", "description", "source", "verified", "city", "district_default", "districts", "sources",
        "units", "land_classes"}


@dataclass(frozen=True)
class Floors:
    """Floors of one area: any of :data:`CHECKS`' keys, missing where not set."""

    industrial_km2: float | None = None
    industrial_share: float | None = None
    new_industrial_share: float | None = None

    def merged(self, other: Floors) -> Floors:
        """These floors with ``other``'s where ``other`` sets one."""
        return Floors(*(getattr(other, k) if getattr(other, k) is not None else getattr(self, k) for k in CHECKS))


@dataclass(frozen=True)
class LandClasses:
    """Which codes count as what (prefixes of 地类编码 and 城镇村属性码)."""

    scheme: str
    industrial: tuple[str, ...]
    construction: tuple[str, ...]
    urban: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class RedlineRules:
    """A red-line rule set: floors for the city and the districts, the 工业产业单元 check, the
    land classes, and where each value comes from."""

    name: str
    title: str
    city: Floors
    district_default: Floors
    districts: dict[str, Floors]
    classes: LandClasses
    overlap_min: float
    allowed_codes: tuple[str, ...]
    allowed_uses: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)
    verified: bool = False
    description: str = ""
    source: str = ""

    def district_floors(self, district_id: str, name: str) -> Floors:
        """The floors of a district: the default ones, overridden by its own (by code or name)."""
        own = self.districts.get(str(district_id)) or self.districts.get(str(name)) or Floors()
        return self.district_default.merged(own)


def _floors(t: Any, where: str) -> Floors:
    if not isinstance(t, Mapping):
        raise RuleError(f"{where} 应为表")
    extra = sorted(set(t) - set(CHECKS))
    if extra:
        raise RuleError(f"{where} 有未知的键 {', '.join(extra)}；可用：{', '.join(CHECKS)}")
    values = {}
    for key, (name, _unit, high) in CHECKS.items():
        v = t.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not (0 <= v <= high):
            bound = "不小于 0 的数" if math.isinf(high) else f"0 到 {high:g} 之间的数（比例，0.25 即 25%）"
            raise RuleError(f"{where}.{key}（{name}）应为{bound}，现为 {v!r}")
        values[key] = float(v)
    return Floors(**values)


def _codes(t: Mapping, key: str, where: str, *, required: bool = True) -> tuple[str, ...]:
    v = t.get(key)
    if v is None and not required:
        return ()
    if not isinstance(v, list) or not v or not all(isinstance(c, str) and c.strip() for c in v):
        raise RuleError(f"{where}.{key} 应为非空的文字列表，如 [\"0601\"]，现为 {v!r}")
    return tuple(c.strip().upper() for c in v)


def redline_rules_from_dict(d: Mapping[str, Any], source: str = "") -> RedlineRules:
    """Build and check :class:`RedlineRules` from a dict (the parsed TOML).

    Examples
    --------
    >>> r = redline_rules_from_dict({"name": "t", "title": "测试", "city": {"industrial_km2": 240,
    ...     "industrial_share": 0.25, "new_industrial_share": 0.3},
    ...     "units": {"overlap_min": 0.5, "allowed_codes": ["0601"]},
    ...     "land_classes": {"scheme": "三调", "industrial": ["0601"], "construction": ["05", "06", "07"],
    ...                      "urban": ["201", "202"]}})
    >>> r.city.industrial_km2, r.city.new_industrial_share, r.classes.urban
    (240.0, 0.3, ('201', '202'))
    >>> redline_rules_from_dict({"name": "t", "title": "测试", "city": {"industrial_share": 25},
    ...     "units": {"overlap_min": 0.5, "allowed_codes": ["0601"]},
    ...     "land_classes": {"scheme": "三调", "industrial": ["0601"], "construction": ["06"], "urban": ["201"]}},
    ...     "x.toml")
    Traceback (most recent call last):
    ...
    mujun.geo.rules.RuleError: 规则文件 x.toml 的 city.industrial_share（工业用地占城镇建设用地比例下限）应为0 到 1 之间的数（比例，0.25 即 25%），现为 25
    """
    where = f"规则文件 {source} 的 " if source else ""
    if not isinstance(d, Mapping):
        raise RuleError(f"{where}顶层应为表")
    extra = sorted(set(d) - _TOP)
    if extra:
        raise RuleError(f"{where}顶层有未知的键 {', '.join(extra)}")
    for key in ("name", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RuleError(f"{where}{key} 必须是非空文字")
    if not isinstance(d.get("verified", False), bool):
        raise RuleError(f"{where}verified 应为 true 或 false，现为 {d['verified']!r}")
    city = _floors(d.get("city", {}), f"{where}city")
    default = _floors(d.get("district_default", {}), f"{where}district_default")
    districts_t = d.get("districts", {})
    if not isinstance(districts_t, Mapping):
        raise RuleError(f"{where}districts 应为表（[districts.\"330603\"]）")
    districts = {str(k): _floors(v, f"{where}districts.{k}") for k, v in districts_t.items()}
    u = d.get("units")
    if not isinstance(u, Mapping):
        raise RuleError(f"{where}units 应为表（[units]，含 overlap_min、allowed_codes）")
    extra = sorted(set(u) - {"overlap_min", "allowed_codes", "allowed_uses"})
    if extra:
        raise RuleError(f"{where}units 有未知的键 {', '.join(extra)}")
    overlap = u.get("overlap_min")
    if isinstance(overlap, bool) or not isinstance(overlap, int | float) or not (0 < overlap <= 1):
        raise RuleError(f"{where}units.overlap_min 应为大于 0、不大于 1 的比例，现为 {overlap!r}")
    c = d.get("land_classes")
    if not isinstance(c, Mapping):
        raise RuleError(f"{where}land_classes 应为表（[land_classes]，含 industrial、construction、urban）")
    extra = sorted(set(c) - {"scheme", "source", "industrial", "construction", "urban"})
    if extra:
        raise RuleError(f"{where}land_classes 有未知的键 {', '.join(extra)}")
    classes = LandClasses(str(c.get("scheme", "")), _codes(c, "industrial", f"{where}land_classes"),
                          _codes(c, "construction", f"{where}land_classes"),
                          _codes(c, "urban", f"{where}land_classes"), str(c.get("source", "")))
    sources = d.get("sources", {})
    if not isinstance(sources, Mapping) or not all(isinstance(v, str) for v in sources.values()):
        raise RuleError(f"{where}sources 应为表，每项为文字")
    return RedlineRules(
        d["name"], d["title"], city, default, districts, classes, float(overlap),
        _codes(u, "allowed_codes", f"{where}units"), _codes(u, "allowed_uses", f"{where}units", required=False),
        dict(sources), bool(d.get("verified", False)), str(d.get("description", "")), str(d.get("source", "")),
    )


def _starts(values: pd.Series, prefixes: tuple[str, ...]) -> pd.Series:
    text = values.astype("string").str.strip().str.upper()
    return text.str.startswith(prefixes).fillna(False).astype(bool)


def classify_patches(landuse: pd.DataFrame, classes: LandClasses) -> pd.DataFrame:
    """Whether each land-use patch is construction land, urban construction land and industrial.

    Returns a frame on ``landuse``'s index with the boolean columns ``construction``,
    ``urban`` (urban construction land) and ``industrial`` (an industrial class, urban or not).
    Industrial classes count as construction land whatever the rule file's list says.

    Examples
    --------
    >>> c = LandClasses("三调", ("0601",), ("05", "06", "07"), ("201", "202"))
    >>> lu = pd.DataFrame({"land_class_code": ["0601", "0701", "0601", "0101"],
    ...                    "urban_code": ["201", "202", "203", None]})
    >>> classify_patches(lu, c).to_dict("list")
    {'construction': [True, True, True, False], 'urban': [True, True, False, False], 'industrial': [True, False, True, False]}
    """
    code = landuse["land_class_code"] if "land_class_code" in landuse.columns else \
        pd.Series(pd.NA, index=landuse.index, dtype="string")
    industrial = _starts(code, classes.industrial)
    construction = _starts(code, classes.construction) | industrial
    if "urban_code" in landuse.columns and landuse["urban_code"].notna().any():
        urban = construction & _starts(landuse["urban_code"], classes.urban)
    else:  # planned urban construction land carries no 城镇村属性码: all of it is urban
        urban = construction
    return pd.DataFrame({"construction": construction, "urban": urban, "industrial": industrial},
                        index=landuse.index)


def _valid(geoms: np.ndarray) -> np.ndarray:
    """Geometries made valid where reprojection left them self-intersecting (thin road patches)."""
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def _overlaps(a: gpd.GeoSeries, b: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of ``a`` and ``b`` (same planar CRS) that overlap, with the overlap's area.

    Returns (positions in ``a``, positions in ``b``, overlap area in the CRS's units²). A
    feature of ``a`` lying wholly within one of ``b`` is not intersected: its own area is
    the overlap.
    """
    av = _valid(np.asarray(a.values, dtype=object))
    bv = _valid(np.asarray(b.values, dtype=object))
    ai, bi = shapely.STRtree(bv).query(av, predicate="intersects")
    shapely.prepare(bv)
    inside = shapely.contains(bv[bi], av[ai])
    overlap = shapely.area(av[ai])
    cut = ~inside
    if cut.any():
        overlap[cut] = shapely.area(shapely.intersection(av[ai[cut]], bv[bi[cut]]))
    keep = overlap > 0
    return ai[keep], bi[keep], overlap[keep]


def district_pieces(landuse: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.DataFrame:
    """Area of each land-use patch in each district it lies in, in m² (Gauss-Krüger zone).

    Returns ``patch`` (the position of the patch in ``landuse``), ``district`` (the position
    of the district in ``districts``) and ``area_m2``: a patch across a boundary is split.
    """
    crs = local_gk_crs(landuse)
    lu = landuse.geometry.to_crs(crs)
    di = districts.geometry.to_crs(crs)
    li, dj, overlap = _overlaps(lu, di)
    # the overlay's planar areas are those of the data's zone; patches of another zone are
    # measured in their own (area_m2), scaled by the share of the patch in the district
    own = area_m2(landuse).to_numpy()
    planar = shapely.area(_valid(np.asarray(lu.values, dtype=object)))
    share = np.divide(overlap, planar[li], out=np.zeros_like(overlap), where=planar[li] > 0)
    return pd.DataFrame({"patch": li, "district": dj, "area_m2": np.minimum(share, 1.0) * own[li]})


def meets(value: pd.Series, floor: pd.Series) -> pd.Series:
    """Whether each value reaches its floor (``value ≥ floor``, a value equal to the floor
    within :data:`TOLERANCE` passing); missing where either is missing.

    Examples
    --------
    >>> meets(pd.Series([0.3, 0.2999, 0.3001, None, 0.5]), pd.Series([0.3, 0.3, 0.3, 0.3, None])).tolist()
    [True, False, True, <NA>, <NA>]
    """
    v = pd.to_numeric(value, errors="coerce").astype("float64")
    f = pd.to_numeric(floor, errors="coerce").astype("float64")
    ok = (v >= f - TOLERANCE * np.maximum(np.abs(f), 1.0)).astype("boolean")
    return ok.mask(v.isna() | f.isna())


def redline_table(
    landuse: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    rules: RedlineRules,
    year: int | None,
    converted: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The red-line figures of each district and the city (the last row), with the floors and
    whether each is met.

    Parameters
    ----------
    landuse : GeoDataFrame
        Land-use patches (``land_class_code``; ``urban_code`` and ``new_year`` when known).
    districts : GeoDataFrame
        ``district_id`` and ``name``.
    rules : RedlineRules
    year : int or None
        The year whose new construction land is checked (None: no check).
    converted : DataFrame, optional
        :func:`unit_parcels`' flagged parcels, counted per district (``district_id``, ``area_mu``).

    Returns
    -------
    DataFrame
        One row per district (in ``districts``' order) and a city row (``level`` ``city``):
        ``industrial_km2``, ``urban_construction_km2``, ``industrial_share``,
        ``industrial_outside_km2``, ``new_construction_km2``, ``new_industrial_km2``,
        ``new_industrial_share``, each floor (``<check>_min``) and its verdict (``<check>_ok``,
        missing without a floor or a figure), ``converted_count`` / ``converted_mu`` and ``redline_ok``
        (every floor set is met).
    """
    cls = classify_patches(landuse, rules.classes)
    new = pd.Series(False, index=landuse.index)
    if year is not None and "new_year" in landuse.columns:
        new = (pd.to_numeric(landuse["new_year"], errors="coerce") == int(year)).fillna(False).astype(bool)
    amounts = pd.DataFrame({
        "industrial_km2": cls["industrial"] & cls["urban"],
        "urban_construction_km2": cls["urban"],
        "industrial_outside_km2": cls["industrial"] & ~cls["urban"],
        "new_construction_km2": cls["construction"] & new,
        "new_industrial_km2": cls["industrial"] & new,
    }).to_numpy(dtype="float64")
    columns = ["industrial_km2", "urban_construction_km2", "industrial_outside_km2", "new_construction_km2",
               "new_industrial_km2"]
    pieces = district_pieces(landuse, districts)
    weights = amounts[pieces["patch"].to_numpy()] * (pieces["area_m2"].to_numpy() / 1e6)[:, None]
    by_district = np.zeros((len(districts), len(columns)))
    np.add.at(by_district, pieces["district"].to_numpy(), weights)
    city = (amounts * (area_m2(landuse).to_numpy() / 1e6)[:, None]).sum(axis=0)
    ids = districts["district_id"].astype("string").to_numpy()
    names = districts["name"].astype("string").to_numpy()
    out = pd.DataFrame(np.vstack([by_district, city[None, :]]), columns=columns)
    out.insert(0, "level", ["district"] * len(districts) + ["city"])
    out.insert(1, "district_id", pd.array([*ids, pd.NA], dtype="string"))
    out.insert(2, "name", pd.array([*names, "全市"], dtype="string"))
    out["industrial_share"] = out["industrial_km2"] / out["urban_construction_km2"].where(
        out["urban_construction_km2"] > 0)
    out["new_industrial_share"] = out["new_industrial_km2"] / out["new_construction_km2"].where(
        out["new_construction_km2"] > 0)
    floors = [rules.district_floors(i, n) for i, n in zip(ids, names, strict=True)] + [rules.city]
    for key in CHECKS:
        out[f"{key}_min"] = pd.array([getattr(f, key) for f in floors], dtype="Float64").astype("float64")
        if key == "new_industrial_share" and year is None:
            out[f"{key}_min"] = np.nan
        out[f"{key}_ok"] = meets(out[key], out[f"{key}_min"])  # each floor is on the column of its name
    if converted is not None and len(converted):
        per = converted.groupby(converted["district_id"].astype("string"), dropna=True).agg(
            converted_count=("parcel_id", "size"), converted_mu=("area_mu", "sum"))
        out = out.join(per, on="district_id")
        out.loc[out["level"] == "city", ["converted_count", "converted_mu"]] = [len(converted),
                                                                                 converted["area_mu"].sum()]
    else:
        out["converted_count"] = 0
        out["converted_mu"] = 0.0
    out["converted_count"] = out["converted_count"].fillna(0).astype("int64")
    out["converted_mu"] = out["converted_mu"].fillna(0.0)
    verdicts = out[[f"{k}_ok" for k in CHECKS]]
    out["redline_ok"] = (~verdicts.eq(False).any(axis=1)).astype("boolean").mask(verdicts.isna().all(axis=1))
    return out


def unit_parcels(
    parcels: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    rules: RedlineRules,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    districts: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Parcels inside a 工业产业单元 whose use is no longer industrial.

    A parcel is inside the unit holding the largest part of it when that part is at least
    ``rules.overlap_min`` of its area. Its use is no longer industrial when its own record
    (``land_use`` / ``land_class_code``) names a use outside ``rules.allowed_uses`` /
    ``allowed_codes``, or when land-use patches of another construction class (not one of
    ``allowed_codes``) cover at least ``rules.overlap_min`` of it. A parcel recording neither use nor code is judged on the
    land-use layer alone.

    Returns
    -------
    GeoDataFrame
        The flagged parcels: ``parcel_id``, ``holder_name``, ``land_use``, ``land_class_code``,
        ``unit_id``, ``unit_name``, ``unit_share``, ``survey_class_code`` / ``survey_class_name``
        (the class covering most of it), ``survey_other_share`` (share under non-industrial
        classes), ``district_id``, ``district_name``, ``area_mu`` (Gauss-Krüger zone) and
        ``reason``, in the parcels' CRS.
    """
    empty_cols = ["parcel_id", "holder_name", "land_use", "land_class_code", "unit_id", "unit_name", "unit_share",
                  "survey_class_code", "survey_class_name", "survey_other_share", "district_id", "district_name",
                  "area_mu", "reason"]
    if parcels.empty or units.empty:
        return gpd.GeoDataFrame({c: [] for c in empty_cols}, geometry=[], crs=parcels.crs)
    crs = local_gk_crs(parcels)
    pg = parcels.geometry.to_crs(crs)
    planar = shapely.area(_valid(np.asarray(pg.values, dtype=object)))
    pi, ui, overlap = _overlaps(pg, units.geometry.to_crs(crs))
    best = pd.DataFrame({"p": pi, "u": ui, "share": overlap / planar[pi]})
    best = best.sort_values(["p", "share"], ascending=[True, False]).drop_duplicates("p")
    best = best[best["share"] >= rules.overlap_min - 1e-12]
    n = len(parcels)
    unit_of = np.full(n, -1)
    unit_of[best["p"].to_numpy()] = best["u"].to_numpy()
    unit_share = np.full(n, np.nan)
    unit_share[best["p"].to_numpy()] = best["share"].to_numpy()
    inside = unit_of >= 0

    def column(frame: pd.DataFrame, name: str) -> pd.Series:
        return frame[name].astype("string") if name in frame.columns else pd.Series(pd.NA, index=frame.index,
                                                                                    dtype="string")

    use, code = column(parcels, "land_use"), column(parcels, "land_class_code")
    allowed = _starts(code, rules.allowed_codes)
    if rules.allowed_uses:
        allowed |= use.str.contains("|".join(rules.allowed_uses), regex=True).fillna(False).astype(bool)
    recorded = (use.notna() | code.notna()).to_numpy()
    by_record = recorded & ~allowed.to_numpy()

    survey_code = pd.Series(pd.NA, index=parcels.index, dtype="string")
    survey_name = pd.Series(pd.NA, index=parcels.index, dtype="string")
    other_share = np.full(n, np.nan)
    if landuse is not None and len(landuse):
        li_p, li_l, lo = _overlaps(pg, landuse.geometry.to_crs(crs))
        lcode = column(landuse, "land_class_code").to_numpy()
        # another construction use; farmland under a parcel not yet built on is no conversion
        other = (classify_patches(landuse, rules.classes)["construction"].to_numpy()
                 & ~_starts(pd.Series(lcode), rules.allowed_codes).to_numpy())
        pairs = pd.DataFrame({"p": li_p, "l": li_l, "a": lo, "other": np.where(other[li_l], lo, 0.0)})
        covered = pairs.groupby("p")[["a", "other"]].sum()
        other_share[covered.index.to_numpy()] = covered["other"].to_numpy() / planar[covered.index.to_numpy()]
        top = pairs.sort_values(["p", "a"], ascending=[True, False]).drop_duplicates("p")
        survey_code.iloc[top["p"].to_numpy()] = lcode[top["l"].to_numpy()]
        survey_name.iloc[top["p"].to_numpy()] = column(landuse, "land_class_name").to_numpy()[top["l"].to_numpy()]
    by_survey = np.nan_to_num(other_share, nan=0.0) >= rules.overlap_min - 1e-12
    flagged = inside & (by_record | by_survey)

    out = gpd.GeoDataFrame({
        "parcel_id": column(parcels, "parcel_id"),
        "holder_name": column(parcels, "holder_name"),
        "land_use": use,
        "land_class_code": code,
    }, geometry=parcels.geometry.values, crs=parcels.crs, index=parcels.index)
    uids, unames = column(units, "unit_id").to_numpy(), column(units, "name").to_numpy()
    out["unit_id"] = pd.array(np.where(inside, uids[np.maximum(unit_of, 0)], None), dtype="string")
    out["unit_name"] = pd.array(np.where(inside, unames[np.maximum(unit_of, 0)], None), dtype="string")
    out["unit_share"] = unit_share
    out["survey_class_code"] = survey_code
    out["survey_class_name"] = survey_name
    out["survey_other_share"] = other_share
    out["district_id"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["district_name"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if districts is not None and len(districts):
        pj, dj, da = _overlaps(pg, districts.geometry.to_crs(crs))
        top = pd.DataFrame({"p": pj, "d": dj, "a": da}).sort_values(["p", "a"], ascending=[True, False]) \
            .drop_duplicates("p")
        out.iloc[top["p"].to_numpy(), out.columns.get_loc("district_id")] = \
            districts["district_id"].astype("string").to_numpy()[top["d"].to_numpy()]
        out.iloc[top["p"].to_numpy(), out.columns.get_loc("district_name")] = \
            districts["name"].astype("string").to_numpy()[top["d"].to_numpy()]
    out = out[flagged].copy()
    out["area_mu"] = area_m2(out) / M2_PER_MU
    record_text = "宗地用途为" + out["land_use"].fillna(out["land_class_code"]).fillna("—")
    survey_text = ("土地利用数据中 " + (out["survey_other_share"] * 100).round(0).astype("Int64").astype("string")
                   + "% 为非工业的建设用地地类（主要为 " + out["survey_class_code"].fillna("—") + " "
                   + out["survey_class_name"].fillna("") + "）")
    rec = pd.Series(by_record[flagged], index=out.index)
    sur = pd.Series(by_survey[flagged], index=out.index)
    out["reason"] = (record_text.where(rec, "") + np.where(rec & sur, "；", "") + survey_text.where(sur, "")) \
        .astype("string")
    return out[[*empty_cols, "geometry"]]
