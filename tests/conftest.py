"""Shared fixtures: the sample workspace, built once per test session."""

from __future__ import annotations

import pytest

from mujun.layers.sample import build_sample
from mujun.layers.workspace import Workspace
from mujun.service import evaluate_sample


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory) -> Workspace:
    """The Shaoxing sample (seed 2024, scale 1), imported and evaluated for every year (the
    last with the parcels layer of that year: :func:`mujun.service.evaluate_sample`).

    Tests must not write to it; copy the file first if a test needs to change it.
    """
    ws = Workspace(tmp_path_factory.mktemp("sample") / "sample.gpkg")
    built = build_sample(ws, seed=2024, scale=1.0)
    evaluate_sample(ws, built.later_parcels, progress=False)
    return ws


@pytest.fixture(scope="session")
def web_app(sample_workspace):
    """The web app over the sample workspace, reading pages open to anonymous users
    (``PUBLIC_READ``); login, roles and review are tested on :func:`review_app`."""
    from mujun.webapp import create_app

    return create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True, "PUBLIC_READ": True})


@pytest.fixture
def client(web_app):
    return web_app.test_client()


#: Users of the review workspace: name -> (role, password).
USERS = {"admin": ("admin", "admin-pass-1"), "rev1": ("reviewer", "rev1-pass-1"),
         "rev2": ("reviewer", "rev2-pass-1"), "viewer": ("viewer", "viewer-pass-1")}


def add_users(ws: Workspace) -> Workspace:
    from mujun.layers.accounts import add_user

    for name, (role, password) in USERS.items():
        add_user(ws, name, role, password, full_name=f"测试{name}")
    return ws


@pytest.fixture(scope="session")
def review_workspace(sample_workspace, tmp_path_factory) -> Workspace:
    """A copy of the sample workspace with the :data:`USERS`; review tests may write to it."""
    import shutil

    ws = Workspace(tmp_path_factory.mktemp("review") / "review.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    return add_users(ws)


@pytest.fixture
def fresh_review_workspace(sample_workspace, tmp_path) -> Workspace:
    """Like :func:`review_workspace`, but a new copy for each test."""
    import shutil

    ws = Workspace(tmp_path / "review.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    return add_users(ws)


@pytest.fixture(scope="session")
def review_app(review_workspace):
    """The web app with its default settings: every page needs a login."""
    from mujun.webapp import create_app

    return create_app({"WORKSPACE": str(review_workspace.path), "TESTING": True})


def csrf_token(client, url: str = "/login") -> str:
    """The CSRF token of the form on ``url`` (the session's token)."""
    import re

    page = client.get(url)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, f"no CSRF token on {url} ({page.status_code})"
    return found.group(1)


def login(client, name: str, password: str | None = None):
    """Log ``client`` in as ``name`` (a :data:`USERS` name unless ``password`` is given)."""
    password = USERS[name][1] if password is None else password
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_token(client)})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return client


def xlsx_rows(source, sheet: str | int = 0) -> list[tuple]:
    """All rows of one sheet of an .xlsx (path or bytes), the file closed again afterwards.

    A read-only workbook keeps its file open until closed; left to the garbage collector
    that is a ResourceWarning, which this suite turns into an error."""
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(source) if isinstance(source, bytes) else source,
                                  read_only=True)
    try:
        ws = book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
        return list(ws.iter_rows(values_only=True))
    finally:
        book.close()


class LiveServer:
    """``mujun serve`` on a workspace in a process of its own, for clients that need a real
    HTTP URL (GDAL, OWSLib). GDAL holds the GIL while it reads, so the server cannot share
    the test's process. ``headers`` are sent by every client a test builds from it (e.g. an
    ``Authorization`` header once the server wants credentials)."""

    def __init__(self, workspace: Workspace, env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        import os
        import socket
        import subprocess
        import sys
        import tempfile
        import time
        import urllib.error
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.headers = dict(headers or {})
        self.basic: tuple[str, str] | None = None  # (user name, token) for HTTP Basic
        # a pipe nobody reads would block the server once full; closed by close()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from mujun.cli import main; main()", "serve", "--workspace",
             str(workspace.path), "--port", str(port)],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(self.url + "login"), timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    if self.proc.poll() is None:
                        self.proc.kill()
                    self.proc.wait()
                    self.log.seek(0)
                    error = self.log.read().decode()[-500:]
                    self.close()
                    raise RuntimeError(f"mujun serve did not start: {error}") from None
                time.sleep(0.2)

    def gdal_options(self) -> dict[str, str]:
        """GDAL configuration options sending :attr:`headers`: a Bearer token as GDAL's own
        Bearer authentication (the OAPIF driver's requests replace ``GDAL_HTTP_HEADERS``)."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": auth.removeprefix("Bearer ")}
        if not self.headers:
            return {}
        return {"GDAL_HTTP_HEADERS": ",".join(f"{k}: {v}" for k, v in self.headers.items())}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


#: The GIS client's account on :func:`live_server`.
GIS_USER = ("gis", "gis-pass-123")


@pytest.fixture(scope="session")
def live_server(sample_workspace, tmp_path_factory):
    """A copy of the sample workspace served over HTTP as a GIS client meets it: closed to
    anonymous users, read with an access token of the 查看 user ``gis`` — ``headers`` carry it
    as ``Authorization: Bearer``, ``basic`` as HTTP Basic credentials (user name, token)."""
    import shutil

    from mujun.layers import accounts

    ws = Workspace(tmp_path_factory.mktemp("served") / "served.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    accounts.add_user(ws, GIS_USER[0], "viewer", GIS_USER[1])
    token = accounts.create_token(ws, GIS_USER[0], label="GIS 客户端").secret
    server = LiveServer(ws, headers={"Authorization": f"Bearer {token}"})
    server.basic = (GIS_USER[0], token)
    server.workspace = ws
    yield server
    server.close()


def map_popups(html: str) -> list[str]:
    """Popup and tooltip HTML of every feature a page's map embeds (its ``mujun.dataLayer`` calls)."""
    import json
    import re

    decoder, out = json.JSONDecoder(), []
    for m in re.finditer(r"mujun\.dataLayer\(", html):
        data, _ = decoder.raw_decode(html, m.end())
        for f in data["features"]:
            out += [f["properties"].get("_popup") or "", f["properties"].get("_tooltip") or ""]
    return out
