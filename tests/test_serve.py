"""Serving the web app on waitress: mujun.webapp.serve, mujun serve and mujun demo's server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from flask import Flask

from mujun.cli import main
from mujun.geo.errors import MujunError
from mujun.webapp.serve import bind, close, running, url_for_display


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hello() -> Flask:
    app = Flask("hello")
    app.add_url_rule("/", "index", lambda: "你好")
    return app


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("127.0.0.1", 5000, "http://127.0.0.1:5000/"),
    ("0.0.0.0", 8080, "http://127.0.0.1:8080/"),
    ("::", 5000, "http://[::1]:5000/"),
    ("fe80::1", 5000, "http://[fe80::1]:5000/"),
    ("gis.example", 80, "http://gis.example:80/"),
])
def test_url_for_display(host, port, expected):
    assert url_for_display(host, port) == expected


def test_running_serves_in_the_background_and_stops():
    with running(_hello()) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.read().decode() == "你好"
            assert r.headers["Server"] == "mujun"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_bind_reports_a_port_in_use(busy_port):
    with pytest.raises(MujunError, match=f"端口 {busy_port} 已被占用；请用 --port 换一个端口"):
        bind(_hello(), "127.0.0.1", busy_port)


def test_bind_refuses_an_address_of_another_computer():
    with pytest.raises(MujunError, match="不是本机的地址"):
        bind(_hello(), "192.0.2.1", 0)  # TEST-NET-1, never local


def test_bind_then_close_frees_the_port():
    server = bind(_hello(), "127.0.0.1", 0)
    port = server.effective_port
    close(server)
    close(bind(_hello(), "127.0.0.1", port))


def test_serve_without_a_workspace_is_one_line_and_status_2(runner, tmp_path):
    res = runner.invoke(main, ["serve", "--workspace", str(tmp_path / "none.gpkg"), "--port", str(_free_port())])
    assert res.exit_code == 2
    assert res.stderr.startswith("错误：工作空间") and "不存在" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_is_one_line_and_status_2(runner, sample_workspace, busy_port):
    res = runner.invoke(main, ["serve", "--workspace", str(sample_workspace.path), "--port", str(busy_port)])
    assert res.exit_code == 2
    assert res.stderr.startswith("错误：端口") and "已被占用" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_demo_reports_a_port_in_use_before_building(runner, tmp_path, busy_port):
    ws = tmp_path / "demo.gpkg"
    res = runner.invoke(main, ["demo", "--workspace", str(ws), "--scale", "0.1", "--port", str(busy_port)])
    assert res.exit_code == 2
    assert "已被占用" in res.stderr
    assert "正在生成示例数据" not in res.output
    assert not ws.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="stopped with SIGINT (Ctrl+C)")
def test_serve_prints_the_url_serves_and_stops_on_ctrl_c(sample_workspace):
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore", "MUJUN_PUBLIC_READ": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mujun.cli", "serve", "--workspace", str(sample_workspace.path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env,
        # a child of a non-interactive shell may start with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("工作空间：")
        assert lines[1].startswith(f"网页服务已启动：http://127.0.0.1:{port}/"), lines
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/config", timeout=10) as r:
            assert "parcel_min_zoom" in json.loads(r.read())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "网页服务已停止" in out
