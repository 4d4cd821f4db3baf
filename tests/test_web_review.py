"""The review pages: login and roles, CSRF, the queue, decisions and conflicts, escaping,
the printable sheet and the export."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest
from conftest import USERS, csrf_token, login, xlsx_rows

from mujun.layers import accounts
from mujun.layers import review as store
from mujun.service import review_of_year
from mujun.webapp import create_app

YEAR = 2025
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture(scope="module")
def queue_ids(review_workspace) -> list[str]:
    rows, _ = review_of_year(review_workspace, YEAR)
    return rows["parcel_id"].tolist()


@pytest.fixture
def app(fresh_review_workspace):
    return create_app({"WORKSPACE": str(fresh_review_workspace.path), "TESTING": True})


def _as(app, name: str | None, password: str | None = None):
    c = app.test_client()
    return login(c, name, password) if name else c


def _decision(token: str, base: int = 0, **fields) -> dict:
    return {"csrf_token": token, "base_version": str(base), "status": "认定闲置", "measure": "限期开工",
            "deadline": FUTURE, "comment": "现场核实未开工", "assignee": "rev1", **fields}


# -- every state-changing route -------------------------------------------------------------

def _post_cases(pid: str) -> dict[str, tuple[str, str, dict]]:
    """endpoint -> (url, role needed, valid form without token)."""
    return {
        "review.decide": (f"/review/{YEAR}/{pid}", "reviewer",
                          {k: v for k, v in _decision("").items() if k != "csrf_token"}),
        "review.assign": ("/review/assign", "reviewer", {"year": str(YEAR), "parcel_id": pid, "assignee": "rev2"}),
        "admin.add": ("/admin/users", "admin", {"name": "newbie", "role": "viewer", "password": "newbie-pass"}),
        "admin.change": ("/admin/users/rev2", "admin", {"action": "disable"}),
        "auth.logout": ("/logout", "viewer", {}),
        "account.create": ("/account/tokens", "viewer", {"label": "QGIS"}),
        "account.revoke": ("/account/tokens/1/revoke", "viewer", {}),  # token #1 is the viewer's
        "admin.create_token": ("/admin/tokens", "admin", {"name": "viewer", "label": "QGIS"}),
        "admin.revoke_token": ("/admin/users/viewer/tokens/1/revoke", "admin", {}),
    }


def test_every_state_changing_route_is_covered(app):
    changing = {r.endpoint for r in app.url_map.iter_rules() if r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert changing - {"auth.login"} == set(_post_cases("x"))


@pytest.mark.parametrize("endpoint", ["review.decide", "review.assign", "admin.add", "admin.change", "auth.logout",
                                      "account.create", "account.revoke", "admin.create_token", "admin.revoke_token"])
def test_state_changing_routes_refuse(app, fresh_review_workspace, queue_ids, endpoint):
    ws = fresh_review_workspace
    accounts.create_token(ws, "viewer")
    url, role, form = _post_cases(queue_ids[0])[endpoint]

    def state():
        return store.audit_log(ws).shape[0], accounts.list_users(ws), accounts.list_tokens(ws)

    before = state()

    # anonymous, even with a valid token of its own session: to the login page
    anon = app.test_client()
    r = anon.post(url, data={**form, "csrf_token": csrf_token(anon)})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")

    # a weaker role: 403
    weaker = {"reviewer": "viewer", "admin": "rev1"}.get(role)
    if weaker:
        c = _as(app, weaker)
        r = c.post(url, data={**form, "csrf_token": csrf_token(c, "/")})
        assert r.status_code == 403 and "权限" in r.get_data(as_text=True)

    # the right role without a token, or with a forged one: 400
    strong = {"viewer": "viewer", "reviewer": "rev1", "admin": "admin"}[role]
    c = _as(app, strong)
    for token in (None, "forged-token", csrf_token(app.test_client())):
        data = dict(form) if token is None else {**form, "csrf_token": token}
        r = c.post(url, data=data)
        assert r.status_code == 400, (url, token)
        assert "CSRF" in r.get_data(as_text=True) or "令牌" in r.get_data(as_text=True)
    assert state() == before  # nothing changed

    # and with both it works (the refusals above were not for some other reason); a new
    # token is shown in the answer itself, not after a redirect
    r = c.post(url, data={**form, "csrf_token": csrf_token(c, "/")})
    assert r.status_code == (200 if endpoint.endswith("create") or endpoint.endswith("create_token") else 302)
    assert state() != before or endpoint == "auth.logout"  # a logout ends a session only


def test_login_required_by_default(app):
    c = app.test_client()
    for url in ("/", "/map", "/rankings", "/review", f"/review/{YEAR}/x", "/admin/users"):
        r = c.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), url
    for url in ("/api/years", f"/tiles/parcels/{YEAR}/tax_per_mu/10/856/418.png", "/tiles/identify"):
        r = c.get(url)
        assert r.status_code == 401 and r.is_json and "登录" in r.get_json()["error"]["message"], url
    assert c.get("/login").status_code == 200
    with c.get("/vendor/bootstrap/css/bootstrap.min.css") as r:  # the login page's assets
        assert r.status_code == 200


def test_public_read_opens_reading_pages_only(fresh_review_workspace):
    app = create_app({"WORKSPACE": str(fresh_review_workspace.path), "TESTING": True, "PUBLIC_READ": True})
    c = app.test_client()
    assert c.get("/").status_code == 200
    assert c.get("/api/years").status_code == 200
    for url in ("/review", "/review/export", "/admin/users"):
        assert c.get(url).status_code == 302, url


def test_login_wrong_password_and_throttle(app):
    c = app.test_client()
    for _ in range(accounts.FREE_FAILURES):
        r = c.post("/login", data={"name": "rev1", "password": "wrong", "csrf_token": csrf_token(c)})
        assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    r = c.post("/login", data={"name": "rev1", "password": USERS["rev1"][1], "csrf_token": csrf_token(c)})
    assert r.status_code == 429 and "秒后再试" in r.get_data(as_text=True)  # even the right password waits


def test_login_redirects_only_within_the_site(app):
    for target, expected in (("/rankings?year=2024", "/rankings?year=2024"), ("//evil.example/x", "/"),
                             ("https://evil.example/", "/"), ("/\\evil.example", "/")):
        c = app.test_client()
        r = c.post("/login", data={"name": "viewer", "password": USERS["viewer"][1], "next": target,
                                   "csrf_token": csrf_token(c)})
        assert r.status_code == 302 and r.headers["Location"] == expected, target


def test_session_cookie_flags(app):
    c = app.test_client()
    token = csrf_token(c)
    r = c.post("/login", data={"name": "viewer", "password": USERS["viewer"][1], "csrf_token": token})
    cookie = _session_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    s = app.test_client()
    page = s.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post("/login", base_url="https://localhost",
               data={"name": "viewer", "password": USERS["viewer"][1], "csrf_token": token})
    assert "Secure" in _session_cookie(r)


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_disabling_a_user_ends_their_session(app, fresh_review_workspace):
    c = _as(app, "rev2")
    assert c.get("/review").status_code == 200
    accounts.set_disabled(fresh_review_workspace, "rev2")
    assert c.get("/review").status_code == 302


def test_logout(app):
    c = _as(app, "viewer")
    r = c.post("/logout", data={"csrf_token": csrf_token(c, "/")})
    assert r.status_code == 302 and c.get("/").status_code == 302


# -- queue, decisions, conflicts ---------------------------------------------------------------

def test_queue_counts_and_filters(app, fresh_review_workspace, queue_ids):
    ws = fresh_review_workspace
    store.save_decision(ws, queue_ids[0], YEAR, status="需现场核查", base_version=0, user="rev1")
    store.assign(ws, queue_ids[1:3], YEAR, "rev2", user="admin")
    c = _as(app, "viewer")
    page = c.get("/review").get_data(as_text=True)
    assert f"共 {len(queue_ids):,} 宗" in page
    assert re.search(r'data-status="需现场核查"[^>]*>需现场核查 <span class="badge badge-light">1</span>', page)
    assert re.search(rf'data-status="待审核"[^>]*>待审核 <span class="badge badge-light">{len(queue_ids) - 1}</span>',
                     page)
    rows = re.findall(r'<tr data-parcel="([^"]+)"', page)
    assert rows == queue_ids[:50]  # most severe first
    only = re.findall(r'<tr data-parcel="([^"]+)"', c.get("/review?status=需现场核查").get_data(as_text=True))
    assert only == [queue_ids[0]]
    mine = re.findall(r'<tr data-parcel="([^"]+)"', c.get("/review?assignee=rev2").get_data(as_text=True))
    assert mine == queue_ids[1:3]
    rows_all, _ = review_of_year(ws, YEAR)
    idle = rows_all.loc[rows_all["idle"], "parcel_id"].tolist()
    shown = re.findall(r'<tr data-parcel="([^"]+)"', c.get("/review?kind=idle").get_data(as_text=True))
    assert shown == idle[:50]
    district = rows_all["district_id"].dropna().iloc[0]
    in_district = rows_all.loc[rows_all["district_id"] == district, "parcel_id"].tolist()
    shown = re.findall(r'<tr data-parcel="([^"]+)"', c.get(f"/review?district={district}").get_data(as_text=True))
    assert shown == in_district[:50]
    assert c.get("/review?kind=nonsense").status_code == 400


def test_queue_shows_site_checks_and_idle_measures(app, fresh_review_workspace):
    rows, _ = review_of_year(fresh_review_workspace, YEAR)
    checks = rows[rows["site_check"]]
    c = _as(app, "viewer")
    page = c.get("/review").get_data(as_text=True)
    assert f'id="site-checks"><a href="/review?kind=site_check">{len(checks)} 宗</a>' in page
    shown = c.get("/review?kind=site_check").get_data(as_text=True)
    assert re.findall(r'<tr data-parcel="([^"]+)"', shown) == checks["parcel_id"].tolist()[:50]
    first = checks.iloc[0]
    assert (f'影像建成比例 {first["builtup_fraction"] * 100:.1f}%，建筑系数 {first["building_coefficient"] * 100:.1f}%'
            in shown)
    assert '<span class="badge badge-info mr-1">需现场核查</span>' in shown
    # idle land: the measure and the fee beside the reason
    fee = rows[rows["idle_tier"].eq("fee").fillna(False) & rows["idle_fee"].notna()].iloc[0]
    page = c.get(f"/review/{YEAR}/{fee['parcel_id']}").get_data(as_text=True)
    assert re.search(r'id="idle-tier">征缴土地闲置费<br><span class="small text-muted">闲置起算日期 \d{4}-\d\d-\d\d', page)
    assert f'id="idle-fee">{fee["idle_fee"]:,.2f} 万元（出让价款 {fee["land_price"]:,.2f} 万元 的 20%）' in page
    suspended = rows[rows["idle_tier"].eq("suspended").fillna(False)].iloc[0]
    page = c.get(f"/review/{YEAR}/{suspended['parcel_id']}").get_data(as_text=True)
    assert 'id="idle-tier">暂停处置' in page
    assert f'id="idle-exemption">{suspended["idle_exemption"]}（暂停征缴闲置费和无偿收回）' in page


def test_viewer_sees_decisions_read_only(app, queue_ids):
    page = _as(app, "viewer").get(f"/review/{YEAR}/{queue_ids[0]}").get_data(as_text=True)
    assert 'id="read-only"' in page and 'id="decision-form"' not in page


def test_review_page_shows_the_evidence(app, queue_ids, fresh_review_workspace):
    pid = queue_ids[0]
    page = _as(app, "rev1").get(f"/review/{YEAR}/{pid}").get_data(as_text=True)
    for part in ('id="decision-form"', 'id="flags"', 'id="class-history"', 'id="raster-evidence"', 'id="log"',
                 "年税收差距", "L.map("):
        assert part in page, part
    parcel = fresh_review_workspace.read("result_parcel", where=f"year = {YEAR}").set_index("parcel_id").loc[pid]
    assert f"{parcel['area_mu']:,.2f} 亩" in page


def test_decision_saved_logged_and_conflict(app, fresh_review_workspace, queue_ids):
    ws = fresh_review_workspace
    pid = queue_ids[0]
    a, b = _as(app, "rev1"), _as(app, "rev2")
    url = f"/review/{YEAR}/{pid}"
    ta, tb = csrf_token(a, url), csrf_token(b, url)  # both open the page at version 0
    r = a.post(url, data=_decision(ta))
    assert r.status_code == 302
    page = a.get(url).get_data(as_text=True)
    assert "已保存" in page and 'id="current-status">认定闲置' in page
    r = b.post(url, data=_decision(tb, status="不予认定", measure="", deadline="", comment="我认为达标"))
    text = r.get_data(as_text=True)
    assert r.status_code == 409 and "保存冲突" in text and "已被 rev1 修改" in text
    assert "现场核实未开工" in text  # their decision shown
    assert ">我认为达标</textarea>" in text  # mine kept
    assert 'name="base_version" value="1"' in text  # now based on theirs
    assert store.decision(ws, pid, YEAR).status == "认定闲置"
    r = b.post(url, data=_decision(tb, base=1, status="不予认定", measure="", deadline="", comment="我认为达标"))
    assert r.status_code == 302
    d = store.decision(ws, pid, YEAR)
    assert (d.status, d.decided_by, d.version) == ("不予认定", "rev2", 2)
    log = store.audit_log(ws, pid)
    assert log["user"].tolist() == ["rev2", "rev1"] and set(log["address"]) == {"127.0.0.1"}


def test_ill_formed_decision_keeps_the_input(app, queue_ids, fresh_review_workspace):
    c = _as(app, "rev1")
    url = f"/review/{YEAR}/{queue_ids[0]}"
    r = c.post(url, data=_decision(csrf_token(c, url), measure="", comment="缺措施"))
    text = r.get_data(as_text=True)
    assert r.status_code == 400 and "须选择处置措施" in text and ">缺措施</textarea>" in text
    assert store.decision(fresh_review_workspace, queue_ids[0], YEAR).version == 0


def test_unknown_parcel_or_year(app):
    c = _as(app, "rev1")
    assert c.get(f"/review/{YEAR}/no-such-parcel").status_code == 404
    assert c.get("/review/1999/x").status_code == 404


def test_xss_in_comments_and_names_renders_as_text(app, fresh_review_workspace, queue_ids):
    ws = fresh_review_workspace
    pid = queue_ids[0]
    accounts.add_user(ws, "mallory", "reviewer", "mallory-pass", full_name=XSS)
    c = _as(app, "mallory", "mallory-pass")
    url = f"/review/{YEAR}/{pid}"
    r = c.post(url, data=_decision(csrf_token(c, url), comment=XSS, assignee="mallory"))
    assert r.status_code == 302
    admin = _as(app, "admin")
    pages = {url: c, f"{url}/sheet": c, "/review": c, "/review?assignee=mallory": c, "/admin/users": admin}
    for page_url, client in pages.items():
        text = client.get(page_url).get_data(as_text=True)
        assert XSS not in text and "<script>alert" not in text and "<img src=x" not in text, page_url
        assert XSS_ESCAPED in text, page_url


def test_review_pages_run_only_their_own_scripts(app, queue_ids):
    """Under the Content-Security-Policy: no inline event handler (the sheet's print button
    had one), and inline scripts only with the response's nonce."""
    c = _as(app, "rev1")
    for url in ("/review", f"/review/{YEAR}/{queue_ids[0]}", f"/review/{YEAR}/{queue_ids[0]}/sheet"):
        r = c.get(url)
        html = r.get_data(as_text=True)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
        for attrs in re.findall(r"<script\b([^>]*)>", html):
            nonce = re.search(r'nonce="([^"]+)"', attrs)
            assert "src=" in attrs or nonce and f"'nonce-{nonce.group(1)}'" in r.headers["Content-Security-Policy"]


