"""地图 /map: districts, parks, platforms and parcels coloured by an indicator."""

from __future__ import annotations

import folium
from flask import Blueprint, current_app, render_template, request, url_for

from mujun.layers.workspace import result_table
from mujun.webapp import maps
from mujun.webapp.data import results
from mujun.webapp.tileservice import service

__all__ = ["bp"]

bp = Blueprint("mapview", __name__)


@bp.route("/map")
def map_page():
    res = results()
    years = res.years()
    year = res.year(request.args.get("year", type=int))
    color = request.args.get("color", "tax_per_mu")
    if color not in maps.COLOR_BY:
        color = "tax_per_mu"
    limit = current_app.config["MAX_EMBED_FEATURES"]
    min_zoom = current_app.config["PARCEL_MIN_ZOOM"]
    # a province's parcels are not read here: they are counted, the legend's breaks take one
    # column, and the map loads them as tiles and by bounding box
    kind = maps.COLOR_BY[color][2]
    table = result_table("parcel")
    # a numeric colouring's column (its breaks need it) gives the count too: one scan, not two
    n_parcels = len(res.column(table, color, year)) if kind == "numeric" else res.count(table, year)
    many = n_parcels > limit
    districts = res.optional("result_district", year)
    parcels = None if many else res.results("parcel", year)
    if districts is not None and len(districts):
        bounds = districts.total_bounds
    else:
        bounds = (parcels if parcels is not None else res.results("parcel", year)).total_bounds
    m = maps.base_map(bounds, current_app.config)
    maps.zone_layers(m, year)
    svc = service()
    generation = svc.generation()
    bins = svc.breaks(generation, year, color) if kind == "numeric" else []
    note = f"共 {n_parcels} 宗地块" + (f"；放大到 {min_zoom} 级以上可逐宗查看" if many else "")
    layer = maps.parcel_layer(m, parcels if parcels is not None else n_parcels, color_by=color, bins=bins,
                              limit=limit, min_zoom=min_zoom,
                              note_id="parcel-note", zoom_hint=note,
                              bbox_url=url_for("api.layer", name="parcels", year=year, color=color))
    if many:  # not embedded: tiles rendered by the server below min_zoom, vectors by bbox from it on
        first = url_for("tiles.parcel_tile", year=year, indicator=color, z=0, x=0, y=0, v=generation)
        maps.parcel_tiles(m, layer, url=first.replace("/0/0/0.png", "/{z}/{x}/{y}.png", 1),
                          identify_url=url_for("tiles.identify", year=year), vector_zoom=min_zoom)
    maps.legend(m, color, bins)
    folium.LayerControl(collapsed=False).add_to(m)
    label, unit, _ = maps.COLOR_BY[color]
    return render_template(
        "map.html", title="地图", map=maps.render(m), years=years, year=year, color=color,
        color_choices=maps.COLOR_BY, color_label=label, n_classes=len(bins), n_parcels=n_parcels,
        parcel_note=note,
    )
