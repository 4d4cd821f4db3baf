"""Parcel map tiles under /tiles/: 256 px PNGs rendered from the evaluated parcels (cached on
disk by :mod:`mujun.webapp.tileservice`) and the parcel under a clicked point (identify).

- ``GET /tiles/parcels/<year>/<indicator>/<z>/<x>/<y>.png``: the parcels of ``year`` coloured
  by ``indicator`` (a key of :data:`mujun.webapp.maps.COLOR_BY`) with the year's class breaks, as on
  the vector layer and the legend; transparent where there is no parcel. ``?v=<generation>``
  (what /map asks for) lets the browser keep the tile while the workspace is unchanged.
- ``GET /tiles/parcels/<year>/<indicator>/tilejson.json``: those tiles described as a TileJSON
  3.0.0 document (XYZ scheme, zoom range, bounds), for QGIS, MapLibre, Leaflet or OpenLayers.
- ``GET /tiles/identify?year=&lon=&lat=``: the parcel there, with the vector layer's popup.

Errors are answered by :mod:`mujun.webapp.errors`, as JSON with a Chinese message.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request, url_for

from mujun.geo.errors import InputError
from mujun.layers.gpkg import year_view
from mujun.layers.workspace import result_table
from mujun.webapp import maps
from mujun.webapp.data import results
from mujun.webapp.tileservice import MAX_ZOOM, service

__all__ = ["bp"]

bp = Blueprint("tiles", __name__, url_prefix="/tiles")


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} 应为整数，收到 '{text}'") from None


def _indicator(text: str) -> str:
    if text not in maps.COLOR_BY:
        abort(404, description=f"未知的着色字段 '{text}'；可用：{', '.join(maps.COLOR_BY)}")
    return text


@bp.route("/parcels/<year>/<indicator>/<z>/<x>/<y>.png")
def parcel_tile(year: str, indicator: str, z: str, x: str, y: str):
    """A 256 px PNG tile of the parcels of ``year`` coloured by ``indicator``."""
    year_, z_, x_, y_ = (_integer(n, v) for n, v in (("年度", year), ("z", z), ("x", x), ("y", y)))
    indicator = _indicator(indicator)
    if not 0 <= z_ <= MAX_ZOOM:
        abort(404, description=f"没有第 {z_} 级的瓦片；级别应在 0 到 {MAX_ZOOM} 之间")
    if not (0 <= x_ < 2 ** z_ and 0 <= y_ < 2 ** z_):
        abort(404, description=f"第 {z_} 级没有瓦片 {x_}/{y_}；x、y 应在 0 到 {2 ** z_ - 1} 之间")
    svc = service()
    generation = svc.generation()
    data = svc.tile(generation, year_, indicator, z_, x_, y_)
    response = Response(data, mimetype="image/png")
    # a URL naming the current generation never changes its tile; any other is checked each time
    response.headers["Cache-Control"] = ("private, max-age=86400, immutable" if request.args.get("v") == generation
                                         else "no-cache")
    return response


@bp.route("/parcels/<year>/<indicator>/tilejson.json")
def tilejson(year: str, indicator: str):
    """The TileJSON 3.0.0 document of the parcel tiles of ``year`` coloured by ``indicator``."""
    year_ = _integer("年度", year)
    indicator = _indicator(indicator)
    res = results()
    years = res.years()
    if year_ not in years:
        abort(404, description=f"没有 {year_} 年的评价结果；已评价年度：{'、'.join(map(str, years))}")
    generation = service().generation()
    first = url_for("tiles.parcel_tile", year=year_, indicator=indicator, z=0, x=0, y=0, v=generation,
                    _external=True)
    template = first.replace("/0/0/0.png", "/{z}/{x}/{y}.png")
    table = year_view(result_table("parcel"), year_)  # registered with the extent of the outlines it shows
    row = res.ws.query("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (table,))
    bounds = [round(float(v), 6) for v in row[0]] if row and None not in tuple(row[0]) else [-180, -85.05, 180, 85.05]
    center = [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6), 10]
    label, unit, _ = maps.COLOR_BY[indicator]
    return jsonify({
        "tilejson": "3.0.0",
        "name": f"{year_} 年地块 · {label}",
        "description": f"{year_} 年评价地块按{label}{f'（{unit}）' if unit else ''}着色的 256 像素 PNG 瓦片"
                       "（XYZ 编号，Web 墨卡托 EPSG:3857）；无地块处透明。",
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [template],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": center,
        "attribution": "mujun 亩均论英雄",
    })


def _float(name: str, low: float, high: float) -> float:
    text = request.args.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} 应为经纬度数字，收到 '{text}'") from None
    if not low <= value <= high:
        raise InputError(f"{name} 应在 {low} 到 {high} 之间，收到 {value}")
    return value


@bp.route("/identify")
def identify():
    """The parcel of ``year`` under (``lon``, ``lat``) with its popup, 404 if none is there."""
    svc = service()
    generation = svc.generation()
    year = _integer("年度", request.args.get("year", "").strip())
    lon, lat = _float("lon", -180, 180), _float("lat", -90, 90)
    tiles = svc.tileset(generation, year)
    position = tiles.identify(lon, lat)
    if position is None:
        abort(404, description=f"{year} 年在（{lon:.6f}, {lat:.6f}）处没有地块")
    row = tiles.parcels.iloc[[position]]
    popup, tooltip = maps.linked_parcel_popups(row)
    return jsonify({"year": year, "parcel_id": str(row["parcel_id"].iloc[0]), "popup": popup.iloc[0],
                    "tooltip": tooltip.iloc[0]})