# -- parcel ids that are awkward in a URL or a chart ------------------------------------------

SLASH_ID = "330602/2025/0001"  # some cadastres write ids with slashes
DOLLAR_ID = "330602$x^$0002"  # mathtext refused this in the sketch map's title


@pytest.fixture(scope="module")
def odd_ids(sample_workspace, tmp_path_factory):
    """A copy of the sample with two queued parcels renamed to :data:`SLASH_ID` and
    :data:`DOLLAR_ID` (in every year), its users, and the app over it."""
    import shutil

    from conftest import add_users

    from mujun.layers.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("odd-ids") / "odd.gpkg")
    shutil.copyfile(sample_workspace.path, ws.path)
    old = review_of_year(ws, YEAR)[0]["parcel_id"].iloc[:2].tolist()
    parcels = ws.read("result_parcel")
    parcels["parcel_id"] = parcels["parcel_id"].replace(dict(zip(old, [SLASH_ID, DOLLAR_ID], strict=True)))
    ws.write({"result_parcel": parcels})
    add_users(ws)
    return ws, create_app({"WORKSPACE": str(ws.path), "TESTING": True})


def test_parcel_id_with_slashes_opens_and_is_reviewed(odd_ids):
    ws, app = odd_ids
    c = _as(app, "rev1")
    assert c.get(f"/parcels/{SLASH_ID}").status_code == 200
    assert c.get(f"/api/parcels/{SLASH_ID}").json["parcel"]["parcel_id"] == SLASH_ID
    url = f"/review/{YEAR}/{SLASH_ID}"
    page = c.get(url).get_data(as_text=True)
    assert f'action="{url}"' in page and f'href="{url}/sheet"' in page  # url_for builds them
    r = c.post(url, data=_decision(csrf_token(c, url)))
    assert r.status_code == 302 and r.headers["Location"].endswith(url)
    assert store.decision(ws, SLASH_ID, YEAR).status == "认定闲置"
    assert 'id="current-status">认定闲置' in c.get(url).get_data(as_text=True)
    assert SLASH_ID in c.get(f"{url}/sheet").get_data(as_text=True)


