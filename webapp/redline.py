"""工业用地红线 /redline: the industrial-land red line — a map of industrial land, 工业产业单元 and
the parcels in units no longer industrial, the table by district and city against the floors,
and the XLSX and CSV downloads that ``mujun redline --out`` writes."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_file, url_for

from mujun import service
from mujun.geo.errors import InputError
from mujun.layers.rulesets import DEFAULT_REDLINE, available_rules
from mujun.webapp import maps
from mujun.webapp.data import records, results

__all__ = ["bp"]

bp = Blueprint("redline", __name__)

#: Download format -> (label, mimetype).
FORMATS = {
    "xlsx": ("Excel 表格（红线表、单元内改变用途的地块）", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": ("CSV 文本（红线表）", "text/csv"),
}


def _rules_name() -> str:
    """A shipped red-line rule set by name (the web never reads a rule file by path)."""
    name = (request.args.get("rules") or DEFAULT_REDLINE).strip()
    names = [i.name for i in available_rules() if i.kind == "redline"]
    if name not in names:
        raise InputError(f"没有名为 '{name}' 的工业用地红线规则；可用：{'、'.join(names)}")
    return name


def _redline() -> tuple[service.Redline, str]:
    """The red line of the requested year (a year the land-use layer lacks: its latest)."""
    res = results()
    name = _rules_name()
    latest = res.redline(None, name)
    year = request.args.get("year", type=int)
    return (res.redline(year, name) if year in latest.years and year != latest.year else latest), name


@bp.route("/redline")
def index():
    """工业用地红线 page."""
    r, name = _redline()
    table = r.table
    converted = [] if r.converted is None else records(
        r.converted.sort_values(["district_id", "parcel_id"]), list(service.REDLINE_PARCELS))
    return render_template(
        "redline.html", title="工业用地红线", r=r, rules=r.rules, rules_name=name,
        rule_choices=[i for i in available_rules() if i.kind == "redline"],
        districts=records(table[table["level"] == "district"]), city=records(table[table["level"] == "city"])[0],
        converted=converted, map=maps.redline_map(r, current_app.config), formats=FORMATS,
        export_url=lambda fmt: url_for("redline.export", year=r.year, rules=name, format=fmt),
    )


@bp.route("/redline/export")
def export():
    """The red line as a file, exactly as ``mujun redline --out`` writes it."""
    fmt = (request.args.get("format") or "xlsx").strip().lower()
    if fmt not in FORMATS:
        raise InputError(f"未知的导出格式 '{fmt}'；可用：{'、'.join(FORMATS)}")
    r, _ = _redline()
    with tempfile.TemporaryDirectory(prefix="mujun-export-") as tmp:
        path = service.export_redline(r, Path(tmp) / f"redline.{fmt}", results().ws)
        data = path.read_bytes()
    suffix = f"{r.year}年" if r.year is not None else ""
    return send_file(io.BytesIO(data), mimetype=FORMATS[fmt][1], as_attachment=True,
                     download_name=f"工业用地红线{suffix}.{fmt}", max_age=0)
