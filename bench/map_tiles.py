"""Benchmark: /map first paint against a plain Folium page, and parcel tile latency.

    python bench/map_tiles.py WORKSPACE [--year Y] [--only map|tiles] [--runs 3] [--timeout 120]

The app runs on waitress (8 threads) in its own process, over ``WORKSPACE``, with a fresh
tile cache in a temporary folder.

- ``bench_map``: ``/map`` in headless Chromium (Debian's /usr/bin/chromium, a fresh browser
  context per load) against a peer page: a plain ``folium.Map`` with one ``folium.GeoJson``
  of the same parcels (id and geometry only), saved as HTML and opened from disk. Folium's
  CDN links cannot load offline, so the peer uses the Leaflet of the installed XStatic
  package (``file://``), which is all a GeoJSON layer needs. Times from navigation start:
  ``fcp`` (Paint Timing ``first-contentful-paint``) and ``parcels`` (first frame painted with
  parcels: a loaded parcel tile on /map, a path in the overlay pane on the peer). The peer
  stops at its first failure or after ``timeout`` seconds.
- ``bench_tiles``: p50/p95/p99 of tile requests at zooms 8–16 over the data's extent, each
  tile once per colouring while the disk cache is empty (uncached: rendered), then again
  (cached: read from disk), from one client with HTTP keep-alive; then requests per second
  with 8 concurrent keep-alive clients, cached and uncached.

Writes bench/out/map_tiles.json and prints the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import mercantile
import numpy as np

from mujun.layers.workspace import Workspace
from mujun.webapp.maps import COLOR_BY

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
OUT = Path(__file__).parent / "out" / "map_tiles.json"
ROOT = Path(__file__).resolve().parent.parent
ZOOMS = (8, 10, 12, 14, 16)
TILES_PER_ZOOM = 40
CLIENTS = 8
LOAD_SECONDS = 5.0

# -- the server ------------------------------------------------------------------------------

_SERVER = """
import logging
import sys
from mujun.webapp import create_app
logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # the load test queues on purpose
from mujun.webapp.serve import bind, run
app = create_app({"WORKSPACE": sys.argv[1], "TILE_CACHE_DIR": sys.argv[2], "PUBLIC_READ": True})  # the public map
run(bind(app, "127.0.0.1", 0), echo=lambda text: print(text, flush=True))
"""


@contextlib.contextmanager
def serving(workspace: Path, cache: Path) -> Iterator[str]:
    """The app over ``workspace`` on waitress in a child process; yields its base URL."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(workspace), str(cache)], stdout=subprocess.PIPE,
                            text=True, env=env)
    with started(proc) as url:
        yield url


@contextlib.contextmanager
def started(proc: subprocess.Popen) -> Iterator[str]:
    """The base URL a server child process prints on its first line; the process is stopped
    (terminated, killed after 10 s) on the way out."""
    try:
        line = proc.stdout.readline()
        found = re.search(r"http://[\d.]+:\d+", line)
        if not found:
            raise RuntimeError(f"the server did not start: {line!r}")
        yield found.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def get(self, path: str) -> tuple[float, int, bytes]:
        """(milliseconds, status, body) of one GET."""
        t = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        return (time.perf_counter() - t) * 1000, response.status, body

    def close(self) -> None:
        self.conn.close()


# -- tiles -----------------------------------------------------------------------------------

def _extent(ws: Workspace, year: int) -> tuple[float, float, float, float]:
    import pyogrio

    info = pyogrio.read_info(ws.path, layer=f"result_parcel_{int(year)}")
    if info.get("total_bounds") is not None:
        return tuple(float(v) for v in info["total_bounds"])
    frame = ws.read("result_parcel", where=f"year = {int(year)}")
    return tuple(float(v) for v in frame.total_bounds)


def _tiles(bounds, z: int, n: int, rng: random.Random) -> list[mercantile.Tile]:
    every = list(mercantile.tiles(*bounds, z))
    return every if len(every) <= n else rng.sample(every, n)


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}


def _url(year: int, indicator: str, t: mercantile.Tile) -> str:
    return f"/tiles/parcels/{year}/{indicator}/{t.z}/{t.x}/{t.y}.png"


def _load(base: str, urls: list[str], seconds: float, clients: int = CLIENTS, *, repeat: bool) -> dict:
    """Requests per second of ``clients`` keep-alive clients over ``urls`` for ``seconds``
    (``repeat``: cycle over them, else each URL once, shared out)."""
    lock = threading.Lock()
    queue = iter(urls)
    times: list[float] = []
    errors: list[int] = []
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        client = Client(base)
        mine = urls[k::clients] if repeat else None
        i = 0
        try:
            while time.perf_counter() < stop:
                if repeat:
                    path = mine[i % len(mine)]
                    i += 1
                else:
                    with lock:
                        path = next(queue, None)
                    if path is None:
                        return
                ms, status, _ = client.get(path)
                with lock:
                    times.append(ms)
                    if status != 200:
                        errors.append(status)
        finally:
            client.close()

    t = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    return {"clients": clients, "requests": len(times), "seconds": round(elapsed, 2),
            "rps": round(len(times) / elapsed, 1), "errors": len(errors), **_stats(times)}