def test_sheet_of_parcel_id_with_dollar_signs(odd_ids):
    _, app = odd_ids
    r = _as(app, "viewer").get(f"/review/{YEAR}/{quote(DOLLAR_ID)}/sheet")
    assert r.status_code == 200
    assert f"地块 {DOLLAR_ID} 示意图</text>" in r.get_data(as_text=True)


# -- deciding outside one's own queue --------------------------------------------------------

def test_unflagged_parcel_says_it_is_not_in_the_queue(app, fresh_review_workspace, queue_ids):
    parcels = fresh_review_workspace.read("result_parcel", where=f"year = {YEAR}")["parcel_id"]
    unflagged = sorted(set(parcels) - set(queue_ids))[0]
    c = _as(app, "rev1")
    page = c.get(f"/review/{YEAR}/{unflagged}").get_data(as_text=True)
    assert 'id="not-in-queue"' in page and f"不在 {YEAR} 年的审核队列中" in page and "仍可在此保存" in page
    assert 'id="decision-form"' in page  # a field finding may still be recorded
    assert 'id="not-in-queue"' not in c.get(f"/review/{YEAR}/{queue_ids[0]}").get_data(as_text=True)


def test_parcel_assigned_to_another_reviewer_says_whose_it_is(app, fresh_review_workspace, queue_ids):
    pid = queue_ids[0]
    store.assign(fresh_review_workspace, [pid], YEAR, "rev2", user="admin")
    url = f"/review/{YEAR}/{pid}"
    page = _as(app, "rev1").get(url).get_data(as_text=True)
    notice = re.search(r'id="assigned-to-other">(.*?)</div>', page, re.S)
    assert notice, "no notice of whose parcel it is"
    assert "测试rev2（rev2）" in notice.group(1) and "以您本人（测试rev1（rev1））的名义" in notice.group(1)
    assert 'id="assigned-to-other"' not in _as(app, "rev2").get(url).get_data(as_text=True)


