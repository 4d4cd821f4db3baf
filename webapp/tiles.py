"""Parcel map tiles under /tiles/: 256 px PNGs rendered from the evaluated parcels (cached on
disk by :mod:`mujun.webapp.tileservice`) and the parcel under a clicked point (identify).

- ``GET /tiles/parcels/<year>/<indicator>/<z>/<x>/<y>.png``: the parcels of ``year`` coloured
  by ``indicator`` (a key of :data:`mujun.webapp.maps.COLOR_BY`) with the year's class breaks, as on
  the vector layer and the legend; transparent where there is no parcel. ``?v=<generation>``
  (what /map asks for) lets the browser keep the tile while the workspace is unchanged.
- ``GET /tiles/identify?year=&lon=&lat=``: the parcel there, with the vector layer's popup.

Errors are answered by :mod:`mujun.webapp.errors`, as JSON with a Chinese message.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from mujun.geo.errors import InputError
from mujun.webapp import maps
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
