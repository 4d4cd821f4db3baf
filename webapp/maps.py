"""Every map of the web app is built here, with Folium.

Leaflet comes from the XStatic package served by the app and our own ``mujun-map.js`` draws
the data layers: their popups and tooltips are HTML escaped on the server, so a data string
such as ``<img src=x onerror=alert(1)>`` shows as text. Large parcel layers are never
embedded: past ``MAX_EMBED_FEATURES`` they load by bounding box from the API as the map
moves. Every label and unit comes from the schema (fields), :mod:`mujun.geo.rules` (classes)
and :mod:`mujun.geo.flags` (flag kinds); the script gets its texts from here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from flask import url_for
from jinja2 import Template
from markupsafe import Markup

from mujun.geo.flags import FLAG_KINDS
from mujun.geo.rules import CLASSES
from mujun.webapp import geojson
from mujun.webapp.assets import asset_url
from mujun.webapp.data import results
from mujun.webapp.formatting import field_label, heading, num, unit
from mujun.webapp.headers import csp_nonce

__all__ = [
    "CLASS_COLORS",
    "COLOR_BY",
    "FLAG_COLORS",
    "BboxLayer",
    "DataLayer",
    "ParcelTileLayer",
    "STAGE_COLORS",
    "base_map",
    "breaks",
    "feature_collection",
    "ledger_map",
    "legend",
    "linked_parcel_popups",
    "parcel_features",
    "parcel_layer",
    "parcel_tiles",
    "redline_map",
    "render",
    "styled_parcels",
    "zone_layers",
]

RAMP = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837")
NO_DATA = "#d9d9d9"
CLASS_COLORS = dict(zip(CLASSES, ("#1a9850", "#91cf60", "#fc8d59", "#d73027"), strict=True))
#: Flag kind (:data:`mujun.geo.flags.FLAG_KINDS`) -> colour; where a parcel has several, the
#: first in this order wins.
FLAG_COLORS = {"idle": "#7b3294", "inefficient": "#e66101", "noncompliant": "#fdb863"}
#: 腾笼换鸟 stage (:data:`mujun.geo.ledger.STAGES`) -> colour, from taken back to yielding again.
STAGE_COLORS = {"decided": "#d73027", "recovered": "#fc8d59", "supplied": "#91bfdb", "yielding": "#1a9850"}

#: Map colouring choices: field -> (label, unit, kind), labelled by the schema.
COLOR_BY: dict[str, tuple[str, str, str]] = {
    name: (field_label(name), unit(name), kind)
    for name, kind in (("tax_per_mu", "numeric"), ("value_added_per_mu", "numeric"), ("plot_ratio", "numeric"),
                       ("class", "class"), ("flags", "flags"))
}
#: The zones drawn on every overview map: level -> (layer name, id field, page endpoint, colour, dash)
ZONES = (
    ("district", "行政区", "district_id", "details.district", "#636363", None),
    ("park", "园区", "park_id", "details.park", "#3182bd", None),
    ("platform", "万亩千亿平台", "platform_id", "details.platform", "#d6604d", "6 4"),
)
#: What the bounding-box parcel layer writes under the map ({matched}, {returned} filled in by the script).
BBOX_TEXTS = {
    "partial": "本视图共 {matched} 宗地块，已显示 {returned} 宗；请放大查看全部",
    "all": "本视图 {returned} 宗地块",
    "failed": "地块加载失败",
}

_ESC = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;"))


def esc(values: pd.Series) -> pd.Series:
    """HTML-escape a column of values (missing values become "—"), vectorised."""
    out = values.astype("string").fillna("—")
    for a, b in _ESC:
        out = out.str.replace(a, b, regex=False)
    return out


def zone_figures(level: str) -> list[str]:
    """Fields a zone's popup shows."""
    return ["tax_per_mu", "value_added_per_mu", "area_mu"] + (["output_yi"] if level == "platform" else [])


