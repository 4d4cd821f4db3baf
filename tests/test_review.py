"""mujun.geo.review and mujun.layers.review: the queue, decisions, conflicts, the append-only audit log,
concurrency, re-evaluation and crash safety."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading

import pandas as pd
import pytest

from mujun.geo.errors import ConflictError, InputError
from mujun.geo.review import DECISIONS, check_decision, queue
from mujun.layers import review as store
from mujun.layers.workspace import Workspace
from mujun.service import evaluate, review_of_year

YEAR = 2025
FUTURE = (dt.date.today() + dt.timedelta(days=200)).isoformat()


def _parcels(ws: Workspace, n: int) -> list[str]:
    rows, _ = review_of_year(ws, YEAR)
    return rows["parcel_id"].head(n).tolist()


# -- mujun.geo.review -------------------------------------------------------------------------------

def test_queue_holds_flagged_and_class_d(sample_workspace):
    parcels = sample_workspace.read("result_parcel", where=f"year = {YEAR}")
    q = queue(parcels)
    # flagged, classed D, or to be checked on site (imagery against buildings)
    flagged = (parcels["flags"].notna() | parcels["class"].astype("string").eq("D").fillna(False)
               | parcels["site_check"].astype(bool))
    assert set(q["parcel_id"]) == set(parcels.loc[flagged, "parcel_id"])
    assert q["severity"].is_monotonic_decreasing
    assert (q["severity"] >= 0).all()
    # severity is the tax gap: (target − per-mu) × area for a parcel below its target
    row = q[(q["tax_per_mu"] < q["target_tax_per_mu"]).fillna(False)].iloc[0]
    assert row["severity"] == pytest.approx((row["target_tax_per_mu"] - row["tax_per_mu"]) * row["area_mu"])


def test_site_checks_enter_the_queue_with_both_figures(sample_workspace):
    parcels = sample_workspace.read("result_parcel", where=f"year = {YEAR}")
    q = queue(parcels).set_index("parcel_id")
    checks = parcels.loc[parcels["site_check"].astype(bool), "parcel_id"]
    assert len(checks) > 0 and set(checks) <= set(q.index)
    assert q.loc[checks, "site_check"].all()
    assert q.loc[checks, "kinds"].str.contains("需现场核查").all()
    assert not q.loc[checks, "idle"].any()  # not called idle on imagery alone
    # parcels only there for the site check: listed as 需现场核查 and nothing else
    alone = parcels[parcels["site_check"].astype(bool) & parcels["flags"].isna()
                    & ~parcels["class"].astype("string").eq("D").fillna(False)]
    assert (q.loc[alone["parcel_id"], "kinds"] == "需现场核查").all()


def test_queue_kinds_of_a_hand_made_frame():
    p = pd.DataFrame({"parcel_id": ["a", "b", "c"], "idle": [False, True, False], "inefficient": False,
                      "noncompliant": False, "site_check": [True, False, False], "class": ["B", "D", "C"],
                      "target_tax_per_mu": 10.0, "tax_per_mu": [12.0, 1.0, 3.0], "area_mu": [5.0, 2.0, 9.0]})
    out = queue(p)
    assert out[["parcel_id", "kinds", "severity"]].values.tolist() == [["b", "闲置、D类企业用地", 18.0],
                                                                       ["a", "需现场核查", 0.0]]


@pytest.mark.parametrize(("args", "message"), [
    (("认定闲置", "", FUTURE, ""), "须选择处置措施"),
    (("认定低效", "整治提升", "", ""), "须填写整改期限"),
    (("认定闲置", "拆除", FUTURE, ""), "处置措施 '拆除' 无效"),
    (("认定闲置", "限期开工", "2020-01-01", ""), "已过"),
    (("认定闲置", "限期开工", "明年", ""), "不是日期"),
    (("同意", "", "", ""), "审核结论 '同意' 无效"),
    (("不予认定", "", "", "  "), "写明理由"),
    (("需现场核查", "", "", "x" * 2001), "过长"),
])
def test_check_decision_refuses(args, message):
    with pytest.raises(InputError, match=message):
        check_decision(*args)


# -- mujun.layers.review ----------------------------------------------------------------------------

def test_save_and_read(fresh_review_workspace):
    ws = fresh_review_workspace
    pid = _parcels(ws, 1)[0]
    assert store.decision(ws, pid, YEAR).version == 0
    d = store.save_decision(ws, pid, YEAR, status="认定闲置", measure="限期开工", deadline=FUTURE,
                            comment="现场未开工", base_version=0, user="rev1", address="10.1.2.3")
    assert (d.version, d.status, d.assignee, d.decided_by) == (1, "认定闲置", "rev1", "rev1")
    assert store.decision(ws, pid, YEAR) == d
    log = store.audit_log(ws, pid)
    assert len(log) == 1
    e = log.iloc[0]
    assert (e["user"], e["address"], e["action"], e["version"]) == ("rev1", "10.1.2.3", "审核结论", 1)
    assert "审核结论：— → 认定闲置" in e["changes"]
    assert json.loads(e["after"])["comment"] == "现场未开工" and json.loads(e["before"])["version"] == 0


def test_conflict_is_refused_with_the_other_decision(fresh_review_workspace):
    ws = fresh_review_workspace
    pid = _parcels(ws, 1)[0]
    store.save_decision(ws, pid, YEAR, status="需现场核查", base_version=0, user="rev1")
    with pytest.raises(ConflictError, match="已被 rev1 修改") as err:
        store.save_decision(ws, pid, YEAR, status="不予认定", comment="达标", base_version=0, user="rev2")
    assert err.value.current.status == "需现场核查" and err.value.current.version == 1
    assert store.decision(ws, pid, YEAR).status == "需现场核查"
    assert len(store.audit_log(ws, pid)) == 1  # nothing logged for the refused save
    store.save_decision(ws, pid, YEAR, status="不予认定", comment="达标", base_version=1, user="rev2")
    assert store.decision(ws, pid, YEAR).version == 2


def test_audit_log_is_append_only(fresh_review_workspace):
    ws = fresh_review_workspace
    pid = _parcels(ws, 1)[0]
    store.save_decision(ws, pid, YEAR, status="需现场核查", base_version=0, user="rev1")
    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        for sql in (f"UPDATE {store.AUDIT_TABLE} SET user = 'x'", f"DELETE FROM {store.AUDIT_TABLE}"):
            with pytest.raises(sqlite3.DatabaseError, match="审核日志只能追加"):
                con.execute(sql)


def test_tables_are_registered_for_qgis(fresh_review_workspace):
    ws = fresh_review_workspace
    store.save_decision(ws, _parcels(ws, 1)[0], YEAR, status="需现场核查", base_version=0, user="rev1")
    assert {store.REVIEW_TABLE, store.AUDIT_TABLE} <= set(ws.layers())
    # GDAL reads it as an attribute table (the sample's own decisions are for 2023)
    assert len(ws.read(store.REVIEW_TABLE, where=f"year = {YEAR}")) == 1


def test_assign(fresh_review_workspace):
    ws = fresh_review_workspace
    ids = _parcels(ws, 3)
    assert store.assign(ws, ids, YEAR, "rev2", user="admin") == 3
    assert store.assign(ws, ids, YEAR, "rev2", user="admin") == 0  # no change, no log
    assert {store.decision(ws, i, YEAR).assignee for i in ids} == {"rev2"}
    assert store.decision(ws, ids[0], YEAR).status is None
    assert len(store.audit_log(ws, year=YEAR)) == 3  # the sample's own decisions are for 2023


def test_decision_survives_re_evaluation(fresh_review_workspace):
    ws = fresh_review_workspace
    pid = _parcels(ws, 1)[0]
    saved = store.save_decision(ws, pid, YEAR, status="认定低效", measure="整治提升", deadline=FUTURE,
                                comment="持续低效", base_version=0, user="rev1")
    evaluate(ws, YEAR, progress=False)
    assert store.decision(ws, pid, YEAR) == saved
    assert len(store.audit_log(ws, pid)) == 1
    rows, _ = review_of_year(ws, YEAR)
    assert rows.set_index("parcel_id").loc[pid, "status"] == "认定低效"


def test_decided_parcel_stays_listed_when_no_longer_flagged(fresh_review_workspace):
    ws = fresh_review_workspace
    parcels = ws.read("result_parcel", where=f"year = {YEAR}")
    calm = parcels.loc[parcels["flags"].isna() & parcels["class"].astype("string").ne("D").fillna(True), "parcel_id"]
    pid = str(calm.iloc[0])
    store.save_decision(ws, pid, YEAR, status="需现场核查", base_version=0, user="rev1")
    rows, _ = review_of_year(ws, YEAR)
    row = rows.set_index("parcel_id").loc[pid]
    assert row["kinds"] == "已无标记" and row["status"] == "需现场核查"


def test_twenty_threads_lose_nothing(fresh_review_workspace):
    """20 reviewers save decisions on 5 overlapping parcels at once, each retrying after a
    conflict: every accepted save is in the log, versions run 1..n with no gap, and the
    stored decision of each parcel is the last accepted one."""
    ws = fresh_review_workspace
    ids = _parcels(ws, 5)
    accepted: list[tuple[str, int, str]] = []
    conflicts = []
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def reviewer(k: int) -> None:
        try:
            start.wait()
            for j in range(4):
                pid = ids[(k + j) % len(ids)]
                comment = f"reviewer {k} save {j}"
                while True:
                    base = store.decision(ws, pid, YEAR).version
                    try:
                        d = store.save_decision(ws, pid, YEAR, status="需现场核查", comment=comment,
                                                base_version=base, user=f"u{k}", address=f"10.0.0.{k}")
                    except ConflictError:
                        with lock:
                            conflicts.append(k)
                        continue
                    with lock:
                        accepted.append((pid, d.version, comment))
                    break
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(accepted) == 80
    log = store.audit_log(ws, year=YEAR)  # the sample's own decisions are for 2023
    assert len(log) == 80
    for pid in ids:
        mine = sorted(v for p, v, _ in accepted if p == pid)
        assert mine == list(range(1, len(mine) + 1))  # no version lost or doubled
        last = max((v, c) for p, v, c in accepted if p == pid)
        d = store.decision(ws, pid, YEAR)
        assert (d.version, d.comment) == last
        logged = log[log["parcel_id"] == pid].sort_values("version")
        assert logged["version"].tolist() == mine
        assert [json.loads(a)["comment"] for a in logged["after"]] == [
            c for _, c in sorted((v, c) for p, v, c in accepted if p == pid)]
    with contextlib.closing(sqlite3.connect(ws.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_saves_wait_for_a_workspace_rewrite(fresh_review_workspace):
    """A save during an evaluation's copy-and-replace waits for it instead of being lost."""
    ws = fresh_review_workspace
    pid = _parcels(ws, 1)[0]
    done = threading.Event()

    def save() -> None:
        store.save_decision(ws, pid, YEAR, status="需现场核查", base_version=0, user="rev1")
        done.set()

    with ws.store_lock(shared=False):
        t = threading.Thread(target=save)
        t.start()
        assert not done.wait(0.5)  # blocked while the workspace is being replaced
    t.join(10)
    assert done.is_set() and store.decision(ws, pid, YEAR).version == 1


