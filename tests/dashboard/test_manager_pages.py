"""The dashboard's sign-in, permissions and manager pages, over the demo history (tests/dashboard/conftest.py)."""

from __future__ import annotations

import re
import time

from tests.dashboard.conftest import Dashboard, csrf_of, sign_in

PHASES_JA = ["アプローチ", "ヒアリング", "提案", "クロージング", "成約", "フォロー"]


def cards(html: str) -> list[tuple[str, str]]:
    """(state, deal id) of every card on a board page."""
    return re.findall(r'class="card (within|near|over)"[^>]*data-deal="([0-9a-f-]+)"', html, re.S)


def test_a_page_without_a_session_sends_to_the_sign_in_and_back(dashboard: Dashboard) -> None:
    browser = dashboard.browser()
    answer = browser.get("/ui/board?team=x")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/sign-in?next=%2Fui%2Fboard%3Fteam%3Dx"
    signed = sign_in(browser, dashboard.tokens["manager"], "/ui/board?team=x")
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/board?team=x"
    cookie = signed.headers["set-cookie"]
    assert "ct_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie


def test_sign_in_refuses_a_bad_token_and_a_form_without_its_csrf_value(dashboard: Dashboard) -> None:
    browser = dashboard.browser()
    bad = sign_in(browser, "ct_not-a-token")
    assert bad.status_code == 401 and "トークンが無効か、失効しています。" in bad.text
    forged = dashboard.browser().post("/ui/sign-in", data={"token": dashboard.tokens["manager"], "csrf": "guess"})
    assert forged.status_code == 403 and "フォームの有効期限が切れました" in forged.text
    assert "ct_session" not in forged.headers.get("set-cookie", "")


def test_sign_out_needs_its_csrf_value_and_ends_the_session(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    board = browser.get("/ui/board")
    assert browser.post("/ui/sign-out", data={"csrf": "wrong"}).status_code == 403
    out = browser.post("/ui/sign-out", data={"csrf": csrf_of(board.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
    assert browser.get("/ui/board").status_code == 303


def test_a_role_without_the_permission_gets_the_403_page_naming_it(dashboard: Dashboard) -> None:
    for who in ("cs", "support", "sales"):
        answer = dashboard.browser(who).get("/ui/board")
        assert answer.status_code == 403, who
        assert "pipeline:read" in answer.text and "このページを表示する権限がありません" in answer.text
        assert 'href="/ui/board"' not in answer.text  # the navigation offers only what the role may see


def test_the_board_shows_every_phase_and_every_deal_not_lost_coloured_by_time_in_stage(dashboard: Dashboard) -> None:
    html = dashboard.browser("manager").get("/ui/board").text
    positions = [html.index(f"<h2>{label}</h2>") for label in PHASES_JA]
    assert positions == sorted(positions)
    found = cards(html)
    api = dashboard.app.get("/kpis", headers={"Authorization": f"Bearer {dashboard.tokens['manager']}"}).json()
    won = dashboard.demo.outcomes["won"]
    assert len(found) == api["open_deals"] + won >= dashboard.demo.outcomes["open"] + won
    states = {state for state, _ in found}
    assert "over" in states and "within" in states, states  # the demo has stuck deals and fresh ones
    stuck = dashboard.browser("manager").get("/ui/alerts").text
    stuck_ids = set(re.findall(r'#deal-([0-9a-f-]+)"', stuck.split('id="h-no_next_action"')[0]))
    assert stuck_ids and stuck_ids <= {deal for state, deal in found if state == "over"}


def test_the_board_filters_by_team_in_the_url(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    every = cards(browser.get("/ui/board").text)
    branch = browser.get("/ui/board", params={"team": "大阪支店営業課"})
    assert branch.status_code == 200
    mine = cards(branch.text)
    assert 0 < len(mine) < len(every)
    assert '<option value="大阪支店営業課" selected>' in branch.text


def test_the_board_speaks_english_on_request(dashboard: Dashboard) -> None:
    html = dashboard.browser("manager").get("/ui/board", params={"lang": "en"}).text
    assert "<h2>Approach</h2>" in html and "Open deals" in html and 'lang="en"' in html


def test_hostile_text_is_shown_as_text_never_run(dashboard: Dashboard) -> None:
    headers = {"Authorization": f"Bearer {dashboard.tokens['sales']}"}
    made = dashboard.command.post("/customers", headers=headers,
                                  json={"company_name": "<script>alert('x')</script>株式会社", "industry": "製造業"})
    assert made.status_code == 201, made.text
    cid = made.json()["customer_id"]
    deal = dashboard.command.post(f"/customers/{cid}/deals", headers=headers,
                                  json={"title": "<img src=x onerror=alert(1)>", "owner": "tanaka"})
    assert deal.status_code == 201, deal.text
    deadline = time.monotonic() + 30
    while "&lt;img src=x" not in (html := dashboard.browser("manager").get("/ui/board").text):
        assert time.monotonic() < deadline, "the hostile deal never reached the board"
        time.sleep(0.3)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_the_manager_pages_answer_with_what_the_demo_holds(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    analytics = browser.get("/ui/analytics")
    assert analytics.status_code == 200 and "ファネル" in analytics.text and "ヒアリング" in analytics.text
    assert re.search(r"\d+%", analytics.text)  # conversion rates
    alerts = browser.get("/ui/alerts").text
    assert "滞留している案件" in alerts and "次のアクションが期限切れの案件" in alerts
    lost = browser.get("/ui/outcomes").text
    won = browser.get("/ui/outcomes", params={"outcome": "won"}).text
    assert "失注" in lost and '<option value="won" selected>' in won
    duplicates = browser.get("/ui/duplicates").text
    assert "本社営業1課" in duplicates and "大阪支店営業課" in duplicates and "北斗精機" in duplicates


def test_every_manager_page_answers_within_300_ms_on_the_demo(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    for path in ("/ui/board", "/ui/analytics", "/ui/alerts", "/ui/outcomes", "/ui/duplicates"):
        browser.get(path)  # warm
        started = time.perf_counter()
        answer = browser.get(path)
        seconds = time.perf_counter() - started
        assert answer.status_code == 200, path
        assert seconds < 0.3, f"{path}: {seconds * 1000:.0f} ms"


def test_an_unknown_page_is_a_page_and_the_json_api_stays_json(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    for path in ("/ui/nope", f"/ui/customers/{dashboard.demo.showcase_customer_id}/nope"):
        missing = browser.get(path)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html"), path
        assert "見つかりません" in missing.text
    api = dashboard.app.get("/nope")
    assert api.status_code == 404 and api.json()["code"] == "not_found"
