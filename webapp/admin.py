"""用户管理 /admin/users: list, add, disable or re-enable users, change roles and passwords,
create and revoke any user's access tokens.

Only 管理员 (admin). Every change is written to the audit log with who did it and from where.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from mujun.geo.errors import InputError
from mujun.layers import accounts
from mujun.layers.review import audit_log, log_event
from mujun.webapp import tokens
from mujun.webapp.access import current_name, remote_address, role_required
from mujun.webapp.data import results

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _log(action: str, changes: str) -> None:
    log_event(results().ws, user=current_name(), address=remote_address(), action=action, changes=changes)


def _min_password() -> int:
    return int(current_app.config["PASSWORD_MIN_LENGTH"])


def _context() -> dict:
    ws = results().ws
    log = audit_log(ws)
    events = log[log["parcel_id"].isna()].head(50).to_dict("records")
    return {"title": "用户管理", "users": accounts.list_users(ws), "roles": accounts.ROLE_LABELS, "events": events,
            "min_password": _min_password(), "max_password": accounts.MAX_PASSWORD, "max_name": accounts.MAX_NAME,
            "tokens": accounts.list_tokens(ws), "max_label": accounts.MAX_LABEL, "max_days": accounts.MAX_TOKEN_DAYS}


@bp.route("/users")
@role_required("admin")
def users():
    return render_template("admin_users.html", api_root="", new=None, **_context())


@bp.route("/tokens", methods=["POST"])
@role_required("admin")
def create_token():
    """A token for any active user (e.g. an account kept for a GIS server), shown once."""
    try:
        new = tokens.create_from_form(request.form.get("name", "")[:1000])
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".users"))
    return tokens.shown_once("admin_users.html", new=new, **_context())


@bp.route("/users/<name>/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("admin")
def revoke_token(name: str, token_id: int):
    try:
        token = accounts.revoke_token(results().ws, name, token_id)
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".users"))
    tokens.log("撤销令牌", token)
    flash(f"已撤销用户 {token.name} 的令牌 #{token.id}。", "success")
    return redirect(url_for(".users"))


@bp.route("/users", methods=["POST"])
@role_required("admin")
def add():
    f = request.form
    try:
        user = accounts.add_user(results().ws, f.get("name", "").strip(), f.get("role", ""), f.get("password", ""),
                                 full_name=f.get("full_name", ""), min_length=_min_password())
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".users"))
    _log("新增用户", f"用户 {user.name}（{user.role_label}）")
    flash(f"已新增用户 {user.label}（{user.role_label}）。", "success")
    return redirect(url_for(".users"))


@bp.route("/users/<name>", methods=["POST"])
@role_required("admin")
def change(name: str):
    ws = results().ws
    action = request.form.get("action", "")
    try:
        if name == current_name() and action in ("disable", "role"):
            raise InputError("不能停用自己或修改自己的角色；请由另一位管理员操作")
        if action == "disable":
            user, text = accounts.set_disabled(ws, name, True), "停用用户"
        elif action == "enable":
            user, text = accounts.set_disabled(ws, name, False), "启用用户"
        elif action == "role":
            user, text = accounts.set_role(ws, name, request.form.get("role", "")), "修改角色"
        elif action == "password":
            user, text = accounts.set_password(ws, name, request.form.get("password", ""),
                                                  min_length=_min_password()), "重设密码"
        else:
            raise InputError(f"未知的操作 '{action}'")
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".users"))
    _log(text, f"用户 {user.name}（{user.role_label}{'，已停用' if user.disabled else ''}）")
    flash(f"{text}：{user.label}。", "success")
    return redirect(url_for(".users"))
