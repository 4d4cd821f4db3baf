"""Review decisions and their audit log, kept in the workspace's own SQLite tables.

``mujun_review`` holds the current decision of each (parcel, year) with a ``version`` that
every change increments; ``mujun_review_log`` records every change — who, when, from which
address, what changed — and is append-only (triggers refuse UPDATE and DELETE). Both are
GeoPackage attribute tables, so QGIS can open them and join them to the parcels.

Each save is one SQLite transaction (:meth:`Workspace.transaction`) covering the decision
and its log row, so a crash leaves both or neither. A save names the version it was based
on; if someone saved in between, it is refused with :class:`ConflictError` carrying their
decision, never silently overwritten. Evaluations rewrite only the ``result_*`` tables, so
decisions stay attached to their parcel ids across re-evaluations.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from mujun.geo.errors import ConflictError
from mujun.geo.review import PENDING, check_decision
from mujun.layers import gpkg
from mujun.layers.schema import REVIEW_FIELDS
from mujun.layers.workspace import Workspace

__all__ = ["AUDIT_TABLE", "REVIEW_TABLE", "Decision", "assign", "audit_log", "decision", "decisions",
           "log_event", "save_decision"]

REVIEW_TABLE = "mujun_review"
AUDIT_TABLE = "mujun_review_log"

#: Decision fields as they are labelled in the log and the exports.
FIELD_LABELS = {f.name: f.label for f in REVIEW_FIELDS if f.name in ("status", "measure", "deadline", "comment",
                                                                   "assignee")}

_DDL = f"""
CREATE TABLE IF NOT EXISTS {REVIEW_TABLE} (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    parcel_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    status TEXT,
    measure TEXT,
    deadline DATE,
    comment TEXT,
    assignee TEXT,
    decided_by TEXT,
    decided_at DATETIME,
    version INTEGER NOT NULL,
    UNIQUE (parcel_id, year)
);
CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    time DATETIME NOT NULL,
    user TEXT NOT NULL,
    address TEXT,
    action TEXT NOT NULL,
    parcel_id TEXT,
    year INTEGER,
    version INTEGER,
    changes TEXT,
    before TEXT,
    after TEXT
);
CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_update BEFORE UPDATE ON {AUDIT_TABLE}
BEGIN SELECT RAISE(ABORT, '审核日志只能追加，不能修改'); END;
CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_delete BEFORE DELETE ON {AUDIT_TABLE}
BEGIN SELECT RAISE(ABORT, '审核日志只能追加，不能删除'); END
"""
_CONTENTS = ((REVIEW_TABLE, "地块审核结论", "每宗地块每个评价年度的当前审核结论"),
             (AUDIT_TABLE, "审核日志", "审核结论的每一次变更（只追加）"))


@dataclass(frozen=True)
class Decision:
    """The current review record of a parcel in a year (``version`` 0: none yet)."""

    parcel_id: str
    year: int
    status: str | None = None
    measure: str | None = None
    deadline: str | None = None
    comment: str | None = None
    assignee: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    version: int = 0

    @property
    def status_label(self) -> str:
        return self.status or PENDING


def _ensure(con: sqlite3.Connection) -> None:
    """Create the tables on the first save, registered in the GeoPackage with their Chinese
    field titles, and with the per-year review views (the parcels joined to the decisions)."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (REVIEW_TABLE,)).fetchone():
        return
    for stmt in _DDL.split(";\n"):
        con.execute(stmt)
    if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone():
        for name, identifier, description in _CONTENTS:
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change)"
                        " VALUES (?, 'attributes', ?, ?, ?)", (name, identifier, description, gpkg.timestamp()))
        gpkg.finish(con, times_of=(REVIEW_TABLE, AUDIT_TABLE))  # in place: no other table rewritten


def _has_tables(ws: Workspace) -> bool:
    return bool(ws.exists() and ws.query("SELECT 1 FROM sqlite_master WHERE name = ?", (REVIEW_TABLE,)))


def _decision(row: sqlite3.Row | None, parcel_id: str, year: int) -> Decision:
    if row is None:
        return Decision(parcel_id, int(year))
    return Decision(**{k: row[k] for k in Decision.__dataclass_fields__})


def _now() -> str:
    return gpkg.timestamp()


def _changes(before: Decision, after: Decision) -> str:
    parts = [f"{label}：{getattr(before, f) or '—'} → {getattr(after, f) or '—'}"
             for f, label in FIELD_LABELS.items() if getattr(before, f) != getattr(after, f)]
    return "；".join(parts) or "无变化"


