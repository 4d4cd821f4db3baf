"""A reviewer's walk through the review pages in headless Chromium: login → queue → parcel →
decision → export (and the printable sheet, and logout), offline, with no console error."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import USERS, xlsx_rows
from test_browser import Tab, browser  # noqa: F401  (the browser fixture)

from mujun.layers import review as store
from mujun.webapp import create_app
from mujun.webapp.serve import running

YEAR = 2025


@pytest.fixture
def served(fresh_review_workspace):
    app = create_app({"WORKSPACE": str(fresh_review_workspace.path)})  # default: login required
    with running(app, "127.0.0.1", 0) as url:
        yield url.rstrip("/"), fresh_review_workspace


def test_reviewer_walkthrough(browser, served, tmp_path):  # noqa: F811
    base_url, ws = served
    tab = Tab(browser, base_url)
    try:
        page = tab.page
        # 1. the queue asks for a login first, and comes back after it
        page.goto(base_url + "/review", wait_until="load")
        assert "/login" in page.url
        page.fill("#name", "rev1")
        page.fill("#password", USERS["rev1"][1])
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{base_url}/review")
        assert "测试rev1" in page.inner_text("#current-user")

        # 2. the queue: most severe first, with counts by status
        first = page.locator("#queue tbody tr").first
        pid = first.get_attribute("data-parcel")
        assert pid and page.locator("#status-counts").inner_text().count("待审核") == 1

        # 3. the parcel: map, evidence and the decision form
        first.locator("a").first.click()
        page.wait_for_url(f"**/review/{YEAR}/{pid}")
        page.wait_for_function("() => window.mujunMap !== undefined")
        assert page.locator("#flags tbody tr").count() >= 1
        assert page.locator("#review-figures").is_visible()

        # 4. the decision
        deadline = (dt.date.today() + dt.timedelta(days=180)).isoformat()
        page.check("input[name=status][value=认定闲置]")
        page.select_option("#measure", "限期开工")
        page.fill("#deadline", deadline)
        page.fill("#comment", "<b>现场核查</b>：厂房未动工")
        page.click("#save")
        page.wait_for_selector(".alert-success")
        assert page.inner_text("#current-status") == "认定闲置"
        assert "<b>现场核查</b>" in page.inner_text("#log")  # shown as text, not markup
        d = store.decision(ws, pid, YEAR)
        assert (d.status, d.measure, d.deadline, d.decided_by) == ("认定闲置", "限期开工", deadline, "rev1")

        # 5. the printable sheet, as printed
        page.goto(f"{base_url}/review/{YEAR}/{pid}/sheet", wait_until="load")
        assert page.locator(".sketch svg").is_visible()
        page.emulate_media(media="print")
        assert not page.locator(".no-print").is_visible()
        assert "认定闲置" in page.inner_text("#sheet-decision")
        page.emulate_media(media="screen")

        # 6. back to the queue, filtered, and the export
        page.goto(f"{base_url}/review?year={YEAR}", wait_until="load")
        page.select_option("#status", "认定闲置")
        page.click("#queue-filters button[type=submit]")
        page.wait_for_url("**status=**")
        assert page.locator("#queue tbody tr").count() == 1
        with page.expect_download() as info:
            page.click("#export")
        download = info.value
        assert download.failure() is None and download.suggested_filename.endswith(".xlsx")
        path = tmp_path / "review.xlsx"
        download.save_as(path)
        rows = xlsx_rows(path, "审核结果")
        header = rows[0]
        assert len(rows) == 2
        rec = dict(zip(header, rows[1], strict=True))
        assert (rec["宗地编号"], rec["审核结论"], rec["整改期限"]) == (pid, "认定闲置", deadline)

        # 7. logout
        page.click("#logout")
        page.wait_for_url("**/login")
        page.goto(base_url + "/review", wait_until="load")
        assert "/login" in page.url
        tab.assert_clean()
    finally:
        tab.close()