def test_saves_during_an_evaluation_are_kept(fresh_review_workspace, monkeypatch):
    """Reviewers save while an evaluation writes its tables: the saves go through at once
    and the evaluated workspace still has them (and their log)."""
    import mujun.layers.workspace as workspace_module

    ws = fresh_review_workspace
    ids = _parcels(ws, 2)
    store.save_decision(ws, ids[0], YEAR, status="需现场核查", base_version=0, user="rev1")
    writing, release = threading.Event(), threading.Event()
    real = workspace_module.write_table

    def slow_write(path, name, frame):
        writing.set()
        release.wait(60)
        real(path, name, frame)

    monkeypatch.setattr(workspace_module, "write_table", slow_write)
    errors = []
    t = threading.Thread(target=lambda: _run(errors, lambda: evaluate(ws, YEAR, progress=False)))
    t.start()
    assert writing.wait(120)
    saved = store.save_decision(ws, ids[1], YEAR, status="不予认定", comment="达标", base_version=0, user="rev2")
    store.save_decision(ws, ids[0], YEAR, status="认定低效", measure="整治提升", deadline=FUTURE,
                        base_version=1, user="rev1")
    release.set()
    t.join(300)
    assert not errors
    assert store.decision(ws, ids[1], YEAR) == saved
    assert store.decision(ws, ids[0], YEAR).version == 2
    assert len(store.audit_log(ws, year=YEAR)) == 3  # the sample's own decisions are for 2023
    # the log is still append-only
    with contextlib.closing(sqlite3.connect(ws.path)) as con, pytest.raises(sqlite3.DatabaseError, match="只能追加"):
        con.execute(f"DELETE FROM {store.AUDIT_TABLE}")
    assert {store.REVIEW_TABLE, store.AUDIT_TABLE} <= set(ws.layers())


def _run(errors: list, fn) -> None:
    try:
        fn()
    except Exception as err:  # pragma: no cover - reported by the test
        errors.append(err)


def test_decisions_frame(fresh_review_workspace):
    ws = fresh_review_workspace
    assert store.decisions(ws, YEAR).empty
    ids = _parcels(ws, 2)
    for pid, status in zip(ids, DECISIONS[2:], strict=True):
        store.save_decision(ws, pid, YEAR, status=status, comment="理由", base_version=0, user="rev1")
    frame = store.decisions(ws, YEAR)
    assert isinstance(frame, pd.DataFrame) and set(frame["parcel_id"]) == set(ids)
    assert store.decisions(ws, YEAR - 1).empty
