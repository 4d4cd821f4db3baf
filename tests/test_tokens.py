"""Access tokens on the web: HTTP Basic (user name + token) and Bearer on /api and /tiles only,
401 challenges, throttling, refusal on pages and forms, the 令牌 and 用户管理 pages, the CLI,
and a real GDAL client."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import USERS, csrf_token, login

from mujun.cli import main
from mujun.layers import accounts
from mujun.layers.review import audit_log
from mujun.webapp import create_app

YEAR = 2025
TILE = f"/tiles/parcels/{YEAR}/tax_per_mu/10/856/418.png"
READS = ("/api/years", f"/api/layers/districts?year={YEAR}", TILE, "/tiles/identify?year=2025&lon=120.5&lat=30.0")
CHALLENGES = ['Basic realm="mujun", charset="UTF-8"', 'Bearer realm="mujun"']


@pytest.fixture
def ws(fresh_review_workspace):
    return fresh_review_workspace


@pytest.fixture
def app(ws):
    return create_app({"WORKSPACE": str(ws.path), "TESTING": True})


@pytest.fixture
def secret(ws) -> str:
    return accounts.create_token(ws, "viewer", label="QGIS").secret


def _client(app, address: str = "10.20.0.1"):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _refused(r, status: int = 401) -> str:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.is_json
    if status == 401:
        assert r.headers.getlist("WWW-Authenticate") == CHALLENGES
    return r.get_json()["error"]["message"]


@pytest.mark.parametrize("url", READS)
def test_without_a_token_401_with_challenges(app, url):
    assert "令牌" in _refused(_client(app).get(url))


@pytest.mark.parametrize("url", READS)
def test_bearer_and_basic_tokens_read_api_and_tiles(app, secret, url):
    c = _client(app)
    for r in (c.get(url, headers=_bearer(secret)), c.get(url, auth=("viewer", secret))):
        if "identify" in url:  # let in: the answer is about the data (no parcel at that point)
            assert r.status_code == 404 and "没有地块" in r.get_json()["error"]["message"]
            continue
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])
        assert "Set-Cookie" not in r.headers  # no session made for a token
    if url.endswith(".png"):
        assert r.mimetype == "image/png"


def test_the_api_document_names_both_schemes(app, secret):
    doc = _client(app).get("/api/openapi.json", headers=_bearer(secret)).json
    schemes = doc["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"basic", "bearer"} and doc["security"]


def test_a_route_added_under_api_later_takes_tokens_too(ws, secret):
    app = create_app({"WORKSPACE": str(ws.path), "TESTING": True})
    app.add_url_rule("/api/added-later", "added_later", lambda: {"added": []})
    c = _client(app)
    assert c.get("/api/added-later", headers=_bearer(secret)).json == {"added": []}
    _refused(c.get("/api/added-later"))


def test_revoked_expired_and_disabled_tokens_401(app, ws, secret):
    c = _client(app)
    other = accounts.create_token(ws, "rev1")
    accounts.revoke_token(ws, "viewer", accounts.list_tokens(ws, "viewer")[0].id)
    assert "已撤销" in _refused(c.get("/api/years", headers=_bearer(secret)))
    accounts.set_disabled(ws, "rev1")
    _refused(c.get("/api/years", auth=("rev1", other.secret)))


@pytest.mark.parametrize(("user", "password"), [
    ("viewer", USERS["viewer"][1]),  # the login password is no token
    ("rev1", None),  # another user's name with the token
    ("viewer", "mj_" + "x" * 43),
])
def test_basic_auth_refuses_passwords_and_mismatched_names(app, secret, user, password):
    message = _refused(_client(app).get("/api/years", auth=(user, password or secret)))
    assert "不接受登录密码" in message


@pytest.mark.parametrize("header", ["Bearer", "Bearer mj_short", "Basic !!!", "Digest x=1", "Basic " + "QQ" * 40_000])
def test_malformed_credentials_401(app, header):
    _refused(_client(app).get("/api/years", headers={"Authorization": header}))


def test_wrong_tokens_are_throttled_429_with_retry_after(app, secret):
    c = _client(app, "10.20.0.9")
    for i in range(accounts.FREE_FAILURES):
        _refused(c.get("/api/years", headers=_bearer(f"mj_{'y' * 42}{i}")))
    r = c.get("/api/years", headers=_bearer(secret))  # even the right token waits
    assert "秒后再试" in _refused(r, 429) and int(r.headers["Retry-After"]) >= 1
    assert _client(app, "10.20.0.10").get("/api/years", headers=_bearer(secret)).status_code == 200
    # and so does a login from that address: one throttle for both
    assert c.post("/login", data={"name": "viewer", "password": USERS["viewer"][1],
                                  "csrf_token": csrf_token(c)}).status_code == 429


def test_wrong_basic_tokens_throttle_the_user_name(app, secret):
    for i in range(accounts.FREE_FAILURES):
        _refused(_client(app, f"10.21.0.{i}").get("/api/years", auth=("viewer", f"guess-{i}")))
    r = _client(app, "10.21.1.1").get("/api/years", auth=("viewer", secret))
    _refused(r, 429)
    assert r.headers["Retry-After"]


@pytest.mark.parametrize("url", ["/", "/map", "/rankings", "/review", "/account/tokens", "/admin/users"])
def test_tokens_open_no_page(app, ws, url):
    admin_token = accounts.create_token(ws, "admin").secret
    c = _client(app)
    for r in (c.get(url, headers=_bearer(admin_token)), c.get(url, auth=("admin", admin_token))):
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), url


def test_tokens_send_no_form(app, ws):
    admin_token = accounts.create_token(ws, "admin").secret
    c = _client(app)
    data = {"name": "intruder", "role": "admin", "password": "intruder-pass-1"}
    for kwargs in ({"headers": _bearer(admin_token)}, {"auth": ("admin", admin_token)}):
        assert c.post("/admin/users", data=data, **kwargs).status_code in (302, 400)
        assert c.post("/account/tokens", data={"label": "x"}, **kwargs).status_code in (302, 400)
        r = c.post("/api/years", data={}, **kwargs)
        assert r.status_code == 403 and "只能用于读取" in r.get_json()["error"]["message"]
    assert accounts.get_user(ws, "intruder") is None
    assert len(accounts.list_tokens(ws)) == 1


def test_browser_sessions_still_work_and_public_read_checks_a_given_token(app, ws, secret):
    c = login(_client(app), "rev1")
    assert c.get("/api/years").status_code == 200 and c.get(TILE).status_code == 200
    public = create_app({"WORKSPACE": str(ws.path), "TESTING": True, "PUBLIC_READ": True})
    assert _client(public).get("/api/years").status_code == 200
    assert _client(public).get("/api/years", headers=_bearer(secret)).status_code == 200
    _refused(_client(public).get("/api/years", headers=_bearer("mj_" + "z" * 43)))


def test_a_token_acts_with_its_users_current_role(app, ws, secret):
    app.add_url_rule("/api/whoami", "whoami", lambda: {"role": __import__("flask_login").current_user.role})
    c = _client(app)
    assert c.get("/api/whoami", headers=_bearer(secret)).json == {"role": "viewer"}
    accounts.set_role(ws, "viewer", "reviewer")
    assert c.get("/api/whoami", headers=_bearer(secret)).json == {"role": "reviewer"}


# -- the pages ---------------------------------------------------------------------------------
_SECRET = re.compile(r"mj_[A-Za-z0-9_-]{43}")


def test_a_user_creates_sees_once_and_revokes_their_own_tokens(app, ws):
    c = login(_client(app), "viewer")
    label = '<script>alert("x")</script>'
    r = c.post("/account/tokens", data={"label": label, "days": "30", "csrf_token": csrf_token(c, "/account/tokens")})
    page = r.get_data(as_text=True)
    [secret] = set(_SECRET.findall(page))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert label not in page and "&lt;script&gt;" in page
    assert secret not in (r.headers.get("Set-Cookie") or "")
    assert "Authorization: Bearer" in page and "Basic" in page
    listing = c.get("/account/tokens").get_data(as_text=True)
    assert secret not in listing and not _SECRET.search(listing) and "有效" in listing
    assert _client(app).get("/api/years", headers=_bearer(secret)).status_code == 200
    [token] = accounts.list_tokens(ws, "viewer")
    assert token.expires is not None
    r = c.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(c, "/account/tokens")})
    assert r.status_code == 302 and accounts.list_tokens(ws, "viewer")[0].status() == "已撤销"
    _refused(_client(app).get("/api/years", headers=_bearer(secret)))
    actions = audit_log(ws)["action"].tolist()
    assert "创建令牌" in actions and "撤销令牌" in actions
    assert not audit_log(ws)["changes"].astype(str).str.contains("mj_").any()


def test_a_user_cannot_touch_someone_elses_token(app, ws):
    theirs = accounts.create_token(ws, "rev1")
    c = login(_client(app), "viewer")
    c.post(f"/account/tokens/{theirs.token.id}/revoke", data={"csrf_token": csrf_token(c, "/account/tokens")})
    assert accounts.list_tokens(ws, "rev1")[0].active()
    assert "没有编号为" in c.get("/account/tokens").get_data(as_text=True)
    r = c.post("/admin/tokens", data={"name": "rev1", "csrf_token": csrf_token(c, "/account/tokens")})
    assert r.status_code == 403 and len(accounts.list_tokens(ws)) == 1
    r = c.post("/account/tokens", data={"name": "rev1", "csrf_token": csrf_token(c, "/account/tokens")})
    assert [t.name for t in accounts.list_tokens(ws)] == ["viewer", "rev1"]  # a name field is ignored


def test_the_admin_page_manages_every_users_tokens(app, ws):
    accounts.create_token(ws, "rev2", label="旧令牌")
    c = login(_client(app), "admin")
    page = c.get("/admin/users").get_data(as_text=True)
    assert "旧令牌" in page and 'id="create-token"' in page
    r = c.post("/admin/tokens", data={"name": "rev1", "label": "GIS 服务器", "days": "",
                                      "csrf_token": csrf_token(c, "/admin/users")})
    [secret] = set(_SECRET.findall(r.get_data(as_text=True)))
    assert r.headers["Cache-Control"] == "no-store" and "只显示这一次" in r.get_data(as_text=True)
    assert _client(app).get("/api/years", auth=("rev1", secret)).status_code == 200
    new = accounts.list_tokens(ws, "rev1")[0]
    assert new.label == "GIS 服务器" and new.expires is None
    r = c.post(f"/admin/users/rev1/tokens/{new.id}/revoke", data={"csrf_token": csrf_token(c, "/admin/users")})
    assert r.status_code == 302
    _refused(_client(app).get("/api/years", auth=("rev1", secret)))
    for days, message in (("abc", "整数天数"), ("0", "有效期应为 1 到 3650 天")):
        c.post("/admin/tokens", data={"name": "rev1", "days": days, "csrf_token": csrf_token(c, "/admin/users")})
        assert message in c.get("/admin/users").get_data(as_text=True)


# -- the command line --------------------------------------------------------------------------
def test_cli_creates_lists_and_revokes_tokens(ws):
    run, w = CliRunner().invoke, ["-w", str(ws.path)]
    r = run(main, ["token", "create", "viewer", "--name", "QGIS 办公室", "--expires", "90", *w])
    assert r.exit_code == 0, r.output
    [secret] = _SECRET.findall(r.output)
    assert accounts.attempt_token(ws, secret, "x", name="viewer").user.name == "viewer"
    run(main, ["token", "create", "viewer", *w])
    r = run(main, ["token", "list", "viewer", *w])
    assert r.exit_code == 0 and "QGIS 办公室" in r.output and "永不过期" in r.output and "从未使用" in r.output
    assert not _SECRET.search(r.output) and "#1" in r.output and "#2" in r.output
    r = run(main, ["token", "revoke", "viewer", "1", *w])
    assert r.exit_code == 0 and "#1" in r.output
    assert accounts.attempt_token(ws, secret, "y").user is None
    assert "已撤销" in run(main, ["token", "list", *w]).output
    r = run(main, ["token", "revoke", "viewer", "--all", *w])
    assert r.exit_code == 0 and "1 个令牌" in r.output
    assert {t.status() for t in accounts.list_tokens(ws)} == {"已撤销"}
    assert "创建令牌" in audit_log(ws)["action"].tolist()


@pytest.mark.parametrize(("args", "message"), [
    (["token", "create", "nobody"], "没有用户 'nobody'"),
    (["token", "create", "viewer", "--expires", "0"], "--expires"),
    (["token", "revoke", "viewer"], "二者选一"),
    (["token", "revoke", "viewer", "1", "--all"], "二者选一"),
    (["token", "revoke", "viewer", "99"], "没有编号为 99 的令牌"),
    (["token", "list", "nobody"], "没有用户 'nobody'"),
])
def test_cli_token_errors_are_one_line(ws, args, message):
    r = CliRunner().invoke(main, [*args, "-w", str(ws.path)])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


# -- a real GIS client -------------------------------------------------------------------------
_GDAL_READ = "import sys, pyogrio; print(pyogrio.read_info(sys.argv[1])['features'])"


def test_gdal_reads_the_api_with_basic_and_bearer_tokens(ws, secret):
    """GDAL (pyogrio's, over HTTP in a separate process) with the settings the README gives."""
    from mujun.webapp.serve import running

    app = create_app({"WORKSPACE": str(ws.path)})
    with running(app) as url:
        source = f"{url}api/layers/districts?year={YEAR}"

        def gdal(**env: str) -> subprocess.CompletedProcess:
            environ = {k: v for k, v in os.environ.items() if not k.startswith("GDAL_HTTP")}
            return subprocess.run([sys.executable, "-c", _GDAL_READ, source], env={**environ, **env},
                                  capture_output=True, text=True, timeout=120)

        basic = gdal(GDAL_HTTP_AUTH="BASIC", GDAL_HTTP_USERPWD=f"viewer:{secret}")
        bearer = gdal(GDAL_HTTP_HEADERS=f"Authorization: Bearer {secret}")
        password = gdal(GDAL_HTTP_AUTH="BASIC", GDAL_HTTP_USERPWD=f"viewer:{USERS['viewer'][1]}")
        nothing = gdal()
    for done in (basic, bearer):
        assert done.returncode == 0 and done.stdout.strip() == "6", done.stdout + done.stderr
    for done in (password, nothing):
        assert done.returncode != 0 and "401" in done.stderr, done.stderr
