"""Errors mapped to HTTP statuses in one place, shown as a page or, under /api/, as JSON."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from geo.errors import CRSError, InputError, MujunError, SchemaError, WorkspaceError

__all__ = ["STATUS", "init_app"]

#: Error class -> HTTP status (the first matching class in this order wins).
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (SchemaError, 400),
    (CRSError, 400),
    (InputError, 400),
    (WorkspaceError, 404),
    (MujunError, 400),
)

_TITLES = {400: "请求有误", 401: "需要登录", 403: "没有权限", 404: "没有找到", 405: "不支持的请求方法",
           409: "保存冲突", 429: "请求过于频繁", 500: "服务器内部错误"}
_MESSAGES = {401: "请先登录后再访问。", 404: "该页面或数据不存在。"}


def _respond(status: int, message: str):
    if request.path.startswith(("/api/", "/tiles/")):
        return jsonify({"error": {"status": status, "title": _TITLES.get(status, "错误"), "message": message}}), status
    return render_template("error.html", status=status, title=_TITLES.get(status, "错误"), message=message), status


def init_app(app: Flask) -> None:
    """Install the handlers: MujunError by class, HTTP errors, and anything unexpected."""

    @app.errorhandler(MujunError)
    def _mujun(err: MujunError):
        status = next(code for cls, code in STATUS if isinstance(err, cls))
        return _respond(status, str(err))

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError):
        return _respond(400, "表单的安全令牌（CSRF）缺失、无效或已过期；请刷新页面后重新提交。")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        message = _MESSAGES.get(err.code or 500, err.description or "")
        return _respond(err.code or 500, message)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # never a traceback in the browser
        app.logger.exception("unexpected error")
        return _respond(500, "处理请求时出现意外错误，已记录日志；请联系管理员。")
