"""layers.accounts: users, roles, hashed passwords, failed-login throttling."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from geo.errors import InputError
from layers import accounts
from layers.workspace import Workspace


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
    for _ in range(accounts.FREE_FAILURES - 1):
        accounts.check_login(ws, "wang", "bad-password", "10.0.0.9")
    assert accounts.login_wait(ws, keys) == 0.0
    accounts.check_login(ws, "wang", "bad-password", "10.0.0.9")
    first = accounts.login_wait(ws, keys)
    assert 0 < first <= accounts.FIRST_WAIT_S
    accounts.check_login(ws, "wang", "bad-password", "10.0.0.9")
    assert accounts.login_wait(ws, keys) > first  # doubles
    # a success clears the user's count (the address keeps its own)
    accounts.check_login(ws, "wang", "long-enough", "10.0.0.9")
    assert accounts.login_wait(ws, ["user:wang"]) == 0.0
