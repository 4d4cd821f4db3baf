"""mujun.webapp.auth and the password rules where passwords are set: server-side sessions and
logout, length limits on the login form, safe redirects, the admin page and the CLI."""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import USERS, csrf_token, login

from mujun.cli import main
from mujun.layers import accounts
from mujun.webapp import create_app


@pytest.fixture
def app(fresh_review_workspace):
    return create_app({"WORKSPACE": str(fresh_review_workspace.path), "TESTING": True})


def _as(app, name: str):
    return login(app.test_client(), name)


def test_logout_ends_a_copied_cookie_but_not_other_logins(app):
    a, other_browser = _as(app, "rev1"), _as(app, "rev1")
    copy = app.test_client()
    copy.set_cookie("session", a.get_cookie("session").value)
    assert copy.get("/review").status_code == 200
    r = a.post("/logout", data={"csrf_token": csrf_token(a, "/")})
    assert r.status_code == 302
    r = copy.get("/review")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert other_browser.get("/review").status_code == 200


def test_a_password_change_ends_every_session(app, fresh_review_workspace):
    c = _as(app, "rev2")
    accounts.set_password(fresh_review_workspace, "rev2", "a-new-password-2")
    assert c.get("/review").status_code == 302


def test_control_characters_in_next_redirect_home(app):
    c = _as(app, "viewer")
    r = c.get("/login?next=/%0D%0AX:y")
    assert r.status_code == 302 and r.headers["Location"] == "/" and "X" not in r.headers
    c = app.test_client()
    r = c.post("/login", data={"name": "viewer", "password": USERS["viewer"][1], "next": "/\r\nX:y",
                               "csrf_token": csrf_token(c)})
    assert r.status_code == 302 and r.headers["Location"] == "/"


@pytest.mark.parametrize(("name", "password"), [
    ("a" * 150_000, "whatever-password"),
    ("rev1", "p" * 1025),  # the limits: names 40, passwords 1024 characters
])
def test_overlong_login_input_is_refused_unstored_and_unechoed(app, fresh_review_workspace, name, password):
    c = app.test_client()
    r = c.post("/login", data={"name": name, "password": password, "csrf_token": csrf_token(c)})
    text = r.get_data(as_text=True)
    assert r.status_code == 400 and f"用户名最多 {accounts.MAX_NAME} 个字符" in text
    assert name not in text and len(text) < 50_000
    assert accounts.login_wait(fresh_review_workspace, [f"user:{name}"]) == 0.0
    with sqlite3.connect(accounts.store_path(fresh_review_workspace)) as con:
        assert not con.execute("SELECT key FROM mujun_login_failures").fetchall()


def test_login_form_states_the_limits(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert f'maxlength="{accounts.MAX_NAME}"' in page and f'maxlength="{accounts.MAX_PASSWORD}"' in page


def _add(client, **fields):
    data = {"name": "newbie", "role": "viewer", "password": "newbie-pass", **fields,
            "csrf_token": csrf_token(client, "/admin/users")}
    client.post("/admin/users", data=data)
    return client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize(("fields", "message"), [
    ({"password": "12345678"}, "密码太短"),
    ({"password": "qwertyuiop"}, "密码过于常见"),
    ({"name": "n" * 150_000}, "用户名太长（150000 个字符）；最多 40 个字符"),
])
def test_admin_page_refuses_weak_passwords_and_long_names(app, fresh_review_workspace, fields, message):
    text = _add(_as(app, "admin"), **fields)
    assert message in text
    assert [u.name for u in accounts.list_users(fresh_review_workspace)] == sorted(USERS)


def test_admin_password_reset_refuses_a_common_password(app, fresh_review_workspace):
    c = _as(app, "admin")
    c.post("/admin/users/viewer", data={"action": "password", "password": "1234567890",
                                         "csrf_token": csrf_token(c, "/admin/users")})
    assert "密码过于常见" in c.get("/admin/users").get_data(as_text=True)
    assert accounts.check_login(fresh_review_workspace, "viewer", USERS["viewer"][1], "x") is not None


def test_minimum_length_is_a_setting(fresh_review_workspace):
    app = create_app({"WORKSPACE": str(fresh_review_workspace.path), "TESTING": True, "PASSWORD_MIN_LENGTH": 14})
    c = _as(app, "admin")
    page = c.get("/admin/users").get_data(as_text=True)
    assert re.search(r'minlength="14"', page)
    assert "至少 14 个字符" in _add(c, password="newbie-pass-1")
    assert accounts.get_user(fresh_review_workspace, "newbie") is None
    _add(c, password="newbie-pass-123")
    assert accounts.get_user(fresh_review_workspace, "newbie") is not None


def test_cli_refuses_weak_passwords(fresh_review_workspace):
    ws = str(fresh_review_workspace.path)
    run = CliRunner().invoke
    for password, message in (("12345678", "密码太短"), ("1234567890", "密码过于常见")):
        r = run(main, ["user", "add", "qian", "--role", "admin", "--password-stdin", "-w", ws], input=f"{password}\n")
        assert r.exit_code == 2 and message in r.output, r.output
        r = run(main, ["user", "password", "rev1", "--password-stdin", "-w", ws], input=f"{password}\n")
        assert r.exit_code == 2 and message in r.output, r.output
    r = run(main, ["user", "add", "q" * 5000, "--role", "admin", "--password-stdin", "-w", ws], input="qian-pass-12\n")
    assert r.exit_code == 2 and "用户名太长" in r.output and len(r.output) < 200
    env = {"MUJUN_PASSWORD_MIN_LENGTH": "16"}
    r = run(main, ["user", "add", "qian", "--role", "admin", "--password-stdin", "-w", ws], input="qian-pass-12\n",
            env=env)
    assert r.exit_code == 2 and "至少 16 个字符" in r.output
    r = run(main, ["user", "add", "qian", "--role", "admin", "--password-stdin", "-w", ws], input="qian-pass-12\n")
    assert r.exit_code == 0, r.output
