"""Killing the server (SIGKILL) while reviewers are saving leaves the workspace consistent:
SQLite's integrity check passes, every acknowledged save is stored, and the decisions and
the audit log agree."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
from conftest import USERS

from mujun.layers import review as store
from mujun.service import review_of_year

YEAR = 2025


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Client:
    """A logged-in HTTP client with its own connection, cookies kept by hand."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = urllib.parse.urlencode(form or {}) if form is not None else None
            headers = {"Cookie": self.cookie}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            con.request(method, path, body=body, headers=headers)
            r = con.getresponse()
            for value in r.headers.get_all("Set-Cookie") or []:
                if value.startswith("session="):
                    self.cookie = value.split(";", 1)[0]
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            con.close()

    def token(self, path: str = "/login") -> str:
        _, text = self.request("GET", path)
        return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)

    def login(self, name: str) -> None:
        status, _ = self.request("POST", "/login", {"name": name, "password": USERS[name][1],
                                                     "csrf_token": self.token()})
        assert status == 302


def _start(ws, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mujun.cli", "serve", "-w", str(ws.path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start")


def _check_consistent(path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as con:  # opening rolls back a hot journal
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.row_factory = sqlite3.Row
        current = {r["parcel_id"]: dict(r) for r in con.execute(f"SELECT * FROM {store.REVIEW_TABLE}")}
        log = con.execute(f"SELECT parcel_id, version, after FROM {store.AUDIT_TABLE} "
                          "WHERE parcel_id IS NOT NULL ORDER BY fid").fetchall()
    for pid, row in current.items():
        versions = [r["version"] for r in log if r["parcel_id"] == pid]
        assert versions == list(range(1, row["version"] + 1)), pid  # one log row per change, none lost
        last = json.loads([r["after"] for r in log if r["parcel_id"] == pid][-1])
        assert last["comment"] == row["comment"] and last["status"] == row["status"]


def test_killing_the_server_during_saves_keeps_the_workspace_consistent(fresh_review_workspace):
    ws = fresh_review_workspace
    rows, _ = review_of_year(ws, YEAR)
    ids = rows["parcel_id"].head(4).tolist()
    acknowledged: list[str] = []
    for round_ in range(3):
        port = _free_port()
        proc = _start(ws, port)
        stop = threading.Event()

        def reviewer(k: int, port=port, stop=stop, round_=round_) -> None:
            c = _Client(port)
            with contextlib.suppress(OSError, http.client.HTTPException, AttributeError):
                c.login("rev1" if k % 2 else "rev2")
                token = c.token("/review")
                n = 0
                while not stop.is_set():
                    pid = ids[(k + n) % len(ids)]
                    comment = f"r{round_} t{k} n{n}"
                    base = store.decision(ws, pid, YEAR).version
                    status, _ = c.request("POST", f"/review/{YEAR}/{pid}", {
                        "csrf_token": token, "base_version": str(base), "status": "需现场核查", "comment": comment})
                    if status == 302:
                        acknowledged.append(comment)
                    n += 1

        threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        before = len(acknowledged)
        deadline = time.monotonic() + 120
        while len(acknowledged) < before + 5 and time.monotonic() < deadline:  # saves are flowing
            time.sleep(0.05)
        time.sleep(0.1 + 0.3 * round_)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of whatever it was doing
        proc.wait()
        stop.set()
        for t in threads:
            t.join(30)
        _check_consistent(ws.path)
    assert len(acknowledged) >= 15  # the saves really happened while the server was killed
    logged = {json.loads(a)["comment"] for a in store.audit_log(ws)["after"].dropna()}
    missing = [c for c in acknowledged if c not in logged]
    assert not missing, f"acknowledged saves lost: {missing[:5]}"


@pytest.mark.parametrize("signal_", [signal.SIGKILL])
def test_server_starts_again_after_a_kill(fresh_review_workspace, signal_):
    ws = fresh_review_workspace
    port = _free_port()
    proc = _start(ws, port)
    os.kill(proc.pid, signal_)
    proc.wait()
    port = _free_port()
    proc = _start(ws, port)
    try:
        c = _Client(port)
        c.login("viewer")
        status, text = c.request("GET", "/review")
        assert status == 200 and "地块审核" in text
    finally:
        proc.kill()
        proc.wait()
