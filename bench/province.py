"""A province-wide synthetic workspace for the benchmarks (基准数据, 合成).

    python bench/province.py --parcels 100000 [--seed 1] [--force]

N parcels over Zhejiang's eleven cities (data/zhejiang_cities.geojson, the cities as
districts): blocks of parcels in rotated clusters, most of them near the city seats; the
larger clusters are parks, a handful of parks carry a 万亩千亿 platform over their western
part (its edge cuts through parcels, as real boundaries do). About three buildings per
built parcel, about 0.3 × N enterprises (each holding a run of neighbouring parcels, a few
only leasing land) with one year of tax, value added, revenue, output, energy, emissions,
R&D, staff and electricity. Everything comes from one seeded NumPy generator, vectorised.

The layers are written as source files (GeoPackage, CSV) and imported through mujun's own
importer into a workspace GeoPackage, cached as ``bench/out/province_<N>_s<seed>_v<V>.gpkg``
so that later runs reuse it. Coordinates are CGCS2000 / 3-degree Gauss-Krüger CM 120°E
(EPSG:4549), which covers the province (Zhoushan lies 2.3° east of the meridian).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import Window

from mujun.layers.importer import import_layer
from mujun.layers.sample import INDUSTRIES, data_dir, grid_parcels, parcel_buildings
from mujun.layers.sample_raster import TILE
from mujun.layers.workspace import Workspace

__all__ = ["CITIES", "YEAR", "build", "build_raster", "cities", "generate", "raster_path", "workspace_path"]

#: Bumped whenever the generator's output changes, so cached workspaces are rebuilt (2: the
#: importer stores the enterprises by year and code from the first import on).
VERSION = 2
RASTER_VERSION = 2  # of the raster drawing (tile by tile since 2)
YEAR = 2025
GK = 4549
OUT = Path(__file__).resolve().with_name("out")
MU = 10000.0 / 15.0

#: code -> (short name, seat longitude, seat latitude, weight ~ share of industrial output)
CITIES: dict[str, tuple[str, float, float, float]] = {
    "330100": ("杭州", 120.21, 30.25, 19.0),
    "330200": ("宁波", 121.62, 29.86, 18.0),
    "330300": ("温州", 120.70, 28.00, 9.0),
    "330400": ("嘉兴", 120.76, 30.75, 9.0),
    "330500": ("湖州", 120.09, 30.89, 5.5),
    "330600": ("绍兴", 120.58, 30.00, 9.0),
    "330700": ("金华", 119.65, 29.08, 7.5),
    "330800": ("衢州", 118.87, 28.94, 2.5),
    "330900": ("舟山", 122.21, 29.99, 2.0),
    "331000": ("台州", 121.42, 28.66, 7.5),
    "331100": ("丽水", 119.92, 28.45, 2.0),
}
CELL_M = 4800.0  # clusters sit in separate cells of this size lying wholly inside a city
MARGIN_M = 300.0
SHRINK = 0.75  # the sample's blocks scaled down: parcels of about 16 mu, 80 a km²
SEAT_SCALE_M = 25_000.0  # cluster density falls off as exp(-distance to the seat / this)
PARCELS_PER_KM2 = 45.0 / SHRINK**2
# (lead industry, its GB/T 4754-2017 codes); platforms take them in turn
PLATFORM_LEADS = [
    ("集成电路", ("3973", "3989", "3824")), ("高端装备", ("3442", "3599", "3670", "3484")),
    ("智能汽车", ("3670", "3824")), ("现代纺织", ("1752", "1751", "1711")),
    ("生物医药", ("2710",)), ("新材料", ("2614", "2922")),
]
_INDUSTRY_WORD = {"17": "纺织", "18": "服饰", "19": "鞋业", "26": "化工", "27": "药业", "29": "塑业",
                  "30": "建材", "33": "金属制品", "34": "机械", "35": "装备", "36": "汽车部件",
                  "38": "电气", "39": "电子"}
_WORDS = np.array(list("恒达华盛鑫泰宏远永康嘉禾瑞丰金海天成兴隆长江新亚联创宇航博达中信汇通卓越正泰森源宝利"))
_USCC_CHARS = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])


def cities() -> gpd.GeoDataFrame:
    """The eleven city outlines in EPSG:4549 with ``district_id`` and ``name``."""
    return gpd.read_file(data_dir() / "zhejiang_cities.geojson").to_crs(GK)


def workspace_path(n: int, seed: int, out: Path = OUT) -> Path:
    """Where the workspace of ``n`` parcels and ``seed`` is cached."""
    return out / f"province_{n}_s{seed}_v{VERSION}.gpkg"


# --------------------------------------------------------------------------------------
# layout: clusters of parcels in cells inside the cities


def _cells(city: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (x, y) of the grid cells lying wholly inside a city, and each one's city row."""
    x0, y0, x1, y1 = city.total_bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, CELL_M), np.arange(y0, y1, CELL_M))
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + CELL_M, ys.ravel() + CELL_M)
    ci, bi = shapely.STRtree(boxes).query(city.geometry.values, predicate="contains")
    order = np.argsort(bi, kind="stable")
    ci, bi = ci[order], bi[order]
    keep = np.r_[True, bi[1:] != bi[:-1]]  # a cell in two overlapping outlines goes to the first
    return xs.ravel()[bi[keep]] + CELL_M / 2, ys.ravel()[bi[keep]] + CELL_M / 2, ci[keep]


