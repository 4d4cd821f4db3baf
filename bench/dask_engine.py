"""Benchmark: the evaluation's geometry on the default engine and on the dask engine.

    python bench/import_evaluate.py --parcels 100000 --keep /tmp/dask-ws   # a workspace
    python bench/dask_engine.py /tmp/dask-ws/bench.gpkg [--partitions N] [--scheduler ADDR] [--full]

Times building_base + parcel_base (+ the raster's zonal figures, if registered) in this
process and on a dask cluster (a local cluster of CPU-count worker processes unless
``--scheduler``; CPU counts the client and the workers), checks that both give identical
frames, and with ``--full`` times ``mujun evaluate`` with each engine on copies of the
workspace. Prints a table and writes bench/out/dask_engine_<parcels>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from mujun.engines.dask import connect, default_partitions, evaluation_base
from mujun.engines.settings import overlay_threads
from mujun.geo.evaluation import ZONES, building_base, parcel_base
from mujun.layers.rasters import parcel_builtup, raster_source
from mujun.layers.workspace import Workspace
from mujun.service import evaluate


def _cpu() -> float:
    """CPU seconds of this process so far (user + system)."""
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--scheduler")
    ap.add_argument("--full", action="store_true", help="also time mujun evaluate with each engine")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    ws = Workspace(args.workspace)
    parcels, buildings = ws.read("parcels"), ws.read_optional("buildings")
    zones = {level: ws.read_optional(f"{level}s") for level in ZONES}
    rows: list[tuple[str, float]] = []

    t, cpu = time.perf_counter(), _cpu()
    threads = overlay_threads()  # as the local engine runs them
    whole_b = building_base(buildings, parcels, zones, threads=threads) if buildings is not None else None
    whole_p = parcel_base(parcels, whole_b, zones, buildings_surveyed=buildings is not None, threads=threads)
    whole_r = parcel_builtup(ws, whole_p)
    rows.append(("geometry, default engine", time.perf_counter() - t, _cpu() - cpu))

    t = time.perf_counter()
    with connect(args.scheduler) as client:
        rows.append(("cluster start / connect", time.perf_counter() - t, float("nan")))
        n = args.partitions or default_partitions(client, len(parcels))
        workers = len(client.nthreads())
        t, cpu, worker_cpu = time.perf_counter(), _cpu(), sum(client.run(_cpu).values())
        b, p, r = evaluation_base(client, parcels, buildings, zones, partitions=n, raster=raster_source(ws))
        cpu = _cpu() - cpu + sum(client.run(_cpu).values()) - worker_cpu  # client and workers
        rows.append((f"geometry, dask ({workers} workers, {n} parts)", time.perf_counter() - t, cpu))
    if whole_b is not None:
        pd.testing.assert_frame_equal(b, whole_b, check_exact=True)
    pd.testing.assert_frame_equal(p, whole_p, check_exact=True)
    if whole_r is not None:
        pd.testing.assert_series_equal(r, whole_r, check_exact=True)

    if args.full:
        folder = Path(tempfile.mkdtemp(prefix="mujun-dask-bench-"))
        try:
            for engine, options in (("default", {}), ("dask", {"scheduler": args.scheduler, "partitions": n})):
                copy = Workspace(folder / f"{engine}.gpkg")
                shutil.copyfile(ws.path, copy.path)
                t = time.perf_counter()
                evaluate(copy, progress=False, engine=engine, full=True, **options)
                rows.append((f"mujun evaluate --engine {engine}", time.perf_counter() - t, float("nan")))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"{len(parcels):,} parcels, {0 if buildings is None else len(buildings):,} buildings, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; results identical: yes")
    print(f"{'step':<40}{'wall s':>8}{'CPU s':>8}")
    for name, s, c in rows:
        print(f"{name:<40}{s:>8.2f}{c:>8.2f}")
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    report = {"parcels": len(parcels), "partitions": n, "workers": workers, "cpus": os.cpu_count(),
              "load": os.getloadavg()[0],
              "timings": [{"step": name, "seconds": s, "cpu_seconds": c} for name, s, c in rows]}
    (out / f"dask_engine_{len(parcels)}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
