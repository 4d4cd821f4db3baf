"""Who may reach what: logged-in users and their roles, 查看 (viewer) reads, 审核 (reviewer)
decides, 管理员 (admin) manages users.

Users live in the workspace (:mod:`mujun.layers.accounts`). Sessions are Flask's signed cookies,
HttpOnly, SameSite=Lax, Secure whenever the request came over HTTPS, carrying the id of a
session the workspace keeps: logout deletes it, so a copied cookie stops working too. They
end after ``SESSION_HOURS``; a user's sessions also end when their password, role or status
changes. Every page needs a login unless ``PUBLIC_READ`` is set, which opens the reading
pages (not the review pages) to anonymous users. The login and logout pages are
:mod:`mujun.webapp.auth`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from mujun.layers import accounts
from mujun.layers.workspace import Workspace

__all__ = ["WebUser", "current_name", "init_app", "max_age", "remote_address", "role_required", "workspace"]

csrf = CSRFProtect()
login_manager = LoginManager()

#: Endpoints anyone may reach: the login page and the static files it needs.
OPEN_ENDPOINTS = {"auth.login", "static", "assets.vendor"}
#: Blueprints that stay closed to anonymous users even when PUBLIC_READ is set.
CLOSED_BLUEPRINTS = {"review", "admin"}


class WebUser(UserMixin):
    """A :class:`mujun.layers.accounts.User` as Flask-Login sees it."""

    def __init__(self, user: accounts.User, sid: str):
        self.user = user
        self.sid = sid

    def get_id(self) -> str:  # the workspace's session id: logout or an account change ends it
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
    """The workspace holding the users and sessions."""
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


@login_manager.unauthorized_handler
def _unauthorized():
    if f"{request.path}/".startswith(("/api/", "/tiles/")):  # data for scripts: a status, not a page
        abort(401)
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
