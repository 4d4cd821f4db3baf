"""JSON API under /api/: layers as GeoJSON (bounding box, paging), rankings, details."""

from __future__ import annotations

import shapely
from flask import Blueprint, current_app, jsonify, request, url_for

from geo.errors import InputError
from webapp import maps, results

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api")

#: layer name -> (result level or raw layer, id field)
LAYERS = {
    "parcels": ("parcel", "parcel_id"),
    "districts": ("district", "district_id"),
    "parks": ("park", "park_id"),
    "platforms": ("platform", "platform_id"),
    "buildings": ("building", "building_id"),
}
MAX_PAGE_SIZE = 5000


def _bbox(text: str | None):
    if not text:
        return None
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError("bbox 应为 西,南,东,北 四个经纬度数字，如 bbox=120.5,29.9,120.7,30.1") from None
    if not (w < e and s < n):
        raise InputError("bbox 应满足 西 < 东、南 < 北")
    return shapely.box(w, s, e, n)


def _page_args() -> tuple[int, int]:
    page = request.args.get("page", default=1, type=int)
    size = request.args.get("page_size", default=1000, type=int)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise InputError(f"page 应 ≥ 1，page_size 应在 1 到 {MAX_PAGE_SIZE} 之间")
    return page, size


@bp.route("/layers/<name>")
def layer(name: str):
    """A layer of a year as GeoJSON, filtered by ``bbox`` (lon/lat) and paged.

    With ``color`` (parcels only) the features also carry ``_color``, ``_popup`` and
    ``_tooltip`` for the app's own map.
    """
    if name not in LAYERS:
        raise InputError(f"未知的图层 '{name}'；可用：{', '.join(LAYERS)}")
    level, id_field = LAYERS[name]
    res = results()
    year = res.year(request.args.get("year", type=int))
    frame = res.table("result_building") if level == "building" else res.results(level, year)
    box = _bbox(request.args.get("bbox"))
    if box is not None:
        frame = frame.iloc[frame.sindex.query(box, predicate="intersects")] if len(frame) else frame
        frame = frame.sort_values(id_field) if id_field in frame.columns else frame
    page, size = _page_args()
    matched = len(frame)
    part = frame.iloc[(page - 1) * size : page * size]
    color = request.args.get("color")
    if color is not None and name == "parcels":
        if color not in maps.COLOR_BY:
            raise InputError(f"未知的着色字段 '{color}'；可用：{', '.join(maps.COLOR_BY)}")
        full = res.results("parcel", year)
        bins = maps.breaks(full[color]) if maps.COLOR_BY[color][2] == "numeric" else []
        popup, tooltip = maps.parcel_popups(part, lambda i: url_for("details.parcel", parcel_id=i),
                                            lambda c: url_for("details.enterprise", code=c))
        data = maps.feature_collection(part, popup=popup, tooltip=tooltip, ids=part["parcel_id"],
                                       color=maps.styled_parcels(part, color, bins), extra=_public(part))
    else:
        data = maps.feature_collection(part, extra=_public(part))
    data.update({"numberMatched": matched, "numberReturned": len(part), "page": page, "page_size": size,
                 "year": year})
    return jsonify(data)


def _public(frame) -> list[str]:
    """Columns published in GeoJSON properties (everything but geometry and private ones)."""
    return [c for c in frame.columns if c != frame.geometry.name and not c.startswith("_")]


@bp.route("/config")
def config():
    """What the app's maps use (no secrets)."""
    cfg = current_app.config
    return jsonify({"basemap": cfg["BASEMAP"], "max_embed_features": cfg["MAX_EMBED_FEATURES"],
                    "parcel_min_zoom": cfg["PARCEL_MIN_ZOOM"]})
