"""User accounts of a workspace: names, roles, hashed passwords, failed-login throttling,
login sessions and access tokens for GIS clients.

They live in a SQLite file of their own beside the workspace, ``<stem>.accounts.sqlite``
(``mujun.gpkg`` -> ``mujun.accounts.sqlite``), created owner-only (0600), never in the
GeoPackage: a workspace handed to someone else (or a copy :meth:`Workspace.write` makes)
carries no password hashes. Workspaces that still hold the old ``mujun_users``,
``mujun_login_failures`` and ``mujun_sessions`` tables have them moved out on first use
(:func:`migrate`). Only Python's ``sqlite3`` opens the file; every write is one
``BEGIN IMMEDIATE`` transaction in the default rollback-journal mode, so the file is
always one self-contained file (no ``-wal`` beside it holding recent hashes), which also
works on network shares where workspaces often live; writes are rare and tiny.

Passwords are hashed with werkzeug's scrypt; a user's ``token`` (a session stamp, not an
access token) changes with their password, role or status, so the sessions they hold
elsewhere end. A login session is a row of ``mujun_sessions`` (the SHA-256 of a random id
the session cookie carries): logging out deletes it, so a copy of that cookie no longer
works. Access tokens (``mujun_tokens``) are random ``mj_…`` strings shown once and stored
as their SHA-256; a token acts with its user's role at the time of use, stops working when
revoked, expired or its user disabled, and every failed use counts like a failed login.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from werkzeug.security import check_password_hash, generate_password_hash

from mujun.geo.errors import InputError, WorkspaceError
from mujun.layers.workspace import Workspace, immediate_transaction, missing_workspace

__all__ = [
    "MAX_NAME", "MAX_PASSWORD", "MIN_PASSWORD", "ROLES", "ROLE_LABELS", "TOKEN_PREFIX", "LoginAttempt", "NewToken",
    "Token", "User", "add_user", "attempt_login", "attempt_token", "check_login", "check_password", "create_token",
    "end_session", "get_user", "list_tokens", "list_users", "login_wait", "migrate", "reset", "revoke_token",
    "revoke_tokens", "session_user", "set_disabled", "set_password", "set_role", "start_session", "store_path",
]

log = logging.getLogger(__name__)

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

#: Access tokens: ``mj_`` and 32 random bytes (43 URL-safe characters).
TOKEN_PREFIX = "mj_"
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}$")
#: Active tokens one user may hold, the longest label and the longest lifetime (days).
MAX_TOKENS = 20
MAX_LABEL = 60
MAX_TOKEN_DAYS = 3650
#: A token's "last used" time is written at most this often (seconds): a map view asks for
#: dozens of tiles, which should not each write to the accounts file.
TOKEN_TOUCH_S = 60.0

#: The tables workspaces used to hold and :func:`migrate` moves out.
LEGACY_TABLES = ("mujun_users", "mujun_login_failures", "mujun_sessions")

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
CREATE TABLE IF NOT EXISTS mujun_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    last_used REAL,
    expires REAL,
    revoked REAL
);
CREATE INDEX IF NOT EXISTS mujun_tokens_name ON mujun_tokens (name);
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


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(row["name"], row["full_name"], row["role"], bool(row["disabled"]), row["token"], row["created_at"])


# -- the accounts file ---------------------------------------------------------------------
def store_path(ws: Workspace) -> Path:
    """The accounts file of ``ws``: ``<stem>.accounts.sqlite`` beside it.

    >>> store_path(Workspace("/srv/亩均/mujun-demo.gpkg")).as_posix()
    '/srv/亩均/mujun-demo.accounts.sqlite'
    """
    return ws.path.with_name(f"{ws.path.stem}.accounts.sqlite")


def _connect(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a schema-less file by accident (see _create)
    con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=rw", uri=True, timeout=30,
                          isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA secure_delete = ON")  # old hashes and ended sessions are overwritten
    return con


def _create(ws: Workspace) -> Path:
    """The accounts file, created owner-only with its tables if it does not exist yet.

    It is built under a scratch name and linked into place, so no process ever sees the
    file without its tables; of two processes creating it at once, one wins.
    """
    path = store_path(ws)
    if path.is_file():
        return path
    if not ws.exists():
        raise missing_workspace(ws.path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with contextlib.closing(sqlite3.connect(tmp)) as con:
            con.executescript(USERS_DDL + "PRAGMA user_version = 1;")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links (some network shares)
            if not path.exists():
                os.replace(tmp, path)
    except OSError as err:
        raise WorkspaceError(f"无法在 {path.parent} 中创建账户文件 {path.name}（{err.strerror}）；"
                             "请检查该文件夹的写权限") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read(ws: Workspace, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """Rows of a query on the accounts file (none if it does not exist yet)."""
    migrate(ws)
    path = store_path(ws)
    if not path.is_file():
        return []
    try:
        with contextlib.closing(_connect(path)) as con:
            return con.execute(sql, params).fetchall()
    except sqlite3.OperationalError as err:
        raise WorkspaceError(f"账户文件 {path.name} 无法读取（{err}）；请检查文件权限或稍后重试") from None


@contextlib.contextmanager
def _transaction(ws: Workspace, *, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    """A write transaction on the accounts file (created if need be): ``BEGIN IMMEDIATE``
    serialises writers, who wait up to ``timeout`` seconds; commits, or rolls back on error."""
    migrate(ws)
    path = _create(ws)
    with immediate_transaction(_connect(path), f"账户文件 {path.name}", timeout) as con:
        yield con


#: workspace file -> the version of it (inode, size, time) found without account tables
_checked: dict[str, tuple] = {}
_checked_lock = threading.Lock()


def _stamp(ws: Workspace) -> tuple | None:
    try:
        st = ws.path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _legacy(rows_of) -> list[str]:
    marks = ",".join("?" * len(LEGACY_TABLES))
    return [str(r[0]) for r in rows_of(f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
                                       LEGACY_TABLES)]


def migrate(ws: Workspace) -> int:
    """Move the users, login failures and sessions a workspace still holds into its
    accounts file and drop them from the workspace; the number of users moved.

    Runs once per version of the workspace file (cheap afterwards). The rows are copied
    into the accounts file (users already there are kept) and committed first, then the
    tables are dropped in one workspace transaction (:meth:`Workspace.transaction`, which
    :meth:`Workspace.write` waits for) with ``secure_delete`` on, so their pages are
    overwritten with zeros rather than left in the file. A crash in between leaves the rows
    in both files, and the next call finishes the move.
    """
    stamp, key = _stamp(ws), str(ws.path.resolve())
    if stamp is None or _checked.get(key) == stamp:
        return 0
    try:
        found = _legacy(ws.query)
    except sqlite3.Error:  # not a GeoPackage: the caller's own read reports it
        return 0
    moved = 0
    if found:
        with ws.transaction() as wcon:
            found = _legacy(lambda sql, params: wcon.execute(sql, params).fetchall())
            if found:
                _create(ws)
                with contextlib.closing(_connect(store_path(ws))) as acon:
                    acon.execute("BEGIN IMMEDIATE")
                    try:
                        for table in found:
                            rows = wcon.execute(f"SELECT * FROM {table}").fetchall()
                            if not rows:
                                continue
                            cols = rows[0].keys()
                            cur = acon.executemany(
                                f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [tuple(r) for r in rows])
                            if table == "mujun_users":
                                moved = cur.rowcount
                        acon.execute("COMMIT")
                    except BaseException:
                        acon.execute("ROLLBACK")
                        raise
                wcon.execute("PRAGMA secure_delete = ON")
                gpkg = {str(r[0]) for r in wcon.execute(
                    "SELECT name FROM sqlite_master WHERE name IN ('gpkg_contents', 'gpkg_ogr_contents')")}
                for table in found:
                    wcon.execute(f"DROP TABLE {table}")
                    for registry in sorted(gpkg):
                        wcon.execute(f"DELETE FROM {registry} WHERE table_name = ?", (table,))
        if found:
            log.warning("已将 %d 个用户及登录记录从工作空间 %s 移到账户文件 %s（工作空间中不再保存密码哈希）",
                        moved, ws.path.name, store_path(ws).name)
        stamp = _stamp(ws)
    with _checked_lock:
        _checked[key] = stamp
    return moved


def reset(ws: Workspace) -> None:
    """Delete every user, session, token and login failure of ``ws`` (``mujun demo``, whose
    sample replaces the workspace and its accounts)."""
    with _transaction(ws) as con:
        for table in ("mujun_tokens", "mujun_sessions", "mujun_login_failures", "mujun_users"):
            con.execute(f"DELETE FROM {table}")


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
    rows = _read(ws, "SELECT * FROM mujun_users WHERE name = ?", (name,))
    return _user(rows[0] if rows else None)


def list_users(ws: Workspace) -> list[User]:
    """Every user, by name."""
    return [_user(r) for r in _read(ws, "SELECT * FROM mujun_users ORDER BY name")]


def add_user(ws: Workspace, name: str, role: str, password: str, *, full_name: str = "",
             min_length: int = MIN_PASSWORD) -> User:
    """Create a user; refuses a taken or malformed name, an unknown role, a weak password."""
    _check_name(name)
    _check_role(role)
    check_password(password, name=name, min_length=min_length)
    user = User(name, full_name.strip()[:60], role, False, secrets.token_hex(8),
                datetime.now().isoformat(timespec="seconds"))
    with _transaction(ws) as con:
        if con.execute("SELECT 1 FROM mujun_users WHERE name = ?", (name,)).fetchone():
            raise InputError(f"用户 '{name}' 已存在；改密码用 mujun user password，停用用 mujun user disable")
        con.execute(
            "INSERT INTO mujun_users (name, full_name, role, password_hash, disabled, token, created_at)"
            " VALUES (?, ?, ?, ?, 0, ?, ?)",
            (name, user.full_name, role, generate_password_hash(password), user.token, user.created_at),
        )
    return user


def _update(ws: Workspace, name: str, sql: str, params: tuple, *, revoke_tokens: bool = False) -> User:
    if len(name) > MAX_NAME:
        raise InputError(f"用户名太长（{len(name)} 个字符）；最多 {MAX_NAME} 个字符")
    with _transaction(ws) as con:
        cur = con.execute(f"UPDATE mujun_users SET {sql}, token = ? WHERE name = ?", (*params, secrets.token_hex(8), name))
        if cur.rowcount == 0:
            raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
        con.execute("DELETE FROM mujun_sessions WHERE name = ?", (name,))  # the new token ends them anyway
        if revoke_tokens:
            con.execute("UPDATE mujun_tokens SET revoked = ? WHERE name = ? AND revoked IS NULL", (time.time(), name))
        return _user(con.execute("SELECT * FROM mujun_users WHERE name = ?", (name,)).fetchone())


def set_disabled(ws: Workspace, name: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user; their open sessions end, and disabling revokes their
    access tokens for good (a re-enabled user creates new ones)."""
    return _update(ws, name, "disabled = ?", (int(disabled),), revoke_tokens=disabled)


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
    if not keys:
        return 0.0
    now = time.time() if now is None else now
    marks = ",".join("?" * len(keys))
    return _wait(_read(ws, f"SELECT count, last FROM mujun_login_failures WHERE key IN ({marks})", tuple(keys)), now)


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
    with _transaction(ws) as con:
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
        _count_failure(con, keys, now)
        return LoginAttempt(None)