class _Script(MacroElement):
    """A snippet of script rendered with the map (``this.map`` is the Leaflet map name)."""

    def __init__(self, template: str, **values: Any):
        super().__init__()
        self._name = "MujunScript"
        self.values = values
        self._template = Template("{% macro script(this, kwargs) %}" + template + "{% endmacro %}")


class DataLayer(folium.map.Layer):
    """A GeoJSON layer drawn by ``mujun.dataLayer`` (escaped popups, per-feature colours)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = mujun.dataLayer({{ this.data|tojson }}, {{ this.options|tojson }});
        {% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
        window.mujunLayers = window.mujunLayers || {};
        window.mujunLayers[{{ this.layer_name|tojson }}] = {{ this.get_name() }};
        {% endmacro %}"""
    )

    def __init__(self, data: Mapping, name: str, *, show: bool = True, **options: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "MujunDataLayer"
        self.data = data
        self.options = options


class BboxLayer(folium.map.Layer):
    """Parcels fetched from the API for the current view (``mujun.bboxLayer``)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = mujun.bboxLayer({{ this._parent.get_name() }}, {{ this.url|tojson }},
            {{ this.options|tojson }});
        {% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
        window.mujunLayers = window.mujunLayers || {};
        window.mujunLayers[{{ this.layer_name|tojson }}] = {{ this.get_name() }};
        {% endmacro %}"""
    )

    def __init__(self, url: str, name: str, *, show: bool = True, **options: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "MujunBboxLayer"
        self.url = url
        self.options = options


def base_map(bounds: tuple[float, float, float, float] | np.ndarray, config: Mapping[str, Any]) -> folium.Map:
    """A map fitted to ``bounds`` (lon/lat) with the configured basemap and local assets."""
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False, zoom_snap=0.5)
    m.default_js = [("leaflet", asset_url("leaflet", "leaflet.js")),
                    ("mujun_map", url_for("static", filename="mujun-map.js"))]
    m.default_css = [("leaflet_css", asset_url("leaflet", "leaflet.css"))]
    kind = config.get("BASEMAP", "none")
    if kind == "tianditu" and config.get("TIANDITU_TOKEN"):
        token = config["TIANDITU_TOKEN"]
        for layer, name in (("vec", "天地图矢量"), ("cva", "天地图注记")):
            folium.TileLayer(
                tiles=(f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                       f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                       f"&TILECOL={{x}}&tk={token}"),
                attr="天地图", name=name, subdomains="01234567", overlay=layer == "cva", max_zoom=18,
            ).add_to(m)
    elif kind == "xyz" and config.get("BASEMAP_URL"):
        folium.TileLayer(tiles=config["BASEMAP_URL"], attr=config.get("BASEMAP_ATTRIBUTION") or "底图",
                         name="底图", max_zoom=20).add_to(m)
    w, s, e, n = (float(v) for v in bounds)
    if np.all(np.isfinite([w, s, e, n])):
        m.fit_bounds([[s, w], [n, e]])
    _Script("window.mujunMap = {{ this._parent.get_name() }};").add_to(m)
    return m


def breaks(values: pd.Series, k: int = 5) -> list[float]:
    """Upper bounds of ``k`` quantile classes, fewer if values repeat: the bins of
    ``mapclassify.Quantiles`` (to the last bits of a float).

    The bins are NumPy's percentiles (linear interpolation: what ``scipy.stats.scoreatpercentile``
    gives mapclassify), so a server's first /map does not import mapclassify and with it
    scipy.stats (1.5 s), nor compute the fit statistics it has no use for (0.4 s at a million
    parcels); a test holds them equal to mapclassify's.

    Examples
    --------
    >>> breaks(pd.Series(range(1000)), k=4)
    [249.75, 499.5, 749.25, 999.0]
    """
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0:
        return []
    k = max(1, min(k, len(np.unique(v))))
    if k == 1:
        return [float(v.max())]
    w = 100.0 / k
    pcts = np.arange(w, 100 + w, w)  # as mapclassify steps them (float steps can give one more)
    pcts[-1] = min(pcts[-1], 100.0)
    return [float(b) for b in np.unique(np.percentile(v, pcts, method="linear"))]