def bench_tiles(workspace: Path, year: int) -> list[dict]:
    """Latency of parcel tiles, uncached and cached, by zoom; and requests per second.

    Returns
    -------
    list of dict
        One row per (zoom, cache state), then the load rows (``zoom`` "load").
    """
    ws = Workspace(workspace)
    n_parcels = _count(ws, year)
    bounds = _extent(ws, year)
    rng = random.Random(2024)
    indicators = list(COLOR_BY)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mujun-tiles-") as cache, serving(Path(workspace), Path(cache)) as base:
        client = Client(base)
        # the first request reads the results and builds the index; one per colouring
        # computes its breaks and palette: reported, not counted
        lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        firsts = [client.get(_url(year, ind, mercantile.tile(lon, lat, 0)))[0] for ind in indicators]
        rows.append({"bench": "tiles", "zoom": "first", "cache": "—", "requests": len(firsts),
                     "parcels": n_parcels, "first_ms": round(firsts[0], 1),
                     "next_colourings_ms": round(float(np.median(firsts[1:])), 1)})
        plan = {z: [_url(year, ind, t) for t in _tiles(bounds, z, TILES_PER_ZOOM, rng) for ind in indicators]
                for z in ZOOMS}
        for urls in plan.values():
            rng.shuffle(urls)
        for label, rounds in (("uncached", 1), ("cached", 2)):
            for z, urls in plan.items():
                times, sizes = [], []
                for _ in range(rounds):
                    for path in urls:
                        ms, status, body = client.get(path)
                        if status != 200:
                            raise RuntimeError(f"{path}: HTTP {status} {body[:200]!r}")
                        times.append(ms)
                        sizes.append(len(body))
                rows.append({"bench": "tiles", "zoom": z, "cache": label, "requests": len(times),
                             "parcels": n_parcels, **_stats(times),
                             "kb_mean": round(float(np.mean(sizes)) / 1024, 1)})
        client.close()
        cached = [u for urls in plan.values() for u in urls]
        rows.append({"bench": "tiles", "zoom": "load", "cache": "cached", "parcels": n_parcels,
                     **_load(base, cached, LOAD_SECONDS, repeat=True)})
        fresh = [_url(year, ind, t) for z in (13, 15) for t in _tiles(bounds, z, 400, rng) for ind in indicators[:2]]
        rng.shuffle(fresh)
        rows.append({"bench": "tiles", "zoom": "load 13+15", "cache": "uncached", "parcels": n_parcels,
                     **_load(base, fresh, LOAD_SECONDS, repeat=False)})
    return rows


# -- map -------------------------------------------------------------------------------------

_WATCH = """
window.__parcelsPainted = null;
(function watch() {
  const tile = document.querySelector('.leaflet-tile-pane img.leaflet-tile-loaded[src*="/tiles/parcels/"]');
  const path = document.querySelector(".leaflet-overlay-pane path");
  const ours = document.querySelector(".mujun-map");
  if (ours ? tile : path) {
    requestAnimationFrame(() => { window.__parcelsPainted = performance.now(); });
    return;
  }
  requestAnimationFrame(watch);
})();
"""

_TIMES = """() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp: fcp ? fcp.startTime : null, parcels: window.__parcelsPainted,
          load: nav ? nav.loadEventEnd : null};
}"""


def _peer_html(ws: Workspace, year: int, folder: Path) -> Path:
    """A plain Folium map with the year's parcels as one GeoJson layer, Leaflet from XStatic."""
    import folium
    import xstatic.pkg.leaflet as leaflet

    frame = ws.read("result_parcel", where=f"year = {int(year)}")[["parcel_id", "geometry"]]
    w, s, e, n = frame.total_bounds
    m = folium.Map(tiles=None)
    base = Path(leaflet.BASE_DIR).as_uri()
    m.default_js = [("leaflet", f"{base}/leaflet.js")]
    m.default_css = [("leaflet_css", f"{base}/leaflet.css")]
    m.fit_bounds([[s, w], [n, e]])
    folium.GeoJson(frame, name="地块").add_to(m)
    del frame
    path = folder / "peer.html"
    m.save(str(path))
    return path


