"""Benchmark: ``mujun import`` of parcels and buildings against GDAL's ``ogr2ogr``.

    python bench/import_gdal.py --parcels N [--seed S] [--runs 3] [--out bench/out/import_<N>.json]
    python bench/import_gdal.py breakdown KIND SOURCE OUT.json   (used by the above)

The province's parcels and buildings (bench/province.py, the same generator and seed as the
cached workspace) are written as GeoPackages in EPSG:4549, as the province build writes its
sources. Each command is timed from its process's start to its end, each into a new file:

- ``mujun import parcels|buildings SRC --workspace new.gpkg``: read, field mapping, type
  checks, id checks, geometry validation and repair, projection to EPSG:4490, the atomic
  GeoPackage write (MultiPolygon, spatial index, metadata, integrity check);
- ``ogr2ogr -f GPKG out.gpkg SRC`` (Debian's /usr/bin/ogr2ogr): a plain copy, the peer;
- ``ogr2ogr -f GPKG -t_srs EPSG:4490 -nlt MULTIPOLYGON -makevalid out.gpkg SRC``: the copy
  doing the same geometric work as mujun (projection, MultiPolygon, repair), for reference.

Then one import per layer runs in process with its steps timed in place (bench/stages.py),
so that what each of mujun's extra steps costs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
OGR2OGR = "/usr/bin/ogr2ogr"
MUJUN = shutil.which("mujun", path=str(Path(sys.executable).parent)) or "mujun"
KINDS = ("parcels", "buildings")


def write_province_sources(n: int, seed: int, folder: Path) -> dict[str, Path]:
    """The province's parcels and buildings as GeoPackages in EPSG:4549 (bench/province.py)."""
    sys.path.insert(0, str(HERE))
    from province import generate, write_sources

    layers = generate(n, seed)
    return write_sources({k: layers[k] for k in KINDS}, folder)


def _timed(args: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} exited with {proc.returncode}: {(proc.stderr or proc.stdout)[-600:]}")
    return seconds


def commands(kind: str, src: Path, folder: Path) -> dict[str, list[str]]:
    """The three commands of one layer (see the module), each writing a new file in ``folder``."""
    return {
        "mujun import": [MUJUN, "import", kind, str(src), "--workspace", str(folder / "mujun.gpkg")],
        "ogr2ogr (copy)": [OGR2OGR, "-f", "GPKG", str(folder / "copy.gpkg"), str(src)],
        "ogr2ogr (EPSG:4490, MultiPolygon, -makevalid)": [
            OGR2OGR, "-f", "GPKG", "-t_srs", "EPSG:4490", "-nlt", "MULTIPOLYGON", "-makevalid",
            str(folder / "same.gpkg"), str(src)],
    }


def breakdown(kind: str, src: Path, out: Path) -> None:
    """Import ``src`` as ``kind`` into a new workspace with its steps timed; JSON to ``out``."""
    import geopandas as gpd
    import shapely
    from stages import Stages

    from mujun.layers import importer, validate, workspace, writer
    from mujun.layers.workspace import Workspace

    st = Stages()
    st.wrap(importer, "prepare_layer", "prepare")
    st.wrap(importer, "read_source", "read (GDAL, Arrow)")
    st.wrap(importer, "map_headers", "field mapping")
    st.wrap(importer, "coerce_fields", "field types and values")
    st.wrap(importer, "_kind_rules", "kind rules (ids, credit codes)")
    st.wrap(importer, "check_ids", "id checks")
    st.wrap(importer, "prepare_geometry", "geometry")
    st.wrap(shapely, "is_valid", "validity check (is_valid)")
    st.wrap(shapely, "make_valid", "repair (make_valid)")
    st.wrap(validate, "_polygonal", "polygonal parts")
    st.wrap(validate, "_collections_to_polygons", "collections")
    st.wrap(validate, "_check_coordinates", "coordinate checks")
    st.wrap(gpd.GeoDataFrame, "to_crs", "projection (to EPSG:4490)")
    st.wrap(Workspace, "write", "write")
    st.wrap(workspace, "write_table", "GeoPackage tables (GDAL)")
    st.wrap(writer, "_multi_wkb", "MultiPolygon WKB")
    st.wrap(workspace, "_in_transaction", "GeoPackage metadata")
    st.wrap(workspace, "_check_integrity", "integrity check")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".imp-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = time.perf_counter()
        st.stage("import", importer.import_layer)(Workspace(Path(tmp) / "ws.gpkg"), kind, src, progress=False)
        total = time.perf_counter() - t
    st.close()
    out.write_text(json.dumps({"seconds": total, "stages": st.rows()}, ensure_ascii=False), encoding="utf-8")


def bench_import(n: int, seed: int, runs: int = 3) -> dict:
    """Times of each layer's commands (medians of ``runs``) and mujun's steps."""
    OUT.mkdir(exist_ok=True)
    rows, steps = [], {}
    with tempfile.TemporaryDirectory(dir=OUT, prefix=".import-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        sources = write_province_sources(n, seed, folder / "src")
        made = time.perf_counter() - t
        for kind in KINDS:
            src = sources[kind]
            times: dict[str, list[float]] = {}
            for _ in range(runs):
                for name, args in commands(kind, src, folder).items():
                    for f in folder.glob("*.gpkg"):
                        f.unlink()
                    times.setdefault(name, []).append(_timed(args))
            import pyogrio

            features = int(pyogrio.read_info(src)["features"])
            peer = statistics.median(times["ogr2ogr (copy)"])
            for name, values in times.items():
                rows.append({"layer": kind, "features": features, "command": name,
                             "seconds": round(statistics.median(values), 2), "vs_ogr2ogr_copy":
                             round(statistics.median(values) / peer, 2), "load": round(os.getloadavg()[0], 2)})
            out = folder / f"{kind}.json"
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent),
                                                                os.environ.get("PYTHONPATH", "")])}
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "breakdown", kind, str(src), str(out)],
                           check=True, env=env)
            steps[kind] = json.loads(out.read_text(encoding="utf-8"))
    return {"parcels": n, "seed": seed, "runs": runs, "sources_seconds": made, "rows": rows, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "breakdown":
        breakdown(argv[1], Path(argv[2]), Path(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    report = bench_import(args.parcels, args.seed, args.runs)
    for row in report["rows"]:
        print(row)
    for kind, s in report["steps"].items():
        print(f"\n{kind}: {s['seconds']:.2f} s in process")
        for row in s["stages"]:
            print(f"  {'  ' * row['depth']}{row['stage'].split(' > ')[-1]}: {row['seconds']:.2f} s ({row['calls']} calls)")
    out = args.out or OUT / f"import_{args.parcels}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