def colors_for(values: pd.Series, bins: list[float]) -> pd.Series:
    """Colour of each value by its class in ``bins`` (grey where missing)."""
    v = pd.to_numeric(values, errors="coerce")
    ramp = np.array(RAMP if len(bins) == len(RAMP) else [RAMP[int(i)] for i in np.linspace(0, 4, max(len(bins), 1))])
    idx = np.clip(np.searchsorted(np.asarray(bins), v.to_numpy(), side="left"), 0, max(len(bins) - 1, 0))
    out = pd.Series(ramp[idx] if len(bins) else NO_DATA, index=values.index, dtype="object")
    return out.where(v.notna(), NO_DATA)


def styled_parcels(parcels: pd.DataFrame, color_by: str, bins: list[float] | None = None) -> pd.Series:
    """Fill colour of each parcel for the colouring ``color_by`` (see :data:`COLOR_BY`)."""
    kind = COLOR_BY[color_by][2]
    if kind == "class":
        return parcels["class"].map(CLASS_COLORS).fillna(NO_DATA) if "class" in parcels.columns else \
            pd.Series(NO_DATA, index=parcels.index)
    if kind == "flags":
        text = parcels["flags"].astype("string").fillna("") if "flags" in parcels.columns else \
            pd.Series("", index=parcels.index)
        out = pd.Series(NO_DATA, index=parcels.index, dtype="object")
        for kind in reversed(list(FLAG_COLORS)):  # the first flag in this order wins
            out[text.str.contains(FLAG_KINDS[kind])] = FLAG_COLORS[kind]
        return out
    return colors_for(parcels[color_by], bins if bins is not None else breaks(parcels[color_by]))


def legend(m: folium.Map, color_by: str, bins: list[float]) -> None:
    """A legend for the parcel colouring, bottom right."""
    kind = COLOR_BY[color_by][2]
    title = heading(color_by)
    rows: list[tuple[str, str]] = []
    if kind == "class":
        rows = [(c, f"{k} 类") for k, c in CLASS_COLORS.items()]
    elif kind == "flags":
        rows = [(c, FLAG_KINDS[k]) for k, c in FLAG_COLORS.items()]
    else:
        lower = None
        for b, c in zip(bins, RAMP if len(bins) == len(RAMP) else RAMP[: len(bins)], strict=False):
            rows.append((c, f"{'≤' if lower is None else f'{lower:,.2f} –'} {b:,.2f}"))
            lower = b
    rows.append((NO_DATA, "无数据"))
    html = f"<b>{title}</b><br>" + "<br>".join(f'<i style="background:{c}"></i>{t}' for c, t in rows)
    _legend_control(m, html)


def _legend_control(m: folium.Map, html: str) -> None:
    """A legend box bottom right holding ``html`` (built here from labels, never from data)."""
    _Script(
        """var legend = L.control({position: "bottomright"});
        legend.onAdd = function () { var d = L.DomUtil.create("div", "mujun-legend");
          d.innerHTML = {{ this.values.html|tojson }}; return d; };
        legend.addTo({{ this._parent.get_name() }});""",
        html=html,
    ).add_to(m)


def feature_collection(frame: gpd.GeoDataFrame, *, popup: pd.Series | None = None, tooltip: pd.Series | None = None,
                       color: pd.Series | None = None, ids: pd.Series | None = None,
                       extra: list[str] | None = None, feature_ids: pd.Series | None = None) -> dict:
    """GeoJSON of ``frame`` with the private properties ``mujun-map.js`` reads, written as
    :mod:`mujun.webapp.geojson` writes it (RFC 7946 ring order, coordinates to 1e-7°); each
    feature's ``id`` is ``feature_ids``, else ``ids``."""
    props = pd.DataFrame(index=frame.index)
    if ids is not None:
        props["_id"] = ids.astype("string")
    if popup is not None:
        props["_popup"] = popup
    if tooltip is not None:
        props["_tooltip"] = tooltip
    if color is not None:
        props["_color"] = color
    for col in extra or []:
        props[col] = frame[col]
    gdf = gpd.GeoDataFrame(props, geometry=frame.geometry.to_crs(4326).values, crs=4326)
    fids = feature_ids if feature_ids is not None else ids
    texts = geojson.feature_texts(gdf, fids, properties=list(props.columns))
    return json.loads(geojson.features_text(texts, {}))


