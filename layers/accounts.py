"""User accounts of a workspace: names, roles, hashed passwords, failed-login throttling,
login sessions.

Stored in the workspace's own SQLite tables (``mujun_users``, ``mujun_login_failures``,
``mujun_sessions``), written in place through :meth:`Workspace.transaction`. Passwords are
hashed with werkzeug's scrypt; a user's ``token`` changes with their password, role or
status, so the sessions they hold elsewhere end. A login session is a row of
``mujun_sessions`` (the SHA-256 of a random id the session cookie carries): logging out
deletes it, so a copy of that cookie no longer works.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from mujun.geo.errors import InputError
from mujun.layers.workspace import Workspace

__all__ = [
    "MAX_NAME", "MAX_PASSWORD", "MIN_PASSWORD", "ROLES", "ROLE_LABELS", "LoginAttempt", "User", "add_user",
    "attempt_login", "check_login", "check_password", "end_session", "get_user", "list_users", "login_wait",
    "session_user", "set_disabled", "set_password", "set_role", "start_session",
]

#: Roles, weakest first: each can do what the ones before it can.
ROLES = ("viewer", "reviewer", "admin")
ROLE_LABELS = {"viewer": "查看", "reviewer": "审核", "admin": "管理员"}
#: Default shortest password; the web app's ``PASSWORD_MIN_LENGTH`` setting overrides it.
MIN_PASSWORD = 10
#: Longest user name and password accepted anywhere (a login form, the admin page, the CLI):
#: longer input is refused before it is hashed, stored or echoed.
MAX_NAME = 40
MAX_PASSWORD = 1024
_NAME = re.compile(rf"^[\w.\-@\u4e00-\u9fff]{{2,{MAX_NAME}}}$")

#: Failed logins allowed before each further attempt must wait; the wait doubles per failure.
FREE_FAILURES = 3
FIRST_WAIT_S = 2.0
MAX_WAIT_S = 300.0

USERS_DDL = """
CREATE TABLE IF NOT EXISTS mujun_users (
    name TEXT PRIMARY KEY,
    full_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    token TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mujun_login_failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS mujun_sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class User:
    name: str
    full_name: str
    role: str
    disabled: bool
    token: str
    created_at: str

    def can(self, role: str) -> bool:
        """Whether the user holds ``role`` or a stronger one."""
        return not self.disabled and ROLES.index(self.role) >= ROLES.index(role)

    @property
    def label(self) -> str:
        return f"{self.full_name}（{self.name}）" if self.full_name else self.name

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def _ensure(con: sqlite3.Connection) -> None:
    for stmt in USERS_DDL.split(";"):
        if stmt.strip():
            con.execute(stmt)


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(row["name"], row["full_name"], row["role"], bool(row["disabled"]), row["token"], row["created_at"])


def _has_table(ws: Workspace, table: str = "mujun_users") -> bool:
    return bool(ws.exists() and ws.query("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"角色 '{role}' 无效；可选 {' / '.join(ROLES)}（查看 / 审核 / 管理员）")


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME:  # before the name is echoed in a message
        raise InputError(f"用户名太长（{len(name)} 个字符）；最多 {MAX_NAME} 个字符")
    if not _NAME.match(name):
        raise InputError(f"用户名 '{name}' 无效；请用 2–{MAX_NAME} 个字母、数字、汉字或 . - _ @")


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked password sets, lower-cased.

    Taken from the ``zxcvbn`` package (the Python port of Dropbox's strength estimator),
    which ships this list as its "passwords" frequency list: a maintained, offline source,
    so no list of our own needs to be kept in the repository. Only (case-blind) membership is
    used, a rule a user can be told in one line.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, name: str = "", min_length: int = MIN_PASSWORD) -> None:
    """Refuse a password that is too short, too long, common, or the user's own name.

    Raises
    ------
    InputError
        Saying what is wrong and what a good password looks like.
    """
    if len(password) < min_length:
        raise InputError(f"密码太短（{len(password)} 个字符）；至少 {min_length} 个字符")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"密码太长（{len(password)} 个字符）；最多 {MAX_PASSWORD} 个字符")
    if password.lower() in _common_passwords():
        raise InputError("密码过于常见（在常用密码列表中），容易被猜中；请换一个，例如几个词加数字和符号")
    if name and password.lower() == name.lower():
        raise InputError("密码不能与用户名相同；请换一个")


def get_user(ws: Workspace, name: str) -> User | None:
    """The user called ``name``, or ``None``."""
    if not _has_table(ws):
        return None
    rows = ws.query("SELECT * FROM mujun_users WHERE name = ?", (name,))
    return _user(rows[0] if rows else None)


def list_users(ws: Workspace) -> list[User]:
    """Every user, by name."""
    if not _has_table(ws):
        return []
    return [_user(r) for r in ws.query("SELECT * FROM mujun_users ORDER BY name")]


def add_user(ws: Workspace, name: str, role: str, password: str, *, full_name: str = "",
             min_length: int = MIN_PASSWORD) -> User:
    """Create a user; refuses a taken or malformed name, an unknown role, a weak password."""
    _check_name(name)
    _check_role(role)
    check_password(password, name=name, min_length=min_length)
    user = User(name, full_name.strip()[:60], role, False, secrets.token_hex(8),
                datetime.now().isoformat(timespec="seconds"))
    with ws.transaction() as con:
        _ensure(con)
        if con.execute("SELECT 1 FROM mujun_users WHERE name = ?", (name,)).fetchone():
            raise InputError(f"用户 '{name}' 已存在；改密码用 mujun user password，停用用 mujun user disable")
        con.execute(
            "INSERT INTO mujun_users (name, full_name, role, password_hash, disabled, token, created_at)"
            " VALUES (?, ?, ?, ?, 0, ?, ?)",
            (name, user.full_name, role, generate_password_hash(password), user.token, user.created_at),
        )
    return user


def _update(ws: Workspace, name: str, sql: str, params: tuple) -> User:
    if len(name) > MAX_NAME:
        raise InputError(f"用户名太长（{len(name)} 个字符）；最多 {MAX_NAME} 个字符")
    with ws.transaction() as con:
        _ensure(con)
        cur = con.execute(f"UPDATE mujun_users SET {sql}, token = ? WHERE name = ?", (*params, secrets.token_hex(8), name))
        if cur.rowcount == 0:
            raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
        con.execute("DELETE FROM mujun_sessions WHERE name = ?", (name,))  # the new token ends them anyway
        return _user(con.execute("SELECT * FROM mujun_users WHERE name = ?", (name,)).fetchone())


def set_disabled(ws: Workspace, name: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user; their open sessions end."""
    return _update(ws, name, "disabled = ?", (int(disabled),))


def set_role(ws: Workspace, name: str, role: str) -> User:
    _check_role(role)
    return _update(ws, name, "role = ?", (role,))


def set_password(ws: Workspace, name: str, password: str, *, min_length: int = MIN_PASSWORD) -> User:
    check_password(password, name=name, min_length=min_length)
    return _update(ws, name, "password_hash = ?", (generate_password_hash(password),))


def _wait(rows: list[sqlite3.Row], now: float) -> float:
    """Seconds until the failure counts in ``rows`` allow another attempt."""
    wait = 0.0
    for row in rows:
        if row["count"] >= FREE_FAILURES:
            delay = min(FIRST_WAIT_S * 2 ** (row["count"] - FREE_FAILURES), MAX_WAIT_S)
            wait = max(wait, row["last"] + delay - now)
    return max(wait, 0.0)


def login_wait(ws: Workspace, keys: list[str], now: float | None = None) -> float:
    """Seconds to wait before another login attempt is accepted for any of ``keys``
    (``"user:NAME"``, ``"addr:IP"``): free for the first failures, then doubling."""
    if not keys or not _has_table(ws, "mujun_login_failures"):
        return 0.0
    now = time.time() if now is None else now
    marks = ",".join("?" * len(keys))
    return _wait(ws.query(f"SELECT count, last FROM mujun_login_failures WHERE key IN ({marks})", tuple(keys)), now)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once, with the same method and parameters as real
    ones: unknown user names are checked against it, so they take as long as known ones."""
    return generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of :func:`attempt_login`: the user, or ``None``; ``wait`` > 0 when the
    attempt was refused unchecked because of earlier failures (seconds to wait)."""

    user: User | None
    wait: float = 0.0


def attempt_login(ws: Workspace, name: str, password: str, address: str, now: float | None = None) -> LoginAttempt:
    """Check a login, throttled per user name and per address.

    One ``BEGIN IMMEDIATE`` transaction forgets failures older than the longest wait, checks
    the wait, checks the password only if there is none, and records the outcome: a failure
    counts for the name and the address, a success clears both. Simultaneous attempts queue
    for that transaction, so those beyond the limit are refused without a password check,
    while simultaneous right passwords (one office behind one address) all get in. Unknown
    names are checked against a dummy hash, so they take as long as known ones.
    """
    now = time.time() if now is None else now
    keys = [f"user:{name}", f"addr:{address}"]
    with ws.transaction() as con:
        _ensure(con)
        con.execute("DELETE FROM mujun_login_failures WHERE last < ?", (now - MAX_WAIT_S,))
        rows = con.execute("SELECT count, last FROM mujun_login_failures WHERE key IN (?, ?)", keys).fetchall()
        wait = _wait(rows, now)
        if wait > 0:
            return LoginAttempt(None, wait)
        row = con.execute("SELECT * FROM mujun_users WHERE name = ?", (name,)).fetchone()
        stored = row["password_hash"] if row is not None else _dummy_hash()
        ok = check_password_hash(stored, password) and row is not None and not row["disabled"]
        if ok:
            con.execute("DELETE FROM mujun_login_failures WHERE key IN (?, ?)", keys)
            return LoginAttempt(_user(row))
        con.executemany(
            "INSERT INTO mujun_login_failures (key, count, last) VALUES (?, 1, ?)"
            " ON CONFLICT(key) DO UPDATE SET count = count + 1, last = excluded.last",
            [(key, now) for key in keys],
        )
        return LoginAttempt(None)


def check_login(ws: Workspace, name: str, password: str, address: str, now: float | None = None) -> User | None:
    """The user if ``password`` is right, the account active and no wait is due, else ``None``
    (see :func:`attempt_login`)."""
    return attempt_login(ws, name, password, address, now).user


def _session_key(sid: str) -> str:
    # only a digest is stored: the workspace file alone does not give away live sessions
    return hashlib.sha256(sid.encode()).hexdigest()


def start_session(ws: Workspace, user: User, max_age: float, now: float | None = None) -> str:
    """A new login session of ``user``: the random id for the session cookie. Sessions older
    than ``max_age`` seconds are deleted on the way."""
    now = time.time() if now is None else now
    sid = secrets.token_urlsafe(32)
    with ws.transaction() as con:
        _ensure(con)
        con.execute("DELETE FROM mujun_sessions WHERE created < ?", (now - max_age,))
        con.execute("INSERT INTO mujun_sessions (id, name, token, created) VALUES (?, ?, ?, ?)",
                    (_session_key(sid), user.name, user.token, now))
    return sid


def session_user(ws: Workspace, sid: str, max_age: float, now: float | None = None) -> User | None:
    """The active user of the session ``sid``, or ``None`` if it ended (logout, expiry, or a
    change to the user's password, role or status)."""
    if not sid or not _has_table(ws, "mujun_sessions"):
        return None
    now = time.time() if now is None else now
    rows = ws.query(
        "SELECT u.* FROM mujun_sessions s JOIN mujun_users u ON u.name = s.name AND u.token = s.token"
        " WHERE s.id = ? AND s.created >= ? AND u.disabled = 0", (_session_key(sid), now - max_age))
    return _user(rows[0] if rows else None)


def end_session(ws: Workspace, sid: str) -> None:
    """End the session ``sid`` (logout): its cookie, and every copy of it, stops working."""
    if not sid or not _has_table(ws, "mujun_sessions"):
        return
    with ws.transaction() as con:
        con.execute("DELETE FROM mujun_sessions WHERE id = ?", (_session_key(sid),))
