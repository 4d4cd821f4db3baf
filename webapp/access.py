"""Who may reach what: logged-in users and their roles, 查看 (viewer) reads, 审核 (reviewer)
decides, 管理员 (admin) manages users.

Users live in the accounts file beside the workspace (:mod:`mujun.layers.accounts`). Sessions
are Flask's signed cookies, HttpOnly, SameSite=Lax, Secure whenever the request came over
HTTPS, carrying the id of a session the accounts file keeps: logout deletes it, so a copied
cookie stops working too. They end after ``SESSION_HOURS``; a user's sessions also end when
their password, role or status changes. Every page needs a login unless ``PUBLIC_READ`` is
set, which opens the reading pages (not the review pages) to anonymous users. The login and
logout pages are :mod:`mujun.webapp.auth`.

GIS clients and scripts cannot log in through a form: under :data:`TOKEN_PATHS` (the JSON
and OGC API, map tiles), and only there, an access token is accepted instead of a session,
as ``Authorization: Bearer <token>`` or as the password of HTTP Basic auth (user name and
token). Never a password: a client stores and sends its credential with every request, and
a token can only read, can be revoked alone and is checked in microseconds, where a
password would also open every form and cost an scrypt hash per map tile. A token request
may only read (GET, HEAD): no form, no CSRF question. Failed token uses count like failed
logins (429 with Retry-After); a 401 there carries the two ``WWW-Authenticate`` challenges.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from mujun.layers import accounts
from mujun.layers.workspace import Workspace

__all__ = ["CHALLENGES", "TOKEN_PATHS", "WebUser", "current_name", "init_app", "max_age", "remote_address",
           "role_required", "token_path", "workspace"]

csrf = CSRFProtect()
login_manager = LoginManager()

#: Endpoints anyone may reach: the login page and the static files it needs.
OPEN_ENDPOINTS = {"auth.login", "static", "assets.vendor"}
#: Blueprints that stay closed to anonymous users even when PUBLIC_READ is set.
CLOSED_BLUEPRINTS = {"review", "ledger", "admin", "account"}
#: Path prefixes where access tokens are accepted: every route under them, present or added later.
TOKEN_PATHS = ("/api", "/tiles")
#: The challenges of a 401 there: HTTP Basic (user name and token) and Bearer.
CHALLENGES = ('Basic realm="mujun", charset="UTF-8"', 'Bearer realm="mujun"')
_READING = ("GET", "HEAD")


class WebUser(UserMixin):
    """A :class:`mujun.layers.accounts.User` as Flask-Login sees it."""

    def __init__(self, user: accounts.User, sid: str):
        self.user = user
        self.sid = sid

    def get_id(self) -> str:  # the accounts file's session id ("" for a token): logout or an account change ends it
        return self.sid

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    def can(self, role: str) -> bool:
        return self.user.can(role)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (``auto``)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        setting = app.config.get("SESSION_COOKIE_SECURE")
        if setting == "auto":
            return request.is_secure
        return bool(setting)


def workspace() -> Workspace:
    """The workspace (its accounts file holds the users, sessions and tokens)."""
    return Workspace(current_app.config["WORKSPACE"])


def remote_address() -> str:
    """The client's address (set ``MUJUN_PROXIES`` behind a reverse proxy)."""
    return request.remote_addr or ""


def current_name() -> str:
    """The logged-in user's name ("" if nobody is logged in)."""
    return current_user.user.name if current_user.is_authenticated else ""


def max_age() -> float:
    """How long a login lasts, in seconds."""
    return current_app.permanent_session_lifetime.total_seconds()


@login_manager.user_loader
def _load(sid: str) -> WebUser | None:
    user = accounts.session_user(workspace(), sid, max_age())
    return WebUser(user, sid) if user is not None else None