def zone_layer(m: folium.Map, zones: gpd.GeoDataFrame, name: str, *, id_field: str, link: Callable[[str], str],
               figures: list[str] | None = None, color: str = "#3182bd", show: bool = True,
               fill_opacity: float = 0.08, dash: str | None = None) -> DataLayer:
    """Districts, parks or platforms as outlines with a name tooltip and a popup with the
    ``figures`` (canonical fields, labelled by the schema)."""
    ids = zones[id_field].astype("string")
    title = esc(zones["name"])
    popup = "<b>" + title + "</b>"
    for col in figures or []:
        if col in zones.columns:
            popup = popup + "<br>" + field_label(col) + "：" + num(zones[col]) + (f" {unit(col)}" if unit(col) else "")
    hrefs = ids.map(lambda i: link(i))
    popup = popup + '<br><a href="' + esc(hrefs) + '">查看详情 →</a>'
    data = feature_collection(zones, popup=popup, tooltip=title, ids=ids)
    layer = DataLayer(data, name, show=show, stroke=color, fill=color, fillOpacity=fill_opacity, weight=2,
                      dashArray=dash)
    layer.layer_name = name
    layer.add_to(m)
    return layer


def parcel_popups(parcels: pd.DataFrame, link_parcel: Callable[[str], str],
                  link_enterprise: Callable[[str], str]) -> tuple[pd.Series, pd.Series]:
    """(popup HTML, tooltip HTML) of each parcel, every data string escaped."""
    pid = esc(parcels["parcel_id"])
    holder = esc(parcels.get("holder_name", pd.Series(pd.NA, index=parcels.index)))
    codes = parcels.get("holder_code", pd.Series(pd.NA, index=parcels.index)).astype("string")
    holder_link = pd.Series(
        np.where(codes.notna(), '<a href="' + esc(codes.map(lambda c: link_enterprise(c), na_action="ignore")) + '">'
                 + holder + "</a>", holder),
        index=parcels.index, dtype="string")
    rows = [
        ("parcel_id", pid),
        ("holder_name", holder_link),
        ("district_name", esc(parcels.get("district_name", pd.Series(pd.NA, index=parcels.index)))),
        ("park_name", esc(parcels.get("park_name", pd.Series(pd.NA, index=parcels.index)))),
        ("area_mu", num(parcels["area_mu"]) + f" {unit('area_mu')}"),
    ]
    for col in ("tax_per_mu", "value_added_per_mu", "plot_ratio"):
        if col in parcels.columns:
            rows.append((col, num(parcels[col]) + (f" {unit(col)}" if unit(col) else "")))
    for col in ("class", "flags"):
        if col in parcels.columns:
            rows.append((col, esc(parcels[col])))
    popup = pd.Series('<table class="table table-sm mb-1">', index=parcels.index, dtype="string")
    for col, values in rows:
        popup = popup + "<tr><th>" + field_label(col) + "</th><td>" + values + "</td></tr>"
    hrefs = esc(parcels["parcel_id"].astype("string").map(lambda i: link_parcel(i)))
    popup = popup + '</table><a class="mujun-parcel-link" href="' + hrefs + '">查看地块 →</a>'
    tooltip = pid + "<br>" + holder
    return popup, tooltip


def render(m: folium.Map) -> dict[str, Markup]:
    """The parts of a map for a page template: ``header`` (assets, styles), ``html`` and ``script``.

    Folium's inline ``<script>`` elements carry the response's CSP nonce; ``script`` is the
    body of one more, which the page template wraps with that nonce.
    """
    fig = m.get_root()
    fig.render()
    nonced = f'<script nonce="{csp_nonce()}">'  # Folium writes its inline scripts without attributes
    return {
        "header": Markup(fig.header.render().replace("<script>", nonced)),
        "html": Markup(fig.html.render().replace("<script>", nonced)),
        "script": Markup(fig.script.render()),
    }