def _layout(rng: np.random.Generator, n: int, city: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per cluster: centre, size (m), angle, city row; parks first."""
    lin = float(np.clip((n / 1e6) ** 0.25, 0.3, 1.0))
    cx, cy, ci = _cells(city)
    seats = gpd.GeoSeries(gpd.points_from_xy([v[1] for v in CITIES.values()], [v[2] for v in CITIES.values()]),
                          crs=4490).to_crs(GK)
    seat_row = {code: i for i, code in enumerate(CITIES)}
    row_of_city = np.array([seat_row[c] for c in city["district_id"]])
    sx, sy = seats.x.to_numpy()[row_of_city[ci]], seats.y.to_numpy()[row_of_city[ci]]
    near = np.exp(-np.hypot(cx - sx, cy - sy) / SEAT_SCALE_M)
    weight = np.array([CITIES[c][3] for c in city["district_id"]])[ci]
    p = weight * near / np.bincount(ci, weights=near)[ci]
    p /= p.sum()
    mean_side = 2700.0 * lin
    per_cluster = mean_side**2 / 1e6 * PARCELS_PER_KM2
    k = min(int(n / per_cluster * 1.6) + 20, cx.size)
    cell = rng.choice(cx.size, size=k, replace=False, p=p)
    w = rng.uniform(1600, 3800, k) * lin
    h = rng.uniform(1600, 3800, k) * lin
    n_parks = int(np.clip(round(8 * np.sqrt(n / 1000)), 6, 300))
    # the biggest clusters are the parks, listed first
    order = np.argsort(-(w * h), kind="stable")
    park = np.zeros(k, dtype=bool)
    park[:n_parks] = True
    return pd.DataFrame({
        "cx": cx[cell][order], "cy": cy[cell][order], "w": w[order], "h": h[order],
        "angle": rng.uniform(-12, 12, k), "city": ci[cell][order], "park": park,
    })


def _place(local: np.ndarray, owner: np.ndarray, clusters: pd.DataFrame, scale: float = 1.0) -> np.ndarray:
    """Move local geometries (origin-centred) of each cluster to its centre, rotated and scaled."""
    coords = shapely.get_coordinates(local)
    per = np.repeat(owner, shapely.get_num_coordinates(local))
    a = np.deg2rad(clusters["angle"].to_numpy())[per]
    x, y = coords[:, 0] * scale, coords[:, 1] * scale
    out = np.column_stack([
        clusters["cx"].to_numpy()[per] + np.cos(a) * x - np.sin(a) * y,
        clusters["cy"].to_numpy()[per] + np.sin(a) * x + np.cos(a) * y,
    ])
    return shapely.set_coordinates(local.copy(), out)


def _parcels(rng: np.random.Generator, n: int, clusters: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n`` parcels (EPSG:4549) and each one's cluster row."""
    geoms, owner, total = [], [], 0
    for i, (w, h) in enumerate(zip(clusters["w"], clusters["h"], strict=True)):  # one call per cluster
        g = grid_parcels(rng, w / SHRINK, h / SHRINK)
        geoms.append(g)
        owner.append(np.full(g.size, i))
        total += g.size
        if total >= n:
            break
    if total < n:
        raise RuntimeError(f"Zhejiang's cells hold only {total:,} parcels at this density; ask for fewer")
    local = np.concatenate(geoms)[:n]
    owner = np.concatenate(owner)[:n]
    return _place(local, owner, clusters, SHRINK), owner


def _zones(clusters: pd.DataFrame, used: int, city: gpd.GeoDataFrame, n: int):
    """Park and platform polygons over the park clusters among the first ``used`` clusters."""
    parks = clusters.iloc[:used][clusters["park"].iloc[:used].to_numpy()]
    w, h = parks["w"].to_numpy(), parks["h"].to_numpy()
    rect = shapely.box(-w / 2 - 60, -h / 2 - 60, w / 2 + 60, h / 2 + 60)
    notch = shapely.box(w / 2 - 0.22 * w, h / 2 - 0.3 * h, w / 2 + 60, h / 2 + 60)  # parcels left outside
    idx = np.arange(len(parks))
    park_geom = _place(shapely.difference(rect, notch), idx, parks)
    short = np.array([CITIES[c][0] for c in city["district_id"]])[parks["city"].to_numpy()]
    level = np.array(["国家级", "省级", "省级", "市级", "县级"])[idx % 5]
    kind = np.array(["经济技术开发区", "高新技术产业园区", "经济开发区", "工业园区", "小微企业园"])[idx % 5]
    seq = np.char.zfill((idx + 1).astype(str), 3)
    park_gdf = gpd.GeoDataFrame({
        "园区代码": np.char.add("PK", seq),
        "园区名称": np.char.add(np.char.add(np.char.add(short, "基准"), seq), kind),
        "级别": level, "类型": "开发区",
    }, geometry=park_geom, crs=GK)
    n_plat = int(np.clip(round(3 * np.log10(max(n, 1000) / 1000)), 3, 12))
    n_plat = min(n_plat, len(parks))
    pw, ph = w[:n_plat], h[:n_plat]
    plat_local = shapely.box(-pw / 2 - 60, -ph / 2 - 60, -pw / 2 + 0.58 * pw, ph / 2 + 60)
    plat_geom = _place(plat_local, np.arange(n_plat), parks.iloc[:n_plat])
    leads = [PLATFORM_LEADS[i % len(PLATFORM_LEADS)] for i in range(n_plat)]
    plat_gdf = gpd.GeoDataFrame({
        "平台代码": [f"PF{i + 1:02d}" for i in range(n_plat)],
        "平台名称": [f"{short[i]}{lead}万亩千亿新产业平台（基准）" for i, (lead, _) in enumerate(leads)],
        "主导产业": [lead for lead, _ in leads],
        "主导产业代码": [",".join(codes) for _, codes in leads],
        "目标产值(亿元)": 1000.0,
        "目标年份": 2027 + np.arange(n_plat) % 3,
        "规划面积(亩)": np.round(shapely.area(plat_geom) / MU, -2),
    }, geometry=plat_geom, crs=GK)
    return park_gdf, plat_gdf, leads


# --------------------------------------------------------------------------------------
# enterprises and attributes


def _credit_codes(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """Unique unified social credit codes (GB 32100-2015, valid check character).

    The seven serial characters are the firm's index in base 31 under a random affine map,
    so no two firms share a code.
    """
    n = regions.size
    body = np.empty((n, 17), dtype=np.int64)
    body[:, 0], body[:, 1] = 9, 1  # 工商, 企业
    body[:, 2:8] = np.asarray(regions, dtype="U6").view("U1").reshape(n, 6).astype(np.int64)
    body[:, 8], body[:, 9] = 21, 10  # "MA", as issued since 2015
    space = 31**7
    serial = (np.arange(n, dtype=np.int64) * 7_368_787 + int(rng.integers(space))) % space  # 7368787 is prime
    body[:, 10:17] = (serial[:, None] // 31 ** np.arange(6, -1, -1)) % 31
    check = (31 - (body @ _USCC_WEIGHTS) % 31) % 31
    chars = _USCC_CHARS[np.concatenate([body, check[:, None]], axis=1)]
    return np.ascontiguousarray(chars).view("U18").ravel()


def _dates(days: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ISO dates for days since 1970, ``None`` where ``mask`` is false."""
    text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    text[~mask] = None
    return text


def generate(n: int, seed: int) -> dict[str, pd.DataFrame]:
    """The layers of a province-wide workspace of ``n`` parcels, in memory.

    Parameters
    ----------
    n : int
        Number of parcels (exactly).
    seed : int
        The same ``n`` and seed give the same data.

    Returns
    -------
    dict
        ``districts``, ``parks``, ``platforms``, ``parcels``, ``buildings`` (EPSG:4549
        GeoDataFrames with Chinese source headers) and ``enterprises`` (one year).
    """
    rng = np.random.default_rng(seed)
    city = cities()
    clusters = _layout(rng, n, city)
    geoms, cluster_of = _parcels(rng, n, clusters)
    used = int(cluster_of.max()) + 1
    parks, platforms, leads = _zones(clusters, used, city, n)
    pcity = clusters["city"].to_numpy()[cluster_of]
    codes_city = city["district_id"].to_numpy().astype("U6")
    dist = codes_city[pcity]
    mu = shapely.area(geoms) / MU

    # platforms: the parcels whose centre lies inside
    on_platform = np.full(n, -1)
    pi, gi = shapely.STRtree(shapely.centroid(geoms)).query(platforms.geometry.values, predicate="contains")
    on_platform[gi] = pi

    # land status: unsupplied (批而未供), idle (供而未用), stalled, in production
    unsupplied = rng.random(n) < np.where(on_platform >= 0, 0.12, 0.03)
    idle = ~unsupplied & (rng.random(n) < np.where(on_platform >= 0, 0.05, 0.035))
    stalled = ~unsupplied & ~idle & (rng.random(n) < 0.01)
    producing = ~unsupplied & ~idle

    # firms hold runs of neighbouring parcels (about 3.4 each); some only lease land
    held = np.flatnonzero(~unsupplied)
    per_firm = rng.choice([1, 1, 2, 3, 3, 4, 5, 8], size=held.size)
    firm_of = np.repeat(np.arange(per_firm.size), per_firm)[: held.size]
    n_holders = int(firm_of[-1]) + 1 if held.size else 0
    owner = np.full(n, -1)
    owner[held] = firm_of
    first = held[np.r_[0, np.flatnonzero(np.diff(firm_of)) + 1]] if held.size else held
    n_lessees = int(round(n_holders * 0.06))
    firms = n_holders + n_lessees
    firm_city = np.concatenate([pcity[first], rng.choice(len(city), n_lessees, p=_city_p(city))])
    firm_platform = np.concatenate([on_platform[first], np.full(n_lessees, -1)])
    codes = _credit_codes(rng, codes_city[firm_city])

    ind_codes = np.array([c for c, _, _ in INDUSTRIES])
    ind_names = pd.Series({c: nm for c, nm, _ in INDUSTRIES})
    weights = np.array([w for _, _, w in INDUSTRIES], dtype=float)
    industry = rng.choice(ind_codes, size=firms, p=weights / weights.sum())
    for k, (_, lead_codes) in enumerate(leads):
        sel = firm_platform == k
        industry[sel] = rng.choice(np.array(lead_codes), size=int(sel.sum()))
    short = np.array([CITIES[c][0] for c in codes_city])[firm_city]
    word = pd.Series(_INDUSTRY_WORD).reindex(pd.Series(industry).str[:2]).fillna("实业").to_numpy().astype(str)
    names = np.char.add(np.char.add(np.char.add(short, "基准"), _WORDS[rng.integers(0, _WORDS.size, firms)]),
                        np.char.add(np.char.add(_WORDS[rng.integers(0, _WORDS.size, firms)], word), "有限公司"))

    owned = np.bincount(owner[held], weights=mu[held], minlength=firms)
    leased_in = np.zeros(firms)
    leased_in[n_holders:] = rng.uniform(2, 14, n_lessees).round(1)
    extra = rng.random(n_holders) < 0.05
    leased_in[:n_holders] = np.where(extra, rng.uniform(1, 8, n_holders), 0.0).round(1)
    leased_out = np.zeros(firms)
    lessor = (rng.random(firms) < 0.02) & (owned > 10)
    leased_out[lessor] = (owned[lessor] * rng.uniform(0.1, 0.4, int(lessor.sum()))).round(1)
    land = owned + leased_in - leased_out
    firm_idle = np.zeros(firms, dtype=bool)
    np.logical_or.at(firm_idle, owner[idle | stalled], True)

    # one year of figures: lognormal productivity, a few weak, zero or negative tax
    z = rng.normal(0, 1, firms)
    tax_mu = np.exp(np.log(12.5) + 0.40 * (land > 15) + 0.85 * z)
    weak = rng.random(firms) < 0.06
    tax_mu[weak] *= 0.12
    tax_mu[firm_idle] *= 0.05
    tax = tax_mu * land
    tax = np.where(rng.random(firms) < 0.02, 0.0, tax)
    neg = rng.random(firms) < 0.008
    tax[neg] = -rng.uniform(0.2, 3.0, int(neg.sum())) * land[neg]
    va = tax_mu * np.exp(rng.normal(np.log(4.15), 0.33, firms)) * land
    rev = va * np.exp(rng.normal(np.log(4.1), 0.30, firms))
    emissions = (va / np.exp(rng.normal(np.log(4900), 0.6, firms))).round(3).astype(object)
    emissions[rng.random(firms) < 0.004] = "暂无"  # as tax systems deliver blanks
    enterprises = pd.DataFrame({
        "统一社会信用代码": codes,
        "企业名称": names,
        "行业代码": industry,
        "行业名称": ind_names.reindex(industry).to_numpy(),
        "是否规上": np.where(rev >= 2000, "是", "否"),
        "年度": YEAR,
        "税收(万元)": tax.round(2),
        "工业增加值(万元)": va.round(2),
        "营业收入(万元)": rev.round(2),
        "工业总产值(万元)": (rev * rng.uniform(0.92, 1.08, firms)).round(2),
        "综合能耗(吨标准煤)": (va / np.exp(rng.normal(np.log(2.6), 0.5, firms))).round(1),
        "排放当量(吨)": emissions,
        "研发经费(万元)": (rev * np.exp(rng.normal(np.log(0.025), 0.6, firms))).round(2),
        "年平均职工人数(人)": np.maximum(np.round(va / np.exp(rng.normal(np.log(18), 0.35, firms))), 3).astype(int),
        "用电量(万千瓦时)": (np.maximum(tax, 0.05 * land) / np.exp(rng.normal(np.log(0.24), 0.45, firms))).round(2),
        "租入面积(亩)": np.where(leased_in > 0, leased_in, np.nan),
        "出租面积(亩)": np.where(leased_out > 0, leased_out, np.nan),
    })

    # parcel attributes: dates as of mid-2026, investment, 标准地 contract indicators
    today = int(np.datetime64("2026-06-30", "D").astype(np.int64))
    transfer = today - rng.integers(365 * 3, 365 * 20, n)
    recent = idle | stalled
    transfer[recent] = today - rng.integers(365 * 2, 365 * 5, int(recent.sum()))
    agreed_start = transfer + rng.integers(90, 180, n)
    agreed_finish = agreed_start + 730
    actual_start = agreed_start + rng.integers(0, 150, n)
    std_land = (transfer >= int(np.datetime64("2018-01-01", "D").astype(np.int64))) & ~unsupplied
    investment = np.where(std_land & producing, mu * rng.lognormal(np.log(360), 0.25, n), np.nan)
    investment[stalled] = mu[stalled] * rng.uniform(20, 60, int(stalled.sum()))
    seq = np.char.zfill(np.arange(1, n + 1).astype(str), 7)
    holder = owner >= 0
    parcels = gpd.GeoDataFrame({
        "宗地代码": np.char.add(np.char.add(dist, np.char.zfill(cluster_of.astype(str), 5)), np.char.add("GB", seq)),
        "权利人": np.where(holder, names[np.maximum(owner, 0)], None),
        "统一社会信用代码": np.where(holder, codes[np.maximum(owner, 0)], None),
        "土地用途": np.where(rng.random(n) < 0.96, "工业用地", "仓储用地"),
        "出让日期": _dates(transfer, ~unsupplied),
        "约定开工日期": _dates(agreed_start, ~unsupplied),
        "约定竣工日期": _dates(agreed_finish, ~unsupplied),
        "实际开工日期": _dates(actual_start, producing | stalled),
        "固定资产投资(万元)": np.round(investment, 1),
        "约定投资强度": np.where(std_land, rng.choice([250.0, 270.0, 300.0, 320.0], n), np.nan),
        "约定亩均税收": np.where(std_land, rng.choice([8.0, 10.0, 15.0, 20.0], n), np.nan),
        "容积率下限": np.where(std_land, rng.choice([0.8, 1.0, 1.0, 1.2], n), np.nan),
        "容积率上限": np.where(std_land, rng.choice([2.5, 3.0], n), np.nan),
    }, geometry=geoms, crs=GK)
    buildings = parcel_buildings(rng, geoms, producing, stalled, owner, weak)
    districts = gpd.GeoDataFrame({"行政区划代码": city["district_id"].to_numpy(), "行政区名称": city["name"].to_numpy()},
                                 geometry=city.geometry.values, crs=GK)
    return {"districts": districts, "parks": parks, "platforms": platforms, "parcels": parcels,
            "buildings": buildings, "enterprises": enterprises}


def _city_p(city: gpd.GeoDataFrame) -> np.ndarray:
    w = np.array([CITIES[c][3] for c in city["district_id"]])
    return w / w.sum()


# --------------------------------------------------------------------------------------
# sources, import and the cache


def write_sources(layers: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """Write the layers as GeoPackages (EPSG:4549) and the enterprises as a UTF-8 CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, frame in layers.items():
        if kind == "enterprises":
            paths[kind] = folder / "企业亩均数据.csv"
            frame.to_csv(paths[kind], index=False, encoding="utf-8-sig")
        else:
            paths[kind] = folder / f"{kind}.gpkg"
            pyogrio.write_dataframe(frame, paths[kind], driver="GPKG", use_arrow=True)
    return paths


def build(n: int, seed: int = 1, *, out: Path = OUT, force: bool = False, log=print) -> Path:
    """The cached workspace of ``n`` parcels and ``seed``, generated and imported if missing.

    Returns the workspace path; a JSON manifest beside it records the counts and the time
    each step took.
    """
    path = workspace_path(n, seed, out)
    manifest = path.with_suffix(".json")
    if path.exists() and manifest.exists() and not force:
        return path
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    t = time.perf_counter()
    layers = generate(n, seed)
    steps["generate"] = time.perf_counter() - t
    counts = {k: len(v) for k, v in layers.items()}
    log(f"generated {n:,} parcels, {counts['buildings']:,} buildings, {counts['enterprises']:,} enterprises, "
        f"{counts['parks']} parks, {counts['platforms']} platforms in {steps['generate']:.1f} s")
    folder = out / f".province_{n}_s{seed}_sources"
    t = time.perf_counter()
    sources = write_sources(layers, folder)
    steps["write sources"] = time.perf_counter() - t
    del layers
    tmp = Workspace(path.with_name(f".{path.stem}.{os.getpid()}.building.gpkg"))
    tmp.path.unlink(missing_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for kind in ("districts", "parks", "platforms", "parcels", "buildings", "enterprises"):
                t = time.perf_counter()
                import_layer(tmp, kind, sources[kind], progress=False)
                steps[f"import {kind}"] = time.perf_counter() - t
                log(f"imported {kind} in {steps[f'import {kind}']:.1f} s")
        tmp.write({}, meta={"bench_parcels": str(n), "bench_seed": str(seed), "bench_version": str(VERSION),
                            "label": "基准数据（合成）"})
        os.replace(tmp.path, path)
    finally:
        tmp.path.unlink(missing_ok=True)
        tmp.path.with_name(f".{tmp.path.name}.lock").unlink(missing_ok=True)
        tmp.path.with_name(f".{tmp.path.name}.store.lock").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    manifest.write_text(json.dumps({"parcels": n, "seed": seed, "version": VERSION, "year": YEAR,
                                    "counts": counts, "seconds": steps}, indent=2, ensure_ascii=False),
                        encoding="utf-8")
    return path


def raster_path(n: int, seed: int, out: Path = OUT) -> Path:
    """Where the built-up raster of the workspace of ``n`` parcels and ``seed`` is cached."""
    return out / f"builtup_{n}_s{seed}_v{VERSION}.{RASTER_VERSION}.tif"


def build_raster(n: int, seed: int = 1, *, out: Path = OUT, force: bool = False, resolution: float = 10.0) -> Path:
    """A built-up GeoTIFF over the parcels of the cached workspace, for the zonal benchmark.

    Float32 built-up share per 10 m cell in EPSG:4549, nodata -1, tiled 128 × 128 and sparse
    (only tiles under a parcel are written), as :mod:`mujun.layers.sample_raster` draws it —
    footprints 1, an 8 m apron 0.6, noise — but drawn tile by tile, so that three million
    buildings never become GeoJSON mappings all at once (the sample's writer holds them all,
    over 12 GiB at a million parcels).
    """
    path = raster_path(n, seed, out)
    if path.exists() and not force:
        return path
    ws = Workspace(build(n, seed, out=out))
    rng = np.random.default_rng(seed + 1)
    pg = ws.read("parcels").geometry.to_crs(GK).values
    bg = ws.read("buildings").geometry.to_crs(GK).values
    r, size = float(resolution), TILE * float(resolution)
    minx, miny, maxx, maxy = shapely.total_bounds(pg)
    x0, y1 = np.floor(minx / r) * r, np.ceil(maxy / r) * r
    width, height = int(np.ceil((maxx - x0) / r)), int(np.ceil((y1 - miny) / r))
    b = shapely.bounds(pg)  # parcels are far smaller than a tile: their corners find every tile
    cols = np.floor((b[:, [0, 2, 0, 2]] - x0) / size).astype(int).ravel()
    rows = np.floor((y1 - b[:, [1, 1, 3, 3]]) / size).astype(int).ravel()
    tiles = np.unique(np.column_stack([rows, cols]), axis=0)
    tiles = tiles[(tiles[:, 0] * TILE < height) & (tiles[:, 1] * TILE < width)]
    tx0, ty1 = x0 + tiles[:, 1] * size, y1 - tiles[:, 0] * size
    t_idx, b_idx = shapely.STRtree(bg).query(shapely.box(tx0, ty1 - size, tx0 + size, ty1), predicate="intersects")
    bounds = np.searchsorted(t_idx, np.arange(len(tiles) + 1))  # query output is sorted by tile
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="float32", crs=f"EPSG:{GK}",
                   transform=Affine(r, 0.0, x0, 0.0, -r, y1), nodata=-1.0, tiled=True, blockxsize=TILE,
                   blockysize=TILE, compress="deflate", sparse_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.tif")
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, (row, col) in enumerate(tiles):  # one pass per tile, never per parcel
                w, h = min(TILE, width - col * TILE), min(TILE, height - row * TILE)
                sel = bg[b_idx[bounds[i]:bounds[i + 1]]]
                cells = np.zeros((h, w), dtype="float32")
                if sel.size:
                    shapes = [*zip(shapely.buffer(sel, 8.0, join_style="mitre"), [0.6] * sel.size, strict=True),
                              *zip(sel, [1.0] * sel.size, strict=True)]
                    drawn = rasterize(shapes, out_shape=(h * 2, w * 2), fill=0.0, dtype="float32",
                                      transform=Affine(r / 2, 0.0, tx0[i], 0.0, -r / 2, ty1[i]))
                    cells = drawn.reshape(h, 2, w, 2).mean(axis=(1, 3))
                noisy = np.clip(cells + rng.normal(0.0, 0.05, cells.shape), 0.0, 1.0)
                ds.write(np.round(noisy, 2).astype("float32"), 1, window=Window(col * TILE, row * TILE, w, h))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("--raster", action="store_true", help="also make the built-up raster for the zonal benchmark")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    path = build(args.parcels, args.seed, force=args.force)
    print(f"{path} ({path.stat().st_size / 2**20:,.0f} MiB, {time.perf_counter() - t:.1f} s)")
    if args.raster:
        t = time.perf_counter()
        tif = build_raster(args.parcels, args.seed, force=args.force)
        print(f"{tif} ({tif.stat().st_size / 2**20:,.0f} MiB, {time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
