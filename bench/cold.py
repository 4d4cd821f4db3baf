"""Benchmark: a cold server, from ``mujun serve`` starting to /map's first contentful paint.

    python bench/cold.py WORKSPACE [--year Y] [--runs 3] [--out bench/out/cold.json]

Each run starts ``mujun serve`` on the evaluated workspace in a process of its own, with an
empty tile cache, and at once opens /map in headless Chromium (Debian's /usr/bin/chromium,
launched beforehand; a fresh browser context each time). Times are from the moment the
server process is started:

- ``listening``: the port accepts connections;
- ``map_html``: /map's HTML fully received;
- ``fcp``: Chromium's first contentful paint of /map;
- ``first_tile``: the first parcel tile /map asked for received;
- ``rankings`` (s): then /rankings, the server's first, answered (from its request).

Three ways to start, each ``--runs`` times:

- ``column cache off``: ``MUJUN_COLUMN_CACHE=0``, every table read through GDAL (the
  behaviour before the column cache; the peer);
- ``column cache, first start``: an empty column cache, filled by this start;
- ``column cache, restart``: the cache the previous start left (a server started again
  on the same workspace generation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mujun.layers.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
OUT = Path(__file__).parent / "out" / "cold.json"
#: the ``mujun`` command of this Python's environment
MUJUN = shutil.which("mujun", path=str(Path(sys.executable).parent)) or "mujun"
MODES = ("column cache off", "column cache, first start", "column cache, restart")

_TIMES = """() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  const tiles = performance.getEntriesByType("resource").filter(e => e.name.includes("/tiles/parcels/"));
  const first = tiles.length ? Math.min(...tiles.map(e => e.responseEnd)) : null;
  return {origin: performance.timeOrigin, fcp: fcp ? fcp.startTime : null, html: nav.responseEnd,
          tile: first, tiles: tiles.length};
}"""


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mujun serve exited with {proc.returncode}: {proc.stderr.read()[-800:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.01)
    raise TimeoutError(f"mujun serve did not listen on {port} within {timeout:.0f} s")


def one_start(browser, workspace: Path, year: int, env: dict[str, str], timeout: float = 120.0) -> dict:
    """Start a server, open /map, then /rankings; seconds from the start (see the module)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    out: dict = {}
    t0 = time.time()
    proc = subprocess.Popen([MUJUN, "serve", "--workspace", str(workspace),
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_listening(port, proc, timeout)
        out["listening"] = time.time() - t0
        page.goto(f"{base}/map?year={year}", wait_until="commit", timeout=timeout * 1000)
        page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0",
                               timeout=timeout * 1000, polling=20)
        with contextlib.suppress(Exception):  # a map without tiles (a few parcels, embedded)
            page.wait_for_function("() => performance.getEntriesByType('resource')"
                                   ".some(e => e.name.includes('/tiles/parcels/') && e.responseEnd > 0)",
                                   timeout=timeout * 1000, polling=50)
        t = page.evaluate(_TIMES)
        start_ms = t0 * 1000
        out["map_html"] = (t["origin"] + t["html"] - start_ms) / 1000
        out["fcp"] = (t["origin"] + t["fcp"] - start_ms) / 1000
        out["first_tile"] = None if t["tile"] is None else (t["origin"] + t["tile"] - start_ms) / 1000
        out["tiles_requested"] = t["tiles"]
        r = time.perf_counter()
        with urllib.request.urlopen(f"{base}/rankings?year={year}", timeout=timeout) as resp:
            resp.read()
        out["rankings"] = time.perf_counter() - r
    finally:
        with contextlib.suppress(Exception):
            context.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def bench_cold(workspace: Path, year: int, runs: int = 3, timeout: float = 120.0) -> list[dict]:
    """One row per way to start (:data:`MODES`): medians over ``runs`` starts, in seconds."""
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory(prefix="mujun-cold-") as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            columns = folder / "columns"
            for mode in MODES:
                starts = []
                for i in range(runs):
                    tiles = folder / f"tiles-{mode[-5:]}-{i}"
                    if mode == "column cache, first start":
                        shutil.rmtree(columns, ignore_errors=True)
                    env = {**os.environ, "MUJUN_PUBLIC_READ": "1", "MUJUN_TILE_CACHE_DIR": str(tiles),
                           "MUJUN_COLUMN_CACHE": "0" if mode == "column cache off" else "1",
                           "MUJUN_COLUMN_CACHE_DIR": str(columns)}
                    load = os.getloadavg()[0]
                    starts.append({**one_start(browser, workspace, year, env, timeout), "load": load})
                    shutil.rmtree(tiles, ignore_errors=True)
                row: dict = {"start": mode, "runs": len(starts)}
                for key in ("listening", "map_html", "fcp", "first_tile", "rankings"):
                    values = [s[key] for s in starts if s.get(key) is not None]
                    row[f"{key}_s"] = round(statistics.median(values), 3) if values else None
                row["load"] = round(max(s["load"] for s in starts), 2)
                rows.append(row)
        finally:
            browser.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--year", type=int, help="default: the latest evaluated year")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    ws = Workspace(args.workspace)
    year = args.year or int(ws.meta()["evaluated_years"].split(",")[-1])
    rows = bench_cold(ws.path, year, args.runs)
    for row in rows:
        print(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"workspace": str(ws.path), "year": year, "rows": rows}, ensure_ascii=False,
                                   indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