def check_login(ws: Workspace, name: str, password: str, address: str, now: float | None = None) -> User | None:
    """The user if ``password`` is right, the account active and no wait is due, else ``None``
    (see :func:`attempt_login`)."""
    return attempt_login(ws, name, password, address, now).user


def _count_failure(con: sqlite3.Connection, keys: list[str], now: float) -> None:
    con.executemany(
        "INSERT INTO mujun_login_failures (key, count, last) VALUES (?, 1, ?)"
        " ON CONFLICT(key) DO UPDATE SET count = count + 1, last = excluded.last",
        [(key, now) for key in keys],
    )


def _session_key(sid: str) -> str:
    # only a digest is stored: the accounts file alone does not give away live sessions
    return hashlib.sha256(sid.encode()).hexdigest()


def start_session(ws: Workspace, user: User, max_age: float, now: float | None = None) -> str:
    """A new login session of ``user``: the random id for the session cookie. Sessions older
    than ``max_age`` seconds are deleted on the way."""
    now = time.time() if now is None else now
    sid = secrets.token_urlsafe(32)
    with _transaction(ws) as con:
        con.execute("DELETE FROM mujun_sessions WHERE created < ?", (now - max_age,))
        con.execute("INSERT INTO mujun_sessions (id, name, token, created) VALUES (?, ?, ?, ?)",
                    (_session_key(sid), user.name, user.token, now))
    return sid


