"""One engine of a benchmark, run in its own process so that its peak memory is its own.

    python bench/engines.py mujun-eval WORKSPACE YEAR OUT.json [--stages] [--reuse]
    python bench/engines.py duckdb-eval WORKSPACE YEAR OUT.json [--threads N] [--memory-limit 8GB] [--write DIR]
    python bench/engines.py zonal-mujun WORKSPACE RASTER OUT.json
    python bench/engines.py zonal-rasterstats WORKSPACE RASTER OUT.json [--limit SECONDS]

Each writes a JSON with its timings, ``peak_rss_mib`` (the process's maximum resident set,
taken right after the timed work) and ``baseline_rss_mib`` (after imports, before it), and
what is needed to check its figures against the other engine's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

MIB = 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu() -> float:
    """CPU seconds of this process so far (all threads, user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


def _readers() -> tuple[float, float]:
    """CPU seconds and largest peak RSS (MiB) of this process's children: the workspace's
    reader processes (mujun.layers.reader), which read the GeoPackage with GDAL for mujun."""
    cpu, peak = 0.0, 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            cpu += t.user + t.system
            with open(f"/proc/{child.pid}/status") as fh:
                hwm = next((line.split()[1] for line in fh if line.startswith("VmHWM:")), "0")
            peak = max(peak, int(hwm) / 1024)
        except (psutil.Error, OSError):
            continue
    return cpu, peak


def mujun_eval(workspace: Path, year: int, stages: bool, rss_limit_gib: float | None = None,
               dump: Path | None = None, reuse: bool = False) -> dict:
    """``mujun.service.evaluate`` on ``workspace`` (a copy: it is written to); in full, or
    reusing the stored geometry stage where it can (``reuse``)."""
    from agreement import mujun_summary

    import mujun.engines.local
    import mujun.geo.assignment
    import mujun.geo.compliance
    import mujun.geo.evaluation
    import mujun.geo.judgement
    import mujun.layers.workspace
    import mujun.service
    from mujun.layers.workspace import StagedWrite, Workspace

    baseline = _rss_mib()
    # the time this process spends writing: handing each table over (or writing it, inline)
    # and waiting at the commit for what the writer process has not written yet
    writes: list[float] = []
    originals = {attr: getattr(StagedWrite, attr) for attr in ("put", "commit")}

    def timed(method):
        def run(self, *args, **kwargs):
            computing = [0.0]  # a table put in parts: the parts are computed as they are taken

            def parts(frames):
                frames = iter(frames)
                while True:
                    t_part = time.perf_counter()
                    try:
                        part = next(frames)
                    except StopIteration:
                        return
                    finally:
                        computing[0] += time.perf_counter() - t_part
                    yield part

            if len(args) > 1 and not hasattr(args[1], "columns"):
                args = (args[0], parts(args[1]), *args[2:])
            t = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                writes.append(time.perf_counter() - t - computing[0])
        return run

    for attr, method in originals.items():
        setattr(StagedWrite, attr, timed(method))
    prof = None
    if stages:
        from stages import Stages

        # also stop when the shared machine runs short, before the kernel's OOM killer picks someone
        prof = Stages(rss_limit_mib=rss_limit_gib * 1024 if rss_limit_gib else None, min_available_mib=1536,
                      dump=dump)
        prof.wrap(mujun.engines.local, "parcel_base")
        prof.wrap(mujun.engines.local.LocalEngine, "geometry", "geometry stage")
        # the buildings, a batch at a time (read ahead while the batch before is measured)
        prof.wrap(mujun.geo.evaluation.BuildingMeasure, "__init__", "building indexes")
        prof.wrap(mujun.geo.evaluation.BuildingMeasure, "figures", "building batch")
        prof.wrap(mujun.geo.evaluation.BuildingTotals, "table", "building totals")
        prof.wrap(mujun.engines.local, "source_builtup", "parcel_builtup")
        for attr in ("year_figures", "judge_year", "_replace_years", "overall", "class_counts", "stored_geometry",
                     "cache_entries"):
            prof.wrap(mujun.service, attr)
        prof.wrap(Workspace, "read", lambda self, name, **kw: f"read {name}")
        prof.wrap(Workspace, "read_kept", lambda self, name, *a, **kw: f"read {name} (kept beside the workspace)")
        prof.wrap(StagedWrite, "put", lambda self, name, frame, **kw: f"put {name}")
        prof.wrap(StagedWrite, "commit")
        for attr in ("_copy", "_check_integrity"):
            prof.wrap(mujun.layers.workspace, attr)
        prof.wrap(mujun.layers.workspace, "write_table", lambda path, name, frame, **kw: f"write_table {name}")
        for attr in ("area_m2", "_building_totals", "_parcels_of_year", "zone_summary",
                     "counted_floor_area_m2", "enterprise_land_mu"):
            prof.wrap(mujun.geo.evaluation, attr)
        prof.wrap(mujun.geo.assignment.ZoneIndex, "__init__", lambda self, z, zid, **kw: f"ZoneIndex({zid})")
        prof.wrap(mujun.geo.assignment.ZoneIndex, "assign", lambda self, f, **kw: f"assign({self.zone_id})")
        for attr in ("score_enterprises", "class_change", "idle_flags", "inefficient_flags",
                     "noncompliance_flags", "whatif_gains", "platform_assessment"):
            prof.wrap(mujun.geo.judgement, attr)
        # the checks are computed one at a time as the write takes them (inside "put result_compliance")
        prof.wrap(mujun.geo.compliance, "_rows", lambda parcels, indicator, *a: "compliance check")
        mujun.service.evaluate = prof.stage("evaluate", mujun.service.evaluate)
    ws = Workspace(workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t, cpu = time.perf_counter(), _cpu()
        ev = mujun.service.evaluate(ws, year, progress=False, full=not reuse)
        seconds, cpu = time.perf_counter() - t, _cpu() - cpu
    peak = _peak_mib()
    reader_cpu, reader_peak = _readers()  # the GDAL reads happen in reader processes
    out = {"engine": "mujun", "seconds": seconds, "cpu_seconds": cpu + reader_cpu, "write_seconds": sum(writes),
           "seconds_without_write": seconds - sum(writes), "peak_rss_mib": peak, "baseline_rss_mib": baseline,
           "reader_cpu_seconds": reader_cpu, "reader_peak_rss_mib": reader_peak,
           "writer_seconds": ev.write_seconds, "counts": ev.counts[year]}
    if prof is not None:
        prof.close()
        out["stages"] = prof.rows()
    for attr, method in originals.items():
        setattr(StagedWrite, attr, method)
    out["summary"] = mujun_summary(ws, year)
    return out


def duckdb_eval(workspace: Path, year: int, threads: int | None, memory_limit: str | None,
                write: Path | None = None) -> dict:
    """The DuckDB spatial SQL peer on ``workspace``; its result tables written as Parquet into
    ``write`` (inside the timing), if given."""
    import duckdb
    from peers.duckdb_eval import connect, evaluate, summary, write_results

    from mujun.layers.rulesets import DEFAULT_RULES, load_rule_set

    rules = load_rule_set(DEFAULT_RULES)
    con = connect(threads, memory_limit)
    baseline = _rss_mib()
    t, cpu = time.perf_counter(), _cpu()
    steps = evaluate(con, workspace, year, rules)
    if write is not None:
        w = time.perf_counter()
        write_results(con, write)
        steps["write"] = time.perf_counter() - w
    seconds, cpu = time.perf_counter() - t, _cpu() - cpu
    peak = _peak_mib()
    return {"engine": "duckdb", "seconds": seconds, "cpu_seconds": cpu, "steps": steps, "peak_rss_mib": peak,
            "baseline_rss_mib": baseline, "duckdb": duckdb.__version__,
            "threads": int(con.execute("SELECT current_setting('threads')").fetchone()[0]),
            "memory_limit": con.execute("SELECT current_setting('memory_limit')").fetchone()[0],
            "summary": summary(con)}


def _parcels(workspace: Path):
    from mujun.layers.workspace import Workspace

    return Workspace(workspace).read("parcels")[["parcel_id", "geometry"]]


def zonal_mujun(workspace: Path, raster: Path) -> dict:
    """``mujun.geo.zonal.builtup_fraction``, as ``mujun.layers.rasters.parcel_builtup`` calls it."""
    import rasterio

    from mujun.geo.zonal import builtup_fraction

    parcels = _parcels(workspace)
    baseline = _rss_mib()
    with rasterio.open(raster) as ds:
        t, cpu = time.perf_counter(), _cpu()
        values = builtup_fraction(parcels, ds)
        seconds, cpu = time.perf_counter() - t, _cpu() - cpu
    return {"engine": "mujun (exactextract)", "seconds": seconds, "cpu_seconds": cpu, "features": len(parcels), "measured": len(parcels),
            "peak_rss_mib": _peak_mib(), "baseline_rss_mib": baseline,
            "values": np.round(values.to_numpy(), 6).tolist()}


def zonal_rasterstats(workspace: Path, raster: Path, limit: float) -> dict:
    """``rasterstats.zonal_stats`` mean over the parcels in the raster's CRS.

    If a probe of 500 parcels projects the whole set beyond ``limit`` seconds, an evenly
    spread subset that should take about a tenth of ``limit`` is measured and the time is
    extrapolated to all parcels (``extrapolated`` is then true).
    """
    import rasterio
    from rasterstats import zonal_stats

    parcels = _parcels(workspace)
    with rasterio.open(raster) as ds:
        crs = ds.crs.to_wkt()
    geoms = parcels.to_crs(crs).geometry.values
    n = len(geoms)
    baseline = _rss_mib()

    def run(idx: np.ndarray) -> tuple[float, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            stats = zonal_stats(geoms[idx], str(raster), stats=["mean"], all_touched=False)
            return time.perf_counter() - t, np.array([np.nan if s["mean"] is None else s["mean"] for s in stats])

    probe = np.linspace(0, n - 1, min(n, 500)).astype(int)
    probe_s, _ = run(probe)
    per = probe_s / len(probe)
    if per * n <= limit:
        idx = np.arange(n)
    else:
        idx = np.unique(np.linspace(0, n - 1, max(int(limit / 10 / per), 500)).astype(int))
    seconds, means = run(idx)
    values = np.full(n, np.nan)
    values[idx] = means
    return {"engine": "rasterstats", "seconds": seconds * n / len(idx), "measured_seconds": seconds,
            "features": n, "measured": int(len(idx)), "extrapolated": bool(len(idx) < n),
            "peak_rss_mib": _peak_mib(), "baseline_rss_mib": baseline,
            "values": np.round(values, 6).tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="engine", required=True)
    p = sub.add_parser("mujun-eval")
    p.add_argument("workspace", type=Path)
    p.add_argument("year", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--stages", action="store_true")
    p.add_argument("--rss-limit-gib", type=float, help="with --stages: stop past this, writing OUT.stopped.json")
    p.add_argument("--reuse", action="store_true", help="reuse the stored geometry stage where it can (not --full)")
    p = sub.add_parser("duckdb-eval")
    p.add_argument("workspace", type=Path)
    p.add_argument("year", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--threads", type=int)
    p.add_argument("--memory-limit")
    p.add_argument("--write", type=Path, help="write the result tables as Parquet files into this folder")
    for name in ("zonal-mujun", "zonal-rasterstats"):
        p = sub.add_parser(name)
        p.add_argument("workspace", type=Path)
        p.add_argument("raster", type=Path)
        p.add_argument("out", type=Path)
        p.add_argument("--limit", type=float, default=600.0)
    args = ap.parse_args(argv)
    if args.engine == "mujun-eval":
        result = mujun_eval(args.workspace, args.year, args.stages, args.rss_limit_gib,
                            args.out.with_suffix(".stopped.json"), reuse=args.reuse)
    elif args.engine == "duckdb-eval":
        result = duckdb_eval(args.workspace, args.year, args.threads, args.memory_limit, args.write)
    elif args.engine == "zonal-mujun":
        result = zonal_mujun(args.workspace, args.raster)
    else:
        result = zonal_rasterstats(args.workspace, args.raster, args.limit)
    args.out.write_text(json.dumps(result, ensure_ascii=False, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
