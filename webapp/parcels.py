"""What the app shows about one parcel of a year: the parcel page (地块) and the review page
(地块审核) both show it, the latter as the evidence for its decision."""

from __future__ import annotations

from typing import Any

import folium
import shapely
from flask import current_app, url_for

from mujun.webapp import maps
from mujun.webapp.data import only, record, records, results, where
from mujun.webapp.formatting import number, percent, unit

__all__ = ["NEIGHBOUR_DEGREES", "padded", "parcel_context"]

NEIGHBOUR_DEGREES = 0.004  # about 400 m around a parcel
SHARE_INDICATORS = {"building_coefficient", "admin_share"}  # shown as percentages


def padded(bounds, pad: float = NEIGHBOUR_DEGREES / 2) -> tuple[float, float, float, float]:
    """``bounds`` (w, s, e, n) widened by ``pad`` degrees, so a small parcel is seen with its surroundings."""
    w, s, e, n = (float(v) for v in bounds)
    return (w - pad, s - pad, e + pad, n + pad)


def parcel_context(parcel_id: str, year: int) -> dict[str, Any]:
    """What the parcel page shows — also the review page's evidence: ``p`` (the parcel's
    results), ``holder``, ``checks``, ``flags``, ``buildings``, ``n_near`` and ``map``."""
    res = results()
    parcels = res.results("parcel", year)
    this = only(parcels, "parcel_id", parcel_id)
    row = record(this.iloc[0])
    cfg = current_app.config
    area = shapely.buffer(shapely.envelope(this.geometry.iloc[0]), NEIGHBOUR_DEGREES)
    near = parcels.iloc[parcels.sindex.query(area, predicate="intersects")]
    near = near[near["parcel_id"].astype("string") != parcel_id]
    buildings = where(res.optional("result_building"), "parcel_id", parcel_id)

    m = maps.base_map(padded(this.total_bounds), cfg)
    color = "class"
    maps.parcel_layer(m, near, color_by=color, bins=[], limit=cfg["MAX_EMBED_FEATURES"], name="周边地块",
                      bbox_url=url_for("api.layer", name="parcels", year=year, color=color), fillOpacity=0.45)
    maps.parcel_layer(m, this, color_by=color, bins=[], limit=cfg["MAX_EMBED_FEATURES"], name="本地块",
                      bbox_url=url_for("api.layer", name="parcels", year=year, color=color),
                      stroke="#e31a1c", weight=4, fillOpacity=0.25)
    if buildings is not None and len(buildings):
        maps.building_layer(m, buildings)
    maps.legend(m, color, [])
    folium.LayerControl(collapsed=False).add_to(m)

    compliance = where(res.optional("result_compliance", year), "parcel_id", parcel_id)
    checks = []
    if compliance is not None:
        for r in records(compliance, ["source", "indicator", "label", "measured", "required_text", "status"]):
            r["measured_text"] = _measured(r["indicator"], r["measured"])
            checks.append(r)
    flags = where(res.optional("result_flag", year), "parcel_id", parcel_id)
    holder = None
    if row.get("holder_code"):
        found = where(res.results("enterprise", year), "credit_code", str(row["holder_code"]))
        holder = record(found.iloc[0]) if found is not None and len(found) else None
    return dict(
        p=row, holder=holder, checks=checks,
        flags=[] if flags is None else records(flags, ["kind_label", "rule", "reason", "value", "threshold"]),
        buildings=[] if buildings is None else records(
            buildings.sort_values("floor_area_m2", ascending=False),
            ["building_id", "use", "floors", "height", "footprint_m2", "floor_area_m2"]),
        n_near=len(near), map=maps.render(m), geometry=this, near=near, building_frame=buildings,
    )


def _measured(indicator: str | None, value: Any) -> str:
    """A measured value with the unit of its indicator (shares as percentages)."""
    if indicator in SHARE_INDICATORS:
        return percent(value)
    text, suffix = number(value), unit(indicator or "")
    return text + (f" {suffix}" if suffix and text != "—" else "")