def parcel_layer(m: folium.Map, parcels: gpd.GeoDataFrame | int, *, color_by: str, bins: list[float], limit: int,
                 bbox_url: str, name: str = "地块", min_zoom: int = 0, note_id: str | None = None,
                 zoom_hint: str | None = None, **style: Any) -> folium.map.Layer:
    """Parcels coloured by ``color_by``: embedded up to ``limit`` features, else loaded from
    ``bbox_url`` (the API) for the current view. ``parcels`` may be just their number when
    there are more than ``limit`` (nothing is embedded then)."""
    style = {"stroke": "#444", "weight": 0.6, "fillOpacity": 0.75, **style}
    n = parcels if isinstance(parcels, int) else len(parcels)
    if n <= limit:
        if isinstance(parcels, int):
            raise ValueError(f"'parcels' should be the frame when they are embedded ({n} ≤ {limit}), got a count")
        layer: folium.map.Layer = DataLayer(parcel_features(parcels, color_by, bins), name, **style)
    else:
        layer = BboxLayer(bbox_url, name, minZoom=min_zoom, limit=limit, noteId=note_id,
                          zoomHint=zoom_hint or f"放大到 {min_zoom} 级以上显示地块（共 {n} 宗）",
                          texts=BBOX_TEXTS, **style)
    layer.layer_name = name
    layer.add_to(m)
    return layer


def parcel_features(parcels: gpd.GeoDataFrame, color_by: str, bins: list[float],
                    extra: list[str] | None = None) -> dict:
    """GeoJSON of parcels as the app's maps draw them: coloured, with escaped popups and
    tooltips linking to the parcel and its holder (``extra`` columns published as well)."""
    popup, tooltip = linked_parcel_popups(parcels)
    return feature_collection(parcels, popup=popup, tooltip=tooltip, ids=parcels["parcel_id"],
                              color=styled_parcels(parcels, color_by, bins), extra=extra)


