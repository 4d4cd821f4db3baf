"""Deterministic synthetic sample data for Shaoxing (示例数据, 合成).

The real county outlines of Shaoxing's six districts (data/shaoxing_districts.geojson) hold
synthetic parks, two 万亩千亿 platforms, parcels with buildings and enterprises over three
years. Figures are calibrated to the provincial and county figures in the domain notes
(规上亩均税收 around 28 万元/亩, 亩均增加值 around 130 万元/亩, right-skewed), with some idle
and some inefficient land. Nothing in it describes a real enterprise.

A handful of parcels per district are taken back in review (协议收回, 依法收回) and supplied
again to new synthetic firms, with a 收回与再供应 table and the parcels layer of the year the
new holders produce in (:func:`recovery_sample`): the 腾笼换鸟 ledger's story.

The sample is written as the source files a land bureau would have — a GBK Shapefile with
pinyin field names and no .cpg, a GeoPackage, GeoJSON, XLSX tables with a title row — and
then imported through the ordinary import pipeline.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mujun.geo.errors import InputError, WorkspaceError
from mujun.layers.importer import import_layer
from mujun.layers.rasters import register_raster
from mujun.layers.sample_raster import write_builtup_raster
from mujun.layers.workspace import Workspace

__all__ = ["RecoverySample", "SampleBuilt", "build_sample", "data_dir", "generate", "record_recovery_decisions",
           "recovery_sample", "write_recovery_sources"]

YEARS = (2023, 2024, 2025)
GK = 4549  # CGCS2000 3-degree Gauss-Krüger CM 120E, Shaoxing's zone
LABEL = "示例数据（合成）"

# (4-digit GB/T 4754-2017 code, name, weight in the county mix)
INDUSTRIES = [
    ("1711", "棉纺纱加工", 5), ("1752", "化纤织物染整精加工", 9), ("1751", "化纤织造加工", 8),
    ("1810", "机织服装制造", 5), ("2614", "有机化学原料制造", 4), ("2710", "化学药品原料药制造", 3),
    ("2922", "塑料板、管、型材制造", 5), ("3021", "水泥制品制造", 2), ("3311", "金属结构制造", 6),
    ("3442", "泵及真空设备制造", 5), ("3599", "其他专用设备制造", 7), ("3670", "汽车零部件及配件制造", 6),
    ("3824", "电力电子元器件制造", 5), ("3973", "集成电路制造", 2), ("3989", "其他电子元件制造", 4),
    ("3484", "机械零部件加工", 6), ("1951", "纺织面料鞋制造", 3), ("3360", "金属表面处理及热处理加工", 3),
]
PLATFORM_INDUSTRIES = {
    0: ["3973", "3989", "3824"],
    1: ["3442", "3599", "3670", "3484"],
}
_WORDS = list("恒达华盛鑫泰宏远永康嘉禾瑞丰金海天成兴隆长江新亚联创宇航博达中信汇通卓越正泰森源宝利")
_INDUSTRY_WORD = {"17": "纺织", "18": "服饰", "19": "鞋业", "26": "化工", "27": "药业", "29": "塑业", "30": "建材",
                  "33": "金属制品", "34": "机械", "35": "装备", "36": "汽车部件", "38": "电气", "39": "电子"}
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])

# Parks: (district code, name, level, width km, height km, angle deg, platform index or None)
PARKS = [
    ("330602", "越城示例高新技术产业园区", "国家级", 4.2, 2.6, 12, 0),
    ("330602", "越城示例经济开发区", "省级", 2.6, 1.8, -8, None),
    ("330603", "柯桥示例经济技术开发区", "国家级", 4.4, 2.4, 20, None),
    ("330603", "柯桥示例纺织产业园", "省级", 2.6, 2.0, 5, None),
    ("330604", "上虞示例经济技术开发区", "国家级", 4.2, 2.6, -15, 1),
    ("330604", "上虞示例精细化工园区", "省级", 2.8, 1.8, 30, None),
    ("330681", "诸暨示例经济开发区", "省级", 3.6, 2.4, 0, None),
    ("330681", "诸暨示例智能视觉产业园", "市级", 2.2, 1.6, 25, None),
    ("330683", "嵊州示例经济开发区", "省级", 3.2, 2.0, -20, None),
    ("330683", "嵊州示例小微企业园", "县级", 1.6, 1.2, 10, None),
    ("330624", "新昌示例高新技术产业园区", "省级", 3.2, 2.0, 35, None),
    ("330624", "新昌示例智能装备小镇", "市级", 1.8, 1.4, -5, None),
]
PLATFORMS = [
    ("越城集成电路万亩千亿新产业平台（示例）", "集成电路", 1000.0, 2027, "3973,3989,3824", 10500.0),
    ("上虞高端装备万亩千亿新产业平台（示例）", "高端装备", 1000.0, 2028, "3442,3599,3670,3484", 11000.0),
]
CLUSTERS_PER_DISTRICT = 8


def data_dir() -> Path:
    """The reference and sample data shipped with mujun (the package ``mujun.data``, the
    repository's data/ folder); ``$MUJUN_DATA`` names another folder."""
    env = os.environ.get("MUJUN_DATA")
    here = Path(env) if env else Path(str(importlib.resources.files("mujun.data")))
    if not (here / "shaoxing_districts.geojson").exists():
        raise WorkspaceError(
            f"找不到示例底图 {here / 'shaoxing_districts.geojson'}；请重新安装 mujun，"
            "或把环境变量 MUJUN_DATA 设为含该文件的文件夹"
        )
    return here


@dataclass
class SampleBuilt:
    """What :func:`build_sample` made."""

    folder: Path
    counts: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    #: Parcels layers of later years (year -> source file): import each before evaluating its
    #: year, as a bureau receives a new cadastral extract (see :func:`recovery_sample`).
    later_parcels: dict[int, Path] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# geometry helpers (all in EPSG:4549 metres)


def _rotate(geoms: np.ndarray, cx: float, cy: float, angle_deg: float) -> np.ndarray:
    """Rotate local geometries (origin-centred) by ``angle_deg`` and move them to (cx, cy)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)

    def f(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([cx + c * x - s * y, cy + s * x + c * y])

    return shapely.transform(geoms, f)


def _split(rng: np.random.Generator, total: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each interval of length ``total[i]`` into ``counts[i]`` random pieces.

    Returns the (start offset, length) of every piece, pieces of interval 0 first.
    """
    owner = np.repeat(np.arange(len(total)), counts)
    w = rng.gamma(4.0, 1.0, owner.size)
    sums = np.bincount(owner, weights=w, minlength=len(total))
    frac = w / sums[owner]
    length = frac * total[owner]
    cum = np.cumsum(length)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    start_of_owner = np.where(counts > 0, cum[np.maximum(first - 1, 0)] * (first > 0), 0.0)
    start = cum - length - start_of_owner[owner]
    return start, length


def grid_parcels(rng: np.random.Generator, width: float, height: float) -> np.ndarray:
    """Parcels (boxes, local coords centred on 0,0) filling a width × height area with roads."""
    road = 24.0
    # blocks: columns of 260–520 m, rows of 180–360 m
    ncols = max(int(width // 380), 1)
    nrows = max(int(height // 270), 1)
    col_start, col_len = _split(rng, np.array([width]), np.array([ncols]))
    row_start, row_len = _split(rng, np.array([height]), np.array([nrows]))
    bx0 = np.repeat(col_start, nrows) + road / 2
    bw = np.repeat(col_len, nrows) - road
    by0 = np.tile(row_start, ncols) + road / 2
    bh = np.tile(row_len, ncols) - road
    # each block: 1 or 2 rows of parcels, each row cut into 1–5 parcels along x
    halves = np.where(bh > 230, 2, 1)
    hb = np.repeat(np.arange(bx0.size), halves)
    sub = np.concatenate([np.arange(h) for h in halves]) if halves.size else np.zeros(0, int)
    rx0 = bx0[hb]
    rw = bw[hb]
    rh = bh[hb] / halves[hb]
    ry0 = by0[hb] + sub * rh
    cuts = rng.choice([1, 2, 3, 3, 4, 4, 5, 6], size=hb.size)
    cuts = np.maximum(np.minimum(cuts, (rw // 45).astype(int)), 1)
    ps, pl = _split(rng, rw, cuts)
    row = np.repeat(np.arange(hb.size), cuts)
    x0 = rx0[row] + ps
    y0 = ry0[row]
    gap = 2.0
    boxes = shapely.box(x0 + gap, y0 + gap, x0 + pl - gap, y0 + rh[row] - gap)
    boxes = boxes[shapely.area(boxes) >= 2 * 10000 / 15]  # slivers of under 2 mu stay roads
    return shapely.transform(boxes, lambda xy: xy - np.array([width / 2, height / 2]))


def _inside_points(rng: np.random.Generator, area: shapely.Geometry, n: int, away_from: list) -> list:
    """``n`` random points inside ``area`` keeping clear of the geometries in ``away_from``."""
    minx, miny, maxx, maxy = area.bounds
    out: list = []
    blocked = shapely.union_all(away_from) if away_from else shapely.Polygon()
    for _ in range(200):  # rejection rounds, each vectorised over many candidates
        cand = shapely.points(rng.uniform(minx, maxx, 400), rng.uniform(miny, maxy, 400))
        ok = shapely.contains(area, cand) & ~shapely.intersects(blocked, cand)
        for p in cand[ok]:
            if len(out) == n:
                return out
            out.append(p)
            blocked = shapely.union(blocked, p.buffer(4000))
        if len(out) == n:
            return out
    return out


def _uscc(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """Unified social credit codes (GB 32100-2015) with valid check characters."""
    n = regions.size
    body = np.empty((n, 17), dtype=np.int64)
    body[:, 0] = 9  # 工商
    body[:, 1] = 1  # 企业
    reg = np.array([[int(c) for c in r] for r in regions]) if n else np.zeros((0, 6), int)
    body[:, 2:8] = reg
    body[:, 8] = 21  # 'M' as in codes issued after 2015 (MA...)
    body[:, 9] = 10  # 'A'
    body[:, 10:17] = rng.integers(0, 31, size=(n, 7))
    check = (31 - (body @ _USCC_WEIGHTS) % 31) % 31
    chars = np.array(list(_USCC_CHARS))
    full = np.concatenate([body, check[:, None]], axis=1)
    return np.array(["".join(r) for r in chars[full]]) if n else np.zeros(0, dtype=str)


# --------------------------------------------------------------------------------------


def generate(seed: int = 2024, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Generate the sample layers (GeoDataFrames in EPSG:4549, tables) in memory.

    Parameters
    ----------
    seed : int
        Random seed; the same seed and scale give the same data.
    scale : float
        Size multiplier; 1 gives about 5,500 parcels and 4,500 enterprises.

    Returns
    -------
    dict
        ``districts``, ``parks``, ``platforms``, ``parcels``, ``buildings``,
        ``enterprises`` (all years), ``landuse`` and ``units`` (:func:`survey_layers`).
    """
    rng = np.random.default_rng(seed)
    districts = gpd.read_file(data_dir() / "shaoxing_districts.geojson").to_crs(GK)
    dgeom = dict(zip(districts["district_id"], districts.geometry, strict=True))
    lin = float(np.sqrt(min(scale, 1.0)))  # below 1 the parks shrink; above, more clusters

    parks, platforms, zones = [], [], []  # zones: (kind, id, local parcels, cx, cy, angle, platform)
    placed: list = []
    for i, (dcode, name, level, w, h, ang, plat) in enumerate(PARKS):
        w_m, h_m = w * 1000 * lin, h * 1000 * lin
        inner = dgeom[dcode].buffer(-max(w_m, h_m) / 2 - 500)
        if inner.is_empty:
            inner = dgeom[dcode].buffer(-1000)
        (pt,) = _inside_points(rng, inner, 1, placed)
        cx, cy = pt.x, pt.y
        rect = shapely.box(-w_m / 2, -h_m / 2, w_m / 2, h_m / 2)
        notch = shapely.box(w_m / 2 - w_m * 0.25, h_m / 2 - h_m * 0.3, w_m / 2, h_m / 2)
        park_local = rect.difference(notch)
        park_geom = _rotate(np.array([park_local]), cx, cy, ang)[0]
        placed.append(park_geom.buffer(1500))
        pid = f"PK{i + 1:02d}"
        parks.append({"园区代码": pid, "园区名称": name, "级别": level, "类型": "开发区", "geometry": park_geom})
        region_local = park_local
        if plat is not None:
            # the platform: the park's western part and new land beyond it, ~10,500 mu
            pw, ph = 3500.0 * lin, 2000.0 * lin
            plat_local = shapely.box(-w_m / 2 - 1400 * lin, -ph / 2, -w_m / 2 - 1400 * lin + pw, ph / 2)
            plat_geom = _rotate(np.array([plat_local]), cx, cy, ang)[0]
            pname, lead, target, tyear, codes, planned = PLATFORMS[plat]
            platforms.append({"平台代码": f"PF{plat + 1:02d}", "平台名称": pname, "主导产业": lead,
                              "主导产业代码": codes, "目标产值(亿元)": target, "目标年份": tyear,
                              "规划面积(亩)": planned, "geometry": plat_geom})
            placed.append(plat_geom.buffer(1500))
            region_local = shapely.union(park_local, plat_local)
        minx, miny, maxx, maxy = region_local.bounds
        local = grid_parcels(rng, maxx - minx, maxy - miny)
        local = shapely.transform(local, lambda xy, dx=(minx + maxx) / 2, dy=(miny + maxy) / 2: xy + [dx, dy])
        local = local[shapely.contains(region_local, local)]
        world = _rotate(local, cx, cy, ang)
        zones.append(("park", dcode, world, plat))

    n_clusters = int(round(CLUSTERS_PER_DISTRICT * len(dgeom) * max(scale, 0.25)))
    codes = list(dgeom)
    for j in range(n_clusters):
        dcode = codes[j % len(codes)]
        w_m = rng.uniform(900, 1700) * lin
        h_m = rng.uniform(700, 1300) * lin
        inner = dgeom[dcode].buffer(-max(w_m, h_m))
        pts = _inside_points(rng, inner if not inner.is_empty else dgeom[dcode], 1, placed)
        if not pts:
            continue
        cx, cy = pts[0].x, pts[0].y
        ang = rng.uniform(-40, 40)
        local = grid_parcels(rng, w_m, h_m)
        world = _rotate(local, cx, cy, ang)
        placed.append(shapely.box(*shapely.total_bounds(world)).buffer(1200))
        zones.append(("cluster", dcode, world, None))

    parks_gdf = gpd.GeoDataFrame(parks, crs=GK)
    platforms_gdf = gpd.GeoDataFrame(platforms, crs=GK)
    parcels, buildings, enterprises = _parcels_and_firms(rng, zones, platforms_gdf)
    enterprises = _with_water_and_gas(enterprises, np.random.default_rng([seed, 12]))
    districts_out = districts.rename(columns={"district_id": "行政区划代码", "name": "行政区名称"}).to_crs(4490)
    out = {
        "districts": districts_out,
        "parks": parks_gdf,
        "platforms": platforms_gdf,
        "parcels": parcels,
        "buildings": buildings,
        "enterprises": enterprises,
    }
    out.update(survey_layers(out, districts, np.random.default_rng([seed, 13])))
    return out


def _with_water_and_gas(enterprises: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """用水量 in 吨 (as water bills give it) and 天然气用量 in 万立方米, from the firms' electricity and
    energy use; drawn from their own generator so that the other figures stay as they were.
    About 1 % of firms report no water figure; about a third use no gas (0)."""
    n = len(enterprises)
    elec = enterprises["用电量(万千瓦时)"].to_numpy(dtype="float64")
    energy = enterprises["综合能耗(吨标准煤)"].to_numpy(dtype="float64")
    water = elec * np.exp(rng.normal(np.log(300.0), 0.6, n))  # 吨 per 万千瓦时
    water = np.where(rng.random(n) < 0.01, np.nan, water.round(0))
    # 1 万立方米 of natural gas ≈ 12.143 吨标准煤: 1.2143 kgce/m³, the factor commonly used (GB/T 2589: 1.10–1.33)
    gas = energy * np.exp(rng.normal(np.log(0.15), 0.5, n)) / 12.143
    gas = np.where(rng.random(n) < 0.35, 0.0, gas.round(2))
    return enterprises.assign(**{"用水量(吨)": water, "天然气用量(万立方米)": gas})


def _parcels_and_firms(rng, zones, platforms_gdf):
    geoms = np.concatenate([z[2] for z in zones])
    dist = np.concatenate([[z[1]] * len(z[2]) for z in zones])
    zone_no = np.concatenate([[i + 1] * len(z[2]) for i, z in enumerate(zones)])

    n = geoms.size
    area_m2 = shapely.area(geoms)
    mu = area_m2 / (10000 / 15)
    on_platform = np.zeros(n, dtype=int) - 1
    if len(platforms_gdf):
        for k, g in enumerate(platforms_gdf.geometry.values):
            on_platform[shapely.contains(g, shapely.centroid(geoms))] = k

    # land status: unsupplied (批而未供), idle (供而未用), in production
    u = rng.random(n)
    unsupplied = (u < np.where(on_platform >= 0, 0.16, 0.025))
    idle = ~unsupplied & (rng.random(n) < np.where(on_platform >= 0, 0.06, 0.035))
    stalled = ~unsupplied & ~idle & (rng.random(n) < 0.01)  # started, then stopped
    producing = ~unsupplied & ~idle

    # parcel ids: district code + park/cluster block + GB + sequence
    seq = np.arange(1, n + 1)
    parcel_id = np.char.add(np.char.add(dist.astype(str), np.char.zfill(zone_no.astype(str), 6)),
                            np.char.add("GB", np.char.zfill(seq.astype(str), 5)))

    # enterprises: each holds 1–3 parcels of the same district
    held = ~unsupplied
    held_idx = np.flatnonzero(held)
    per_firm = rng.choice([1, 1, 1, 1, 1, 1, 1, 1, 2, 3], size=held_idx.size)
    firm_of = np.repeat(np.arange(per_firm.size), per_firm)[: held_idx.size]
    n_firms = int(firm_of.max()) + 1 if held_idx.size else 0
    owner = np.full(n, -1)
    owner[held_idx] = firm_of
    firm_district = np.empty(n_firms, dtype=object)
    firm_district[firm_of[::-1]] = dist[held_idx][::-1]
    n_lease = int(round(n_firms * 0.07))
    lease_district = rng.choice(np.unique(dist), size=n_lease)
    all_district = np.concatenate([firm_district.astype(str), lease_district.astype(str)])
    total_firms = n_firms + n_lease
    codes = _uscc(rng, all_district)
    # firm industries: platform firms follow the platform's lead industry
    ind_codes = np.array([c for c, _, _ in INDUSTRIES])
    ind_names = dict((c, nm) for c, nm, _ in INDUSTRIES)
    weights = np.array([w for _, _, w in INDUSTRIES], dtype=float)
    industry = rng.choice(ind_codes, size=total_firms, p=weights / weights.sum())
    firm_platform = np.full(total_firms, -1)
    firm_platform[owner[held_idx]] = on_platform[held_idx]
    for k, inds in PLATFORM_INDUSTRIES.items():
        sel = firm_platform == k
        industry[sel] = rng.choice(inds, size=int(sel.sum()))
    word = np.array(_WORDS)
    w1 = word[rng.integers(0, len(_WORDS), total_firms)]
    w2 = word[rng.integers(0, len(_WORDS), total_firms)]
    dname = {"330602": "越城", "330603": "柯桥", "330604": "上虞", "330624": "新昌", "330681": "诸暨", "330683": "嵊州"}
    names = np.array([
        f"{dname[d]}示例{a}{b}{_INDUSTRY_WORD.get(i[:2], '实业')}有限公司"
        for d, a, b, i in zip(all_district, w1, w2, industry, strict=True)
    ])

    # firm land and productivity
    owned = np.bincount(owner[held_idx], weights=mu[held_idx], minlength=total_firms)
    leased_in = np.zeros(total_firms)
    leased_in[n_firms:] = rng.uniform(2, 14, n_lease).round(1)
    # some rented premises are missing from the returns: no land can be linked to them
    unlinked = np.zeros(total_firms, dtype=bool)
    unlinked[n_firms:] = rng.random(n_lease) < 0.12
    extra_lease = rng.random(total_firms) < 0.05
    leased_in[:n_firms] += np.where(extra_lease[:n_firms], rng.uniform(1, 8, n_firms), 0).round(1)
    land = np.where(unlinked, leased_in, owned + leased_in)  # their output still counts per mu leased
    firm_idle = np.zeros(total_firms, dtype=bool)
    np.logical_or.at(firm_idle, owner[idle | stalled], True)
    # productivity: a lognormal per firm, larger firms a little more productive
    z = rng.normal(0, 1, total_firms)
    big = land > 15
    tax_mu = np.exp(np.log(12.5) + 0.40 * big + 0.85 * z)
    va_ratio = np.exp(rng.normal(np.log(4.15), 0.33, total_firms))
    rev_ratio = np.exp(rng.normal(np.log(4.1), 0.30, total_firms))
    weak = rng.random(total_firms) < 0.06  # inefficient holders: very low output on their land
    tax_mu[weak] *= 0.12
    tax_mu[firm_idle] *= 0.05

    rows = []
    firm_alive = np.ones(total_firms, dtype=bool)
    growth = np.ones(total_firms)
    for year in YEARS:
        if year != YEARS[0]:
            growth = growth * np.exp(rng.normal(0.05, 0.13, total_firms))
            firm_alive = firm_alive & (rng.random(total_firms) > 0.015)
        entering = rng.random(total_firms) < (0.03 if year == YEARS[0] else 0.0)
        present = firm_alive & ~entering & ~(firm_idle & (rng.random(total_firms) < 0.7))
        t = tax_mu * growth * land
        zero = rng.random(total_firms) < 0.02
        neg = rng.random(total_firms) < 0.008
        t = np.where(zero, 0.0, t)
        t = np.where(neg, -rng.uniform(0.2, 3.0, total_firms) * land, t)
        va = tax_mu * growth * va_ratio * land * np.exp(rng.normal(0, 0.05, total_firms))
        rev = va * rev_ratio * np.exp(rng.normal(0, 0.05, total_firms))
        out_val = rev * rng.uniform(0.92, 1.08, total_firms)
        above = rev >= 2000
        energy = va / np.exp(rng.normal(np.log(2.6), 0.5, total_firms))
        emis = va / np.exp(rng.normal(np.log(4900), 0.6, total_firms))
        staff = np.maximum(np.round(va / np.exp(rng.normal(np.log(18), 0.35, total_firms))), 3)
        rd = rev * np.exp(rng.normal(np.log(0.025), 0.6, total_firms))
        elec = np.maximum(t, 0.05 * land) / np.exp(rng.normal(np.log(0.24), 0.45, total_firms))
        idx = np.flatnonzero(present)
        frame = pd.DataFrame({
            "统一社会信用代码": codes[idx],
            "企业名称": names[idx],
            "行业代码": industry[idx],
            "行业名称": [ind_names[c] for c in industry[idx]],
            "是否规上": np.where(above[idx], "是", "否"),
            "年度": year,
            "税收(万元)": t[idx].round(2),
            "工业增加值(万元)": va[idx].round(2),
            "营业收入（万元）": rev[idx].round(2),
            "工业总产值（万元）": out_val[idx].round(2),
            "综合能耗(吨标准煤)": energy[idx].round(1),
            "排放当量(吨)": emis[idx].round(3),
            "研发经费(万元)": rd[idx].round(2),
            "年平均职工人数(人)": staff[idx].astype(int),
            "用电量(万千瓦时)": elec[idx].round(2),
            "租入面积(亩)": np.where((leased_in[idx] > 0) & ~unlinked[idx], leased_in[idx], np.nan),
        })
        # a few blanks as tax systems deliver them
        blank = rng.random(len(frame)) < 0.004
        frame["排放当量(吨)"] = frame["排放当量(吨)"].astype(object)
        frame.loc[blank, "排放当量(吨)"] = "暂无"
        rows.append(frame)
    enterprises = pd.concat(rows, ignore_index=True)

    # dates (as of the sample's "today": 2026-06-30)
    today = np.datetime64("2026-06-30")
    transfer = today - rng.integers(365 * 3, 365 * 20, n).astype("timedelta64[D]")
    recent = idle | stalled
    transfer[recent] = today - rng.integers(365 * 2, 365 * 5, int(recent.sum())).astype("timedelta64[D]")
    agreed_start = transfer + rng.integers(90, 180, n).astype("timedelta64[D]")
    agreed_finish = agreed_start + np.timedelta64(730, "D")
    actual_start = agreed_start + rng.integers(0, 150, n).astype("timedelta64[D]")
    std_land = transfer >= np.datetime64("2018-01-01")  # 标准地 carry contract indicators

    def dates(values, mask):
        s = pd.Series(pd.to_datetime(values).strftime("%Y-%m-%d"), dtype=object)
        s[~mask] = None
        return s

    holder_code = np.where(owner >= 0, codes[np.maximum(owner, 0)], None)
    holder_name = np.where(owner >= 0, names[np.maximum(owner, 0)], None)
    land_use = np.where(rng.random(n) < 0.96, "工业用地", "仓储用地")
    dlbm = np.where(land_use == "工业用地", "0601", "0508")  # GB/T 21010-2017: 0508 物流仓储用地
    investment = np.where(std_land & producing, mu * rng.lognormal(np.log(360), 0.25, n), np.nan)
    investment[stalled] = mu[stalled] * rng.uniform(20, 60, int(stalled.sum()))
    parcels = gpd.GeoDataFrame({
        "ZDDM": parcel_id,
        "QLRMC": holder_name,
        "TYSHXYDM": holder_code,
        "TDYT": land_use,
        "DLBM": dlbm,
        "ZDMJ": (area_m2 * rng.uniform(0.995, 1.005, n)).round(2),
        "出让日期": dates(transfer, ~unsupplied),
        "约定开工日期": dates(agreed_start, ~unsupplied),
        "约定竣工日期": dates(agreed_finish, ~unsupplied),
        "实际开工日期": dates(actual_start, producing | stalled),
        "固定资产投资": np.round(investment, 1),
        "约定投资强度": np.where(std_land & ~unsupplied, rng.choice([250, 270, 300, 320], n), np.nan),
        "约定达产日期": dates(agreed_finish + np.timedelta64(365, "D"), std_land & ~unsupplied),
        "约定亩均税收": np.where(std_land & ~unsupplied, rng.choice([8.0, 10.0, 15.0, 20.0], n), np.nan),
        "约定亩均增加值": np.where(std_land & ~unsupplied, rng.choice([40.0, 60.0, 80.0], n), np.nan),
        "容积率下限": np.where(std_land & ~unsupplied, rng.choice([0.8, 1.0, 1.0, 1.2], n), np.nan),
        "容积率上限": np.where(std_land & ~unsupplied, rng.choice([2.5, 3.0], n), np.nan),
    }, geometry=geoms, crs=GK)
    parcels.loc[~unsupplied & (rng.random(n) < 0.003), "实际开工日期"] = "暂无"

    buildings = parcel_buildings(rng, geoms, producing, stalled, owner, weak)
    # drawn last, so that every figure drawn before stays as it was: the transfer price
    # (synthetic, 25–60 万元/亩) and a few unstarted parcels whose delay the government or
    # force majeure caused (令第53号 第八条: no 闲置费, no 无偿收回)
    price = np.where(~unsupplied, mu * rng.uniform(25, 60, n), np.nan)
    parcels.insert(parcels.columns.get_loc("约定投资强度"), "出让价款", np.round(price, 1))  # 万元; a Shapefile name holds 10 bytes
    exempt = rng.choice(np.flatnonzero(idle), size=min(6, int(idle.sum())), replace=False)
    causes = np.array(["政府原因：规划调整", "政府原因：征地拆迁未完成", "不可抗力：洪涝灾害"])
    parcels["延迟开工原因"] = None
    parcels.loc[parcels.index[exempt], "延迟开工原因"] = causes[np.arange(exempt.size) % causes.size]
    return parcels, buildings, enterprises


def parcel_buildings(rng, parcels: np.ndarray, producing, stalled, owner, weak):
    """Rectangular buildings inside built parcels, aligned with each parcel."""
    built = np.flatnonzero(producing | stalled)
    rect = shapely.oriented_envelope(parcels[built])
    coords = shapely.get_coordinates(rect).reshape(-1, 5, 2)[:, :4, :]
    p0, p1, p3 = coords[:, 0], coords[:, 1], coords[:, 3]
    ex, ey = p1 - p0, p3 - p0  # the parcel's two edge vectors
    nb = rng.choice([1, 2, 2, 3, 3, 4, 5, 6], size=built.size)
    nb[stalled[built]] = 1
    owner_b = np.repeat(np.arange(built.size), nb)
    k = np.concatenate([np.arange(m) for m in nb])
    cover = rng.uniform(0.38, 0.62, built.size)
    low = weak[np.maximum(owner[built], 0)] | (rng.random(built.size) < 0.05)
    cover[low] = rng.uniform(0.12, 0.28, int(low.sum()))
    cover[stalled[built]] = rng.uniform(0.05, 0.15, int(stalled[built].sum()))
    m = owner_b.size
    use = rng.choice(["生产", "生产", "生产", "仓储"], size=m).astype(object)
    use[(k == 0) & (nb[owner_b] > 2)] = "办公"
    use[(k == 1) & (nb[owner_b] > 4)] = "生活"
    use[(k == nb[owner_b] - 1) & (nb[owner_b] > 3) & (rng.random(m) < 0.3)] = "堆场"
    admin = np.isin(use, ["办公", "生活"])
    # buildings in a row along the first edge, each taking a share of the length;
    # office and living blocks are small (the 7 % rule), a few are not
    frac_w = 0.82 / nb[owner_b]
    depth = np.clip(cover[owner_b] / 0.82, 0.1, 0.9)
    depth = np.where(admin, depth * np.where(rng.random(m) < 0.1, 0.6, 0.25), depth)
    s0 = (k + 0.09) / nb[owner_b]
    t0 = (1 - depth) / 2
    o = p0[owner_b]
    ax, ay = ex[owner_b], ey[owner_b]
    corners = np.stack([
        o + ax * s0[:, None] + ay * t0[:, None],
        o + ax * (s0 + frac_w)[:, None] + ay * t0[:, None],
        o + ax * (s0 + frac_w)[:, None] + ay * (t0 + depth)[:, None],
        o + ax * s0[:, None] + ay * (t0 + depth)[:, None],
    ], axis=1)
    geoms = shapely.polygons(corners)
    floors = rng.choice([1, 2, 2, 3, 3, 4, 5, 6], size=m)
    floors[low[owner_b]] = 1
    height = floors * rng.uniform(4.2, 5.0, m)
    shed = (floors == 1) & (rng.random(m) < 0.45)  # tall single-storey workshops count twice
    height[shed] = rng.uniform(9.0, 14.0, int(shed.sum()))
    floors[admin] = np.maximum(floors[admin], 3)
    floors[use == "堆场"] = 0
    height[use == "堆场"] = 0
    return gpd.GeoDataFrame({
        "FWBH": np.char.add("F", np.char.zfill(np.arange(1, m + 1).astype(str), 7)),
        "ZCS": floors,
        "JZGD": height.round(1),
        "FWYT": use,
    }, geometry=geoms, crs=GK)


# --------------------------------------------------------------------------------------
# land use (国土调查) and 工业产业单元, for the industrial-land red line

#: 三调 land classes of the sample (GB/T 21010-2017, 第三次全国国土调查工作分类).
SURVEY_CLASSES = {
    "0601": "工业用地", "0508": "物流仓储用地", "05H1": "商业服务业设施用地", "0701": "城镇住宅用地",
    "0702": "农村宅基地", "08H1": "机关团体新闻出版用地", "08H2": "科教文卫用地", "0809": "公用设施用地",
    "0810": "公园与绿地", "1004": "城镇村道路用地", "1005": "交通服务场站用地", "1201": "空闲地", "0101": "水田",
}
#: The mix of the synthetic towns' land (code, share of cells); 0101 and 0702 lie outside 城镇.
TOWN_MIX = (("0701", 0.42), ("05H1", 0.11), ("0508", 0.04), ("08H1", 0.04), ("08H2", 0.08), ("0809", 0.03),
            ("0810", 0.07), ("1004", 0.11), ("1005", 0.02), ("1201", 0.02), ("0101", 0.04), ("0702", 0.02))
#: Target share of industrial land in each district's urban construction land (some under 25 %).
TOWN_TARGET_SHARE = {"330602": 0.19, "330603": 0.32, "330604": 0.27, "330624": 0.19, "330681": 0.28, "330683": 0.22}
#: Targets of the share of industrial land in a district's new construction land of a year, drawn
#: in turn (about half of them under 30 %).
NEW_TARGET_SHARES = (0.22, 0.36, 0.27, 0.41, 0.18, 0.33)
TOWN_CELL = 500.0  # m
SURVEY_YEARS = YEARS  # years with new construction land


def survey_layers(layers: dict[str, pd.DataFrame], districts: gpd.GeoDataFrame,
                  rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """A land-use layer (国土调查 地类图斑) and 工业产业单元 consistent with the parcels (synthetic).

    Every parcel is a patch (0601 工业用地 / 0508 物流仓储用地; land not yet supplied is still
    0101 水田), the land between the parcels of a park or cluster is 1004 城镇村道路用地, and each
    district has a synthetic town of 500 m cells (residential, commercial, public …) sized so
    that industrial land is about :data:`TOWN_TARGET_SHARE` of its urban construction land.
    Some town cells and the parcels transferred since 2023 are new construction land of
    2023–2025, industrial or not. The parks and most clusters are 工业产业单元; a handful of
    parcels inside them have become 商务金融用地 or 城镇住宅用地. ``layers["parcels"]`` is
    replaced by a copy with those uses.

    Drawn from ``rng`` alone, so that the other sample figures stay as they were.
    """
    parcels = layers["parcels"].copy()
    zone = parcels["ZDDM"].str[6:12].to_numpy()
    dist = parcels["ZDDM"].str[:6].to_numpy()
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    zones, zone_idx = np.unique(zone, return_inverse=True)
    zone_dist = dist[np.unique(zone_idx, return_index=True)[1]]
    park_zone = zones.astype(int) <= len(PARKS)  # parks were laid out first

    # zone outlines: the convex hull of each zone's parcels, the roads between its parcels
    blocks = shapely.multipolygons(geoms, indices=zone_idx)
    hulls = shapely.convex_hull(blocks)
    roads = shapely.difference(hulls, shapely.buffer(blocks, 0.5, join_style="mitre"))  # no touching corners

    # 工业产业单元: every park, three clusters in four
    is_unit = park_zone | (rng.random(zones.size) < 0.75)
    u = np.flatnonzero(is_unit)
    unit_geom = shapely.buffer(hulls[u], 30.0, join_style="mitre")
    dname = dict(zip(districts["district_id"], districts["name"], strict=True))
    names = np.where(park_zone[u], np.array([PARKS[min(int(z), len(PARKS)) - 1][1] for z in zones[u]]),
                     np.array([f"{dname[d]}{z.lstrip('0')}号" for d, z in zip(zone_dist[u], zones[u], strict=True)]))
    units = gpd.GeoDataFrame({
        "单元编号": [f"GYDY{d}{k:03d}" for d, k in
                 zip(zone_dist[u], pd.Series(zone_dist[u]).groupby(zone_dist[u]).cumcount() + 1, strict=True)],
        "单元名称": [f"{n}工业产业单元（示例）" for n in names],
        "行政区代码": zone_dist[u],
        "规划面积": np.round(shapely.area(unit_geom) / (10000 / 15), 1),
        "批准文号": [f"绍政函〔{2019 + k % 3}〕{10 + k}号（示例）" for k in range(u.size)],
    }, geometry=unit_geom, crs=GK)

    # parcels whose use changed inside a unit: land not yet supplied, so no firm's figures move
    unsupplied = parcels["TYSHXYDM"].isna().to_numpy()
    candidates = np.flatnonzero(unsupplied & np.isin(zone_idx, u))
    changed = rng.choice(candidates, size=min(8, candidates.size), replace=False)
    recorded, surveyed = changed[:6], changed[6:]  # surveyed: still 工业用地 on record, housing on the ground
    new_use = np.array(["商务金融用地", "城镇住宅用地"])[np.arange(recorded.size) % 2]
    parcels.loc[parcels.index[recorded], "TDYT"] = new_use
    parcels.loc[parcels.index[recorded], "DLBM"] = np.where(new_use == "商务金融用地", "0505", "0701")

    code = np.where(parcels["TDYT"].to_numpy() == "仓储用地", "0508", "0601").astype(object)
    code[unsupplied] = "0101"
    code[recorded] = np.where(new_use == "商务金融用地", "05H1", "0701")
    code[surveyed] = "0701"
    urban = np.where(park_zone[zone_idx], "201", "202").astype(object)
    urban[code == "0101"] = None
    transfer = pd.to_datetime(parcels["出让日期"], errors="coerce").dt.year.to_numpy()
    p_year = np.where(np.isin(transfer, SURVEY_YEARS) & (code == "0601"), transfer, np.nan)
    patches = [pd.DataFrame({"dist": dist, "code": code, "urban": urban, "year": p_year, "geometry": geoms})]
    keep = ~shapely.is_empty(roads)
    patches.append(pd.DataFrame({"dist": zone_dist[keep], "code": "1004",
                                 "urban": np.where(park_zone[keep], "201", "202"), "year": np.nan,
                                 "geometry": roads[keep]}))

    # the towns: enough other urban land for the target share, some of it new in 2023–2025
    industrial = pd.Series(shapely.area(geoms) * (code == "0601"), index=dist).groupby(level=0).sum()
    road_area = pd.Series(shapely.area(roads), index=zone_dist).groupby(level=0).sum()
    blocked = shapely.union_all(shapely.buffer(hulls, 1500.0, quad_segs=2))
    shapely.prepare(blocked)
    dgeom = dict(zip(districts["district_id"], districts.geometry.values, strict=True))
    for d, target in TOWN_TARGET_SHARE.items():  # six districts, each a vectorised block of cells
        other = industrial.get(d, 0.0) / target - industrial.get(d, 0.0) - road_area.get(d, 0.0)
        patches.append(_town(d, dgeom[d], max(other, 0.0), blocked, rng))
    lu = pd.concat(patches, ignore_index=True)
    lu = _new_industrial(lu, rng)
    n = len(lu)
    area = shapely.area(lu["geometry"].to_numpy())
    landuse = gpd.GeoDataFrame({
        "BSM": np.char.add("3306", np.char.zfill(np.arange(1, n + 1).astype(str), 8)),
        "TBBH": (lu.groupby("dist").cumcount() + 1).astype(str).to_numpy(),
        "DLBM": lu["code"].to_numpy(),
        "DLMC": lu["code"].map(SURVEY_CLASSES).to_numpy(),
        "CZCSXM": lu["urban"].to_numpy(),
        "ZLDWDM": np.char.add(lu["dist"].to_numpy().astype(str), "1000000000000"),
        "TBMJ": area.round(2),
        "新增年份": pd.array(lu["year"].to_numpy(), dtype="Int64"),
    }, geometry=lu["geometry"].to_numpy(), crs=GK)
    return {"parcels": parcels, "landuse": landuse, "units": units}


def _town(district: str, outline: shapely.Geometry, area: float, blocked: shapely.Geometry,
          rng: np.random.Generator) -> pd.DataFrame:
    """Cells of a synthetic town of about ``area`` m² in ``outline``, clear of ``blocked``:
    one square if it fits, else two or four smaller ones."""
    n_cells = int(round(area / TOWN_CELL**2))
    shapely.prepare(outline)
    minx, miny, maxx, maxy = outline.bounds
    centres = []
    for parts in (1, 2, 4, 8):  # a handful of attempts, each testing many places at once
        side = int(np.ceil(np.sqrt(n_cells / parts))) * TOWN_CELL
        x = rng.uniform(minx, maxx, 3000)
        y = rng.uniform(miny, maxy, 3000)
        boxes = shapely.box(x - side / 2, y - side / 2, x + side / 2, y + side / 2)
        ok = np.flatnonzero(shapely.contains(outline, boxes) & ~shapely.intersects(blocked, boxes))
        centres = []
        for i in ok:  # keep the blocks apart
            if all(abs(x[i] - cx) > side + 500 or abs(y[i] - cy) > side + 500 for cx, cy in centres):
                centres.append((x[i], y[i]))
            if len(centres) == parts:
                break
        if len(centres) == parts:
            break
    if not centres or n_cells == 0:  # no room clear of the parks (a tiny scale): no town
        return pd.DataFrame({"dist": [], "code": [], "urban": [], "year": [], "geometry": []})
    k = int(np.ceil(np.sqrt(n_cells / len(centres))))
    gx, gy = np.meshgrid(np.arange(k), np.arange(k))
    offs = np.column_stack([gx.ravel(), gy.ravel()])[: int(np.ceil(n_cells / len(centres)))] * TOWN_CELL
    origin = np.repeat(np.array(centres) - k * TOWN_CELL / 2, len(offs), axis=0)
    ll = origin + np.tile(offs, (len(centres), 1))
    ll = ll[:n_cells]
    cells = shapely.box(ll[:, 0] + 10, ll[:, 1] + 10, ll[:, 0] + TOWN_CELL - 10, ll[:, 1] + TOWN_CELL - 10)
    codes = np.array([c for c, _ in TOWN_MIX])
    shares = np.array([s for _, s in TOWN_MIX])
    code = rng.choice(codes, size=cells.size, p=shares / shares.sum()).astype(object)
    urban = np.where(code == "0702", "203", "201").astype(object)
    urban[code == "0101"] = None
    built = ~np.isin(code, ["0101", "1201"])
    year = np.where(built & (rng.random(cells.size) < 0.15), rng.choice(SURVEY_YEARS, size=cells.size), np.nan)
    # a few industrial patches in villages (203): industrial land outside urban construction land
    village_ind = np.flatnonzero(code == "0702")[: rng.integers(0, 4)]
    code[village_ind] = "0601"
    return pd.DataFrame({"dist": district, "code": code, "urban": urban, "year": year, "geometry": cells})


def _new_industrial(lu: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Turn some old town cells into industrial land new in each year, so that each district's
    share of industrial land in the year's new construction land is one of :data:`NEW_TARGET_SHARES`
    (in an order drawn from ``rng``): some years and districts reach 30 %, others do not."""
    area = shapely.area(lu["geometry"].to_numpy())
    code = lu["code"].to_numpy().copy()
    year = lu["year"].to_numpy().copy()
    dist = lu["dist"].to_numpy()
    industrial = code == "0601"
    new = (code != "0101") & ~np.isnan(year)
    # old urban town cells that may become new industrial land
    pool = np.isnan(year) & np.isin(code, ["0701", "1201", "0810"]) & (lu["urban"].to_numpy() == "201")
    sums = pd.DataFrame({"dist": dist[new], "year": year[new], "ind": np.where(industrial, area, 0.0)[new],
                         "other": np.where(industrial, 0.0, area)[new]}).groupby(["dist", "year"]).sum()
    targets = rng.permutation(np.resize(NEW_TARGET_SHARES, len(sums)))
    for (d, y), ind, other, target in zip(sums.index, sums["ind"], sums["other"], targets, strict=True):  # 18
        need = target / (1 - target) * other - ind
        cells = np.flatnonzero(pool & (dist == d))
        pick = rng.choice(cells, size=min(int(round(max(need, 0.0) / TOWN_CELL**2)), cells.size), replace=False)
        code[pick] = "0601"
        year[pick] = y
        pool[pick] = False
    return lu.assign(code=code, year=year)


def write_sources(layers: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """Write the sample as source files in the formats land bureaus receive."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "districts": folder / "行政区.geojson",
        "parks": folder / "园区.gpkg",
        "platforms": folder / "万亩千亿平台.geojson",
        "parcels": folder / "地块.shp",
        "buildings": folder / "建筑物.gpkg",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on truncated field names
        layers["districts"].to_file(paths["districts"], driver="GeoJSON")
        layers["parks"].to_file(paths["parks"], driver="GPKG", layer="园区")
        layers["platforms"].to_crs(4490).to_file(paths["platforms"], driver="GeoJSON")
        # the common case: GBK attributes, 10-byte field names, and no .cpg beside them
        layers["parcels"].to_file(paths["parcels"], driver="ESRI Shapefile", encoding="gbk")
        paths["parcels"].with_suffix(".cpg").unlink(missing_ok=True)
        layers["buildings"].to_file(paths["buildings"], driver="GPKG", layer="建筑物")
    paths.update(_write_survey_sources(layers, folder))
    for year, frame in layers["enterprises"].groupby("年度"):
        p = folder / f"企业亩均数据_{year}.xlsx"
        with pd.ExcelWriter(p, engine="openpyxl") as xw:
            frame.to_excel(xw, index=False, startrow=1, sheet_name=f"{year}年")
            xw.sheets[f"{year}年"].cell(row=1, column=1, value=f"{year} 年度工业企业亩均效益评价基础数据（{LABEL}）")
        paths[f"enterprises_{year}"] = p
    (folder / "说明.txt").write_text(
        f"{LABEL}\n本文件夹由 mujun demo 生成：绍兴市六个区县的行政区界线为真实边界（来源见 data/README.md），"
        "园区、平台、地块、建筑物、企业、土地利用数据（国土调查.gpkg）和工业产业单元均为合成数据，"
        "不对应任何真实企业或真实用地。\n", encoding="utf-8")
    return paths


def _write_survey_sources(layers: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """The land-use layer as a 三调-style GeoPackage in the Gauss-Krüger zone (layer DLTB) and the
    工业产业单元 as a GBK Shapefile without .cpg."""
    paths = {"landuse": folder / "国土调查.gpkg", "units": folder / "工业产业单元.shp"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        layers["landuse"].to_file(paths["landuse"], driver="GPKG", layer="DLTB")
        layers["units"].to_file(paths["units"], driver="ESRI Shapefile", encoding="gbk")
        paths["units"].with_suffix(".cpg").unlink(missing_ok=True)
    return paths


def _write_raster(layers: dict[str, pd.DataFrame], folder: Path, seed: int) -> Path:
    """A built-up raster consistent with the buildings — except on about 2 % of built parcels,
    which the imagery shows bare although their holders report production."""
    rng = np.random.default_rng(seed + 1)
    parcels = layers["parcels"].geometry.values
    buildings = layers["buildings"]
    centres = shapely.centroid(buildings.geometry.values)
    b_idx, p_idx = shapely.STRtree(parcels).query(centres, predicate="within")
    held = layers["parcels"]["TYSHXYDM"].notna().to_numpy()
    built = np.unique(p_idx[held[p_idx]])
    bare = rng.choice(built, size=max(1, int(len(built) * 0.02)), replace=False) if len(built) else built
    keep = ~np.isin(np.arange(len(buildings)), b_idx[np.isin(p_idx, bare)])
    return write_builtup_raster(buildings[keep], layers["parcels"], folder / "建成区影像.tif", seed=seed)


# --------------------------------------------------------------------------------------
# 腾笼换鸟: land taken back in review and supplied again (the ledger's sample)

#: Who records the sample's review decisions (a system name, not an account).
SAMPLE_REVIEWER = "示例数据（系统）"
#: Year of the sample's recovery decisions, and the year whose parcels layer shows the new holders.
RECOVERY_DECISION_YEAR = 2023
NEW_HOLDER_YEAR = 2025
_SHORT = {"330602": "越城", "330603": "柯桥", "330604": "上虞", "330624": "新昌", "330681": "诸暨", "330683": "嵊州"}
_NEW_INDUSTRIES = ["3973", "3824", "3670", "3442", "3599", "3989"]
#: What becomes of the decided parcels, in turn: supplied by record, supplied as a holder
#: change between imports (no record of the supply), recovered only, decided only.
_OUTCOMES = ["record"] * 6 + ["holder_change", "recovered", "decided"]


@dataclass
class RecoverySample:
    """The sample's 腾笼换鸟: decisions to record, the 收回与再供应 table (source headers), the
    parcels layer as of :data:`NEW_HOLDER_YEAR` and the new holders' enterprise records."""

    decisions: pd.DataFrame  # parcel_id, status, measure
    supplies: pd.DataFrame
    parcels: gpd.GeoDataFrame
    enterprises: pd.DataFrame


def recovery_sample(layers: dict[str, pd.DataFrame], seed: int) -> RecoverySample:
    """Pick parcels to take back in each district — an idle parcel and the two single-parcel
    holders with the lowest positive 亩均税收 in :data:`RECOVERY_DECISION_YEAR` — and make their story:
    decided 依法收回 (idle) or 协议收回 in that year, recovered in 2024 and, for most, supplied
    to a new synthetic firm that produces in :data:`NEW_HOLDER_YEAR`. Drawn from its own
    generator, so the rest of the sample stays as it was."""
    rng = np.random.default_rng([seed, 13])
    parcels, ent = layers["parcels"], layers["enterprises"]
    mu = parcels["ZDMJ"].to_numpy(dtype="float64") / (10000 / 15)
    code = parcels["TYSHXYDM"].astype("string")
    district = parcels["ZDDM"].astype(str).str[:6]
    n_held = code.map(code.value_counts())
    first = ent[ent["年度"] == RECOVERY_DECISION_YEAR].drop_duplicates("统一社会信用代码").set_index("统一社会信用代码")
    tax_mu = code.map(first["税收(万元)"]).astype("float64") / mu
    frame = pd.DataFrame({"pid": parcels["ZDDM"].astype(str), "district": district, "mu": mu, "tax_mu": tax_mu,
                          "single": n_held.eq(1).fillna(False).astype(bool), "held": code.notna()})
    idle = (frame["held"] & parcels["出让日期"].notna() & parcels["实际开工日期"].isna()
            & parcels["延迟开工原因"].isna() & frame["single"])
    started = parcels["实际开工日期"].notna() & parcels["延迟开工原因"].isna()
    low = frame["single"] & frame["tax_mu"].gt(0).fillna(False) & started & (frame["mu"] >= 5)
    picked = pd.concat([
        frame[idle].sort_values("pid").groupby("district").head(1).assign(kind="idle"),
        frame[low].sort_values(["tax_mu", "pid"]).groupby("district").head(2).assign(kind="low"),
    ]).sort_values(["district", "pid"]).reset_index()
    picked["outcome"] = [_OUTCOMES[i % len(_OUTCOMES)] for i in range(len(picked))]
    n = len(picked)
    decisions = pd.DataFrame({
        "parcel_id": picked["pid"],
        "status": np.where(picked["kind"] == "idle", "认定闲置", "认定低效"),
        "measure": np.where(picked["kind"] == "idle", "依法收回", "协议收回"),
    })

    recovered = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(10, 150, n), unit="D")
    supplied = recovered + pd.to_timedelta(rng.integers(60, 180, n), unit="D")
    by_record = (picked["outcome"] == "record").to_numpy()
    new_owner = by_record | (picked["outcome"] == "holder_change").to_numpy()
    has_record = picked["outcome"].isin(["record", "holder_change", "recovered"]).to_numpy()
    partial = rng.random(n) < 0.2  # a few records give the area recovered, the others leave it to the parcel's
    m = int(new_owner.sum())
    codes = _uscc(rng, picked.loc[new_owner, "district"].to_numpy())
    industry = rng.choice(_NEW_INDUSTRIES, size=m)
    words = np.array(_WORDS)
    names = np.array([f"{_SHORT[d]}示例{a}{b}{_INDUSTRY_WORD.get(i[:2], '实业')}有限公司" for d, a, b, i in zip(
        picked.loc[new_owner, "district"], words[rng.integers(0, len(words), m)],
        words[rng.integers(0, len(words), m)], industry, strict=True)])
    new_code = np.full(n, None, dtype=object)
    new_name = np.full(n, None, dtype=object)
    new_code[new_owner], new_name[new_owner] = codes, names
    price = np.round(picked["mu"].to_numpy() * rng.uniform(35, 70, n), 1)

    def day(values, mask):
        return pd.Series(np.where(mask, pd.DatetimeIndex(values).strftime("%Y-%m-%d"), None), dtype=object)

    rec = has_record
    supplies = pd.DataFrame({
        "宗地编号": picked["pid"],
        "收回日期": day(recovered, rec),
        "收回面积(亩)": np.where(rec & partial, np.round(picked["mu"].to_numpy() * 0.9, 2), np.nan),
        "收回方式": np.where(rec, decisions["measure"], None),
        "供地日期": day(supplied, by_record),
        "受让人": np.where(by_record, new_name, None),
        "受让人统一社会信用代码": np.where(by_record, new_code, None),
        "供地方式": np.where(by_record, rng.choice(["标准地挂牌出让", "挂牌出让"], n), None),
        "出让价款(万元)": np.where(by_record, price, np.nan),
    })[rec].reset_index(drop=True)

    # the parcels layer of the new holders' year: the supplied parcels under their new holders
    later = parcels.copy()
    at = picked.loc[new_owner, "index"].to_numpy()
    when = supplied[new_owner]
    later.loc[at, "TYSHXYDM"] = codes
    later.loc[at, "QLRMC"] = names
    later.loc[at, "出让日期"] = when.strftime("%Y-%m-%d")
    later.loc[at, "约定开工日期"] = (when + pd.Timedelta(days=90)).strftime("%Y-%m-%d")
    later.loc[at, "实际开工日期"] = (when + pd.Timedelta(days=75)).strftime("%Y-%m-%d")
    later.loc[at, "约定竣工日期"] = (when + pd.Timedelta(days=455)).strftime("%Y-%m-%d")
    later.loc[at, "出让价款"] = price[new_owner]

    # the new holders in the enterprise table of that year: standard-land firms, productive
    land = picked.loc[new_owner, "mu"].to_numpy()
    tax = land * np.exp(rng.normal(np.log(32.0), 0.35, m))
    va = tax * np.exp(rng.normal(np.log(4.2), 0.2, m))
    rev = va * np.exp(rng.normal(np.log(4.1), 0.2, m))
    energy = va / np.exp(rng.normal(np.log(2.8), 0.3, m))
    elec = tax / np.exp(rng.normal(np.log(0.26), 0.3, m))
    names_by_code = dict(zip(layers["enterprises"]["行业代码"], layers["enterprises"]["行业名称"], strict=False))
    firms = pd.DataFrame({
        "统一社会信用代码": codes, "企业名称": names, "行业代码": industry,
        "行业名称": [names_by_code.get(c, "") for c in industry], "是否规上": np.where(rev >= 2000, "是", "否"),
        "年度": NEW_HOLDER_YEAR, "税收(万元)": tax.round(2), "工业增加值(万元)": va.round(2),
        "营业收入（万元）": rev.round(2), "工业总产值（万元）": (rev * rng.uniform(0.95, 1.05, m)).round(2),
        "综合能耗(吨标准煤)": energy.round(1), "排放当量(吨)": (va / np.exp(rng.normal(np.log(5200), 0.4, m))).round(3),
        "研发经费(万元)": (rev * rng.uniform(0.02, 0.05, m)).round(2),
        "年平均职工人数(人)": np.maximum(np.round(va / rng.uniform(18, 30, m)), 3).astype(int),
        "用电量(万千瓦时)": elec.round(2), "租入面积(亩)": np.nan,
        "用水量(吨)": (elec * rng.uniform(150, 400, m)).round(0), "天然气用量(万立方米)": 0.0,
    })
    return RecoverySample(decisions, supplies, later, firms[list(ent.columns)])


def write_recovery_sources(recovery: RecoverySample, folder: Path) -> dict[str, Path]:
    """The recovery sample's source files: the parcels layer of :data:`NEW_HOLDER_YEAR` (a GBK
    Shapefile like the first) and the 收回与再供应 table (XLSX with a title row)."""
    paths = {"parcels_later": folder / f"地块_{NEW_HOLDER_YEAR}.shp", "supplies": folder / "供地记录.xlsx"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recovery.parcels.to_file(paths["parcels_later"], driver="ESRI Shapefile", encoding="gbk")
    paths["parcels_later"].with_suffix(".cpg").unlink(missing_ok=True)
    with pd.ExcelWriter(paths["supplies"], engine="openpyxl") as xw:
        recovery.supplies.to_excel(xw, index=False, startrow=1, sheet_name="收回与再供应")
        xw.sheets["收回与再供应"].cell(row=1, column=1, value=f"低效用地收回与再供应记录（{LABEL}）")
    return paths


def record_recovery_decisions(ws: Workspace, recovery: RecoverySample) -> int:
    """Record the sample's decisions (年度 :data:`RECOVERY_DECISION_YEAR`) as :data:`SAMPLE_REVIEWER`."""
    from datetime import date, timedelta

    from mujun.layers.review import save_decision

    deadline = (date.today() + timedelta(days=365)).isoformat()  # a deadline is never in the past
    for row in recovery.decisions.itertuples(index=False):  # a handful of parcels, one transaction each
        save_decision(ws, row.parcel_id, RECOVERY_DECISION_YEAR, status=row.status, measure=row.measure,
                      deadline=deadline, comment=LABEL, base_version=0, user=SAMPLE_REVIEWER)
    return len(recovery.decisions)


def build_sample(ws: Workspace, *, seed: int = 2024, scale: float = 1.0, progress: bool | None = False) -> SampleBuilt:
    """Generate the sample, write it as source files beside the workspace and import them.

    The workspace is built under a temporary name and moved into place at the end. An
    existing workspace is replaced only if it is itself a sample.
    """
    if ws.exists() and ws.meta().get("sample") != "1":
        raise InputError(f"{ws.path} 已存在且不是示例工作空间；示例数据不会覆盖它，请用 --workspace 指定另一个文件")
    folder = ws.path.with_name(ws.path.stem + "-sample")
    tmp = Workspace(ws.path.with_name(f".{ws.path.name}.building.gpkg"))
    tmp.path.unlink(missing_ok=True)
    layers = generate(seed, scale)
    recovery = recovery_sample(layers, seed)
    layers["enterprises"] = pd.concat([layers["enterprises"], recovery.enterprises], ignore_index=True)
    if folder.exists():
        shutil.rmtree(folder)
    paths = write_sources(layers, folder)
    paths["raster"] = _write_raster(layers, folder, seed)
    paths.update(write_recovery_sources(recovery, folder))
    built = SampleBuilt(folder, later_parcels={NEW_HOLDER_YEAR: paths["parcels_later"]})
    try:
        for kind in ("districts", "parks", "platforms", "parcels", "buildings", "units", "landuse"):
            res = import_layer(tmp, kind, paths[kind], progress=progress)
            built.counts[kind] = len(res.frame)
        register_raster(tmp, paths["raster"], "builtup")
        n_ent = 0
        for year in YEARS:
            res = import_layer(tmp, "enterprises", paths[f"enterprises_{year}"], progress=progress)
            n_ent += len(res.frame)
        built.counts["enterprise_records"] = n_ent
        built.counts["supplies"] = len(import_layer(tmp, "supplies", paths["supplies"], progress=progress).frame)
        built.counts["recovery_decisions"] = record_recovery_decisions(tmp, recovery)
        tmp.write({}, meta={"sample": "1", "sample_seed": str(seed), "sample_scale": f"{scale:g}",
                            "label": LABEL})
        os.replace(tmp.path, ws.path)
    finally:
        tmp.path.unlink(missing_ok=True)
        tmp.path.with_name(f".{tmp.path.name}.lock").unlink(missing_ok=True)
    firms = layers["enterprises"]["统一社会信用代码"].nunique()
    built.lines = [
        f"示例数据（合成）：{built.counts['districts']} 个区县，{built.counts['parks']} 个园区，"
        f"{built.counts['platforms']} 个万亩千亿平台，{built.counts['parcels']} 宗地块，"
        f"{built.counts['buildings']} 幢建筑物，{firms} 家企业（{YEARS[0]}–{YEARS[-1]} 年共 {n_ent} 条记录）",
        f"土地利用数据 {built.counts['landuse']} 个地类图斑，{built.counts['units']} 个工业产业单元（合成）",
        f"腾笼换鸟：{built.counts['recovery_decisions']} 宗地块 {RECOVERY_DECISION_YEAR} 年审核决定协议收回或依法收回，"
        f"{built.counts['supplies']} 条收回与再供应记录；{NEW_HOLDER_YEAR} 年的地块图层为 "
        f"{paths['parcels_later'].name}（再供应地块的新权利人），评价 {NEW_HOLDER_YEAR} 年前导入",
    ]
    return built
