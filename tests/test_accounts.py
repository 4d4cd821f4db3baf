"""mujun.layers.accounts: users, roles, hashed passwords, failed-login throttling."""

from __future__ import annotations

import re
import secrets
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mujun.geo.errors import InputError
from mujun.layers import accounts
from mujun.layers.accounts import User
from mujun.layers.workspace import Workspace


@pytest.fixture
def ws(sample_workspace, tmp_path) -> Workspace:
    w = Workspace(tmp_path / "ws.gpkg")
    shutil.copyfile(sample_workspace.path, w.path)
    return w


def test_add_and_get(ws):
    u = accounts.add_user(ws, "张三", "reviewer", "long-enough", full_name="张三丰")
    assert accounts.get_user(ws, "张三") == u
    assert u.can("viewer") and u.can("reviewer") and not u.can("admin")
    assert [x.name for x in accounts.list_users(ws)] == ["张三"]


def test_password_is_stored_hashed(ws):
    accounts.add_user(ws, "li", "viewer", "plain-text-pw")
    with sqlite3.connect(ws.path) as con:
        stored = con.execute("SELECT password_hash FROM mujun_users").fetchone()[0]
    assert "plain-text-pw" not in stored and stored.startswith("scrypt:")


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("a", "viewer", "long-enough", "用户名 'a' 无效"),
    ("bad name", "viewer", "long-enough", "无效"),
    ("wang", "boss", "long-enough", "角色 'boss' 无效"),
    ("wang", "viewer", "short", "密码太短"),
])
def test_add_refuses(ws, name, role, password, message):
    with pytest.raises(InputError, match=message):
        accounts.add_user(ws, name, role, password)