def session_user(ws: Workspace, sid: str, max_age: float, now: float | None = None) -> User | None:
    """The active user of the session ``sid``, or ``None`` if it ended (logout, expiry, or a
    change to the user's password, role or status)."""
    if not sid:
        return None
    now = time.time() if now is None else now
    rows = _read(ws,
        "SELECT u.* FROM mujun_sessions s JOIN mujun_users u ON u.name = s.name AND u.token = s.token"
        " WHERE s.id = ? AND s.created >= ? AND u.disabled = 0", (_session_key(sid), now - max_age))
    return _user(rows[0] if rows else None)


def end_session(ws: Workspace, sid: str) -> None:
    """End the session ``sid`` (logout): its cookie, and every copy of it, stops working."""
    if not sid or not store_path(ws).is_file():
        return
    with _transaction(ws) as con:
        con.execute("DELETE FROM mujun_sessions WHERE id = ?", (_session_key(sid),))


# -- access tokens -------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    """An access token as listed (never the token itself): times are Unix seconds."""

    id: int
    name: str
    label: str
    created: float
    last_used: float | None
    expires: float | None
    revoked: float | None

    def status(self, now: float | None = None) -> str:
        """有效, 已过期 or 已撤销."""
        now = time.time() if now is None else now
        if self.revoked is not None:
            return "已撤销"
        if self.expires is not None and self.expires <= now:
            return "已过期"
        return "有效"

    def active(self, now: float | None = None) -> bool:
        return self.status(now) == "有效"

    @property
    def created_at(self) -> str:
        return _when(self.created)

    @property
    def last_used_at(self) -> str:
        return "从未使用" if self.last_used is None else _when(self.last_used)

    @property
    def expires_at(self) -> str:
        return "永不过期" if self.expires is None else _when(self.expires)


