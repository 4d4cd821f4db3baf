"""mujun.layers.accounts: the accounts file beside the workspace, users, roles, hashed
passwords, failed-login throttling, sessions, access tokens and the move out of old workspaces."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mujun.geo.errors import InputError, WorkspaceError
from mujun.layers import accounts
from mujun.layers.accounts import User
from mujun.layers.workspace import Workspace


@pytest.fixture
def ws(sample_workspace, tmp_path) -> Workspace:
    w = Workspace(tmp_path / "ws.gpkg")
    shutil.copyfile(sample_workspace.path, w.path)
    return w


def _rows(ws: Workspace, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on the accounts file, read directly."""
    with contextlib.closing(sqlite3.connect(accounts.store_path(ws))) as con:
        return con.execute(sql, params).fetchall()


def test_add_and_get(ws):
    u = accounts.add_user(ws, "张三", "reviewer", "long-enough", full_name="张三丰")
    assert accounts.get_user(ws, "张三") == u
    assert u.can("viewer") and u.can("reviewer") and not u.can("admin")
    assert [x.name for x in accounts.list_users(ws)] == ["张三"]


def test_password_is_stored_hashed(ws):
    accounts.add_user(ws, "li", "viewer", "plain-text-pw")
    [(stored,)] = _rows(ws, "SELECT password_hash FROM mujun_users")
    assert "plain-text-pw" not in stored and stored.startswith("scrypt:")


def test_accounts_live_in_an_owner_only_file_beside_the_workspace(ws):
    accounts.add_user(ws, "li", "viewer", "plain-text-pw")
    path = accounts.store_path(ws)
    assert path == ws.path.with_name("ws.accounts.sqlite") and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not ws.query("SELECT name FROM sqlite_master WHERE name LIKE 'mujun_users%'")
    assert b"scrypt:" not in ws.path.read_bytes()
    # a copy the workspace's own write path makes carries no hash either
    ws.write({}, meta={"note": "x"})
    assert b"scrypt:" not in ws.path.read_bytes()
    assert accounts.get_user(ws, "li") is not None


def test_reading_creates_no_file_and_a_missing_workspace_is_refused(tmp_path):
    ws = Workspace(tmp_path / "none.gpkg")
    assert accounts.list_users(ws) == [] and accounts.get_user(ws, "li") is None
    with pytest.raises(WorkspaceError, match="不存在"):
        accounts.add_user(ws, "li", "viewer", "plain-text-pw")
    assert list(tmp_path.iterdir()) == []


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
    return {key for (key,) in _rows(ws, "SELECT key FROM mujun_login_failures")}


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
    with accounts._transaction(ws) as con:
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
    assert first not in {sid for (sid,) in _rows(ws, "SELECT id FROM mujun_sessions")}  # only a digest
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
    assert len(_rows(ws, "SELECT id FROM mujun_sessions")) == 1


# -- access tokens -------------------------------------------------------------------------
def test_a_token_is_shown_once_and_stored_as_its_digest(ws):
    accounts.add_user(ws, "wang", "reviewer", "long-enough")
    new = accounts.create_token(ws, "wang", label="QGIS 办公室", days=30)
    assert re.fullmatch(r"mj_[A-Za-z0-9_-]{43}", new.secret)
    [(digest, label)] = _rows(ws, "SELECT hash, label FROM mujun_tokens")
    assert digest == hashlib.sha256(new.secret.encode()).hexdigest() and label == "QGIS 办公室"
    assert new.secret.encode() not in accounts.store_path(ws).read_bytes()
    [listed] = accounts.list_tokens(ws, "wang")
    assert listed == new.token and listed.status() == "有效" and listed.last_used is None
    assert new.secret not in repr(listed)
    assert accounts.attempt_token(ws, new.secret, "10.0.0.1").user == accounts.get_user(ws, "wang")
    assert accounts.attempt_token(ws, new.secret, "10.0.0.1", name="wang").user.can("reviewer")
    assert accounts.list_tokens(ws)[0].last_used is not None
    assert accounts.create_token(ws, "wang").secret != new.secret


