"""OGC API – Features over a workspace: the protocol, free of any web framework.

Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0), Part 2 (CRS by reference: CRS84, EPSG:4490 and the
CGCS2000 Gauss-Krüger zones of the data) and Part 3's queryables with property filters on
the main fields. :mod:`mujun.webapp.ogc` is the thin Flask adapter.

Collections: the source layers (``parcels``, ``buildings``, ``parks``, ``platforms``,
``districts``, the 工业产业单元 ``units`` and the land-use patches ``landuse``) and, per evaluated year, the evaluated parcels, zones and enterprises
(``parcels-2025``, ``parks-2025`` … ``enterprises-2025``, an enterprise's geometry being the
parcels it holds that year). Feature ids are the parcel, building, zone and enterprise ids
(统一社会信用代码).

A page is one SQL query on the GeoPackage, run by GDAL in a reader process
(:meth:`Workspace.select <mujun.layers.workspace.Workspace.select>`): ``fid > cursor … ORDER
BY fid LIMIT n``, with a bounding box through the layer's R-tree. Reading a million parcels
page by page through ``next`` links reads each row once and never holds more than a page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from mujun.geo.crs import gk_zone_epsg
from mujun.geo.errors import InputError
from mujun.layers import gpkg
from mujun.layers.schema import KINDS, label
from mujun.layers.workspace import Workspace, result_table, sql_literal
from mujun.webapp import geojson

__all__ = ["CONFORMANCE", "CRS84", "DEFAULT_LIMIT", "MAX_LIMIT", "Collection", "Page", "collection_document",
           "collections", "collections_document", "conformance_document", "crs_uri", "find", "item",
           "items", "landing_document", "openapi_document", "queryables_document"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
#: Features per page when ``limit`` is absent, and the most a page holds.
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]

JSON, HTML, OPENAPI = "application/json", "text/html", "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"

#: Source layer -> (Chinese title, id field), from the schema's kinds; the evaluated ones are
#: ``result_<level>`` per year.
_SOURCES = {name: (KINDS[name].label, KINDS[name].id_field)
            for name in ("parcels", "buildings", "parks", "platforms", "districts", "units", "landuse")}
_EVALUATED = {"parcels": "parcel", "parks": "park", "platforms": "platform", "districts": "district"}
#: Fields a collection can be filtered on (``?class=D&district_id=…``), those it has.
FILTERABLE = ("parcel_id", "building_id", "park_id", "platform_id", "district_id", "holder_code", "holder_name",
              "land_use", "land_class_code", "industry_code", "above_scale", "class", "idle", "inefficient",
              "noncompliant", "use", "level", "park_type", "name", "district_name", "lead_industry", "unit_id",
              "patch_id", "urban_code", "new_year")


def crs_uri(code: int | str) -> str:
    """The OGC URI of ``EPSG:code``, or of CRS84 for ``"CRS84"``."""
    return CRS84 if code == "CRS84" else f"{_EPSG}{code}"


@dataclass(frozen=True)
class Collection:
    """A feature collection: a workspace layer, all of it or one evaluated year."""

    id: str
    title: str
    table: str
    id_field: str
    year: int | None = None
    columns: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # (name, SQLite type)
    extent: tuple[float, float, float, float] | None = field(default=None, compare=False)
    geometry: str = "geom"
    #: (layer, its key, own key): the geometry is that of the layer's rows whose key is the
    #: row's own key (an enterprise's parcels), for a table without geometry.
    parts: tuple[str, str, str] | None = None
    #: The feature id column of the table (``OGC_FID`` in a view) and of the parts' layer.
    fid: str = "fid"
    part_fid: str = "fid"
    #: The R-tree of the layer whose geometry is shown (a view shows its source layer's, whose
    #: feature ids it carries); ``""`` for none (a snapshot): rows are then checked one by one.
    rtree: str | None = None

    @property
    def properties(self) -> list[str]:
        return [name for name, _ in self.columns]

    def crs(self) -> list[str]:
        """CRSs features can be asked for in: CRS84, EPSG:4490 and the GK zones the data spans
        (without and with the zone number before the easting)."""
        zones: list[int] = []
        if self.extent is not None:
            plain = sorted({int(z) for z in gk_zone_epsg([self.extent[0], self.extent[2]])})
            zones = [z for p in plain for z in (p, p - 21)]  # EPSG:4549 ↔ EPSG:4528 (zone-prefixed)
        return [CRS84, crs_uri(4490), *(crs_uri(z) for z in zones)]

    def where(self) -> list[str]:
        return [f"t.year = {int(self.year)}"] if self.year is not None else []

    def spatial(self, bbox: tuple[float, float, float, float]) -> str:
        """The SQL condition of rows whose bounding box meets ``bbox`` (the layer's R-tree)."""
        west, south, east, north = bbox
        table = self.parts[0] if self.parts else self.table
        name = self.rtree if self.rtree is not None else f"rtree_{table}_{self.geometry}"
        if not name:
            return "1"  # no spatial index: every row is read and checked (read_page)
        rtree = (f'SELECT id FROM "{name}" WHERE maxx >= {west!r} AND minx <= {east!r} '
                 f"AND maxy >= {south!r} AND miny <= {north!r}")
        if self.parts is None:
            return f't."{self.fid}" IN ({rtree})'
        layer, key, own = self.parts
        year = f"p.year = {int(self.year)} AND " if self.year is not None else ""
        return f't."{own}" IN (SELECT p."{key}" FROM "{layer}" p WHERE {year}p."{self.part_fid}" IN ({rtree}))'


def collections(ws: Workspace, years: list[int]) -> list[Collection]:
    """The collections the workspace holds: source layers, then each evaluated year's."""
    present = set(ws.layers())
    found = [(name, f"{title}（源数据）", name, id_field, None) for name, (title, id_field) in _SOURCES.items()]
    for year in years:
        for name, level in _EVALUATED.items():
            title, id_field = _SOURCES[name]
            found.append((f"{name}-{year}", f"{year} 年{title}评价结果", result_table(level), id_field, year))
    out = []
    meta = ws.meta() if any(t in gpkg.SHARED_GEOMETRY for _, _, t, _, _ in found) else {}
    for cid, title, table, id_field, year in found:
        if table not in present:
            continue
        shared = _shared(ws, meta, table, year, present)
        if shared is not None:  # figures alone: the year's view, with the outlines of its source layer
            view, rtree = shared
            columns, extent, geometry = _layout(ws, view)
            out.append(Collection(cid, title, view, id_field, year, columns, extent, geometry, fid="OGC_FID",
                                  rtree=rtree))
            continue
        columns, extent, geometry = _layout(ws, table)
        if geometry is None:
            continue
        out.append(Collection(cid, title, table, id_field, year, columns, extent, geometry))
    parcels, enterprises = result_table("parcel"), result_table("enterprise")
    if parcels in present and enterprises in present:
        columns = _layout(ws, enterprises)[0]
        for year in years:
            shared = _shared(ws, meta, parcels, year, present)
            layer, part_fid, rtree = (parcels, "fid", None) if shared is None else (shared[0], "OGC_FID", shared[1])
            _, extent, geometry = _layout(ws, layer)
            if geometry is None:
                continue
            out.append(Collection(f"enterprises-{year}", f"{year} 年企业评价结果（图形为其持有的宗地）", enterprises,
                                  "credit_code", year, columns, extent, geometry,
                                  parts=(layer, "holder_code", "credit_code"), part_fid=part_fid, rtree=rtree))
    return out


def _shared(ws: Workspace, meta: Mapping[str, str], table: str, year: int | None,
            present: set[str]) -> tuple[str, str] | None:
    """(the year's view, the R-tree of its source layer or ``""``) of a result table stored
    without geometry (:data:`gpkg.SHARED_GEOMETRY <mujun.layers.gpkg.SHARED_GEOMETRY>`);
    ``None`` for a table with its own geometry."""
    if table not in gpkg.SHARED_GEOMETRY or year is None:
        return None
    if ws.query("SELECT 1 FROM gpkg_geometry_columns WHERE table_name = ?", (table,)):
        return None  # written with its own outlines, before they were shared
    view = gpkg.year_view(table, year)
    if view not in present:
        return None
    source = gpkg.source_of(meta, table, year)
    geometry = ws.query("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (source,))
    rtree = f"rtree_{source}_{geometry[0][0]}" if geometry else ""
    if rtree and not ws.query("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)):
        rtree = ""
    return view, rtree


def find(available: list[Collection], collection_id: str) -> Collection:
    """The collection ``collection_id`` of ``available``; ``KeyError`` listing them if unknown."""
    for c in available:
        if c.id == collection_id:
            return c
    raise KeyError(f"没有要素集合 '{collection_id}'；可用：{'、'.join(c.id for c in available)}")


def _layout(ws: Workspace, table: str):
    """(columns but fid and geometry, CRS84 extent, geometry column) of a layer."""
    geometry = ws.query("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,))
    geom = str(geometry[0][0]) if geometry else None
    cols = tuple((str(r["name"]), str(r["type"]).upper()) for r in ws.query(f'PRAGMA table_info("{table}")')
                 if r["name"] not in ("fid", "OGC_FID", geom))
    row = ws.query("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (table,))
    extent = tuple(float(v) for v in row[0]) if row and None not in tuple(row[0]) else None
    return cols, extent, geom


# -- documents ---------------------------------------------------------------------------------

def _link(href: str, rel: str, kind: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": kind, "title": title}


def landing_document(base: str, *, title: str, extra_links: list[dict[str, str]] = ()) -> dict[str, Any]:
    """The landing page (``/api``): what the service offers, and where."""
    return {
        "title": title,
        "description": "亩均论英雄工作空间的图层和评价结果（OGC API – Features）。坐标默认为经纬度（CRS84），"
                       "可用 crs 参数改为 CGCS2000（EPSG:4490）或高斯-克吕格投影。",
        "links": [
            _link(f"{base}?f=json", "self", JSON, "本页（JSON）"),
            _link(f"{base}?f=html", "alternate", HTML, "本页（网页）"),
            _link(f"{base}/openapi?f=json", "service-desc", OPENAPI, "OGC API 的 OpenAPI 3.0 文档"),
            _link(f"{base}/openapi?f=html", "service-doc", HTML, "OGC API 说明（网页）"),
            _link(f"{base}/conformance?f=json", "conformance", JSON, "遵循的标准"),
            _link(f"{base}/collections?f=json", "data", JSON, "要素集合"),
            *extra_links,
        ],
    }


def conformance_document() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def collection_document(c: Collection, base: str) -> dict[str, Any]:
    """One collection's description: extent, CRSs and links to its items and queryables."""
    url = f"{base}/collections/{c.id}"
    doc: dict[str, Any] = {
        "id": c.id, "title": c.title,
        "description": f"{c.title}；要素编号为{label(c.id_field)}",
        "itemType": "feature",
        "crs": c.crs(),
        "storageCrs": crs_uri(4490),
        "links": [
            _link(f"{url}?f=json", "self", JSON, "本集合（JSON）"),
            _link(f"{url}?f=html", "alternate", HTML, "本集合（网页）"),
            _link(f"{url}/items?f=json", "items", geojson.MEDIA_TYPE, "要素（GeoJSON）"),
            _link(f"{url}/items?f=html", "items", HTML, "要素（网页）"),
            _link(f"{url}/queryables?f=json", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA,
                  "可筛选字段"),
        ],
    }
    if c.extent is not None:
        doc["extent"] = {"spatial": {"bbox": [list(c.extent)], "crs": CRS84}}
    if c.year is not None:
        doc["extent"] = {**doc.get("extent", {}),
                         "temporal": {"interval": [[f"{c.year}-01-01T00:00:00Z", f"{c.year}-12-31T23:59:59Z"]]}}
    return doc


def collections_document(cs: list[Collection], base: str) -> dict[str, Any]:
    return {
        "links": [_link(f"{base}/collections?f=json", "self", JSON, "要素集合（JSON）"),
                  _link(f"{base}/collections?f=html", "alternate", HTML, "要素集合（网页）")],
        "collections": [collection_document(c, base) for c in cs],
        "crs": sorted({u for c in cs for u in c.crs()}),
    }


def _json_type(sqlite_type: str) -> str:
    t = sqlite_type.upper()
    if t in ("INTEGER", "MEDIUMINT", "SMALLINT", "TINYINT"):
        return "integer"
    if t in ("REAL", "FLOAT", "DOUBLE"):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    return "string"


def filterable(c: Collection) -> list[str]:
    """Properties ``c`` can be filtered on."""
    return [f for f in FILTERABLE if f in c.properties]


def queryables_document(c: Collection, base: str) -> dict[str, Any]:
    """The collection's queryables (JSON Schema): the filterable fields with their Chinese titles."""
    types = dict(c.columns)
    props = {name: {"title": label(name), "type": _json_type(types[name])} for name in filterable(c)}
    for name in props:
        if types[name] in ("DATE", "DATETIME"):
            props[name]["format"] = "date" if types[name] == "DATE" else "date-time"
    return {"$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{base}/collections/{c.id}/queryables", "type": "object",
            "title": c.title, "properties": props, "additionalProperties": False}


def property_titles(c: Collection) -> dict[str, str]:
    """Every property's Chinese title (with unit)."""
    return {name: label(name) for name in c.properties}


# -- CRS ----------------------------------------------------------------------------------------

def _crs_code(text: str, c: Collection, name: str) -> str:
    """The CRS named by ``text`` (a URI of :meth:`Collection.crs`, or ``EPSG:n``/``CRS84``) as
    its URI; a 400 error naming the supported ones otherwise."""
    text = text.strip().strip("[]")
    supported = c.crs()
    if text.upper() in ("CRS84", "OGC:CRS84"):
        text = CRS84
    elif text.upper().startswith("EPSG:"):
        text = crs_uri(text[5:])
    if text not in supported:
        raise InputError(f"{name} 不支持 '{text}'；可用：{'、'.join(supported)}")
    return text


def _epsg(uri: str) -> int | None:
    return None if uri == CRS84 else int(uri.rsplit("/", 1)[1])


@lru_cache(maxsize=16)
def _crs(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


@lru_cache(maxsize=16)
def _to_output(code: int) -> Callable[[np.ndarray], np.ndarray]:
    """(n, 2) lon/lat → EPSG:``code`` in its own axis order (lat/lon, northing/easting)."""
    if code == 4490:
        return lambda c: c[:, ::-1].copy()
    tr = pyproj.Transformer.from_crs(4490, code, always_xy=False)  # in: lat, lon; out: EPSG's axis order

    def move(coords: np.ndarray) -> np.ndarray:
        a, b = tr.transform(coords[:, 1], coords[:, 0])
        return np.column_stack([a, b])

    return move


def _bbox(text: str, crs: str) -> tuple[float, float, float, float]:
    """The bounding box ``text`` (in ``crs``'s axis order) as CRS84 (west, south, east, north)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise InputError(f"bbox 应为 4 个数字（西,南,东,北），收到 '{text}'")
    a, b, c, d = values if len(values) == 4 else (values[0], values[1], values[3], values[4])
    code = _epsg(crs)
    if code is None:
        west, south, east, north = a, b, c, d
        check_lon_lat_order(west, south, east, north)
    elif code == 4490:  # EPSG:4490 is latitude first
        south, west, north, east = a, b, c, d
        check_lon_lat_order(west, south, east, north)
    else:
        tr = pyproj.Transformer.from_crs(code, 4490, always_xy=False)
        south, west, north, east = tr.transform_bounds(a, b, c, d)
    if not (south <= north):
        raise InputError(f"bbox 的南边界应不大于北边界，收到 '{text}'")
    return west, south, east, north


def check_lon_lat_order(west: float, south: float, east: float, north: float) -> None:
    """Refuse a longitude/latitude box that is impossible, most often one written latitude first.

    Examples
    --------
    >>> check_lon_lat_order(120.5, 29.9, 120.7, 30.1)
    >>> check_lon_lat_order(29.9, 120.5, 30.1, 120.7)
    Traceback (most recent call last):
    ...
    mujun.geo.errors.InputError: bbox 的纬度 120.5、120.7 超出 ±90°：是否把纬度写在了前面？应为 西,南,东,北（经度在前），如 bbox=120.5,29.9,120.7,30.1
    """
    if abs(south) > 90 or abs(north) > 90:
        raise InputError(f"bbox 的纬度 {south:g}、{north:g} 超出 ±90°：是否把纬度写在了前面？"
                         "应为 西,南,东,北（经度在前），如 bbox=120.5,29.9,120.7,30.1")
    if abs(west) > 180 or abs(east) > 180:
        raise InputError(f"bbox 的经度 {west:g}、{east:g} 超出 ±180°；应为 西,南,东,北（经度在前）")


# -- items ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    """The items request, checked: a page of ``limit`` features after the feature ``after``."""

    limit: int = DEFAULT_LIMIT
    after: int = 0
    bbox: tuple[float, float, float, float] | None = None
    crs: str = CRS84
    filters: tuple[tuple[str, Any], ...] = ()
    datetime: str | None = None
    #: the ``datetime`` asked for misses the collection's year: no feature matches
    outside: bool = False

    @classmethod
    def parse(cls, c: Collection, args: Mapping[str, str]) -> Query:
        """The query of the request arguments ``args`` on collection ``c``; a parameter the
        items operation does not define is refused (400), as OGC API – Features requires."""
        known = {"f", "limit", "after", "bbox", "bbox-crs", "crs", "datetime", *filterable(c)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise InputError(f"不支持的参数 {'、'.join(unknown)}；可用：{'、'.join(sorted(known))}")
        limit = integer_arg(args, "limit", DEFAULT_LIMIT)
        if limit < 1:
            raise InputError(f"limit 应为 1 到 {MAX_LIMIT} 之间的整数，收到 {limit}")
        after = integer_arg(args, "after", 0)
        crs = _crs_code(args["crs"], c, "crs") if args.get("crs") else CRS84
        box = None
        if args.get("bbox"):
            bbox_crs = _crs_code(args["bbox-crs"], c, "bbox-crs") if args.get("bbox-crs") else CRS84
            box = _bbox(args["bbox"], bbox_crs)
        elif args.get("bbox-crs"):
            raise InputError("bbox-crs 只能与 bbox 一起使用")
        types = dict(c.columns)
        filters = tuple((name, _value(name, types[name], args[name])) for name in filterable(c) if name in args)
        when = (args.get("datetime") or "").strip() or None
        meets = when is None or _meets_year(when, c.year or 1970)  # checked even where there is no year
        outside = c.year is not None and not meets
        return cls(min(limit, MAX_LIMIT), after, box, crs, filters, when, outside)

    def args(self, after: int | None = None, **more: str) -> dict[str, str]:
        """The request arguments of this query (``after``: of its next page)."""
        out: dict[str, str] = {}
        for name, value in self.filters:
            out[name] = "true" if value is True else "false" if value is False else str(value)
        if self.bbox is not None:
            out["bbox"] = ",".join(f"{v:.9g}" for v in self.bbox)
        if self.crs != CRS84:
            out["crs"] = self.crs
        if self.datetime is not None:
            out["datetime"] = self.datetime
        out["limit"] = str(self.limit)
        if after:
            out["after"] = str(after)
        return {**out, **more}


def _meets_year(text: str, year: int) -> bool:
    """Whether the ``datetime`` instant or interval ``text`` (``a/b``, ``..`` open) meets ``year``.

    Examples
    --------
    >>> _meets_year("2024-05-01", 2024), _meets_year("2023-01-01/2023-12-31", 2024)
    (True, False)
    >>> _meets_year("../2024-01-01T00:00:00Z", 2024), _meets_year("2025-01-01/..", 2024)
    (True, False)
    """
    def moment(part: str, default: pd.Timestamp) -> pd.Timestamp:
        if part in ("", ".."):
            return default
        try:
            moment = pd.Timestamp(part)
        except ValueError:
            raise InputError(f"datetime 应为 RFC 3339 日期时间或区间（如 2025-01-01/2025-12-31），收到 '{text}'") from None
        return moment.tz_convert(None) if moment.tzinfo else moment

    start, _, end = text.partition("/") if "/" in text else (text, "", text)
    first, last = moment(start, pd.Timestamp.min), moment(end, pd.Timestamp.max)
    if last < first:
        raise InputError(f"datetime 区间的结束早于开始：'{text}'")
    return first < pd.Timestamp(year + 1, 1, 1) and last >= pd.Timestamp(year, 1, 1)


def integer_arg(args: Mapping[str, str], name: str, default: int | None) -> int | None:
    """The integer query argument ``name`` of ``args`` (``default`` when empty); else InputError."""
    text = (args.get(name) or "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} 应为整数，收到 '{text}'") from None


def _value(name: str, sqlite_type: str, text: str) -> Any:
    kind = _json_type(sqlite_type)
    if kind == "boolean":
        if text.lower() in ("true", "1", "是"):
            return True
        if text.lower() in ("false", "0", "否"):
            return False
        raise InputError(f"{name}（{label(name)}）应为 true 或 false，收到 '{text}'")
    if kind in ("integer", "number"):
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            raise InputError(f"{name}（{label(name)}）应为数字，收到 '{text}'") from None
    return text


@dataclass
class Page:
    """One page of features with what its links need."""

    frame: pd.DataFrame
    next_after: int | None
    matched: int | None


def _conditions(c: Collection, q: Query) -> list[str]:
    out = c.where() + [f't."{name}" = {sql_literal(value)}' for name, value in q.filters]
    if q.outside:
        out.append("0")
    if q.bbox is not None:
        out.append(c.spatial(q.bbox))
    return out


def _with_parts(ws: Workspace, c: Collection, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """``frame`` (rows of a table without geometry) with the geometry of its parts: each row's
    parts (an enterprise's parcels) as one MultiPolygon, ``None`` if it has none."""
    layer, key, own = c.parts
    codes = frame[own].dropna().astype(str).drop_duplicates()
    geometry = np.empty(len(frame), dtype=object)
    if len(codes):
        listed = ",".join(("'" + codes.str.replace("'", "''") + "'").tolist())
        year = f"t.year = {int(c.year)} AND " if c.year is not None else ""
        parts = ws.select(f'SELECT t."{key}" AS mujun_key, t."{c.geometry}" FROM "{layer}" t '
                          f'WHERE {year}t."{key}" IN ({listed}) ORDER BY t."{c.part_fid}"')
        polygons, which = shapely.get_parts(np.asarray(parts.geometry.values, dtype=object), return_index=True)
        position = pd.Index(frame[own].astype(str)).get_indexer(parts["mujun_key"].astype(str).to_numpy()[which])
        order = np.argsort(position, kind="stable")
        shapely.multipolygons(polygons[order], indices=position[order], out=geometry)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4490")


@lru_cache(maxsize=256)
def _count(path: str, generation: str, sql: str) -> int:
    return int(Workspace(path).query(sql)[0][0])


def read_page(ws: Workspace, c: Collection, q: Query) -> Page:
    """The page of ``q``: at most ``q.limit`` features with fid above ``q.after``, in fid order.

    One SQL query reads ``limit + 1`` rows (the extra one says whether another page follows);
    with a bounding box the rows come from the R-tree and are then checked for intersection.
    ``matched`` is counted (once per workspace generation) unless a bounding box is given.
    """
    conditions = _conditions(c, q)
    where = " AND ".join(conditions) if conditions else "1"
    fid = f't."{c.fid}"'
    sql = (f'SELECT {fid} AS mujun_fid, t.* FROM "{c.table}" t WHERE {where} AND {fid} > {int(q.after)} '
           f"ORDER BY {fid} LIMIT {q.limit + 1}")
    frame = ws.select(sql)
    more = len(frame) > q.limit
    frame = frame.iloc[: q.limit]
    if c.parts is not None:
        frame = _with_parts(ws, c, frame)
    next_after = int(frame["mujun_fid"].iloc[-1]) if more else None
    matched = None
    if q.bbox is not None:
        keep = shapely.intersects(np.asarray(frame.geometry.values, dtype=object), shapely.box(*q.bbox))
        frame = frame[keep]
    else:
        matched = _count(str(ws.path), ws.generation(), f'SELECT count(*) FROM "{c.table}" t WHERE {where}')
    return Page(frame, next_after, matched)


def _options(c: Collection, crs: str) -> dict[str, Any]:
    """What :func:`geojson.feature_texts` needs to write ``c``'s features in ``crs``."""
    code = _epsg(crs)
    return {"properties": c.properties, "transform": None if code is None else _to_output(code),
            "precision": geojson.DEGREE_DECIMALS if code is None else geojson.decimals(_crs(code))}


def items(ws: Workspace, c: Collection, q: Query, base: str, *, stamp: str
          ) -> tuple[Iterator[bytes], dict[str, str], Page]:
    """The GeoJSON of the page of ``q`` (UTF-8 chunks), its headers (``Content-Crs``) and the page."""
    page = read_page(ws, c, q)
    url = f"{base}/collections/{c.id}/items"
    links = [_link(f"{url}?{urlencode(q.args(q.after or None, f='json'))}", "self", geojson.MEDIA_TYPE, "本页"),
             _link(f"{url}?{urlencode(q.args(q.after or None, f='html'))}", "alternate", HTML, "本页（网页）"),
             _link(f"{base}/collections/{c.id}?f=json", "collection", JSON, c.title)]
    if page.next_after is not None:
        links.append(_link(f"{url}?{urlencode(q.args(page.next_after, f='json'))}", "next", geojson.MEDIA_TYPE,
                           "下一页"))
    members: dict[str, Any] = {"timeStamp": stamp}
    if page.matched is not None:
        members["numberMatched"] = page.matched
    members.update({"numberReturned": len(page.frame), "links": links})
    chunks = geojson.stream(page.frame, page.frame[c.id_field], members, **_options(c, q.crs))
    return chunks, {"Content-Crs": f"<{q.crs}>"}, page


def item(ws: Workspace, c: Collection, fid: str, args: Mapping[str, str], base: str) -> tuple[str, dict[str, str]]:
    """One feature by its id (parcel, building or zone id); ``KeyError`` if there is none."""
    crs = _crs_code(args["crs"], c, "crs") if args.get("crs") else CRS84
    conditions = [*c.where(), f't."{c.id_field}" = {sql_literal(fid)}']
    frame = ws.select(f'SELECT t.* FROM "{c.table}" t WHERE {" AND ".join(conditions)} ORDER BY t."{c.fid}" LIMIT 1')
    if frame.empty:
        raise KeyError(f"要素集合 '{c.id}' 中没有编号为 '{fid}' 的要素")
    if c.parts is not None:
        frame = _with_parts(ws, c, frame)
    url = f"{base}/collections/{c.id}/items/{fid}"
    text = geojson.feature_texts(frame, frame[c.id_field], **_options(c, crs)).iloc[0]
    links = [_link(f"{url}?f=json", "self", geojson.MEDIA_TYPE, "本要素"),
             _link(f"{url}?f=html", "alternate", HTML, "本要素（网页）"),
             _link(f"{base}/collections/{c.id}?f=json", "collection", JSON, c.title)]
    return text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}", {"Content-Crs": f"<{crs}>"}


# -- OpenAPI -------------------------------------------------------------------------------------

def openapi_document(base: str, server: str, cs: list[Collection]) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the OGC API routes."""
    ids = [c.id for c in cs]

    def ok(kind: str, description: str, schema: dict | None = None) -> dict[str, Any]:
        return {"description": description, "content": {kind: {"schema": schema or {"type": "object"}},
                                                         HTML: {"schema": {"type": "string"}}}}

    def param(name: str, description: str, schema: dict[str, Any], where: str = "query", **more: Any) -> dict:
        return {"name": name, "in": where, "required": where == "path", "description": description,
                "schema": schema, **more}

    f = param("f", "格式：json 或 html（默认按 Accept 头）", {"type": "string", "enum": ["json", "html"]})
    collection_id = param("collectionId", "要素集合编号", {"type": "string", "enum": ids}, "path")
    crs_values = sorted({u for c in cs for u in c.crs()})
    crs = param("crs", "输出坐标系（默认 CRS84 经纬度）", {"type": "string", "format": "uri", "enum": crs_values})
    errors = {"400": {"description": "请求参数有误"}, "404": {"description": "没有该集合或要素"}}
    filters = sorted({name for c in cs for name in filterable(c)})

    def get(summary: str, params: list[dict], response: dict, op_id: str) -> dict[str, Any]:
        return {"get": {"summary": summary, "operationId": op_id, "parameters": params,
                        "responses": {"200": response, **errors}}}

    items_params = [
        collection_id, f,
        param("limit", f"每页要素数（最多 {MAX_LIMIT}）", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                                     "default": DEFAULT_LIMIT}, style="form", explode=False),
        param("bbox", "范围：西,南,东,北（bbox-crs 的轴序；默认 CRS84 经度在前）",
              {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, style="form",
              explode=False),
        param("bbox-crs", "bbox 的坐标系", {"type": "string", "format": "uri", "enum": crs_values}),
        crs,
        param("after", "翻页位置（由 next 链接给出）", {"type": "integer", "minimum": 0}),
        param("datetime", "时间或区间（RFC 3339，如 2025-01-01/2025-12-31）：年度集合只在与其年度相交时有要素；"
                          "源数据图层没有时间，不受影响", {"type": "string"}, style="form", explode=False),
        *(param(name, f"只要 {label(name)} 等于此值的要素", {"type": "string"}) for name in filters),
    ]
    paths = {
        "/api": get("首页", [f], ok(JSON, "服务首页和链接"), "getLandingPage"),
        "/api/conformance": get("遵循的标准", [f], ok(JSON, "conformsTo 列表"), "getConformanceDeclaration"),
        "/api/collections": get("要素集合", [f], ok(JSON, "全部要素集合"), "getCollections"),
        "/api/collections/{collectionId}": get("要素集合说明", [collection_id, f], ok(JSON, "范围、坐标系和链接"),
                                               "describeCollection"),
        "/api/collections/{collectionId}/queryables": get("可筛选字段", [collection_id, f],
                                                          ok(SCHEMA, "JSON Schema"), "getQueryables"),
        "/api/collections/{collectionId}/items": get(
            "要素", items_params, ok(geojson.MEDIA_TYPE, "一页要素（GeoJSON FeatureCollection），有 next 链接时还有下一页"),
            "getFeatures"),
        "/api/collections/{collectionId}/items/{featureId}": get(
            "单个要素", [collection_id, param("featureId", "要素编号（宗地编号、建筑物编号、园区/平台/行政区编号或统一社会信用代码）",
                                          {"type": "string"}, "path"), f, crs],
            ok(geojson.MEDIA_TYPE, "GeoJSON Feature"), "getFeature"),
        "/api/openapi": get("本文档", [f], ok(OPENAPI, "OpenAPI 3.0 文档"), "getOpenAPI"),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "mujun 亩均论英雄 OGC API – Features", "version": "1",
                 "description": "工作空间的图层和评价结果（OGC API – Features 第 1、2 部分）。本应用的其他接口见 "
                                f"{base}/openapi.json。"},
        "servers": [{"url": server}],
        "paths": paths,
    }