def token_path(path: str) -> bool:
    """Whether ``path`` is under one of :data:`TOKEN_PATHS`.

    >>> [token_path(p) for p in ("/api", "/api/collections/parcels", "/tiles/identify", "/apiary", "/review")]
    [True, True, True, False, False]
    """
    return any(path == prefix or path.startswith(prefix + "/") for prefix in TOKEN_PATHS)


def _token_attempt() -> accounts.LoginAttempt:
    """The outcome of this request's ``Authorization`` header (checked once per request)."""
    if "token_attempt" not in g:
        auth = request.authorization
        name, secret = None, ""
        if auth is not None and auth.type == "basic":
            name, secret = auth.username or "", auth.password or ""
            if len(name) > accounts.MAX_NAME:  # not stored nor counted under a key that long
                name, secret = None, ""
        elif auth is not None and auth.type == "bearer":
            secret = auth.token or ""
        g.token_attempt = accounts.attempt_token(workspace(), secret, remote_address(), name=name)
    return g.token_attempt


@login_manager.request_loader
def _load_from_token(req) -> WebUser | None:
    # only when no session cookie gave a user, and only under the token paths
    if not token_path(req.path) or "Authorization" not in req.headers:
        return None
    user = _token_attempt().user
    return WebUser(user, "") if user is not None else None


def _token_gate():
    """Under the token paths, a request with an ``Authorization`` header only reads, and a
    refused token is answered at once (429 while failures must wait, else 401)."""
    if not token_path(request.path) or "Authorization" not in request.headers:
        return None
    if request.method not in _READING:
        abort(403, description="令牌只能用于读取数据（GET）；修改数据请在网页上登录后操作。")
    if current_user.is_authenticated or "token_attempt" not in g:  # a session, or the token is good
        return None
    wait = g.token_attempt.wait
    if wait > 0:
        g.retry_after = math.ceil(wait)
        abort(429, description=f"令牌验证失败次数过多，请 {g.retry_after} 秒后再试。")
    abort(401, description="令牌无效、已撤销或已过期，或用户已停用。API 和瓦片只接受令牌（Basic 认证的密码处填令牌，"
                           "或 Authorization: Bearer 令牌），不接受登录密码；令牌在“令牌”页面或用 mujun token create 创建。")


def _challenge(response: Response) -> Response:
    if token_path(request.path):
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            for challenge in CHALLENGES:
                response.headers.add("WWW-Authenticate", challenge)
        if response.status_code == 429 and g.get("retry_after"):
            response.headers["Retry-After"] = str(g.retry_after)
    return response


@login_manager.unauthorized_handler
def _unauthorized():
    if token_path(request.path):  # data for scripts and GIS clients: a status and a challenge, not a page
        abort(401, description="需要登录：请在网页上登录，或在 Authorization 头中提供令牌（Bearer 令牌，"
                               "或 Basic 认证：用户名 + 令牌）。")
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def role_required(role: str) -> Callable:
    """Decorator: the view needs a logged-in user holding ``role`` (or stronger)."""

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                abort(403, description=f"此操作需要“{accounts.ROLE_LABELS[role]}”或更高权限；"
                                       f"您是“{current_user.role_label}”。如需权限请联系管理员。")
            return view(*args, **kwargs)

        return inner

    return wrap


def init_app(app: Flask) -> None:
    """Install login, CSRF protection and the login-required gate."""
    app.session_interface = _SessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(app.config["SESSION_HOURS"]))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    app.before_request(_token_gate)  # before the CSRF check: a token request is refused as such
    app.after_request(_challenge)
    csrf.init_app(app)

    @app.before_request
    def _gate():
        endpoint = request.endpoint or ""
        if endpoint in OPEN_ENDPOINTS or current_user.is_authenticated:
            return None
        blueprint = endpoint.partition(".")[0]
        if app.config["PUBLIC_READ"] and request.method in ("GET", "HEAD") and blueprint not in CLOSED_BLUEPRINTS:
            return None
        return login_manager.unauthorized()

    @app.context_processor
    def _user() -> dict[str, Any]:
        return {"user": current_user if current_user.is_authenticated else None}
