"""What the token pages share (the 令牌 page of each user, the admin's 用户管理 page): reading
the create form, the audit-log record, and the one response that shows a new token."""

from __future__ import annotations

from flask import Response, make_response, render_template, request

from mujun.geo.errors import InputError
from mujun.layers import accounts
from mujun.layers.review import log_event
from mujun.webapp.access import current_name, remote_address, workspace

__all__ = ["create_from_form", "log", "shown_once"]


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"有效期应为 1 到 {accounts.MAX_TOKEN_DAYS} 的整数天数，或留空（永不过期）") from None


def create_from_form(name: str) -> accounts.NewToken:
    """A new token of ``name`` with the label and lifetime of the submitted form, logged."""
    new = accounts.create_token(workspace(), name, label=request.form.get("label", "")[:1000],
                                days=_days(request.form.get("days", "")[:20]))
    log("创建令牌", new.token)
    return new


def log(action: str, token: accounts.Token) -> None:
    """The audit log's record of a change to a token (who, from where; never the token)."""
    label = f"（{token.label}）" if token.label else ""
    log_event(workspace(), user=current_name(), address=remote_address(), action=action,
              changes=f"用户 {token.name} 的令牌 #{token.id}{label}")


def shown_once(template: str, **context) -> Response:
    """The page showing a new token: rendered in answer to the POST (never put in the
    session, as a flashed message would be), and not to be cached."""
    response = make_response(render_template(template, api_root=request.url_root + "api/", **context))
    response.headers["Cache-Control"] = "no-store"
    return response
