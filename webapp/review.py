"""地块审核 /review: the queue of flagged parcels, the review page of one parcel with its
decision form, the printable review sheet and the export of the results.

Reading needs a login (any role); deciding and assigning need 审核 (reviewer) or 管理员.
Decisions are stored by :mod:`mujun.layers.review` in the workspace, with the audit log.
"""

from __future__ import annotations

import io
import math
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from werkzeug.datastructures import MultiDict

from mujun import service
from mujun.geo.errors import ConflictError, InputError
from mujun.geo.review import DECISIONS, MEASURES, PENDING, QUEUE_KINDS, STATUSES
from mujun.layers import accounts
from mujun.layers import review as store
from mujun.webapp.access import current_name, remote_address, role_required
from mujun.webapp.data import results
from mujun.webapp.parcels import parcel_context

__all__ = ["QueueQuery", "bp"]

bp = Blueprint("review", __name__, url_prefix="/review")
PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class QueueQuery:
    """The queue's filters, as they come in the query string."""

    year: int | None = None
    district: str = ""
    park: str = ""
    kind: str = ""
    status: str = ""
    assignee: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: MultiDict) -> QueueQuery:
        return cls(year=args.get("year", type=int), district=args.get("district", "").strip(),
                   park=args.get("park", "").strip(), kind=args.get("kind", "").strip(),
                   status=args.get("status", "").strip(), assignee=args.get("assignee", "").strip(),
                   q=args.get("q", "").strip(), page=max(args.get("page", 1, type=int) or 1, 1))

    def args(self, **changes: Any) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return {k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)}

    def rows(self) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        """(all rows of the year's queue, the rows passing the filters, the year)."""
        res = results()
        year = res.year(self.year)
        rows = service.review_rows(res.results("parcel", year), store.decisions(res.ws, year), res.queue(year))
        keep = pd.Series(True, index=rows.index)
        for column, value in (("district_id", self.district), ("park_id", self.park), ("status", self.status)):
            if value:
                keep &= rows[column].astype("string").eq(value).fillna(False)
        if self.kind:
            if self.kind not in QUEUE_KINDS:
                raise InputError(f"未知的列入原因 '{self.kind}'；可选 {'、'.join(QUEUE_KINDS)}")
            keep &= rows[self.kind].astype(bool)
        if self.assignee:
            assignee = rows["assignee"].astype("string")
            keep &= (assignee.isna() if self.assignee == "-" else assignee.eq(self.assignee)).fillna(False)
        if self.q:
            text = rows["parcel_id"].astype("string") + " " + rows["holder_name"].astype("string").fillna("")
            keep &= text.str.contains(self.q, regex=False).fillna(False)
        return rows, rows[keep.astype(bool)], year


def _reviewers() -> list[accounts.User]:
    return [u for u in accounts.list_users(results().ws) if u.can("reviewer")]


def _options(rows: pd.DataFrame, id_field: str, name_field: str) -> list[tuple[str, str]]:
    pairs = rows[[id_field, name_field]].dropna().drop_duplicates().sort_values(name_field)
    return [(str(i), str(n)) for i, n in pairs.itertuples(index=False)]


@bp.route("")
def queue():
    """审核队列: filters, counts by status, the page of rows, bulk assignment."""
    q = QueueQuery.from_args(request.args)
    rows, shown, year = q.rows()
    pages = max(math.ceil(len(shown) / PAGE_SIZE), 1)
    page = min(q.page, pages)
    part = shown.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    counts = rows["status"].value_counts()
    return render_template(
        "review_queue.html", title="地块审核", q=q, year=year, years=results().years(),
        rows=part.astype(object).where(part.notna(), None).to_dict("records"), total=len(rows), shown=len(shown),
        shown_mu=float(shown["area_mu"].sum()), shown_severity=float(shown["severity"].sum()),
        counts={s: int(counts.get(s, 0)) for s in STATUSES}, page=page, pages=pages,
        districts=_options(rows, "district_id", "district_name"), parks=_options(rows, "park_id", "park_name"),
        kinds=QUEUE_KINDS, statuses=STATUSES, reviewers=_reviewers(),
        site_checks=int(rows["site_check"].sum()),
    )


@bp.route("/assign", methods=["POST"])
@role_required("reviewer")
def assign():
    """Make one reviewer the 经办人 of the ticked parcels."""
    year = request.form.get("year", type=int)
    if year not in results().years():
        raise InputError("评价年度无效；请从审核队列重新操作")
    assignee = request.form.get("assignee", "").strip()
    if assignee and assignee not in {u.name for u in _reviewers()}:
        raise InputError(f"经办人 '{assignee}' 不是有效的审核人员；请从列表中选择")
    ids = request.form.getlist("parcel_id")
    if not ids:
        flash("请先勾选要指派的地块。", "warning")
    else:
        parcels = results().results("parcel", year)["parcel_id"].astype("string")
        unknown = pd.Index(ids).difference(parcels)
        if len(unknown):
            raise InputError(f"{year} 年评价结果中没有地块 {unknown[0]}；请从审核队列重新操作")
        n = store.assign(results().ws, ids, year, assignee, user=current_name(), address=remote_address())
        flash(f"已将 {n} 宗地块指派给 {assignee or '（无人）'}。" if n else "所选地块的经办人没有变化。", "success")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/review") and not back.startswith("//") else url_for(".queue", year=year))