def _store(con: sqlite3.Connection, before: Decision, after: Decision, user: str, address: str, action: str) -> None:
    con.execute(
        f"INSERT INTO {REVIEW_TABLE} (parcel_id, year, status, measure, deadline, comment, assignee, decided_by,"
        " decided_at, version) VALUES (:parcel_id, :year, :status, :measure, :deadline, :comment, :assignee,"
        " :decided_by, :decided_at, :version) ON CONFLICT (parcel_id, year) DO UPDATE SET status = :status,"
        " measure = :measure, deadline = :deadline, comment = :comment, assignee = :assignee,"
        " decided_by = :decided_by, decided_at = :decided_at, version = :version",
        asdict(after),
    )
    con.execute(
        f"INSERT INTO {AUDIT_TABLE} (time, user, address, action, parcel_id, year, version, changes, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (_now(), user, address, action, after.parcel_id, after.year, after.version, _changes(before, after),
         json.dumps(asdict(before), ensure_ascii=False), json.dumps(asdict(after), ensure_ascii=False)),
    )


def _current(con: sqlite3.Connection, parcel_id: str, year: int) -> Decision:
    row = con.execute(f"SELECT * FROM {REVIEW_TABLE} WHERE parcel_id = ? AND year = ?", (parcel_id, int(year))).fetchone()
    return _decision(row, parcel_id, year)


def decision(ws: Workspace, parcel_id: str, year: int) -> Decision:
    """The current record of ``parcel_id`` in ``year`` (version 0 if never touched)."""
    if not _has_tables(ws):
        return Decision(parcel_id, int(year))
    rows = ws.query(f"SELECT * FROM {REVIEW_TABLE} WHERE parcel_id = ? AND year = ?", (parcel_id, int(year)))
    return _decision(rows[0] if rows else None, parcel_id, year)


def decisions(ws: Workspace, year: int | None = None) -> pd.DataFrame:
    """Current records (of one year, or all), one row per parcel and year."""
    cols = list(Decision.__dataclass_fields__)
    if not _has_tables(ws):
        return pd.DataFrame(columns=cols)
    sql, params = f"SELECT {', '.join(cols)} FROM {REVIEW_TABLE}", ()
    if year is not None:
        sql, params = sql + " WHERE year = ?", (int(year),)
    return pd.DataFrame([dict(r) for r in ws.query(sql, params)], columns=cols)


def audit_log(ws: Workspace, parcel_id: str | None = None, year: int | None = None) -> pd.DataFrame:
    """The log, newest first; of one parcel (and year) when given."""
    cols = ["fid", "time", "user", "address", "action", "parcel_id", "year", "version", "changes", "before", "after"]
    if not _has_tables(ws):
        return pd.DataFrame(columns=cols)
    where, params = [], []
    if parcel_id is not None:
        where.append("parcel_id = ?")
        params.append(parcel_id)
    if year is not None:
        where.append("year = ?")
        params.append(int(year))
    sql = f"SELECT {', '.join(cols)} FROM {AUDIT_TABLE}" + (f" WHERE {' AND '.join(where)}" if where else "")
    return pd.DataFrame([dict(r) for r in ws.query(sql + " ORDER BY fid DESC", tuple(params))], columns=cols)


def save_decision(
    ws: Workspace, parcel_id: str, year: int, *, status: str, measure: str = "", deadline: str = "",
    comment: str = "", assignee: str = "", base_version: int, user: str, address: str = "",
) -> Decision:
    """Record a decision, based on the record at ``base_version``.

    Raises
    ------
    InputError
        The decision is ill-formed (see :func:`mujun.geo.review.check_decision`).
    ConflictError
        Someone saved this parcel since ``base_version``; ``err.current`` is their record.
    """
    when = check_decision(status, measure, deadline, comment)
    with ws.transaction() as con:
        _ensure(con)
        before = _current(con, parcel_id, year)
        if before.version != base_version:
            who = before.decided_by if before.status else "他人"
            raise ConflictError(
                f"地块 {parcel_id} 在您打开页面后已被 {who} 修改（现为：{before.status_label}）；"
                "您的结论未保存，请查看对方的结论后再决定是否覆盖",
                current=before,
            )
        after = Decision(parcel_id, int(year), status, measure or None, when.isoformat() if when else None,
                         comment.strip() or None, assignee or before.assignee or user, user, _now(),
                         before.version + 1)
        _store(con, before, after, user, address, "审核结论")
    return after


def assign(ws: Workspace, parcel_ids: Iterable[str], year: int, assignee: str, *, user: str,
           address: str = "") -> int:
    """Make ``assignee`` (empty: nobody) the 经办人 of the parcels; returns how many changed."""
    changed = 0
    with ws.transaction() as con:
        _ensure(con)
        for pid in dict.fromkeys(parcel_ids):  # the rows ticked on one page of the queue
            before = _current(con, pid, year)
            if (before.assignee or "") == assignee:
                continue
            after = Decision(**{**asdict(before), "assignee": assignee or None, "version": before.version + 1})
            _store(con, before, after, user, address, "指派经办人")
            changed += 1
    return changed


def log_event(ws: Workspace, *, user: str, address: str, action: str, changes: str) -> None:
    """Append a non-parcel event (user administration) to the audit log."""
    with ws.transaction() as con:
        _ensure(con)
        con.execute(f"INSERT INTO {AUDIT_TABLE} (time, user, address, action, changes) VALUES (?, ?, ?, ?, ?)",
                    (_now(), user, address, action, changes))