def _when(t: float) -> str:
    """A time as shown in token lists: local time to the minute."""
    return datetime.fromtimestamp(t).isoformat(sep=" ", timespec="minutes")


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown once and stored nowhere."""

    token: Token
    secret: str


def _token(row: sqlite3.Row) -> Token:
    return Token(int(row["id"]), row["name"], row["label"], row["created"], row["last_used"], row["expires"],
                 row["revoked"])


def _digest(secret: str) -> str:
    # SHA-256, not scrypt: a token is 256 random bits, beyond any offline guessing, and the
    # digest is the key it is found by on every API and tile request, in microseconds
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_label(label: str) -> str:
    label = re.sub(r"[\x00-\x1f\x7f]", "", label).strip()
    if len(label) > MAX_LABEL:
        raise InputError(f"令牌名称太长（{len(label)} 个字符）；最多 {MAX_LABEL} 个字符")
    return label


def create_token(ws: Workspace, name: str, *, label: str = "", days: int | None = None,
                 now: float | None = None) -> NewToken:
    """A new access token of the active user ``name``, valid for ``days`` days (``None``:
    until revoked). Only its SHA-256 is stored; the token is in the result, once."""
    now = time.time() if now is None else now
    label = _check_label(label)
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise InputError(f"有效期应为 1 到 {MAX_TOKEN_DAYS} 天，收到 {days}")
    if len(name) > MAX_NAME:
        raise InputError(f"用户名太长（{len(name)} 个字符）；最多 {MAX_NAME} 个字符")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = None if days is None else now + days * 86400.0
    with _transaction(ws) as con:
        row = con.execute("SELECT disabled FROM mujun_users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
        if row["disabled"]:
            raise InputError(f"用户 '{name}' 已停用，不能创建令牌；请先启用（mujun user enable）")
        active = con.execute("SELECT count(*) FROM mujun_tokens WHERE name = ? AND revoked IS NULL"
                             " AND (expires IS NULL OR expires > ?)", (name, now)).fetchone()[0]
        if active >= MAX_TOKENS:
            raise InputError(f"用户 '{name}' 已有 {active} 个有效令牌（最多 {MAX_TOKENS} 个）；请先撤销不用的令牌")
        cur = con.execute("INSERT INTO mujun_tokens (name, label, hash, created, expires) VALUES (?, ?, ?, ?, ?)",
                          (name, label, _digest(secret), now, expires))
        token = Token(int(cur.lastrowid), name, label, now, None, expires, None)
    return NewToken(token, secret)


def list_tokens(ws: Workspace, name: str | None = None) -> list[Token]:
    """The tokens of ``name`` (every user's if ``None``), newest first, revoked ones too."""
    if name is None:
        rows = _read(ws, "SELECT * FROM mujun_tokens ORDER BY id DESC")
    else:
        rows = _read(ws, "SELECT * FROM mujun_tokens WHERE name = ? ORDER BY id DESC", (name,))
    return [_token(r) for r in rows]


def revoke_token(ws: Workspace, name: str, token_id: int, now: float | None = None) -> Token:
    """Revoke token ``token_id`` of ``name``: it stops working at once."""
    now = time.time() if now is None else now
    with _transaction(ws) as con:
        row = con.execute("SELECT * FROM mujun_tokens WHERE id = ? AND name = ?", (token_id, name)).fetchone()
        if row is None:
            raise InputError(f"用户 '{name}' 没有编号为 {token_id} 的令牌；用 mujun token list {name} 查看")
        if row["revoked"] is None:
            con.execute("UPDATE mujun_tokens SET revoked = ? WHERE id = ?", (now, token_id))
        return _token(con.execute("SELECT * FROM mujun_tokens WHERE id = ?", (token_id,)).fetchone())


def revoke_tokens(ws: Workspace, name: str, now: float | None = None) -> int:
    """Revoke every token of ``name`` still in force; how many."""
    now = time.time() if now is None else now
    with _transaction(ws) as con:
        if con.execute("SELECT 1 FROM mujun_users WHERE name = ?", (name,)).fetchone() is None:
            raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
        return con.execute("UPDATE mujun_tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                           (now, name)).rowcount


_TOKEN_USER = (
    "SELECT u.*, t.id AS token_id, t.last_used AS token_used FROM mujun_tokens t"
    " JOIN mujun_users u ON u.name = t.name"
    " WHERE t.hash = ? AND t.revoked IS NULL AND (t.expires IS NULL OR t.expires > ?) AND u.disabled = 0"
    " AND (? IS NULL OR t.name = ?)"
)


def attempt_token(ws: Workspace, secret: str, address: str, *, name: str | None = None,
                  now: float | None = None) -> LoginAttempt:
    """Check an access token, throttled like :func:`attempt_login`.

    ``name`` is the user name that came with it (HTTP Basic), which must be the token's
    owner; a failure counts for the address and for that name. While a wait is due the
    token is refused unchecked. The user comes with their current role; a revoked or
    expired token, a disabled user's, or anything that is not a token (a password) fails.
    The usual success is read-only: the accounts file is written only to record a failure,
    clear earlier ones, or note the token's use (at most every :data:`TOKEN_TOUCH_S`).
    """
    now = time.time() if now is None else now
    keys = [f"addr:{address}"] + ([f"user:{name}"] if name is not None else [])
    digest = _digest(secret) if _TOKEN.match(secret) else ""  # nothing else can be a token
    marks = ",".join("?" * len(keys))
    failures = f"SELECT count, last FROM mujun_login_failures WHERE key IN ({marks})"
    lookup = (digest, now, name, name)
    rows = _read(ws, failures, tuple(keys))
    wait = _wait(rows, now)
    if wait > 0:
        return LoginAttempt(None, wait)
    found = _read(ws, _TOKEN_USER, lookup) if digest else []
    if found and not rows and (found[0]["token_used"] or 0) > now - TOKEN_TOUCH_S:
        return LoginAttempt(_user(found[0]))
    with _transaction(ws) as con:
        con.execute("DELETE FROM mujun_login_failures WHERE last < ?", (now - MAX_WAIT_S,))
        wait = _wait(con.execute(failures, keys).fetchall(), now)
        if wait > 0:
            return LoginAttempt(None, wait)
        row = con.execute(_TOKEN_USER, lookup).fetchone() if digest else None
        if row is None:
            _count_failure(con, keys, now)
            return LoginAttempt(None)
        con.execute(f"DELETE FROM mujun_login_failures WHERE key IN ({marks})", keys)
        con.execute("UPDATE mujun_tokens SET last_used = ? WHERE id = ?", (now, row["token_id"]))
        return LoginAttempt(_user(row))
