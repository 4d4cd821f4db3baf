"""User accounts of a workspace: names, roles, hashed passwords, failed-login throttling.

Stored in the workspace's own SQLite tables (``mujun_users``, ``mujun_login_failures``),
written in place through :meth:`Workspace.transaction`. Passwords are hashed with
werkzeug's scrypt; a user's ``token`` changes with their password, role or status, so the
sessions they hold elsewhere end.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from geo.errors import InputError
from layers.workspace import Workspace

__all__ = [
    "ROLES", "ROLE_LABELS", "User", "add_user", "check_login", "get_user", "list_users",
    "login_wait", "set_disabled", "set_password", "set_role",
]

#: Roles, weakest first: each can do what the ones before it can.
ROLES = ("viewer", "reviewer", "admin")
ROLE_LABELS = {"viewer": "查看", "reviewer": "审核", "admin": "管理员"}
MIN_PASSWORD = 8
_NAME = re.compile(r"^[\w.\-@\u4e00-\u9fff]{2,40}$")

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


def _has_table(ws: Workspace) -> bool:
    return bool(ws.exists() and ws.query("SELECT 1 FROM sqlite_master WHERE name = 'mujun_users'"))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"角色 '{role}' 无效；可选 {' / '.join(ROLES)}（查看 / 审核 / 管理员）")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"密码太短（{len(password)} 个字符）；至少 {MIN_PASSWORD} 个字符")


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


def add_user(ws: Workspace, name: str, role: str, password: str, *, full_name: str = "") -> User:
    """Create a user; refuses a taken or malformed name, an unknown role, a short password."""
    if not _NAME.match(name):
        raise InputError(f"用户名 '{name}' 无效；请用 2–40 个字母、数字、汉字或 . - _ @")
    _check_role(role)
    _check_password(password)
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
    with ws.transaction() as con:
        _ensure(con)
        cur = con.execute(f"UPDATE mujun_users SET {sql}, token = ? WHERE name = ?", (*params, secrets.token_hex(8), name))
        if cur.rowcount == 0:
            raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
        return _user(con.execute("SELECT * FROM mujun_users WHERE name = ?", (name,)).fetchone())


def set_disabled(ws: Workspace, name: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user; their open sessions end."""
    return _update(ws, name, "disabled = ?", (int(disabled),))


def set_role(ws: Workspace, name: str, role: str) -> User:
    _check_role(role)
    return _update(ws, name, "role = ?", (role,))


def set_password(ws: Workspace, name: str, password: str) -> User:
    _check_password(password)
    return _update(ws, name, "password_hash = ?", (generate_password_hash(password),))


def login_wait(ws: Workspace, keys: list[str], now: float | None = None) -> float:
    """Seconds to wait before another login attempt is accepted for any of ``keys``
    (``"user:NAME"``, ``"addr:IP"``): free for the first failures, then doubling."""
    if not keys or not ws.exists() or not ws.query("SELECT 1 FROM sqlite_master WHERE name = 'mujun_login_failures'"):
        return 0.0
    now = time.time() if now is None else now
    marks = ",".join("?" * len(keys))
    wait = 0.0
    for row in ws.query(f"SELECT count, last FROM mujun_login_failures WHERE key IN ({marks})", tuple(keys)):
        if row["count"] >= FREE_FAILURES:
            delay = min(FIRST_WAIT_S * 2 ** (row["count"] - FREE_FAILURES), MAX_WAIT_S)
            wait = max(wait, row["last"] + delay - now)
    return max(wait, 0.0)


def check_login(ws: Workspace, name: str, password: str, address: str) -> User | None:
    """The user if ``password`` is right and the account active, else ``None``; failures are
    counted per user name and per address, a success clears the user's count."""
    user = get_user(ws, name)
    row = ws.query("SELECT password_hash FROM mujun_users WHERE name = ?", (name,)) if user else []
    # hash even for unknown names, so timing does not reveal which names exist
    stored = row[0]["password_hash"] if row else generate_password_hash(secrets.token_hex(8))
    ok = check_password_hash(stored, password) and user is not None and not user.disabled
    keys = [f"user:{name}", f"addr:{address}"]
    with ws.transaction() as con:
        _ensure(con)
        if ok:
            con.execute("DELETE FROM mujun_login_failures WHERE key = ?", (keys[0],))
        else:
            for key in keys:
                con.execute(
                    "INSERT INTO mujun_login_failures (key, count, last) VALUES (?, 1, ?)"
                    " ON CONFLICT(key) DO UPDATE SET count = count + 1, last = excluded.last",
                    (key, time.time()),
                )
    return user if ok else None