def _open(browser, url: str, timeout_ms: float, local: str) -> dict:
    """One load in a fresh context: times, or ``error``; requests off ``local`` are refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    foreign: list[str] = []

    def refuse(route) -> None:
        foreign.append(route.request.url)
        route.abort()

    context.route(lambda u: not u.startswith(local) and not u.startswith("file:") and not u.startswith("data:"),
                  refuse)
    context.add_init_script(_WATCH)
    page = context.new_page()
    crashed: list[str] = []
    page.on("crash", lambda _: crashed.append("page crashed"))
    t = time.perf_counter()
    try:
        page.goto(url, wait_until="load", timeout=timeout_ms)
        left = max(timeout_ms - (time.perf_counter() - t) * 1000, 1)
        page.wait_for_function("() => window.__parcelsPainted !== null && performance.getEntriesByName("
                               "'first-contentful-paint').length > 0", timeout=left, polling=100)
        out = page.evaluate(_TIMES)
    except Exception as err:  # a timeout or a crash of the peer is its result
        out = {"error": (crashed[0] if crashed else str(err).splitlines()[0])[:200]}
    finally:
        out["wall_ms"] = (time.perf_counter() - t) * 1000
        with contextlib.suppress(Exception):
            context.close()
    if foreign:
        out["error"] = f"requested other hosts: {sorted(set(foreign))[:3]}"
    return out


def bench_map(workspace: Path, year: int, timeout: float = 120.0, runs: int = 3, *, peer: bool = True) -> list[dict]:
    """First paint of /map (tiles) against a plain Folium GeoJson page of the same parcels
    (``peer=False``: /map only).

    Returns
    -------
    list of dict
        One row per page (and per tile cache state for /map): medians over ``runs`` loads.
    """
    from playwright.sync_api import sync_playwright

    ws = Workspace(workspace)
    n_parcels = _count(ws, year)
    rows: list[dict] = []
    colours = list(COLOR_BY)
    with tempfile.TemporaryDirectory(prefix="mujun-map-") as tmp, sync_playwright() as p:
        folder = Path(tmp)
        t = time.perf_counter()
        peer_error, peer_mb, page = None, None, None
        if peer:
            try:
                page = _peer_html(ws, year, folder)
                peer_mb = page.stat().st_size / 2**20
            except MemoryError as err:
                peer_error = f"peer page not built: {err}"
        build_s = time.perf_counter() - t
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            (folder / "cache").mkdir()
            with serving(Path(workspace), folder / "cache") as base:
                first = _open(browser, f"{base}/map?year={year}&color={colours[0]}", timeout * 1000, base)
                rows.append(_map_row("mujun /map (first load: reads results)", [first], n_parcels, "uncached"))
                for label in ("uncached", "cached"):
                    # a colouring not shown yet has none of its tiles cached
                    loads = [_open(browser, f"{base}/map?year={year}&color={colours[(i + 1) % len(colours)]}",
                                   timeout * 1000, base) for i in range(runs)]
                    rows.append(_map_row("mujun /map (tiles)", loads, n_parcels, label))
            if not peer:
                return rows
            loads = []
            if peer_error is None:
                deadline = time.perf_counter() + timeout
                for _ in range(runs):
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    loads.append(_open(browser, page.as_uri(), left * 1000, "file:"))
                    if "error" in loads[-1]:
                        break
            row = _map_row("folium.GeoJson (peer)", loads, n_parcels, "—") if loads else \
                {"bench": "map", "page": "folium.GeoJson (peer)", "parcels": n_parcels, "error": peer_error}
            row.update({"html_mb": None if peer_mb is None else round(peer_mb, 1), "build_s": round(build_s, 1)})
            rows.append(row)
        finally:
            browser.close()
    return rows


def _map_row(page: str, loads: list[dict], n_parcels: int, tiles: str) -> dict:
    ok = [x for x in loads if "error" not in x]
    row = {"bench": "map", "page": page, "tiles": tiles, "parcels": n_parcels, "runs": len(ok)}
    for key in ("fcp", "parcels", "load"):
        values = [x[key] for x in ok if x.get(key) is not None]
        row[f"{key}_ms"] = round(float(np.median(values)), 1) if values else None
    errors = [x["error"] for x in loads if "error" in x]
    if errors:
        row["error"] = errors[0]
        row["wall_ms"] = round(loads[-1]["wall_ms"], 1)
    return row


# -- running it ------------------------------------------------------------------------------

def _count(ws: Workspace, year: int) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{ws.path}?mode=ro", uri=True)) as con:
        return int(con.execute("SELECT count(*) FROM result_parcel WHERE year = ?", (int(year),)).fetchone()[0])


def _table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r if k != "bench"))
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--year", type=int, help="default: the latest evaluated year")
    ap.add_argument("--only", choices=["map", "tiles"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--no-peer", action="store_true", help="measure /map only")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    ws = Workspace(args.workspace)
    if not ws.exists():
        print(f"工作空间 {ws.path} 不存在", file=sys.stderr)
        return 2
    year = args.year or int(ws.meta()["evaluated_years"].split(",")[-1])
    report: dict = {"workspace": str(ws.path), "year": year, "python": platform.python_version(),
                    "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.only in (None, "tiles"):
        report["tiles"] = bench_tiles(ws.path, year)
        print(_table(report["tiles"]), end="\n\n", flush=True)
    if args.only in (None, "map"):
        if not Path(CHROMIUM).exists():
            print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
            return 2
        report["map"] = bench_map(ws.path, year, args.timeout, args.runs, peer=not args.no_peer)
        print(_table(report["map"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
