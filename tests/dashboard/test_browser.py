"""The dashboard in a real browser: Playwright driving Debian's Chromium against the timeline API served by
uvicorn over the demo history (tests/dashboard/conftest.py). A manager signs in, opens the board, filters by
a team and opens a stuck deal; support reads a customer's timeline; an auditor moves the as-of date. Each
test saves a screenshot under .artifacts/screenshots/ and fails on any console error of the page."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from tests.dashboard.conftest import Dashboard
from tests.faults import free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = bool(os.environ.get("CI"))  # CI installs chromium (.ci/run): there a missing browser fails

if CHROMIUM is None and not REQUIRED:
    pytest.skip("no chromium here (Debian: apt-get install chromium fonts-noto-cjk)", allow_module_level=True)


@pytest.fixture(scope="module")
def base_url(dashboard: Dashboard) -> Iterator[str]:
    """The same app, served over HTTP by uvicorn (its lifespan already ran under the TestClient)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(dashboard.app.app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is required in CI (.ci/run installs it from Debian's packages)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, base_url: str, request: pytest.FixtureRequest):
    """A fresh browser context (no cookies) at 1280 px; console errors collected and asserted at the end."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900}, locale="ja-JP")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"console errors: {errors}"


def shot(page, name: str) -> None:
    """A screenshot of the visible part, as the README shows it (docs/screenshots/ holds the copies)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def sign_in(page, dashboard: Dashboard, who: str) -> None:
    page.goto("/ui/sign-in")
    page.get_by_label("トークン").fill(dashboard.tokens[who])
    with page.expect_navigation():
        page.get_by_role("button", name="サインイン").click()


def test_a_manager_filters_the_board_by_team_and_opens_a_stuck_deal(page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, "manager")
    assert page.url.endswith("/ui/board")
    assert page.get_by_role("heading", name="パイプライン").is_visible()
    every = page.locator(".card").count()
    shot(page, "board")
    page.get_by_label("チーム").select_option("本社営業1課")
    page.get_by_role("button", name="絞り込み").click()
    page.wait_for_url("**team=**")
    assert "team=" in page.url  # the filter is in the URL: the view can be bookmarked
    mine = page.locator(".card").count()
    assert 0 < mine < every
    stuck = page.locator(".card.over").first
    deal_id = stuck.get_attribute("data-deal")
    stuck.click()
    page.wait_for_url(f"**#deal-{deal_id}")
    assert f"#deal-{deal_id}" in page.url
    assert page.locator(f"#deal-{deal_id}").is_visible()


def test_support_finds_a_customer_and_reads_the_timeline(page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, "support")
    assert "/ui/customers" in page.url
    page.locator("input[name=q]").fill("北斗精機")
    page.locator("input[name=q]").press("Enter")
    page.wait_for_url("**q=**")
    links = page.locator("main a[href^='/ui/customers/']")
    assert links.count() >= 2  # 「㈱北斗精機」 and 「株式会社北斗精機」: one key
    page.goto(f"/ui/customers/{dashboard.demo.showcase_customer_id}")
    text = page.locator("main").inner_text()
    for department in ("sales", "cs", "support"):
        assert department in text or {"sales": "営業", "cs": "CS", "support": "サポート"}[department] in text
    shot(page, "customer")


def test_an_auditor_moves_the_as_of_date(page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard, "auditor")
    page.goto(f"/ui/audit/customers/{dashboard.demo.showcase_customer_id}")
    assert page.locator("main").inner_text().count("\n") > 20  # the chain check, the state, the stored events
    page.goto("/ui/audit/pipeline")
    now = page.locator("tr[data-deal]").count()
    early = dashboard.demo.anchor - timedelta(days=200)  # the demo's business dates: deals opened since are absent
    page.locator("input[name=as_of]").fill(early.isoformat())
    page.locator("input[name=as_of]").press("Enter")
    page.wait_for_url("**as_of=**")
    assert early.isoformat() in page.url
    assert 0 < page.locator("tr[data-deal]").count() < now
    shot(page, "audit-pipeline")


def test_the_board_fits_a_tablet_and_sign_in_works_from_the_keyboard(browser, base_url: str,
                                                                       dashboard: Dashboard) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 820, "height": 1180}, locale="ja-JP")
    tablet = context.new_page()
    errors: list[str] = []
    tablet.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        tablet.goto("/ui/board")  # not signed in: to the sign-in page, and back after it
        assert "/ui/sign-in?next=" in tablet.url
        tablet.keyboard.press("Tab")  # the header's links come first; tab until the token field has focus
        for _ in range(10):
            if tablet.evaluate("document.activeElement && document.activeElement.id") == "token":
                break
            tablet.keyboard.press("Tab")
        tablet.keyboard.type(dashboard.tokens["manager"])
        tablet.keyboard.press("Enter")
        tablet.wait_for_url("**/ui/board")
        overflow = tablet.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than the tablet"  # the board scrolls inside itself
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tablet.screenshot(path=str(SCREENSHOTS / "board-tablet.png"))
    finally:
        context.close()
    assert not errors, errors
