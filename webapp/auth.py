"""登录 /login and 退出登录 /logout. Failed logins are counted per user name and per address;
after a few, each further attempt must wait, twice as long each time. Who may reach which
page once logged in is :mod:`mujun.webapp.access`.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from mujun.layers import accounts
from mujun.webapp.access import WebUser, max_age, remote_address, workspace

__all__ = ["bp"]

bp = Blueprint("auth", __name__)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``, no control characters, which
    cannot go into a Location header) is followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target and not _CONTROL.search(target):
        return target
    return url_for("dashboard.index")


def _login_page(next_url: str, name: str, **context: Any) -> str:
    return render_template("login.html", title="登录", next_url=next_url, name=name,
                           max_name=accounts.MAX_NAME, max_password=accounts.MAX_PASSWORD, **context)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """登录."""
    ws = workspace()
    next_url = request.values.get("next", "")
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(next_url))
        return _login_page(next_url, "", no_users=not accounts.list_users(ws))
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    if len(name) > accounts.MAX_NAME or len(password) > accounts.MAX_PASSWORD:  # not hashed, stored nor echoed
        flash(f"用户名最多 {accounts.MAX_NAME} 个字符，密码最多 {accounts.MAX_PASSWORD} 个字符；请检查后重新输入。",
              "danger")
        return _login_page(next_url, ""), 400
    attempt = accounts.attempt_login(ws, name, password, remote_address())
    if attempt.wait > 0:
        flash(f"登录失败次数过多，请 {math.ceil(attempt.wait)} 秒后再试。", "danger")
        return _login_page(next_url, name), 429, {"Retry-After": str(math.ceil(attempt.wait))}
    if attempt.user is None:
        flash("用户名或密码错误，或该账户已停用。", "danger")
        return _login_page(next_url, name), 401
    sid = accounts.start_session(ws, attempt.user, max_age())
    session.clear()  # no fixation: a fresh session for the logged-in user
    login_user(WebUser(attempt.user, sid))
    session.permanent = True
    return redirect(_safe_next(next_url))


@bp.route("/logout", methods=["POST"])
def logout():
    """退出登录 (POST with a CSRF token, so no other site can log a user out)."""
    if current_user.is_authenticated:
        accounts.end_session(workspace(), current_user.sid)
    logout_user()
    session.clear()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))