def linked_parcel_popups(parcels: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """:func:`parcel_popups` linking to the app's parcel and enterprise pages."""
    return parcel_popups(parcels, lambda i: url_for("details.parcel", parcel_id=i),
                         lambda c: url_for("details.enterprise", code=c))


class ParcelTileLayer(MacroElement):
    """Parcels as PNG tiles from the server below the zoom where ``vector`` (the bounding-box
    layer) draws them; a click on a tile asks the server which parcel is there
    (``mujun.parcelTiles``). Shown and hidden with ``vector`` in the layer control."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        window.mujunParcelTiles = mujun.parcelTiles({{ this._parent.get_name() }}, {{ this.vector.get_name() }},
            {{ this.url|tojson }}, {{ this.options|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, vector: folium.map.Layer, url: str, **options: Any):
        super().__init__()
        self._name = "MujunParcelTiles"
        self.vector = vector
        self.url = url
        self.options = options


def parcel_tiles(m: folium.Map, vector: folium.map.Layer, *, url: str, identify_url: str,
                 vector_zoom: int) -> ParcelTileLayer:
    """Server-rendered parcel tiles (``url`` with ``{z}/{x}/{y}``) under ``vector`` below
    ``vector_zoom``; clicks are answered by ``identify_url`` (``lon`` and ``lat`` appended)."""
    layer = ParcelTileLayer(vector, url, identifyUrl=identify_url, vectorZoom=vector_zoom)
    layer.add_to(m)
    return layer


def building_layer(m: folium.Map, buildings: gpd.GeoDataFrame, name: str = "建筑物", *,
                   show: bool = True) -> DataLayer:
    """Buildings as dark outlines with their use, floors, height and floor area (escaped)."""
    tooltip = esc(buildings["use"]) + " · " + num(buildings["floors"], 0) + f" {unit('floors')}"
    popup = "<b>" + esc(buildings["building_id"]) + "</b><br>" + field_label("use") + "：" + esc(buildings["use"])
    for col, digits in (("floors", 0), ("height", 1), ("footprint_m2", 0), ("floor_area_m2", 0)):
        text = num(buildings[col], digits)
        popup = popup + "<br>" + field_label(col) + "：" + (text if col == "floors" else text + f" {unit(col)}")
    data = feature_collection(buildings, popup=popup, tooltip=tooltip, ids=buildings["building_id"])
    layer = DataLayer(data, name, show=show, stroke="#252525", fill="#737373", fillOpacity=0.55, weight=1)
    layer.layer_name = name
    layer.add_to(m)
    return layer


def zone_layers(m: folium.Map, year: int, *, show_districts: bool = True) -> None:
    """Districts, parks and platforms of ``year`` with their figures and links."""
    res = results()
    for level, name, id_field, endpoint, color, dash in ZONES:
        frame = res.optional(f"result_{level}", year)
        if frame is None or frame.empty:
            continue
        zone_layer(m, frame, name, id_field=id_field, color=color, dash=dash,
                   link=lambda i, e=endpoint, a=id_field: url_for(e, **{a: i}),
                   figures=zone_figures(level), show=show_districts or level != "district")


#: Colours of the red-line map: industrial land, the year's new industrial land, units, converted parcels.
REDLINE_COLORS = {"industrial": "#8c6bb1", "new": "#e6550d", "outside": "#bcbddc", "unit": "#2b8cbe",
                  "converted": "#d7301f"}


def redline_map(res: Any, config: Mapping[str, Any]) -> dict[str, Markup]:
    """The red-line map (:class:`mujun.service.Redline`): districts, industrial land-use patches (the
    year's new ones apart; merged into one shape each when there are more than
    ``MAX_EMBED_FEATURES``), 工业产业单元 outlines and the parcels in units no longer industrial."""
    from mujun.geo.area import area_m2

    districts = results().table("districts")
    m = base_map(districts.total_bounds, config)
    zone_layer(m, districts, "行政区", id_field="district_id", color="#636363", fill_opacity=0.0,
               link=lambda i: url_for("details.district", district_id=i))
    ind = res.industrial
    if ind is not None and len(ind):
        groups = (("industrial", ind["urban"] & ~ind["new"], "工业用地"),
                  ("new", ind["urban"] & ind["new"], f"{res.year} 年新增工业用地"),
                  ("outside", ~ind["urban"], "城镇建设用地以外的工业用地"))
        for key, sel, name in groups:
            part = ind[sel.to_numpy()]
            if part.empty:
                continue
            if len(part) > int(config.get("MAX_EMBED_FEATURES", 2000)):
                km2 = area_m2(part).sum() / 1e6
                merged = gpd.GeoDataFrame(geometry=[part.geometry.union_all()], crs=part.crs)
                tip = pd.Series([f"{name}：{len(part):,} 个图斑，{km2:,.2f} 平方公里"], index=merged.index)
                data = feature_collection(merged, popup=tip, tooltip=tip)
            else:
                tip = (esc(part["patch_id"]) + " · " + esc(part["land_class_code"]) + " "
                       + esc(part.get("land_class_name", pd.Series(pd.NA, index=part.index)))
                       + "<br>" + field_label("new_year") + "：" + esc(part.get("new_year", pd.Series(pd.NA, index=part.index))))
                data = feature_collection(part, popup=tip, tooltip=tip)
            color = REDLINE_COLORS[key]
            layer = DataLayer(data, name, stroke=color, fill=color, fillOpacity=0.55, weight=0.5)
            layer.layer_name = name
            layer.add_to(m)
    if res.units is not None and len(res.units):
        units = res.units
        tip = "<b>" + esc(units["name"]) + "</b><br>" + field_label("unit_id") + "：" + esc(units["unit_id"]) \
            + "<br>" + field_label("approval_no") + "：" + esc(units.get("approval_no", pd.Series(pd.NA, index=units.index)))
        color = REDLINE_COLORS["unit"]
        layer = DataLayer(feature_collection(units, popup=tip, tooltip=esc(units["name"]), ids=units["unit_id"]),
                          "工业产业单元", stroke=color, fill=color, fillOpacity=0.05, weight=2, dashArray="5 3")
        layer.layer_name = "工业产业单元"
        layer.add_to(m)
    if res.converted is not None and len(res.converted):
        c = res.converted
        hrefs = esc(c["parcel_id"].astype("string").map(lambda i: url_for("details.parcel", parcel_id=i)))
        popup = ("<b>" + esc(c["parcel_id"]) + "</b><br>" + esc(c["unit_name"]) + "<br>" + esc(c["reason"])
                 + "<br>" + field_label("area_mu") + "：" + num(c["area_mu"]) + f" {unit('area_mu')}"
                 + '<br><a href="' + hrefs + '">查看地块 →</a>')
        color = REDLINE_COLORS["converted"]
        layer = DataLayer(feature_collection(c, popup=popup, tooltip=esc(c["parcel_id"]) + "<br>" + esc(c["reason"]),
                                             ids=c["parcel_id"]),
                          "单元内改变用途的地块", stroke="#67000d", fill=color, fillOpacity=0.85, weight=1.5)
        layer.layer_name = "单元内改变用途的地块"
        layer.add_to(m)
    rows = [(REDLINE_COLORS["industrial"], "工业用地（城镇建设用地内）"), (REDLINE_COLORS["new"], f"{res.year} 年新增工业用地"),
            (REDLINE_COLORS["outside"], "城镇建设用地以外的工业用地"), (REDLINE_COLORS["unit"], "工业产业单元"),
            (REDLINE_COLORS["converted"], "单元内改变用途的地块")]
    html = "<b>工业用地红线</b><br>" + "<br>".join(f'<i style="background:{c}"></i>{t}' for c, t in rows)
    _legend_control(m, html)
    folium.LayerControl(collapsed=False).add_to(m)
    return render(m)


def ledger_map(outlines: gpd.GeoDataFrame, rows: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, Markup]:
    """The 腾笼换鸟 parcels coloured by stage, with escaped tooltips (parcel, stage, holders)
    and popups with the per-mu figures before and after, and a legend of the stages."""
    from mujun.geo.ledger import STAGES

    frame = gpd.GeoDataFrame(outlines.merge(rows, on="parcel_id", how="inner"), geometry="geometry", crs=outlines.crs)
    m = base_map(frame.to_crs(4326).total_bounds if len(frame) else np.full(4, np.nan), config)
    if len(frame):
        stage = esc(frame["stage_label"])
        old, new = esc(frame["holder_name"]), esc(frame["new_holder_name"])
        tooltip = esc(frame["parcel_id"]) + " · " + stage + "<br>" + old + " → " + new
        popup = "<b>" + esc(frame["parcel_id"]) + "</b>（" + stage + "）<br>" + esc(frame["district_name"])
        for col, text in (("tax_per_mu_before", "收回前亩均税收"), ("tax_per_mu_after", "再供应后亩均税收"),
                          ("value_added_per_mu_before", "收回前亩均增加值"),
                          ("value_added_per_mu_after", "再供应后亩均增加值")):
            popup = popup + "<br>" + text + "：" + num(frame[col]) + f" {unit('tax_per_mu')}"
        hrefs = esc(frame["parcel_id"].astype("string").map(lambda i: url_for("details.parcel", parcel_id=i)))
        popup = popup + '<br><a href="' + hrefs + '">查看地块 →</a>'
        data = feature_collection(frame, popup=popup, tooltip=tooltip, ids=frame["parcel_id"],
                                  color=frame["stage"].map(STAGE_COLORS).fillna(NO_DATA))
        layer = DataLayer(data, "腾笼换鸟地块", stroke="#444", weight=1.2, fillOpacity=0.8)
        layer.layer_name = "腾笼换鸟地块"
        layer.add_to(m)
    html = "<b>进展</b><br>" + "<br>".join(f'<i style="background:{STAGE_COLORS[k]}"></i>{v}' for k, v in STAGES.items())
    _legend_control(m, html)
    return render(m)
