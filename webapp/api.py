"""JSON API under /api/: layers as GeoJSON (bounding box, paging), rankings, details.

Field names are the canonical English ones of the workspace; missing numbers are ``null``.
``/api/openapi.json`` describes every route. The standard service for GIS clients (OGC API –
Features) is :mod:`mujun.webapp.ogc`, under /api too.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from mujun import service
from mujun.geo.errors import InputError
from mujun.layers.schema import label
from mujun.webapp import geojson, maps
from mujun.webapp.data import results
from mujun.webapp.ogcapi import check_lon_lat_order, integer_arg
from mujun.webapp.ranking_query import RankingQuery
from mujun.webapp.tileservice import service as tile_service

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
    check_lon_lat_order(w, s, e, n)
    if not (w < e and s < n):
        raise InputError("bbox 应满足 西 < 东、南 < 北")
    return shapely.box(w, s, e, n)


def _int(name: str, default: int | None) -> int | None:
    return integer_arg(request.args, name, default)


def _page_args(default_size: int = 1000) -> tuple[int, int]:
    """(page, page size): ``page_size``, or ``limit`` as OGC clients name it."""
    size_name = "limit" if request.args.get("limit", "").strip() and not request.args.get("page_size") else "page_size"
    page, size = _int("page", 1), _int(size_name, default_size)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise InputError(f"page 应 ≥ 1，{size_name} 应在 1 到 {MAX_PAGE_SIZE} 之间")
    return page, size


@bp.route("/layers/<name>")
def layer(name: str):
    """A layer of a year as GeoJSON, filtered by ``bbox`` (lon/lat) and paged (``page`` and
    ``page_size`` or ``limit``; a ``next`` link while more pages follow). Features carry
    their id (parcel, zone or building id).

    With ``color`` (parcels only) the features also carry ``_color``, ``_popup`` and
    ``_tooltip`` for the app's own map.
    """
    if name not in LAYERS:
        abort(404, description=f"未知的图层 '{name}'；可用：{', '.join(LAYERS)}")
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
        # the year's breaks, computed once per workspace generation and shared with /map and the tiles
        svc = tile_service()
        bins = svc.breaks(svc.generation(), year, color) if maps.COLOR_BY[color][2] == "numeric" else []
        data = maps.parcel_features(part, color, bins, extra=_public(part))
    else:
        data = maps.feature_collection(part, extra=_public(part), feature_ids=part[id_field])
    data.update({"numberMatched": matched, "numberReturned": len(part), "page": page, "page_size": size,
                 "year": year, "links": _links(name, page, page * size < matched)})
    return Response(json.dumps(data, ensure_ascii=False), mimetype=geojson.MEDIA_TYPE)


def _links(name: str, page: int, more: bool) -> list[dict[str, str]]:
    """``self`` and, while more pages follow, ``next`` links of a layer page."""
    args = request.args.to_dict()

    def at(p: int) -> str:
        return url_for("api.layer", name=name, **{**args, "page": str(p)}, _external=True)

    links = [{"href": at(page), "rel": "self", "type": geojson.MEDIA_TYPE}]
    if more:
        links.append({"href": at(page + 1), "rel": "next", "type": geojson.MEDIA_TYPE})
    return links


def _public(frame) -> list[str]:
    """Columns published in GeoJSON properties (everything but geometry and private ones)."""
    return [c for c in frame.columns if c != frame.geometry.name and not c.startswith("_")]


@bp.route("/config")
def config():
    """What the app's maps use (no secrets)."""
    cfg = current_app.config
    return jsonify({"basemap": cfg["BASEMAP"], "max_embed_features": cfg["MAX_EMBED_FEATURES"],
                    "parcel_min_zoom": cfg["PARCEL_MIN_ZOOM"]})


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects: canonical names, dates as ``YYYY-MM-DD``, missing values ``null``."""
    data = pd.DataFrame(frame.drop(columns=frame.geometry.name) if isinstance(frame, gpd.GeoDataFrame) else frame)
    for c in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[c]):
            data[c] = data[c].dt.strftime("%Y-%m-%d")
    return json.loads(data.to_json(orient="records", force_ascii=False, double_precision=15))


def _year() -> int:
    """The ``year`` argument if it was evaluated, the latest evaluated year if absent."""
    years = results().years()
    year = _int("year", None)
    if year is None:
        return years[-1]
    if year not in years:
        raise InputError(f"没有 {year} 年的评价结果；已评价年度：{'、'.join(map(str, years))}")
    return year


def _geometry(frame: gpd.GeoDataFrame) -> dict[str, Any] | None:
    """GeoJSON geometry (lon/lat, EPSG:4326) of the first row."""
    geom = frame.geometry.to_crs(4326).iloc[0] if frame.crs is not None else frame.geometry.iloc[0]
    return None if geom is None or geom.is_empty else json.loads(shapely.to_geojson(geom))


@bp.route("/rankings")
def rankings():
    """A ranking with the filters of the 排名 page, paged."""
    q = RankingQuery.from_args(request.args)
    page, size = _page_args(current_app.config["RANKING_PAGE_SIZE"])
    frame, year = q.ranking()
    part = frame.iloc[(page - 1) * size : page * size]
    return jsonify({"year": year, "level": q.level, "by": q.by, "by_label": label(q.by), "ascending": q.ascending,
                    "total": len(frame), "page": page, "page_size": size, "items": _records(part)})


@bp.route("/parcels/<path:parcel_id>")
def parcel(parcel_id: str):
    """A parcel's results of a year with its flags, compliance checks and geometry."""
    res = results()
    year = _year()
    parcels = res.results("parcel", year)
    row = parcels[parcels["parcel_id"].astype("string") == parcel_id]
    if row.empty:
        abort(404, description=f"{year} 年没有宗地编号为 '{parcel_id}' 的地块")
    extra = {}
    for key in ("flag", "compliance"):
        table = res.optional(f"result_{key}", year)
        rows = table[table["parcel_id"].astype("string") == parcel_id] if table is not None else pd.DataFrame()
        extra[key] = _records(rows.drop(columns=["parcel_id", "year"], errors="ignore"))
    return jsonify({"year": year, "parcel": _records(row.head(1))[0], "geometry": _geometry(row.head(1)),
                    "flags": extra["flag"], "compliance": extra["compliance"]})


