"""腾笼换鸟台账 /ledger: land decided 协议收回 or 依法收回 in review, followed through its
recovery and its supply to a new holder to what that holder yields per mu — totals by
district and year, the parcel list and a map coloured by stage, with the XLSX and CSV that
``mujun ledger --out`` writes. Open to logged-in users (查看 and up): it shows review decisions."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_file, url_for

from mujun import service
from mujun.geo.errors import InputError
from mujun.geo.ledger import STAGES
from mujun.webapp import maps
from mujun.webapp.access import role_required
from mujun.webapp.data import records, results

__all__ = ["bp"]

bp = Blueprint("ledger", __name__)

#: Download format -> (label, mimetype).
FORMATS = {
    "xlsx": ("Excel 表格（汇总、逐宗台账、说明）", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": ("CSV 文本（逐宗台账）", "text/csv"),
}


def _ledger() -> tuple[service.Ledger, int | None, str | None]:
    year = request.args.get("year", type=int)
    district = (request.args.get("district") or "").strip() or None
    return service.ledger(results().ws, year=year, district=district), year, district


@bp.route("/ledger")
@role_required("viewer")
def index():
    """腾笼换鸟台账 page."""
    led, year, district = _ledger()
    rows = led.rows.assign(recovered_date=led.rows["recovered_date"].dt.strftime("%Y-%m-%d"),
                           supply_date=led.rows["supply_date"].dt.strftime("%Y-%m-%d"))
    return render_template(
        "ledger.html", title="腾笼换鸟台账", year=year, district=district, headers=service.LEDGER_HEADERS,
        totals=records(led.totals), rows=records(rows), notes=service.LEDGER_NOTES, unmatched=led.unmatched,
        stages=STAGES, stage_colors=maps.STAGE_COLORS, formats=FORMATS,
        map=maps.ledger_map(led.outlines, led.rows, current_app.config) if len(led.rows) else None,
        export_url=lambda fmt: url_for("ledger.export", year=year, district=district, format=fmt),
    )


@bp.route("/ledger/export")
@role_required("viewer")
def export():
    """The ledger as a file, exactly as ``mujun ledger --out`` writes it."""
    fmt = (request.args.get("format") or "xlsx").strip().lower()
    if fmt not in FORMATS:
        raise InputError(f"未知的导出格式 '{fmt}'；可用：{'、'.join(FORMATS)}")
    led, _, _ = _ledger()
    with tempfile.TemporaryDirectory(prefix="mujun-export-") as tmp:
        path = service.export_ledger(led, Path(tmp) / f"ledger.{fmt}", results().ws)
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype=FORMATS[fmt][1], as_attachment=True,
                     download_name=f"腾笼换鸟台账.{fmt}", max_age=0)