def test_duplicate_refused(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    with pytest.raises(InputError, match="已存在"):
        accounts.add_user(ws, "wang", "admin", "long-enough")


def test_check_login(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    assert accounts.check_login(ws, "wang", "long-enough", "10.0.0.1").name == "wang"
    assert accounts.check_login(ws, "wang", "wrong-one", "10.0.0.1") is None
    assert accounts.check_login(ws, "nobody", "long-enough", "10.0.0.1") is None


def test_disabled_user_cannot_log_in_and_token_changes(ws):
    u = accounts.add_user(ws, "wang", "viewer", "long-enough")
    d = accounts.set_disabled(ws, "wang")
    assert d.disabled and d.token != u.token
    assert accounts.check_login(ws, "wang", "long-enough", "10.0.0.1") is None
    assert not accounts.set_disabled(ws, "wang", False).disabled


def test_role_and_password_changes(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    assert accounts.set_role(ws, "wang", "admin").can("admin")
    accounts.set_password(ws, "wang", "another-long")
    assert accounts.check_login(ws, "wang", "long-enough", "x") is None
    assert accounts.check_login(ws, "wang", "another-long", "x") is not None
    with pytest.raises(InputError, match="没有用户 'zhao'"):
        accounts.set_role(ws, "zhao", "viewer")


def test_failed_logins_slow_down(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    keys = ["user:wang", "addr:10.0.0.9"]
    t = time.time()
    for _ in range(accounts.FREE_FAILURES - 1):
        accounts.check_login(ws, "wang", "bad-password", "10.0.0.9", now=t)
    assert accounts.login_wait(ws, keys, now=t) == 0.0
    accounts.check_login(ws, "wang", "bad-password", "10.0.0.9", now=t)
    first = accounts.login_wait(ws, keys, now=t)
    assert first == accounts.FIRST_WAIT_S
    # while the wait lasts even the right password is refused, unchecked and uncounted
    assert accounts.attempt_login(ws, "wang", "long-enough", "10.0.0.9", now=t + 1) == \
        accounts.LoginAttempt(None, first - 1)
    t += first
    accounts.check_login(ws, "wang", "bad-password", "10.0.0.9", now=t)
    assert accounts.login_wait(ws, keys, now=t) == 2 * first  # doubles
    # a success clears the counts of the user and of the address
    t += 2 * first
    assert accounts.check_login(ws, "wang", "long-enough", "10.0.0.9", now=t) is not None
    assert accounts.login_wait(ws, keys, now=t) == 0.0


def _failure_keys(ws: Workspace) -> set[str]:
    return {r["key"] for r in ws.query("SELECT key FROM mujun_login_failures")}


def test_success_clears_the_address_count(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.add_user(ws, "li", "viewer", "long-enough")
    for _ in range(accounts.FREE_FAILURES - 1):
        accounts.check_login(ws, "li", "bad-password", "10.0.0.7")
    assert "addr:10.0.0.7" in _failure_keys(ws)
    assert accounts.check_login(ws, "wang", "long-enough", "10.0.0.7") is not None
    assert _failure_keys(ws) == {"user:li"}


def test_old_failures_are_pruned(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    with ws.transaction() as con:
        con.execute("INSERT INTO mujun_login_failures (key, count, last) VALUES (?, ?, ?), (?, ?, ?)",
                    ("user:old", 9, time.time() - accounts.MAX_WAIT_S - 10,
                     "user:recent", 9, time.time() - accounts.MAX_WAIT_S + 60))
    accounts.check_login(ws, "wang", "bad-password", "10.0.0.8")
    assert _failure_keys(ws) == {"user:recent", "user:wang", "addr:10.0.0.8"}


def test_simultaneous_wrong_passwords_beyond_the_limit_are_not_checked(ws, monkeypatch):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    checked, lock = [], threading.Lock()
    real_check = accounts.check_password_hash

    def counting_check(stored: str, password: str) -> bool:
        with lock:
            checked.append(password)
        return real_check(stored, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting_check)
    n = 16
    start = threading.Barrier(n)

    def attempt(i: int) -> User | None:
        start.wait()
        return accounts.check_login(ws, "wang", f"bad-password-{i}", f"10.0.1.{i}")

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(attempt, range(n)))
    assert results == [None] * n
    assert len(checked) == accounts.FREE_FAILURES
    assert accounts.login_wait(ws, ["user:wang"]) > 0


def test_simultaneous_right_passwords_from_one_address_all_get_in(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    n = 2 * accounts.FREE_FAILURES
    start = threading.Barrier(n)

    def attempt(_: int) -> User | None:
        start.wait()
        return accounts.check_login(ws, "wang", "long-enough", "10.0.0.5")

    with ThreadPoolExecutor(n) as pool:
        assert all(u is not None for u in pool.map(attempt, range(n)))


def test_unknown_names_are_checked_against_a_fixed_dummy_hash(ws, monkeypatch):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.check_login(ws, "nobody", "long-enough", "x")  # the dummy hash may be made once
    checked, made = [], []
    real_check, real_make = accounts.check_password_hash, accounts.generate_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(h) or real_check(h, p))
    monkeypatch.setattr(accounts, "generate_password_hash", lambda p: made.append(p) or real_make(p))
    for i, name in enumerate(("nobody", "wang", "nobody-else", "wang")):
        assert accounts.check_login(ws, name, "wrong-password", f"10.0.2.{i}") is None
    assert made == []  # no fresh hash per attempt
    assert len(checked) == 4 and checked[0] == checked[2] != checked[1] == checked[3]
    method = checked[1].split("$")[0]  # e.g. scrypt:32768:8:1
    assert method.startswith("scrypt:") and checked[0].split("$")[0] == method


@pytest.mark.parametrize(("password", "message"), [
    ("12345678", "密码太短（8 个字符）；至少 10 个字符"),
    ("1234567890", "密码过于常见"),
    ("QwertyUiop", "密码过于常见"),
    ("password123", "密码过于常见"),
    ("x" * 1025, "密码太长（1025 个字符）；最多 1024 个字符"),
    ("wang.admin", "密码不能与用户名相同"),
])
def test_weak_passwords_are_refused(ws, password, message):
    with pytest.raises(InputError, match=re.escape(message)):
        accounts.add_user(ws, "wang.admin", "admin", password)
    accounts.add_user(ws, "wang.admin", "admin", "long-enough")
    with pytest.raises(InputError, match=re.escape(message)):
        accounts.set_password(ws, "wang.admin", password)


def test_minimum_password_length_is_a_parameter(ws):
    with pytest.raises(InputError, match="至少 14 个字符"):
        accounts.add_user(ws, "wang", "viewer", "long-enough-1", min_length=14)
    accounts.add_user(ws, "wang", "viewer", "long-enough-12", min_length=14)
    with pytest.raises(InputError, match="至少 14 个字符"):
        accounts.set_password(ws, "wang", "long-enough-1", min_length=14)


def test_random_demo_passwords_pass():
    for _ in range(200):  # what mujun demo makes
        accounts.check_password(secrets.token_urlsafe(9), name="admin")


def test_long_names_are_refused_without_echo(ws):
    with pytest.raises(InputError, match=f"用户名太长（150000 个字符）；最多 {accounts.MAX_NAME} 个字符") as err:
        accounts.add_user(ws, "a" * 150_000, "viewer", "long-enough")
    assert len(str(err.value)) < 100
    with pytest.raises(InputError, match="用户名太长"):
        accounts.set_disabled(ws, "a" * 150_000)


def test_sessions_end_one_by_one(ws):
    u = accounts.add_user(ws, "wang", "viewer", "long-enough")
    hours = 8 * 3600.0
    first, second = accounts.start_session(ws, u, hours), accounts.start_session(ws, u, hours)
    assert first != second
    assert accounts.session_user(ws, first, hours) == accounts.session_user(ws, second, hours) == u
    with sqlite3.connect(ws.path) as con:  # only a digest of the id is stored
        assert first not in {r[0] for r in con.execute("SELECT id FROM mujun_sessions")}
    accounts.end_session(ws, first)
    assert accounts.session_user(ws, first, hours) is None
    assert accounts.session_user(ws, second, hours) == u
    assert accounts.session_user(ws, "no-such-session", hours) is None
    assert accounts.session_user(ws, second, hours, now=time.time() + hours + 1) is None  # expired


def test_an_account_change_ends_its_sessions(ws):
    u = accounts.add_user(ws, "wang", "viewer", "long-enough")
    other = accounts.add_user(ws, "li", "viewer", "long-enough")
    sid, kept = accounts.start_session(ws, u, 3600), accounts.start_session(ws, other, 3600)
    accounts.set_role(ws, "wang", "reviewer")
    assert accounts.session_user(ws, sid, 3600) is None
    assert accounts.session_user(ws, kept, 3600) == other
    # a fresh session sees the new role
    assert accounts.session_user(ws, accounts.start_session(ws, accounts.get_user(ws, "wang"), 3600), 3600).can(
        "reviewer")


def test_old_sessions_are_pruned_when_one_starts(ws):
    u = accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.start_session(ws, u, 3600, now=time.time() - 7200)
    accounts.start_session(ws, u, 3600)
    assert len(ws.query("SELECT id FROM mujun_sessions")) == 1