@bp.route("/enterprises/<path:code>")
def enterprise(code: str):
    """An enterprise's results in every evaluated year, oldest first."""
    table = results().table("result_enterprise")
    rows = table[table["credit_code"].astype("string") == code].sort_values("year")
    if rows.empty:
        abort(404, description=f"没有统一社会信用代码为 '{code}' 的企业评价结果")
    items = _records(rows)
    return jsonify({"credit_code": code, "name": items[-1].get("name"), "years": [r["year"] for r in items],
                    "items": items})


@bp.route("/years")
def years():
    """The evaluated years."""
    ys = results().years()
    return jsonify({"years": ys, "latest": ys[-1]})


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3.0 document of this API."""
    return jsonify(openapi_document(request.script_root or "/"))


# -- OpenAPI ---------------------------------------------------------------------------------

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **more}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, description: str, schema: dict[str, Any], *, where: str = "query",
           required: bool = False, **more: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema, **more}


def _parameters() -> dict[str, dict[str, Any]]:
    return {
        "year": _param("year", "年度（默认：最近评价的年度）", {"type": "integer", "example": 2025}),
        "page": _param("page", "页码，从 1 开始", {"type": "integer", "minimum": 1, "default": 1}),
        "bbox": _param("bbox", "经纬度范围 西,南,东,北（EPSG:4326），只返回与之相交的要素",
                       {"type": "string", "example": "120.5,29.9,120.7,30.1"}),
        "level": _param("level", "排名层级", {"type": "string", "enum": list(service.LEVEL_VIEWS),
                                              "default": "enterprise"}),
        "by": _param("by", "排名字段：该层级的任一数值字段（默认：企业 score，平台 output_yi，其余 tax_per_mu）",
                     {"type": "string", "example": "tax_per_mu"}),
        "district": _param("district", "只看一个行政区（名称或代码）", {"type": "string", "example": "越城区"}),
        "industry": _param("industry", "只看行业代码以此开头的企业或地块", {"type": "string", "example": "17"}),
        "class": _param("class", "只看这些分类（A–D，可重复）",
                        {"type": "array", "items": {"type": "string", "enum": ["A", "B", "C", "D"]}},
                        style="form", explode=True),
        "asc": _param("asc", "1 = 从低到高（找末位），0 = 从高到低", {"type": "integer", "enum": [0, 1], "default": 0}),
    }


def _schemas() -> dict[str, dict[str, Any]]:
    number, string, integer = _nullable("number"), _nullable("string"), _nullable("integer")
    return {
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["status", "title", "message"],
                "properties": {"status": {"type": "integer"}, "title": {"type": "string"},
                               "message": {"type": "string", "description": "写给用户的中文说明"}},
            }},
        },
        "Geometry": {
            "type": "object", "required": ["type"], "description": "GeoJSON 几何（经纬度，EPSG:4326）",
            "properties": {
                "type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString",
                                                    "Polygon", "MultiPolygon", "GeometryCollection"]},
                "coordinates": {"type": "array", "items": {}},
                "geometries": {"type": "array", "items": {}},
            },
        },
        "Feature": {
            "type": "object", "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "string", "description": "宗地编号、园区/平台/行政区编号或建筑物编号"},
                "geometry": {"nullable": True, "allOf": [_ref("Geometry")]},
                "properties": {"type": "object", "nullable": True, "additionalProperties": True,
                               "description": "图层的全部字段（标准英文字段名）；带 color 参数时另有 _id、_color、_popup、_tooltip"},
            },
        },
        "FeatureCollection": {
            "type": "object",
            "required": ["type", "features", "numberMatched", "numberReturned", "page", "page_size", "year"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": _ref("Feature")},
                "numberMatched": {"type": "integer", "minimum": 0, "description": "符合条件的要素总数（各页相同）"},
                "numberReturned": {"type": "integer", "minimum": 0, "description": "本页要素数"},
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                "year": {"type": "integer"},
                "links": {"type": "array", "description": "self 和 next（还有下一页时）链接",
                          "items": {"type": "object", "required": ["href", "rel"],
                                    "properties": {"href": {"type": "string"}, "rel": {"type": "string"},
                                                   "type": {"type": "string"}}}},
            },
        },
        "RankingItem": {
            "type": "object", "required": ["rank", "year"], "additionalProperties": True,
            "description": "层级结果表的一行（标准英文字段名），另有 rank",
            "properties": {
                "rank": _nullable("integer", minimum=1, description="名次（并列同名次；缺失值为 null，排在最后）"),
                "year": {"type": "integer"},
                "credit_code": string, "parcel_id": string, "park_id": string, "platform_id": string,
                "district_id": string, "name": string, "holder_name": string, "district_name": string,
                "score": number, "class": _nullable("string", enum=["A", "B", "C", "D", None]),
                "tax_per_mu": number, "value_added_per_mu": number, "area_mu": number, "land_mu": number,
            },
        },
        "Ranking": {
            "type": "object",
            "required": ["year", "level", "by", "by_label", "ascending", "total", "page", "page_size", "items"],
            "properties": {
                "year": {"type": "integer"},
                "level": {"type": "string", "enum": list(service.LEVEL_VIEWS)},
                "by": {"type": "string"}, "by_label": {"type": "string", "description": "排名字段的中文名（含单位）"},
                "ascending": {"type": "boolean"},
                "total": {"type": "integer", "minimum": 0, "description": "筛选后的总条数"},
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                "items": {"type": "array", "items": _ref("RankingItem")},
            },
        },
        "Flag": {
            "type": "object", "required": ["kind", "kind_label", "rule", "reason"],
            "properties": {"kind": {"type": "string", "enum": ["idle", "inefficient", "noncompliant"]},
                           "kind_label": {"type": "string"}, "rule": string, "reason": string,
                           "value": number, "threshold": number},
        },
        "Compliance": {
            "type": "object", "required": ["indicator", "label", "status"],
            "properties": {"source": string, "rule_set": string, "indicator": {"type": "string"},
                           "label": {"type": "string"}, "measured": number, "op": string, "required": number,
                           "required_text": string, "status": {"type": "string"}, "passed": number},
        },
        "ParcelDetail": {
            "type": "object", "required": ["year", "parcel", "geometry", "flags", "compliance"],
            "properties": {
                "year": {"type": "integer"},
                "parcel": {"type": "object", "required": ["parcel_id", "area_mu"], "additionalProperties": True,
                           "properties": {"parcel_id": {"type": "string"}, "holder_code": string,
                                          "holder_name": string, "area_mu": number, "tax_per_mu": number,
                                          "value_added_per_mu": number, "plot_ratio": number,
                                          "class": string, "flags": string}},
                "geometry": {"nullable": True, "allOf": [_ref("Geometry")]},
                "flags": {"type": "array", "items": _ref("Flag")},
                "compliance": {"type": "array", "items": _ref("Compliance")},
            },
        },
        "EnterpriseYear": {
            "type": "object", "required": ["credit_code", "year"], "additionalProperties": True,
            "properties": {"credit_code": {"type": "string"}, "year": {"type": "integer"}, "name": string,
                           "land_mu": number, "tax_per_mu": number, "value_added_per_mu": number, "score": number,
                           "class": string, "rank_in_group": integer},
        },
        "EnterpriseHistory": {
            "type": "object", "required": ["credit_code", "name", "years", "items"],
            "properties": {"credit_code": {"type": "string"}, "name": string,
                           "years": {"type": "array", "items": {"type": "integer"}},
                           "items": {"type": "array", "items": _ref("EnterpriseYear")}},
        },
        "Years": {
            "type": "object", "required": ["years", "latest"],
            "properties": {"years": {"type": "array", "items": {"type": "integer"}}, "latest": {"type": "integer"}},
        },
        "Config": {
            "type": "object", "required": ["basemap", "max_embed_features", "parcel_min_zoom"],
            "properties": {"basemap": {"type": "string", "enum": ["none", "tianditu", "xyz"]},
                           "max_embed_features": {"type": "integer"}, "parcel_min_zoom": {"type": "integer"}},
        },
    }


def openapi_document(server: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.0 description of every route of this blueprint."""
    p = {name: {"$ref": f"#/components/parameters/{name}"} for name in _parameters()}
    errors = {"400": {"$ref": "#/components/responses/BadRequest"},
              "404": {"$ref": "#/components/responses/NotFound"}}

    def get(summary: str, ok: dict[str, Any], params: list[dict[str, Any]], description: str = "") -> dict:
        op = {"summary": summary, "parameters": params, "responses": {"200": ok, **errors}}
        if description:
            op["description"] = description
        return {"get": op}

    layer_names = list(LAYERS)
    paths = {
        "/api/layers/{name}": get(
            "图层（GeoJSON）", {"description": "要素集合，按 bbox 筛选并分页",
                              "content": {geojson.MEDIA_TYPE: {"schema": _ref("FeatureCollection")}}},
            [_param("name", "图层名", {"type": "string", "enum": layer_names}, where="path"), p["year"], p["bbox"],
             p["page"], _param("page_size", "每页要素数", {"type": "integer", "minimum": 1,
                                                        "maximum": MAX_PAGE_SIZE, "default": 1000}),
             _param("limit", "每页要素数（同 page_size，OGC 客户端的写法）",
                    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
             _param("color", "（仅 parcels）按此着色并附带本应用地图用的 _color、_popup、_tooltip",
                    {"type": "string", "enum": list(maps.COLOR_BY)})],
            "年度结果图层（buildings 不分年度）。坐标为经纬度（外环逆时针，保留 7 位小数），要素 id 为各自的编号；"
            "还有下一页时 links 中有 next 链接。经纬度顺序写反的 bbox 返回 400。未知图层返回 404。"
            "GIS 软件请用 OGC API – Features（/api/collections）。",
        ),
        "/api/rankings": get(
            "排名", _json(_ref("Ranking"), "筛选、排序后的一页排名"),
            [p["level"], p["by"], p["year"], p["district"], p["industry"], p["class"], p["asc"], p["page"],
             _param("page_size", "每页条数", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                            "default": current_app.config["RANKING_PAGE_SIZE"]})],
            "与排名页面和 mujun rank 相同的筛选和排序。",
        ),
        "/api/parcels/{parcel_id}": get(
            "地块详情", _json(_ref("ParcelDetail"), "地块某年度的结果、标记、指标核查和图形"),
            [_param("parcel_id", "宗地编号", {"type": "string"}, where="path"), p["year"]],
        ),
        "/api/enterprises/{code}": get(
            "企业各年度结果", _json(_ref("EnterpriseHistory"), "企业每个评价年度的结果，按年度升序"),
            [_param("code", "统一社会信用代码", {"type": "string"}, where="path")],
        ),
        "/api/years": get("已评价年度", _json(_ref("Years"), "已评价年度，升序"), []),
        "/api/config": get("地图设置", _json(_ref("Config"), "本应用地图使用的设置（不含密钥）"), []),
        "/api/openapi.json": get("本文档", _json({"type": "object"}, "OpenAPI 3.0 文档"), []),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "mujun 亩均论英雄 API", "version": "1",
                 "description": "工作空间中的图层和评价结果。字段名为标准英文字段名；缺失的数值为 null；"
                                "面积单位为亩，金额单位为万元（平台产值为亿元）。"},
        "servers": [{"url": server}],
        "paths": paths,
        # an access token (mujun token create, the 令牌 page), or a logged-in browser's session
        "security": [{"bearerToken": []}, {"basicToken": []}],
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "访问令牌（mujun token create 或“令牌”页面创建）"},
                "basicToken": {"type": "http", "scheme": "basic",
                               "description": "用户名 + 访问令牌（作为密码；不接受登录密码）"},
            },
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": {"BadRequest": _json(_ref("Error"), "请求参数有误"),
                          "NotFound": _json(_ref("Error"), "没有该图层、地块、企业或评价结果")},
        },
    }
