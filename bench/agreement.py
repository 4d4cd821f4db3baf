"""Do mujun and a peer compute the same thing? Figures from mujun's stored results, compared
with the peer's (:func:`peers.duckdb_eval.summary` gives the same structure).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mujun.geo.rules import CLASSES
from mujun.layers.workspace import Workspace, result_table

__all__ = ["compare", "mujun_summary"]

ZONES = {"district": "district_id", "park": "park_id", "platform": "platform_id"}
ZONE_FIELDS = ("parcel_count", "area_mu", "evaluated_mu", "tax_per_mu", "value_added_per_mu", "plot_ratio")


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def mujun_summary(ws: Workspace, year: int) -> dict:
    """The compared figures of ``year`` from the results mujun stored in ``ws``."""
    where = f"year = {int(year)}"
    p = ws.read(result_table("parcel"), where=where, geometry=False)  # figures only: no outlines needed
    e = ws.read(result_table("enterprise"), where=where)
    b = ws.read(result_table("building"), geometry=False)
    out: dict = {
        "parcels": {"count": len(p), "area_mu": float(p["area_mu"].sum()), "evaluated_mu": float(p["evaluated_mu"].sum())},
        "buildings_on_parcels": int(b["parcel_id"].notna().sum()),
        "land_mu": float(e["land_mu"].sum()),
    }
    groups = {}
    for g, frame in e.groupby("group"):
        scored = frame[frame["evaluated_in_score"].fillna(False).astype(bool)]
        counts = frame["class"].value_counts()
        groups[str(g)] = {"scored": len(scored), "score_sum": float(scored["score"].sum()),
                          **{c: int(counts.get(c, 0)) for c in CLASSES}}
    out["groups"] = dict(sorted(groups.items()))
    for level, zid in ZONES.items():
        z = ws.read(result_table(level), where=where).sort_values(zid)
        out[level] = {str(r[zid]): {f: _num(r[f]) for f in ZONE_FIELDS} for r in z.to_dict("records")}
    return out


def _close(a, b, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def compare(mujun: dict, peer: dict, rel: float = 1e-6) -> list[dict]:
    """One row per check: ``check``, ``mujun``, ``peer``, ``ok`` (relative tolerance ``rel``).

    Checks totals (parcels, area, evaluated land, enterprise land, buildings on parcels),
    per group the number scored, Σ score and the class counts, and per zone level the
    largest relative difference over the zones of each figure (zones missing on either
    side fail).
    """
    rows = []

    def add(check: str, a, b, exact: bool = False) -> None:
        ok = (a == b) if exact else _close(a, b, rel)
        rows.append({"check": check, "mujun": a, "peer": b, "ok": bool(ok)})

    add("parcels", mujun["parcels"]["count"], peer["parcels"]["count"], exact=True)
    add("parcel area (mu)", mujun["parcels"]["area_mu"], peer["parcels"]["area_mu"])
    add("evaluated land (mu)", mujun["parcels"]["evaluated_mu"], peer["parcels"]["evaluated_mu"])
    add("enterprise land (mu)", mujun["land_mu"], peer["land_mu"])
    add("buildings on parcels", mujun["buildings_on_parcels"], peer["buildings_on_parcels"], exact=True)
    for g in sorted(set(mujun["groups"]) | set(peer["groups"])):
        a, b = mujun["groups"].get(g, {}), peer["groups"].get(g, {})
        add(f"{g}: scored", a.get("scored"), b.get("scored"), exact=True)
        add(f"{g}: Σ score", a.get("score_sum"), b.get("score_sum"))
        add(f"{g}: classes A/B/C/D", "/".join(str(a.get(c)) for c in CLASSES),
            "/".join(str(b.get(c)) for c in CLASSES), exact=True)
    for level in ZONES:
        a, b = mujun.get(level, {}), peer.get(level, {})
        add(f"{level}: zones", len(a), len(b), exact=True)
        common = sorted(set(a) & set(b))
        counts_a = [a[k]["parcel_count"] for k in common]
        counts_b = [b[k]["parcel_count"] for k in common]
        add(f"{level}: parcels per zone (Σ)", sum(counts_a), sum(counts_b), exact=True)
        rows[-1]["ok"] = rows[-1]["ok"] and counts_a == counts_b and set(a) == set(b)
        for f in ("area_mu", "tax_per_mu", "value_added_per_mu", "plot_ratio"):
            worst, wa, wb = 0.0, None, None
            ok = True
            for k in common:
                va, vb = a[k][f], b[k][f]
                if not _close(va, vb, rel):
                    ok = False
                if va is not None and vb is not None and not (np.isnan(va) or np.isnan(vb)):
                    d = abs(va - vb) / max(abs(va), 1e-12)
                    if d >= worst:
                        worst, wa, wb = d, va, vb
            rows.append({"check": f"{level}: {f} (largest difference)", "mujun": wa, "peer": wb, "ok": ok})
    return rows
