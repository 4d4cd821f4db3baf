"""排名 /rankings: filtered, paged and sortable rankings with XLSX/CSV/GeoPackage exports.

The rows come from :func:`mujun.service.ranking` and the files from
:func:`mujun.service.export_ranking`, the functions behind ``mujun rank``, so the page, the
API and the CLI rank and export alike.
"""

from __future__ import annotations

import io
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Blueprint, current_app, render_template, request, send_file, url_for

from mujun import service
from mujun.geo.errors import InputError
from mujun.geo.ranking import numeric_fields
from mujun.layers.schema import FIELDS_BY_NAME, label
from mujun.webapp.data import results
from mujun.webapp.formatting import num
from mujun.webapp.ranking_query import RankingQuery, int_arg

__all__ = ["EXPORT_FORMATS", "bp", "export_name", "page_rows"]

bp = Blueprint("rankings", __name__)

#: Figures shown after the identity columns and the ranking field.
KEY_FIGURES: dict[str, tuple[str, ...]] = {
    "enterprise": ("class", "score", "tax_per_mu", "value_added_per_mu", "land_mu", "tax", "industry_name"),
    "parcel": ("land_use", "class", "area_mu", "tax_per_mu", "value_added_per_mu", "plot_ratio", "flags"),
    "park": ("level", "evaluated_mu", "enterprise_count", "tax_per_mu", "value_added_per_mu", "plot_ratio"),
    "platform": ("lead_industry", "output_yi", "gap_to_guide_yi", "lead_share", "planned_mu", "idle_mu",
                 "tax_per_mu"),
    "district": ("evaluated_mu", "enterprise_count", "tax_per_mu", "value_added_per_mu", "above_scale_tax_per_mu",
                 "above_scale_value_added_per_mu"),
}

#: Filters offered on the page for each level (the query accepts them wherever the service does).
PAGE_FILTERS = {"class": ("enterprise", "parcel"), "district": ("enterprise", "parcel"),
                "industry": ("enterprise", "parcel")}

#: Level -> (endpoint of its own page, argument name).
DETAIL_PAGES = {"enterprise": ("details.enterprise", "code"), "parcel": ("details.parcel", "parcel_id"),
                "park": ("details.park", "park_id"), "platform": ("details.platform", "platform_id"),
                "district": ("details.district", "district_id")}

#: Column -> (endpoint, argument, column holding the id) for links to related pages.
RELATED_PAGES = {"holder_name": ("details.enterprise", "code", "holder_code"),
                 "district_name": ("details.district", "district_id", "district_id"),
                 "park_name": ("details.park", "park_id", "park_id"),
                 "platform_name": ("details.platform", "platform_id", "platform_id")}

