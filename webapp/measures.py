"""差别化措施 /measures: a year's measures by class — totals by agency, class and district,
with the XLSX and CSV downloads that ``mujun measures --out`` writes."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, render_template, request, send_file, url_for

from mujun import service
from mujun.geo.errors import InputError
from mujun.geo.measures import AGENCIES
from mujun.layers.rulesets import DEFAULT_MEASURES, available_rules, load_measure_rules
from mujun.webapp import maps
from mujun.webapp.data import records, results

__all__ = ["bp", "year_measures"]

bp = Blueprint("measures", __name__)

#: Download format -> (label, mimetype).
FORMATS = {
    "xlsx": ("Excel 表格（按部门分表，含汇总）", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": ("CSV 文本（全部明细）", "text/csv"),
}


def _rules_name() -> str:
    """A shipped measure set by name (the web never reads a rule file by path)."""
    name = (request.args.get("measures") or DEFAULT_MEASURES).strip()
    names = [i.name for i in available_rules() if i.kind == "measures"]
    if name not in names:
        raise InputError(f"没有名为 '{name}' 的差别化措施规则；可用：{'、'.join(names)}")
    return name


def year_measures(year: int, rules: str = DEFAULT_MEASURES) -> service.Measures:
    """The measures of ``year`` from the app's cached results (:func:`mujun.service.year_measures`)."""
    res = results()
    table = res.optional("enterprises", year)
    return service.year_measures(res.table("result_enterprise"), table, load_measure_rules(rules), year)


@bp.route("/measures")
def index():
    """差别化措施 page."""
    res = results()
    years = res.years()
    year = res.year(request.args.get("year", type=int))
    name = _rules_name()
    m = year_measures(year, name)
    by_agency = m.totals(["agency", "measure", "measure_kind", "treatment", "quantity_unit"])
    by_class = m.totals(["class", "agency", "measure", "measure_kind", "treatment", "quantity_unit"])
    money = m.totals(["district_name", "agency", "measure", "measure_kind"])
    money = money[money["amount"].notna()]
    columns = list(dict.fromkeys(money["agency"] + "·" + money["measure"]))
    wide = (money.assign(col=money["agency"] + "·" + money["measure"])
            .pivot_table(index="district_name", columns="col", values="amount", aggfunc="sum")
            .reindex(columns=columns))
    districts = [{"name": d, "values": row} for d, row in zip(wide.index, wide.to_numpy().tolist(), strict=True)]
    return render_template(
        "measures.html", title="差别化措施", year=year, years=years, rules=m.rules, rules_name=name,
        rule_choices=[i for i in available_rules() if i.kind == "measures"],
        n_firms=int(m.rows["credit_code"].nunique()), n_rows=len(m.rows),
        agencies=records(by_agency), classes=records(by_class), district_columns=columns, districts=districts,
        agency_names=list(AGENCIES.values()), formats=FORMATS, class_colors=maps.CLASS_COLORS,
        export_url=lambda fmt: url_for("measures.export", year=year, measures=name, format=fmt),
    )


@bp.route("/measures/export")
def export():
    """The measures as a file, exactly as ``mujun measures --out`` writes it."""
    fmt = (request.args.get("format") or "xlsx").strip().lower()
    if fmt not in FORMATS:
        raise InputError(f"未知的导出格式 '{fmt}'；可用：{'、'.join(FORMATS)}")
    res = results()
    year = res.year(request.args.get("year", type=int))
    m = year_measures(year, _rules_name())
    with tempfile.TemporaryDirectory(prefix="mujun-export-") as tmp:
        path = service.export_measures(m, Path(tmp) / f"measures.{fmt}", res.ws)
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype=FORMATS[fmt][1], as_attachment=True,
                     download_name=f"{year}年差别化措施.{fmt}", max_age=0)
