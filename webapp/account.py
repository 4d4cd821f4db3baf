"""令牌 /account/tokens: each logged-in user creates, lists and revokes their own access tokens
for GIS clients (QGIS, GDAL) and scripts; :mod:`mujun.webapp.access` accepts them on the API
and tiles."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from mujun.geo.errors import InputError
from mujun.layers import accounts
from mujun.webapp import tokens
from mujun.webapp.access import current_name, role_required, workspace

__all__ = ["bp"]

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(new: accounts.NewToken | None = None):
    context = {"title": "令牌", "tokens": accounts.list_tokens(workspace(), current_name()), "new": new,
               "max_label": accounts.MAX_LABEL, "max_days": accounts.MAX_TOKEN_DAYS}
    if new is not None:
        return tokens.shown_once("account_tokens.html", **context)
    return render_template("account_tokens.html", api_root="", **context)


@bp.route("/tokens")
@role_required("viewer")
def index():
    """我的令牌."""
    return _page()


@bp.route("/tokens", methods=["POST"])
@role_required("viewer")
def create():
    try:
        new = tokens.create_from_form(current_name())
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".index"))
    return _page(new)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("viewer")
def revoke(token_id: int):
    try:
        token = accounts.revoke_token(workspace(), current_name(), token_id)
    except InputError as err:
        flash(str(err), "danger")
        return redirect(url_for(".index"))
    tokens.log("撤销令牌", token)
    flash(f"已撤销令牌 #{token.id}。", "success")
    return redirect(url_for(".index"))