# -- outputs -------------------------------------------------------------------------------

def test_export_xlsx(app, fresh_review_workspace, queue_ids):
    ws = fresh_review_workspace
    store.save_decision(ws, queue_ids[1], YEAR, status="认定低效", measure="整治提升", deadline=FUTURE,
                        comment="低效", base_version=0, user="rev1")
    r = _as(app, "viewer").get("/review/export?status=认定低效")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = xlsx_rows(r.data, "审核结果")
    header = rows[0]
    for title in ("宗地编号", "审核结论", "处置措施", "整改期限", "审核意见", "审核人", "年税收差距(万元)"):
        assert title in header, title
    assert len(rows) == 2
    rec = dict(zip(header, rows[1], strict=True))
    assert (rec["宗地编号"], rec["审核结论"], rec["处置措施"], rec["审核人"]) == (queue_ids[1], "认定低效", "整治提升", "rev1")
    assert len(xlsx_rows(_as(app, "viewer").get("/review/export").data, "审核结果")) == len(queue_ids) + 1


def test_printable_sheet(app, fresh_review_workspace, queue_ids):
    ws = fresh_review_workspace
    pid = queue_ids[0]
    store.save_decision(ws, pid, YEAR, status="认定闲置", measure="协议收回", deadline=FUTURE, comment="收回",
                        base_version=0, user="rev1")
    text = _as(app, "viewer").get(f"/review/{YEAR}/{pid}/sheet").get_data(as_text=True)
    assert "<svg" in text and "米</text>" in text or "米" in text
    for part in ("工业用地亩均效益审核表", pid, "认定闲置", "协议收回", FUTURE, "经办人（签字）", "审核人（签字）",
                 "mujun.css", 'id="review-figures"'):
        assert part in text, part
    assert "<nav" not in text  # the page is the sheet, nothing else


