"""Benchmark: generate N parcels with buildings and enterprises, time import and evaluate.

    python bench/import_evaluate.py --parcels 100000 [--seed 1] [--keep DIR]

Prints a table and writes bench/out/import_evaluate_<N>.json. The data are a regular field
of industrial blocks near Shaoxing in EPSG:4549 (written as GeoPackage sources) with six
district strips, twenty parks and one enterprise table (CSV) for one year.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from province import write_sources  # bench/, beside this script

from mujun.layers.importer import import_layer
from mujun.layers.sample import GK, grid_parcels, parcel_buildings
from mujun.layers.workspace import Workspace
from mujun.service import evaluate

MU = 10000.0 / 15.0


def generate(n: int, seed: int) -> dict[str, pd.DataFrame]:
    """About ``n`` parcels (exactly ``n`` if the field yields more) with buildings and firms."""
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n * 30 * MU / 0.62))  # ~30 mu a parcel, roads and slivers take the rest
    parcels = np.zeros(0, dtype=object)
    while parcels.size < n:
        parcels = grid_parcels(rng, side, side)
        side *= 1.05
    parcels = parcels[:n]
    cx, cy = 560000.0, 3320000.0
    parcels = shapely.transform(parcels, lambda xy: xy + [cx, cy])
    x0, y0, x1, y1 = shapely.total_bounds(parcels)
    edges = np.linspace(x0 - 10, x1 + 10, 7)
    districts = gpd.GeoDataFrame(
        {"行政区划代码": [f"3306{i:02d}" for i in range(1, 7)], "名称": [f"基准区{i}" for i in range(1, 7)]},
        geometry=shapely.box(edges[:-1], y0 - 10, edges[1:], y1 + 10), crs=GK)
    px = rng.uniform(x0, x1 - 3000, 20)
    py = rng.uniform(y0, y1 - 2000, 20)
    parks = gpd.GeoDataFrame({"园区名称": [f"基准园区{i}" for i in range(20)]},
                             geometry=shapely.box(px, py, px + 3000, py + 2000), crs=GK)
    m = parcels.size
    firm_of = np.repeat(np.arange(m), rng.choice([1, 1, 1, 1, 2], m))[:m]
    n_firms = int(firm_of.max()) + 1
    codes = np.char.add("91330600BENCH", np.char.zfill(np.arange(n_firms).astype(str), 5))
    producing = rng.random(m) > 0.05
    buildings = parcel_buildings(rng, parcels, producing, np.zeros(m, bool), firm_of, np.zeros(n_firms, bool))
    land = np.bincount(firm_of, weights=shapely.area(parcels) / MU)
    tax = land * np.exp(rng.normal(np.log(20), 0.8, n_firms))
    va = tax * np.exp(rng.normal(np.log(4.3), 0.3, n_firms))
    rev = va * 4.0
    parcels_gdf = gpd.GeoDataFrame({
        "宗地代码": np.char.add("BENCH", np.char.zfill(np.arange(m).astype(str), 8)),
        "统一社会信用代码": codes[firm_of],
        "土地用途": "工业用地",
    }, geometry=parcels, crs=GK)
    enterprises = pd.DataFrame({
        "统一社会信用代码": codes, "企业名称": [f"基准企业{i}" for i in range(n_firms)], "年度": 2025,
        "税收(万元)": tax.round(2), "工业增加值(万元)": va.round(2), "营业收入(万元)": rev.round(2),
        "工业总产值(万元)": (rev * 1.02).round(2),
    })
    return {"districts": districts, "parks": parks, "parcels": parcels_gdf, "buildings": buildings,
            "enterprises": enterprises}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep the sources and workspace in this folder")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    work = args.keep or Path(tempfile.mkdtemp(prefix="mujun-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    timings: list[tuple[str, float, int]] = []

    t = time.perf_counter()
    data = generate(args.parcels, args.seed)
    timings.append(("generate", time.perf_counter() - t, len(data["parcels"])))
    sources = write_sources(data, work)
    ws = Workspace(work / "bench.gpkg")
    ws.path.unlink(missing_ok=True)
    for kind in ("districts", "parks", "parcels", "buildings", "enterprises"):
        t = time.perf_counter()
        res = import_layer(ws, kind, sources[kind], progress=False)
        timings.append((f"import {kind}", time.perf_counter() - t, len(res.frame)))
    t = time.perf_counter()
    ev = evaluate(ws, progress=False)
    timings.append(("evaluate", time.perf_counter() - t, ev.counts[ev.years[0]]["parcel"]))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    total_import = sum(s for name, s, _ in timings if name.startswith("import"))
    print(f"mujun import + evaluate, {args.parcels:,} parcels ({platform.processor() or platform.machine()}, "
          f"Python {sys.version.split()[0]})")
    print(f"{'step':<22}{'seconds':>10}{'rows':>12}")
    for name, s, rows in timings:
        print(f"{name:<22}{s:>10.2f}{rows:>12,}")
    print(f"{'import (all)':<22}{total_import:>10.2f}")
    print(f"{'import + evaluate':<22}{total_import + timings[-1][1]:>10.2f}")
    print(f"peak memory {peak_mib:,.0f} MiB")
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    report = {"parcels": args.parcels, "seed": args.seed, "peak_mib": peak_mib,
              "timings": [{"step": n, "seconds": s, "rows": r} for n, s, r in timings]}
    (out / f"import_evaluate_{args.parcels}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
