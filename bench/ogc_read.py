"""Benchmark: reading every evaluated parcel through the OGC API against reading the GeoPackage.

    python bench/ogc_read.py WORKSPACE [--year Y] [--page-size 10000]

The app runs on waitress in its own process over ``WORKSPACE`` (an evaluated workspace).
Both reads are GDAL's ``ogr2ogr`` (Debian's gdal-bin) writing a GeoPackage, so they differ
only in where the features come from:

- ``OAPIF``: ``ogr2ogr out.gpkg OAPIF:http://…/api parcels-<year> -oo PAGE_SIZE=<n>``, GDAL
  following the ``next`` links page by page;
- ``GeoPackage``: ``ogr2ogr out.gpkg WORKSPACE result_parcel_<year>`` (the year's registered view).

Without ``ogr2ogr`` both reads are ``pyogrio.read_dataframe`` in a child process. The server's
peak resident memory (the server process and its GDAL reader processes, sampled every 50 ms)
is reported beside its memory at rest, and the features written are counted in both outputs.

Writes bench/out/ogc_read.json and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
from map_tiles import started

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).parent / "out" / "ogc_read.json"
MIB = 2**20

_SERVER = """
import sys
from mujun.webapp import create_app
from mujun.webapp.serve import bind, run
app = create_app({"WORKSPACE": sys.argv[1], "PUBLIC_READ": True, "TILE_CACHE": False})
run(bind(app, "127.0.0.1", 0), echo=lambda text: print(text, flush=True))
"""

_PYOGRIO_READ = """
import sys, pyogrio
kw = {"where": sys.argv[3]} if len(sys.argv) > 3 and sys.argv[3] else {}
if sys.argv[1].startswith("OAPIF:"):
    kw["PAGE_SIZE"] = sys.argv[4]
frame = pyogrio.read_dataframe(sys.argv[1], layer=sys.argv[2], **kw)
print(len(frame))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@contextlib.contextmanager
def serving(workspace: Path) -> Iterator[tuple[str, psutil.Process]]:
    """The app over ``workspace`` in a child process; yields its base URL and process."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(workspace)], stdout=subprocess.PIPE, text=True,
                            env=_env())
    with started(proc) as url:
        yield url, psutil.Process(proc.pid)


class PeakRSS:
    """Peak resident memory of a process and its children, sampled in a thread."""

    def __init__(self, proc: psutil.Process, every: float = 0.05):
        self.proc, self.every, self.peak = proc, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        total = 0
        try:
            family = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:  # the process has just ended
            return 0
        for p in family:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _features(gpkg: Path) -> int:
    with contextlib.closing(sqlite3.connect(gpkg)) as con:
        (table,) = con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'").fetchone()
        return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def _read(source: str, layer: str, where: str | None, page_size: int, out: Path) -> tuple[float, int, str]:
    """(seconds, features, tool) of one read of ``layer`` of ``source``."""
    ogr2ogr = shutil.which("ogr2ogr")
    t = time.perf_counter()
    if ogr2ogr:
        args = [ogr2ogr, "-f", "GPKG", str(out), source, layer]
        if where:
            args += ["-where", where]
        if source.startswith("OAPIF:"):
            args += ["-oo", f"PAGE_SIZE={page_size}"]
        subprocess.run(args, check=True, capture_output=True)
        return time.perf_counter() - t, _features(out), "ogr2ogr"
    res = subprocess.run([sys.executable, "-c", _PYOGRIO_READ, source, layer, where or "", str(page_size)],
                         check=True, capture_output=True, text=True, env=_env())
    return time.perf_counter() - t, int(res.stdout.strip()), "pyogrio"


def bench_ogc_read(workspace: Path, year: int, page_size: int = 10_000) -> list[dict]:
    """Rows of the table: one read through the OGC API, one of the GeoPackage."""
    with contextlib.closing(sqlite3.connect(f"file:{workspace}?mode=ro", uri=True)) as con:
        expected = int(con.execute("SELECT count(*) FROM result_parcel WHERE year = ?", (year,)).fetchone()[0])
    rows = []
    with tempfile.TemporaryDirectory(prefix="mujun-ogc-") as tmp:
        with serving(workspace) as (url, proc):
            with urllib.request.urlopen(f"{url}/api/collections", timeout=60) as r:  # warm: imports, layer list
                json.load(r)
            with PeakRSS(proc) as rss:
                rest = rss.now()
                seconds, n, tool = _read(f"OAPIF:{url}/api", f"parcels-{year}", None, page_size,
                                         Path(tmp) / "oapif.gpkg")
        rows.append({"read": f"OGC API ({tool}, PAGE_SIZE={page_size:,})", "features": n, "expected": expected,
                     "seconds": round(seconds, 2), "features_per_s": round(n / seconds),
                     "server_rss_rest_mib": round(rest / MIB), "server_rss_peak_mib": round(rss.peak / MIB)})
        # the year's layer as QGIS opens it: the view of its figures with the parcels' outlines
        seconds, n, tool = _read(str(workspace), f"result_parcel_{int(year)}", None, page_size,
                                 Path(tmp) / "direct.gpkg")
        rows.append({"read": f"GeoPackage directly ({tool})", "features": n, "expected": expected,
                     "seconds": round(seconds, 2), "features_per_s": round(n / seconds),
                     "server_rss_rest_mib": None, "server_rss_peak_mib": None})
    for row in rows:
        if row["features"] != expected:
            raise RuntimeError(f"{row['read']} read {row['features']:,} features of {expected:,}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--year", type=int, default=None, help="evaluated year (default: the latest)")
    ap.add_argument("--page-size", type=int, default=10_000)
    args = ap.parse_args(argv)
    year = args.year
    if year is None:
        with contextlib.closing(sqlite3.connect(args.workspace)) as con:
            text = con.execute("SELECT value FROM mujun_meta WHERE key = 'evaluated_years'").fetchone()[0]
        year = int(text.split(",")[-1])
    rows = bench_ogc_read(args.workspace, year, args.page_size)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
