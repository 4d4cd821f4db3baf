"""Benchmark: load times of /map and /rankings measured in headless Chromium.

    python bench/page_load.py [--workspace W] [--runs 5] [--scale 1] [--seed 2024]

Serves the workspace (default: the Shaoxing sample built into a temporary folder) on waitress
and opens each page ``--runs`` times in Debian's /usr/bin/chromium, each time in a fresh
browser context (empty browser cache; the server's table cache is warmed by one unmeasured
load first, whose time is reported separately). Times are from navigation start:

- ``response``: the page's HTML fully received;
- ``dom``: DOMContentLoaded handled; ``load``: the load event handled;
- ``drawn`` (/map): the first frame painted with the map's layers in it;
- ``parcels_z16`` (/map): after zooming to a parcel at zoom 16, the parcels fetched by
  bounding box from the API and painted (from the zoom, not from navigation start).

Prints median and p95 in ms and writes bench/out/page_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from playwright.sync_api import Page, sync_playwright

from mujun.layers.workspace import Workspace
from mujun.webapp import create_app
from mujun.webapp.serve import running

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGES = ("/map", "/rankings")
OUT = Path(__file__).parent / "out" / "page_load.json"

# before any page script: note the first painted frame that shows the map's layers
_WATCH_DRAWN = """
window.__mujunDrawn = null;
(function watch() {
  const pane = document.querySelector(".leaflet-overlay-pane");
  if (window.mujunMap && pane && pane.querySelector("path")) {
    requestAnimationFrame(() => { window.__mujunDrawn = performance.now(); });
    return;
  }
  requestAnimationFrame(watch);
})();
"""

_TIMING = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return {response: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd,
          html_kb: n.encodedBodySize / 1024, drawn: window.__mujunDrawn};
}"""

_ZOOM = """([lat, lon]) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  window.mujunMap.once("mujun:parcelsloaded", e => requestAnimationFrame(() => requestAnimationFrame(
    () => resolve({ms: performance.now() - t0, count: e.count}))));
  setTimeout(() => reject(new Error("no mujun:parcelsloaded within 30 s")), 30000);
  window.mujunMap.setView([lat, lon], 16, {animate: false});
})"""


def _sample(folder: Path, seed: int, scale: float) -> Workspace:
    from mujun.layers.sample import build_sample
    from mujun.service import evaluate

    ws = Workspace(folder / "sample.gpkg")
    t = time.perf_counter()
    build_sample(ws, seed=seed, scale=scale)
    evaluate(ws, all_years=True, progress=False)
    print(f"sample built and evaluated in {time.perf_counter() - t:.1f} s ({ws.path})")
    return ws


def _parcel_point(ws: Workspace) -> tuple[float, float, str]:
    """(lat, lon, id) of a point inside the largest parcel of the latest year."""
    year = int(ws.meta()["evaluated_years"].split(",")[-1])
    parcels = ws.read("result_parcel", where=f"year = {year}")
    row = parcels.sort_values(["area_mu", "parcel_id"], ascending=[False, True]).iloc[0]
    p = shapely.point_on_surface(row.geometry)
    return p.y, p.x, str(row["parcel_id"])


def _load(page: Page, url: str, point: tuple[float, float] | None) -> dict[str, float]:
    t = time.perf_counter()
    page.goto(url, wait_until="load")
    wall = (time.perf_counter() - t) * 1000
    if point is not None:
        page.wait_for_function("() => window.__mujunDrawn !== null")
    out = page.evaluate(_TIMING)
    out["wall"] = wall
    if point is not None:
        zoom = page.evaluate(_ZOOM, list(point))
        out["parcels_z16"] = zoom["ms"]
        out["parcels_z16_count"] = zoom["count"]
    return {k: v for k, v in out.items() if v is not None}


def _fresh_load(browser, base: str, path: str, point: tuple[float, float] | None) -> dict[str, float]:
    """One load of ``path`` in a new browser context; stops on a request to another host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    foreign: list[str] = []

    def refuse(route) -> None:
        foreign.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(base) and url.startswith("http"), refuse)
    context.add_init_script(_WATCH_DRAWN)
    try:
        timing = _load(context.new_page(), base + path, point)
    finally:
        context.close()
    if foreign:
        raise SystemExit(f"{path} requested other hosts: {sorted(set(foreign))}")
    return timing


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": float(statistics.median(values)), "p95": float(np.percentile(values, 95)),
            "min": float(min(values)), "max": float(max(values))}


def measure(ws: Workspace, runs: int) -> dict:
    """Load times of :data:`PAGES` over ``ws``, ``runs`` times each."""
    lat, lon, parcel_id = _parcel_point(ws)
    app = create_app({"WORKSPACE": str(ws.path), "PUBLIC_READ": True})
    results: dict[str, dict] = {}
    with running(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            for path in PAGES:
                point = (lat, lon) if path == "/map" else None
                # the first request reads the server's tables: reported, not counted
                first = _fresh_load(browser, base.rstrip("/"), path, point)
                samples = [_fresh_load(browser, base.rstrip("/"), path, point) for _ in range(runs)]
                metrics = [k for k in samples[0] if k not in ("html_kb", "parcels_z16_count")]
                results[path] = {
                    "first_load_ms": round(first["load"], 1),
                    "html_kb": round(samples[0]["html_kb"], 1),
                    **({"parcels_z16_count": samples[0]["parcels_z16_count"]} if point else {}),
                    "ms": {k: {s: round(v, 1) for s, v in _summary([t[k] for t in samples]).items()} for k in metrics},
                    "runs_ms": {k: [round(t[k], 1) for t in samples] for k in metrics},
                }
        finally:
            browser.close()
    return {"browser": f"Chromium {version} (headless, {CHROMIUM})", "parcel": parcel_id, "pages": results}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, help="workspace to serve (default: build the sample)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mujun-bench-") as tmp:
        ws = args.workspace and Workspace(args.workspace) or _sample(Path(tmp), args.seed, args.scale)
        n_parcels = int(pyogrio.read_info(ws.path, layer="parcels")["features"])
        report = measure(ws, args.runs)
    report.update({
        "workspace": "sample" if args.workspace is None else str(args.workspace),
        "seed": args.seed if args.workspace is None else None,
        "scale": args.scale if args.workspace is None else None,
        "parcels": n_parcels, "runs": args.runs, "python": platform.python_version(), "cpu": _cpu(),
        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
    })
    print(f"{report['browser']}; {n_parcels} parcels; {args.runs} runs per page, fresh browser context each")
    print(f"{'page':<10} {'metric':<12} {'median ms':>10} {'p95 ms':>10}")
    for path, r in report["pages"].items():
        for metric, s in r["ms"].items():
            print(f"{path:<10} {metric:<12} {s['median']:>10.0f} {s['p95']:>10.0f}")
        print(f"{path:<10} {'first load':<12} {r['first_load_ms']:>10.0f} {'':>10}  (server tables not yet cached)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