# -- the command line ------------------------------------------------------------------------

def test_cli_user_commands_and_review_export(fresh_review_workspace, tmp_path):
    from click.testing import CliRunner

    from mujun.cli import main

    ws = fresh_review_workspace
    run = CliRunner().invoke
    r = run(main, ["user", "add", "zhao", "--role", "reviewer", "--full-name", "赵六", "--password-stdin",
                   "-w", str(ws.path)], input="zhao-pass-1\n")
    assert r.exit_code == 0 and "已新增用户 赵六（zhao），角色：审核" in r.output
    assert accounts.check_login(ws, "zhao", "zhao-pass-1", "x") is not None
    r = run(main, ["user", "add", "zhao", "--role", "viewer", "--password-stdin", "-w", str(ws.path)],
            input="zhao-pass-1\n")
    assert r.exit_code == 2 and "已存在" in r.output
    r = run(main, ["user", "add", "qian", "--role", "viewer", "--password-stdin", "-w", str(ws.path)], input="short\n")
    assert r.exit_code == 2 and "密码太短" in r.output
    r = run(main, ["user", "list", "-w", str(ws.path)])
    assert r.exit_code == 0 and "zhao" in r.output and "rev1" in r.output
    r = run(main, ["user", "disable", "zhao", "-w", str(ws.path)])
    assert r.exit_code == 0 and accounts.get_user(ws, "zhao").disabled
    r = run(main, ["user", "disable", "nobody", "-w", str(ws.path)])
    assert r.exit_code == 2 and "没有用户 'nobody'" in r.output
    assert {"新增用户", "停用用户"} <= set(store.audit_log(ws)["action"])

    rows, _ = review_of_year(ws, YEAR)
    store.save_decision(ws, rows["parcel_id"].iloc[0], YEAR, status="需现场核查", base_version=0, user="rev1")
    out = tmp_path / "审核结果.xlsx"
    r = run(main, ["review", "export", "--out", str(out), "-w", str(ws.path)])
    assert r.exit_code == 0 and f"{len(rows):,} 宗（已有结论 1 宗）" in r.output
    assert len(xlsx_rows(out, "审核结果")) == len(rows) + 1
    r = run(main, ["review", "export", "--year", "1999", "--out", str(out), "-w", str(ws.path)])
    assert r.exit_code == 2 and "1999 年还没有评价结果" in r.output