def test_a_token_works_only_with_its_own_user_name(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.add_user(ws, "li", "viewer", "long-enough")
    secret = accounts.create_token(ws, "wang").secret
    assert accounts.attempt_token(ws, secret, "x", name="li").user is None
    assert accounts.attempt_token(ws, "long-enough", "x", name="wang").user is None  # a password is no token


def test_revoked_expired_and_disabled_users_tokens_fail(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    t = time.time()
    kept, revoked = accounts.create_token(ws, "wang", now=t), accounts.create_token(ws, "wang", now=t)
    short = accounts.create_token(ws, "wang", days=1, now=t)
    assert accounts.revoke_token(ws, "wang", revoked.token.id).status() == "已撤销"
    assert accounts.attempt_token(ws, revoked.secret, "a").user is None
    assert accounts.attempt_token(ws, short.secret, "b", now=t + 3600).user is not None
    assert accounts.attempt_token(ws, short.secret, "c", now=t + 86401).user is None
    assert {tok.id: tok.status(t + 86401) for tok in accounts.list_tokens(ws, "wang")} == {
        kept.token.id: "有效", revoked.token.id: "已撤销", short.token.id: "已过期"}
    # a role change: the token acts with the new role
    accounts.set_role(ws, "wang", "admin")
    assert accounts.attempt_token(ws, kept.secret, "d").user.role == "admin"
    # disabling revokes for good: re-enabling does not bring the tokens back
    accounts.set_disabled(ws, "wang")
    assert accounts.attempt_token(ws, kept.secret, "e").user is None
    accounts.set_disabled(ws, "wang", False)
    assert accounts.attempt_token(ws, kept.secret, "f").user is None
    assert {tok.status() for tok in accounts.list_tokens(ws, "wang")} <= {"已撤销", "已过期"}


def test_revoking_all_and_someone_elses_token(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.add_user(ws, "li", "viewer", "long-enough")
    theirs = accounts.create_token(ws, "li")
    for _ in range(2):
        accounts.create_token(ws, "wang")
    with pytest.raises(InputError, match=f"用户 'wang' 没有编号为 {theirs.token.id} 的令牌"):
        accounts.revoke_token(ws, "wang", theirs.token.id)
    assert accounts.revoke_tokens(ws, "wang") == 2 and accounts.revoke_tokens(ws, "wang") == 0
    assert accounts.attempt_token(ws, theirs.secret, "x").user.name == "li"


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("nobody", {}, "没有用户 'nobody'"),
    ("wang", {"days": 0}, "有效期应为 1 到 3650 天"),
    ("wang", {"label": "x" * 61}, "令牌名称太长（61 个字符）"),
    ("off", {}, "用户 'off' 已停用"),
])
def test_create_token_refuses(ws, name, kwargs, message):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    accounts.add_user(ws, "off", "viewer", "long-enough")
    accounts.set_disabled(ws, "off")
    with pytest.raises(InputError, match=re.escape(message)):
        accounts.create_token(ws, name, **kwargs)


def test_tokens_per_user_are_capped(ws, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_TOKENS", 2)
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    first = accounts.create_token(ws, "wang")
    accounts.create_token(ws, "wang")
    with pytest.raises(InputError, match="已有 2 个有效令牌"):
        accounts.create_token(ws, "wang")
    accounts.revoke_token(ws, "wang", first.token.id)
    accounts.create_token(ws, "wang")


def test_wrong_tokens_are_throttled_like_logins(ws):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    secret = accounts.create_token(ws, "wang").secret
    t = time.time()
    for i in range(accounts.FREE_FAILURES):
        assert accounts.attempt_token(ws, f"mj_{'x' * 42}{i}", "10.0.3.1", now=t) == accounts.LoginAttempt(None)
    # the address must wait, even with the right token; so must a login from it
    assert accounts.attempt_token(ws, secret, "10.0.3.1", now=t + 1) == accounts.LoginAttempt(
        None, accounts.FIRST_WAIT_S - 1)
    assert accounts.attempt_login(ws, "wang", "long-enough", "10.0.3.1", now=t + 1).wait > 0
    assert accounts.attempt_token(ws, secret, "10.0.3.2", now=t + 1).user is not None  # other addresses are not
    # with a user name (Basic) the name counts too; a success clears both
    for _ in range(accounts.FREE_FAILURES):
        accounts.attempt_token(ws, "wrong", "10.0.3.3", name="wang", now=t)
    assert accounts.attempt_token(ws, secret, "10.0.3.4", name="wang", now=t + 1).wait > 0
    assert accounts.attempt_token(ws, secret, "10.0.3.4", name="wang", now=t + 10).user is not None
    assert accounts.login_wait(ws, ["user:wang", "addr:10.0.3.4"], now=t + 10) == 0.0


def test_a_token_use_is_noted_at_most_once_a_minute(ws, monkeypatch):
    accounts.add_user(ws, "wang", "viewer", "long-enough")
    secret = accounts.create_token(ws, "wang").secret
    t = time.time()
    writes = []
    real = accounts._transaction
    monkeypatch.setattr(accounts, "_transaction", lambda w: writes.append(1) or real(w))
    for dt in (0, 1, 30, accounts.TOKEN_TOUCH_S + 1):
        assert accounts.attempt_token(ws, secret, "10.0.0.1", now=t + dt).user is not None
    assert len(writes) == 2
    assert accounts.list_tokens(ws)[0].last_used == t + accounts.TOKEN_TOUCH_S + 1


# -- the move out of workspaces that held the accounts ---------------------------------------
def _legacy_workspace(ws: Workspace) -> str:
    """``ws`` as earlier versions left it: users, failures and a session in its own tables,
    one password changed (the old hash lingers in the page); the session id."""
    from werkzeug.security import generate_password_hash

    ddl = accounts.USERS_DDL.split("CREATE TABLE IF NOT EXISTS mujun_tokens")[0]
    sid = "legacy-session"
    with contextlib.closing(sqlite3.connect(ws.path)) as con, con:
        con.executescript(ddl)
        con.executemany("INSERT INTO mujun_users VALUES (?, ?, ?, ?, 0, ?, '2024-01-01T00:00:00')",
                        [("wang", "王", "admin", generate_password_hash("old-password-1"), "t1"),
                         ("li", "", "viewer", generate_password_hash("li-password-1"), "t2")])
        con.execute("UPDATE mujun_users SET password_hash = ? WHERE name = 'wang'",
                    (generate_password_hash("wang-password-1"),))
        con.execute("INSERT INTO mujun_login_failures VALUES ('addr:10.9.9.9', 1, ?)", (time.time(),))
        con.execute("INSERT INTO mujun_sessions VALUES (?, 'li', 't2', ?)",
                    (hashlib.sha256(sid.encode()).hexdigest(), time.time()))
    assert b"scrypt:" in ws.path.read_bytes()
    return sid


def test_old_workspace_accounts_move_out_on_first_use(ws, caplog):
    sid = _legacy_workspace(ws)
    review_before = ws.query("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0][0]
    with caplog.at_level("WARNING", logger="mujun.layers.accounts"):
        assert [u.name for u in accounts.list_users(ws)] == ["li", "wang"]
    assert "已将 2 个用户" in caplog.text and "ws.accounts.sqlite" in caplog.text
    assert not ws.query("SELECT name FROM sqlite_master WHERE name LIKE 'mujun_users%' OR name LIKE 'mujun_sess%'"
                        " OR name LIKE 'mujun_login%'")
    assert ws.query("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0][0] == review_before - 3
    assert b"scrypt:" not in ws.path.read_bytes()  # overwritten, not only unlinked from the tables
    assert accounts.check_login(ws, "wang", "wang-password-1", "x") is not None
    assert accounts.session_user(ws, sid, 3600).name == "li"  # logins survive the move
    assert _failure_keys(ws) == {"addr:10.9.9.9"}
    assert stat.S_IMODE(accounts.store_path(ws).stat().st_mode) == 0o600
    assert accounts.migrate(ws) == 0


def test_a_move_interrupted_after_the_copy_is_finished_without_loss(ws):
    _legacy_workspace(ws)
    accounts.set_password(ws, "wang", "newer-password")  # moves them first
    accounts.set_role(ws, "wang", "reviewer")
    # the old tables come back (a crash before the drop, a restored copy): the file's rows win
    _legacy_workspace(ws)
    accounts.migrate(ws)
    assert accounts.get_user(ws, "wang").role == "reviewer"
    assert accounts.check_login(ws, "wang", "newer-password", "x") is not None
    assert b"scrypt:" not in ws.path.read_bytes()


def test_a_workspace_write_moves_the_accounts_out_first(ws):
    _legacy_workspace(ws)
    ws.write({}, meta={"note": "x"})
    assert b"scrypt:" not in ws.path.read_bytes()
    assert [u.name for u in accounts.list_users(ws)] == ["li", "wang"]