@bp.route("/export")
def export():
    """The filtered queue with decisions as an XLSX file."""
    q = QueueQuery.from_args(request.args)
    _, shown, year = q.rows()
    with tempfile.TemporaryDirectory(prefix="mujun-review-") as tmp:
        path = service.export_review(shown, year, Path(tmp) / "review.xlsx", results().ws)
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, max_age=0,
                     download_name=f"{year}年地块审核结果.xlsx")


def _evidence(parcel_id: str, year: int) -> dict[str, Any]:
    """Everything the review page and the sheet show besides the form."""
    res = results()
    if year not in res.years():
        abort(404)
    ctx = parcel_context(parcel_id, year)
    p = ctx["p"]
    history = []
    if p.get("holder_code"):
        ent = res.table("result_enterprise")
        mine = ent[ent["credit_code"].astype("string").eq(str(p["holder_code"])).fillna(False)].sort_values("year")
        cols = ["year", "class", "class_name", "score", "tax_per_mu", "value_added_per_mu", "land_mu", "rank_in_district"]
        history = mine[[c for c in cols if c in mine.columns]].astype(object).where(mine.notna(), None).to_dict("records")
    rasters = res.optional("mujun_rasters")
    in_queue = service.review_rows(ctx["geometry"], store.decisions(res.ws, year).iloc[:0])
    return {**ctx, "year": year, "class_history": history, "queued": bool(len(in_queue)),
            "rasters": [] if rasters is None else rasters.astype(object).where(rasters.notna(), None).to_dict("records"),
            "kinds": in_queue["kinds"].iloc[0] if len(in_queue) else "",
            "severity": float(in_queue["severity"].iloc[0]) if len(in_queue) else 0.0,
            "decision": store.decision(res.ws, parcel_id, year),
            "log": store.audit_log(res.ws, parcel_id).to_dict("records")}


@bp.route("/<int:year>/<path:parcel_id>", methods=["GET"])
def parcel(year: int, parcel_id: str):
    """地块审核页: map, figures, flags, raster evidence, class history, log, decision form."""
    ev = _evidence(parcel_id, year)
    return render_template("review_parcel.html", title=f"地块审核 · {parcel_id}", form=_form(ev["decision"]),
                           **_page(ev))


def _page(ev: dict[str, Any]) -> dict[str, Any]:
    reviewers = _reviewers()
    assignee = ev["decision"].assignee
    # colleagues cover for each other: a parcel assigned to someone else may be decided here,
    # and the page says whose it is
    other = None
    if assignee and assignee != current_name():
        other = next((u.label for u in reviewers if u.name == assignee), assignee)
    return {**ev, "years": results().years(), "decisions": DECISIONS, "measures": MEASURES,
            "reviewers": reviewers, "pending": PENDING, "assigned_to_other": other}


def _form(d: store.Decision) -> dict[str, Any]:
    return {"status": d.status or "", "measure": d.measure or "", "deadline": d.deadline or "",
            "comment": d.comment or "", "assignee": d.assignee or current_name(), "base_version": d.version}


@bp.route("/<int:year>/<path:parcel_id>", methods=["POST"])
@role_required("reviewer")
def decide(year: int, parcel_id: str):
    """Save a decision; a conflict or a refused field re-shows the form with what was typed."""
    ev = _evidence(parcel_id, year)
    form = {k: request.form.get(k, "").strip() for k in ("status", "measure", "deadline", "comment", "assignee")}
    form["base_version"] = request.form.get("base_version", type=int)
    if form["base_version"] is None:
        raise InputError("表单缺少版本号；请刷新页面后重新填写")
    if form["assignee"] and form["assignee"] not in {u.name for u in _reviewers()}:
        raise InputError(f"经办人 '{form['assignee']}' 不是有效的审核人员；请从列表中选择")
    try:
        saved = store.save_decision(results().ws, parcel_id, year, **form, user=current_name(),
                                    address=remote_address())
    except ConflictError as err:
        # the other's decision is shown; what this user typed is kept, now based on it
        ev = {**ev, "decision": err.current, "log": store.audit_log(results().ws, parcel_id).to_dict("records")}
        return render_template("review_parcel.html", title=f"地块审核 · {parcel_id}", conflict=str(err),
                               theirs=err.current, form={**form, "base_version": err.current.version},
                               **_page(ev)), 409
    except InputError as err:
        return render_template("review_parcel.html", title=f"地块审核 · {parcel_id}", error=str(err), form=form,
                               **_page(ev)), 400
    flash(f"已保存：地块 {parcel_id} {saved.status}（第 {saved.version} 次修改）。", "success")
    return redirect(url_for(".parcel", year=year, parcel_id=parcel_id))


@bp.route("/<int:year>/<path:parcel_id>/sheet")
def sheet(year: int, parcel_id: str):
    """地块审核表: one printable A4 page with a sketch map, figures, decision and signatures."""
    from mujun.webapp.charts import parcel_sketch

    ev = _evidence(parcel_id, year)
    sketch = parcel_sketch(ev["geometry"], ev["near"], ev["building_frame"], title=f"地块 {parcel_id} 示意图")
    return render_template("review_sheet.html", title=f"地块审核表 · {parcel_id}", sketch=sketch, **ev)
