"""Running the web app on waitress: ``mujun serve``, ``mujun demo``, the browser tests and the
page-load benchmark.

The socket is bound by :func:`bind`, before anything slow happens, so a port in use is
reported at once as a :class:`~mujun.geo.errors.MujunError`; :func:`run` then serves until Ctrl+C.
:func:`running` serves in a background thread (tests, benchmarks) and stops on exit.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import waitress
from waitress import wasyncore
from waitress.task import ThreadedTaskDispatcher
from waitress.trigger import trigger as _Trigger

from mujun.geo.errors import MujunError

__all__ = ["THREADS", "address", "bind", "close", "run", "running", "url_for_display"]

#: Worker threads of the server (map pages fetch parcels and assets in parallel).
THREADS = 8

_ANY = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def url_for_display(host: str, port: int) -> str:
    """The address a user opens in a browser to reach a server bound to ``host``:``port``.

    A server listening on every interface is reached through the loopback address.

    >>> url_for_display("0.0.0.0", 5000)
    'http://127.0.0.1:5000/'
    >>> url_for_display("::1", 8080)
    'http://[::1]:8080/'
    """
    host = _ANY.get(host, host)
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:  # a host name
        pass
    return f"http://{host}:{port}/"


def bind(app: Callable, host: str = "127.0.0.1", port: int = 5000, *, threads: int = THREADS) -> Any:
    """A waitress server for ``app`` bound to ``host``:``port`` (0: a free port), not yet serving.

    Raises
    ------
    MujunError
        The port is in use or not allowed, or the host is not an address of this computer.
    """
    # our own socket map and workers, so that a failed bind leaves nothing open behind it
    mapping: dict = {}
    workers = ThreadedTaskDispatcher()
    workers.set_thread_count(threads)
    try:
        return waitress.create_server(app, map=mapping, _dispatcher=workers, host=host, port=port,
                                      threads=threads, ident="mujun")
    except (OSError, ValueError) as err:
        wasyncore.close_all(mapping)
        workers.shutdown(timeout=5)
        raise _bind_error(err, host, port) from None


def _bind_error(err: OSError | ValueError, host: str, port: int) -> MujunError:
    """What the user can do about a failed bind."""
    if isinstance(err, ValueError):  # waitress refuses a malformed or unknown host
        return MujunError(f"无法在 '{host}:{port}' 上监听（{err}）；--host 应为本机的 IP 地址或主机名")
    if err.errno == errno.EADDRINUSE:
        return MujunError(f"端口 {port} 已被占用；请用 --port 换一个端口（如 --port {port + 1 if port < 65535 else 8000}），"
                          f"或先关闭占用该端口的程序")
    if err.errno == errno.EACCES:
        return MujunError(f"没有权限使用端口 {port}（1024 以下的端口需要管理员权限）；请用 --port 指定 1024 以上的端口")
    if err.errno == errno.EADDRNOTAVAIL or isinstance(err, socket.gaierror):
        return MujunError(f"无法在地址 '{host}' 上监听：它不是本机的地址；本机访问用 127.0.0.1，局域网访问用 0.0.0.0")
    return MujunError(f"无法在 {host}:{port} 启动网页服务（{err.strerror or err}）")


def _listening(server: Any) -> list[tuple[str, int]]:
    if hasattr(server, "effective_listen"):  # several sockets (a host name with IPv4 and IPv6)
        return [(str(h), int(p)) for h, p in server.effective_listen]
    return [(str(server.effective_host), int(server.effective_port))]


def address(server: Any) -> str:
    """The URL to open for a bound server."""
    host, port = _listening(server)[0]
    return url_for_display(host, port)


def run(server: Any, *, echo: Callable[[str], Any] = print) -> None:
    """Serve until Ctrl+C, telling the user (in Chinese) where to look."""
    echo(f"网页服务已启动：{address(server)}（在浏览器中打开；按 Ctrl+C 停止）")
    if any(h in _ANY for h, _ in _listening(server)):
        echo("正在所有网络接口上监听：局域网内的其他电脑可用本机的 IP 地址访问")
    try:
        server.run()  # waitress stops on Ctrl+C by itself
    finally:
        close(server)
    echo("网页服务已停止")


def _map(server: Any) -> dict:
    return server.map if hasattr(server, "effective_listen") else server._map


def close(server: Any) -> None:
    """Close the server's sockets and stop its worker threads (the server must not be running)."""
    wasyncore.close_all(_map(server))
    server.task_dispatcher.shutdown(timeout=5)


@contextlib.contextmanager
def running(app: Callable, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields the base URL (``http://127.0.0.1:PORT/``)."""
    server = bind(app, host, port)
    thread = threading.Thread(target=server.run, name="mujun-waitress", daemon=True)
    thread.start()
    try:
        yield address(server)
    finally:
        mapping = _map(server)
        trigger = next(d for d in list(mapping.values()) if isinstance(d, _Trigger))
        # the server's own loop closes its sockets, so no socket is closed under its feet
        trigger.pull_trigger(lambda: wasyncore.close_all(mapping))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(timeout=5)
