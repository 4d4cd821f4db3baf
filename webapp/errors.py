"""Errors mapped to HTTP statuses in one place, shown as a page or, under /api/, as JSON."""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

from flask import Flask, current_app, has_app_context, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from mujun.geo.errors import CRSError, InputError, MujunError, SchemaError, WorkspaceError

__all__ = ["STATUS", "init_app", "public_message"]

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


#: Characters that end a path in a message: blanks, quotes, brackets and Chinese punctuation.
_STOP = r"\s'\"“”‘’()（）<>，。；：、"
#: An absolute path of at least two parts: POSIX (/srv/data/w.gpkg), Windows (D:\\数据\\w.gpkg)
#: or UNC (\\\\server\\share\\w.gpkg); not part of a URL or of a relative id such as GB/T 4754.
_PATH = re.compile(rf"(?<![\w.:/\\])(?:/|[A-Za-z]:[\\/]|\\\\)(?:[^{_STOP}/\\]+[\\/])+[^{_STOP}/\\]*")


def public_message(text: str) -> str:
    """``text`` with each server file-system path cut to its last part (the file name), for
    web users; the command line shows the full paths.

    Examples
    --------
    >>> public_message("工作空间 /srv/mujun/亩均.gpkg 不存在；请先运行 mujun demo")
    '工作空间 亩均.gpkg 不存在；请先运行 mujun demo'
    >>> public_message(r"找不到栅格文件 D:\\影像\\2025.tif；请检查路径")
    '找不到栅格文件 2025.tif；请检查路径'
    >>> public_message("应为 GB/T 4754-2017，见 http://host/a/b")
    '应为 GB/T 4754-2017，见 http://host/a/b'
    """
    workspace = str(current_app.config.get("WORKSPACE") or "") if has_app_context() else ""
    for known in {workspace, str(Path(workspace).resolve())} if workspace else ():
        text = text.replace(known, Path(known).name)  # also when its name has blanks
    return _PATH.sub(lambda m: PureWindowsPath(m.group(0).rstrip("/\\")).name, text)


def _respond(status: int, message: str):
    message = public_message(message)
    if f"{request.path}/".startswith(("/api/", "/tiles/")):
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
        # abort(404, description="…") says what is missing; werkzeug's own English texts are replaced
        own = err.description if err.description != type(err).description else None
        message = own or _MESSAGES.get(err.code or 500, err.description or "")
        return _respond(err.code or 500, message)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # never a traceback in the browser
        app.logger.exception("unexpected error")
        return _respond(500, "处理请求时出现意外错误，已记录日志；请联系管理员。")