#: Export format -> (label, mimetype).
EXPORT_FORMATS = {
    "xlsx": ("Excel 表格", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": ("CSV 文本", "text/csv"),
    "gpkg": ("GeoPackage（含图形）", "application/geopackage+sqlite3"),
}

CLASS_BADGES = {"A": "badge-success", "B": "badge-info", "C": "badge-warning", "D": "badge-danger"}


def export_name(year: int, level: str, by: str, fmt: str) -> str:
    """File name of an export.

    Examples
    --------
    >>> export_name(2025, "enterprise", "tax_per_mu", "xlsx")
    '2025年企业排名_亩均税收.xlsx'
    >>> export_name(2024, "platform", "planned_vs_guide", "csv")
    '2024年平台排名_规划面积_万亩.csv'
    """
    f = FIELDS_BY_NAME.get(by)
    what = re.sub(r'[\\/:*?"<>|\s]+', "_", f.label if f else by)
    return f"{year}年{service.LEVEL_VIEWS[level].label}排名_{what}.{fmt}"


def by_choices(frame: pd.DataFrame, level: str) -> list[tuple[str, str]]:
    """The fields a level can be ranked by: its numeric fields and, for districts, parks and
    platforms, the composite score (区域综合得分), computed on demand by the service."""
    fields = numeric_fields(frame)
    if level in service.ZONES and "composite" not in fields:
        fields = [*fields, "composite"]
    return [(c, label(c)) for c in fields]


def shown_columns(frame: pd.DataFrame, level: str, by: str) -> list[str]:
    """Columns of the page: rank, the level's identity columns, ``by``, then key figures."""
    view = service.LEVEL_VIEWS[level]
    cols = ["rank", *view.table, by, *KEY_FIGURES[level]]
    return [c for c in dict.fromkeys(cols) if c in frame.columns]


def _texts(values: pd.Series, name: str) -> pd.Series:
    """Display text of a column: numbers with separators, yes/no, "—" where missing."""
    if isinstance(values.dtype, pd.BooleanDtype) or pd.api.types.is_bool_dtype(values):
        return values.map({True: "是", False: "否"}).astype("string").fillna("—")
    if name in ("rank", "year"):
        return values.astype("Int64").astype("string").fillna("—")
    if pd.api.types.is_numeric_dtype(values):
        f = FIELDS_BY_NAME.get(name)
        whole = pd.api.types.is_integer_dtype(values) or (f is not None and f.dtype == "int")
        return num(values, 0 if whole else 2)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d").astype("string").fillna("—")
    return values.astype("string").fillna("—")


def _link(endpoint: str, arg: str, value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or str(value) == "":
        return None
    return url_for(endpoint, **{arg: str(value)})


def page_rows(part: pd.DataFrame, level: str, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of the table: ``id``, ``href`` (the row's own page) and ``cells`` (text, link, badge)."""
    view = service.LEVEL_VIEWS[level]
    endpoint, arg = DETAIL_PAGES[level]
    texts = {c: _texts(part[c], c).tolist() for c in columns}
    ids = part[view.id].astype("string").tolist()
    own = {view.id, "name"} if level != "parcel" else {view.id}
    related = {c: (e, a, part[src].astype("string").tolist()) for c, (e, a, src) in RELATED_PAGES.items()
               if c in columns and src in part.columns and c not in own}
    numeric = set(numeric_fields(part, exclude=())) | {"rank"}
    rows = []
    for i, row_id in enumerate(ids):
        href = _link(endpoint, arg, row_id)
        cells = []
        for c in columns:
            cell: dict[str, Any] = {"text": texts[c][i], "href": None, "badge": None,
                                    "numeric": c in numeric}
            if c in own:
                cell["href"] = href
            elif c in related:
                e, a, values = related[c]
                cell["href"] = _link(e, a, values[i])
            if c == "class" and texts[c][i] in CLASS_BADGES:
                cell["badge"] = CLASS_BADGES[texts[c][i]]
            cells.append(cell)
        rows.append({"id": row_id, "href": href, "cells": cells})
    return rows


def _pages(page: int, pages: int, around: int = 3) -> list[int | None]:
    """Page numbers to offer (``None`` for a gap).

    Examples
    --------
    >>> _pages(7, 20, around=2)
    [1, None, 5, 6, 7, 8, 9, None, 20]
    """
    keep = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    out: list[int | None] = []
    for p in keep:
        if out and p - (out[-1] or 0) > 1:
            out.append(None)
        out.append(p)
    return out


@bp.route("/rankings")
def index():
    """排名 page."""
    q = RankingQuery.from_args(request.args)
    page = int_arg(request.args, "page", "页码")
    page = 1 if page is None else page
    if page < 1:
        raise InputError(f"页码应 ≥ 1，收到 {page}")
    frame, year = q.ranking()
    view = service.LEVEL_VIEWS[q.level]
    size = max(1, int(current_app.config["RANKING_PAGE_SIZE"]))
    total = len(frame)
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)
    part = frame.iloc[(page - 1) * size : page * size]
    columns = shown_columns(frame, q.level, q.by)
    sortable = set(numeric_fields(frame))
    headers = []
    for c in columns:
        sort_url = None
        if c in sortable:
            asc = None if c != q.by else (None if q.ascending else 1)
            sort_url = url_for("rankings.index", **q.args(by=c, asc=asc))
        headers.append({"name": c, "label": view.name_header if c == "name" else label(c), "sort_url": sort_url,
                        "sorted": c == q.by})
    res = results()
    districts = res.optional("result_district", year)
    district_choices = [] if districts is None else \
        sorted(zip(districts["district_id"].astype(str), districts["name"].astype(str), strict=True))
    level_urls = {}
    for level in service.LEVEL_VIEWS:
        keep = {k: v for k, v in q.args().items() if k == "year" or level in PAGE_FILTERS.get(k, ())}
        level_urls[level] = url_for("rankings.index", **keep, level=level)
    return render_template(
        "rankings.html", title="排名", query=q, view=view, year=year, years=res.years(), total=total,
        page=page, pages=pages, page_numbers=_pages(page, pages), page_size=size, first=(page - 1) * size + 1,
        headers=headers, rows=page_rows(part, q.level, columns), by_label=label(q.by),
        by_choices=by_choices(frame, q.level), levels=service.LEVEL_VIEWS,
        level_urls=level_urls, filters={k: q.level in v for k, v in PAGE_FILTERS.items()},
        district_choices=district_choices, formats=EXPORT_FORMATS,
        page_url=lambda p: url_for("rankings.index", **q.args(page=p)),
        export_url=lambda fmt: url_for("rankings.export", **q.args(format=fmt)),
    )


@bp.route("/rankings/export")
def export():
    """The ranking as a file, exactly as ``mujun rank --out`` writes it."""
    q = RankingQuery.from_args(request.args)
    fmt = (request.args.get("format") or "xlsx").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"未知的导出格式 '{fmt}'；可用：{'、'.join(EXPORT_FORMATS)}")
    frame, year = q.ranking()
    # written to a private folder, read back and removed before the response goes out
    with tempfile.TemporaryDirectory(prefix="mujun-export-") as tmp:
        path = service.export_ranking(frame, q.level, q.by, year, Path(tmp) / f"ranking.{fmt}", results().ws)
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype=EXPORT_FORMATS[fmt][1], as_attachment=True,
                     download_name=export_name(year, q.level, q.by, fmt), max_age=0)
