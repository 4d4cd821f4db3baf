"""OGC API – Features under /api: the landing page, conformance, collections, queryables,
items and the OpenAPI document, as JSON (GeoJSON for features) or HTML (``f=html``, or a
browser's ``Accept``). The protocol is :mod:`mujun.webapp.ogcapi`; this module parses the
request and renders. Access control is the app's, as for every route under /api.

QGIS adds a collection as a layer (图层 → 添加图层 → 添加 WFS/OGC API – Features 图层, URL
``http://host/api``); GDAL reads ``OAPIF:http://host/api``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for

from mujun.layers.workspace import Workspace, missing_workspace
from mujun.webapp import geojson, ogcapi
from mujun.webapp.data import results

__all__ = ["bp"]

bp = Blueprint("ogc", __name__, url_prefix="/api")


@lru_cache(maxsize=8)
def _collections(path: str, generation: str, years: tuple[int, ...]) -> list[ogcapi.Collection]:
    return ogcapi.collections(Workspace(path), list(years))


def _years(ws: Workspace) -> list[int]:
    """The evaluated years (none before the first evaluation: the source layers are served)."""
    text = ws.meta().get("evaluated_years", "")
    return [int(y) for y in text.split(",") if y.strip()]


def _state() -> tuple[Workspace, list[ogcapi.Collection]]:
    ws = results().ws
    if not ws.exists():
        raise missing_workspace(ws.path)
    return ws, _collections(str(ws.path), ws.generation(), tuple(_years(ws)))


def _collection(collection_id: str) -> tuple[Workspace, ogcapi.Collection]:
    ws, cs = _state()
    try:
        return ws, ogcapi.find(cs, collection_id)
    except KeyError as err:
        abort(404, description=err.args[0])


def _base() -> str:
    return url_for("ogc.landing", _external=True).rstrip("/")


def _html() -> bool:
    """Whether to answer HTML: ``f=html``, or no ``f`` and an ``Accept`` that prefers it."""
    f = request.args.get("f", "").lower()
    if f in ("json", "geojson"):
        return False
    if f == "html":
        return True
    if f:
        abort(400, description=f"不支持的格式 f={f}；可用：json、html")
    best = request.accept_mimetypes.best_match(["application/json", "application/geo+json", "text/html"])
    return best == "text/html"


def _json(doc: Any, mimetype: str = ogcapi.JSON, headers: dict[str, str] | None = None) -> Response:
    text = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
    return Response(text, mimetype=mimetype, headers=headers or {})


def _page(kind: str, title: str, **context: Any) -> str:
    return render_template("ogc.html", kind=kind, title=title, api_base=_base(), **context)


@bp.route("", strict_slashes=False)
def landing():
    """The landing page."""
    base = _base()
    ws, _ = _state()
    tilejson = [{"href": url_for("tiles.tilejson", year=year, indicator="tax_per_mu", _external=True),
                 "rel": "describedby", "type": "application/json", "title": f"{year} 年地块瓦片（XYZ，TileJSON）"}
                for year in _years(ws)]
    other = [{"href": url_for("api.openapi", _external=True), "rel": "describedby", "type": "application/json",
              "title": "本应用其他接口（图层、排名、地块详情）的 OpenAPI 3.0 文档"}]
    doc = ogcapi.landing_document(base, title="mujun 亩均论英雄 OGC API – Features", extra_links=other + tilejson)
    if _html():
        return _page("landing", doc["title"], doc=doc)
    return _json(doc)


@bp.route("/conformance")
def conformance():
    doc = ogcapi.conformance_document()
    if _html():
        return _page("conformance", "遵循的标准", doc=doc)
    return _json(doc)


@bp.route("/collections")
def collections():
    _, cs = _state()
    doc = ogcapi.collections_document(cs, _base())
    if _html():
        return _page("collections", "要素集合", doc=doc)
    return _json(doc)


@bp.route("/collections/<collection_id>")
def collection(collection_id: str):
    _, c = _collection(collection_id)
    doc = ogcapi.collection_document(c, _base())
    if _html():
        queryables = ogcapi.queryables_document(c, _base())["properties"]
        return _page("collection", c.title, doc=doc, queryables=queryables, titles=ogcapi.property_titles(c))
    return _json(doc)


@bp.route("/collections/<collection_id>/queryables")
def queryables(collection_id: str):
    _, c = _collection(collection_id)
    doc = ogcapi.queryables_document(c, _base())
    if _html():
        return _page("queryables", f"{c.title} · 可筛选字段", doc=doc, collection=c)
    return _json(doc, ogcapi.SCHEMA)


@bp.route("/collections/<collection_id>/items")
def items(collection_id: str):
    ws, c = _collection(collection_id)
    html = _html()
    q = ogcapi.Query.parse(c, request.args)
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    chunks, headers, _ = ogcapi.items(ws, c, q, _base(), stamp=stamp)
    if html:
        doc = json.loads(b"".join(chunks))
        return _page("items", c.title, doc=doc, collection=c, titles=ogcapi.property_titles(c),
                     data_url=next(link["href"] for link in doc["links"] if link["rel"] == "self"))
    # streamed a thousand features at a time: the page is read, only its text is written as it goes
    return Response(chunks, mimetype=geojson.MEDIA_TYPE, headers=headers)


@bp.route("/collections/<collection_id>/items/<path:feature_id>")
def feature(collection_id: str, feature_id: str):
    ws, c = _collection(collection_id)
    html = _html()
    try:
        text, headers = ogcapi.item(ws, c, feature_id, request.args, _base())
    except KeyError as err:
        abort(404, description=err.args[0])
    if html:
        doc = json.loads(text)
        return _page("item", f"{c.title} · {feature_id}", doc=doc, collection=c,
                     titles=ogcapi.property_titles(c),
                     data_url=next(link["href"] for link in doc["links"] if link["rel"] == "self"))
    return _json(text, geojson.MEDIA_TYPE, headers)


@bp.route("/openapi")
def openapi():
    _, cs = _state()
    doc = ogcapi.openapi_document(_base(), request.script_root or "/", cs)
    if _html():
        return _page("openapi", "OGC API 说明", doc=doc)
    return _json(doc, ogcapi.OPENAPI)
