"""The win rates on /ui/analytics and the customers stuck in follow-up on /ui/customers, over the demo history
(tests/dashboard/conftest.py). The JSON API's answers are the reference for what a page must show."""

from __future__ import annotations

import re

from tests.dashboard.conftest import Dashboard


def api(dashboard: Dashboard, path: str, who: str, **params) -> dict:
    answer = dashboard.app.get(path, params=params, headers={"Authorization": f"Bearer {dashboard.tokens[who]}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def win_rate_rows(html: str) -> list[str]:
    """The group names of the win-rate table, in page order."""
    table = html.split('<table class="win-rates">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr class="win-rate"><th scope="row">([^<]*)</th>', table)


def test_the_analytics_page_shows_a_win_rate_row_per_team(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    answer = browser.get("/ui/analytics", params={"group_by": "team", "since": "2000-01-01", "until": "2100-01-01"})
    assert answer.status_code == 200 and "受注率" in answer.text
    expected = api(dashboard, "/pipeline/win-rates", "manager", group_by="team", since="2000-01-01",
                   until="2100-01-01")["groups"]
    assert win_rate_rows(answer.text) == [g["group"] for g in expected]
    assert {"本社営業1課", "大阪支店営業課"} <= set(win_rate_rows(answer.text))  # the demo wins and loses in both
    assert '<option value="team" selected>' in answer.text
    for g in expected:
        if g["win_rate"] is not None:
            assert f"{g['win_rate'] * 100:.0f}%" in answer.text
    assert 'style="' not in answer.text and "<script" not in answer.text
    table = answer.text.split('<table class="win-rates">', 1)[1].split("</table>", 1)[0]
    assert table.count('<svg class="bar"') == 2 * len(expected), "a bar by count and one by amount per group"


def test_the_analytics_page_shows_everyone_by_default_and_speaks_english(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    assert win_rate_rows(browser.get("/ui/analytics").text) == ["全体"]
    english = browser.get("/ui/analytics", params={"group_by": "site", "lang": "en"}).text
    assert "Win rates" in english and "Win rate (amount)" in english
    assert '<option value="site" selected>' in english and set(win_rate_rows(english)) <= {"東京本社", "大阪支店"}
    assert win_rate_rows(browser.get("/ui/analytics", params={"group_by": "planet"}).text) == ["全体"], \
        "an unknown group_by shows everyone"


def test_the_customers_landing_page_lists_the_customers_stuck_in_follow_up(dashboard: Dashboard) -> None:
    for who in ("cs", "support", "sales"):
        answer = dashboard.browser(who).get("/ui/customers")
        assert answer.status_code == 200 and "導入・定着で滞留している顧客" in answer.text, who
    stuck = api(dashboard, "/follow-up/stagnation", "cs")
    section = answer.text.split('id="h-follow-up"', 1)[1].split("</section>", 1)[0]
    links = re.findall(r'href="/ui/customers/([0-9a-f-]{36})#deal-([0-9a-f-]{36})"', section)
    assert links == [(d["customer_id"], d["deal_id"]) for d in stuck["deals"]]
    assert stuck["count"] >= 1 and "導入対応中" in section, "the demo has a customer stuck in onboarding"
    english = dashboard.browser("cs").get("/ui/customers", params={"lang": "en"}).text
    assert "Customers stuck in onboarding or adoption" in english


def test_the_follow_up_section_has_an_empty_state(dashboard: Dashboard) -> None:
    from services.timeline_api.dashboard.render import templates

    # nothing is stuck in the demo's follow-up only at some moments: render the landing page's template without
    html = templates.get_template("customers.html").render(
        t=lambda key: {"cu_nothing_follow_up": "EMPTY"}.get(key, key), label=str, when=str, pick=lambda a, b: a,
        lang="ja", csrf="x", principal=None, path="/ui/customers", query="", q="", found=None, problem=None,
        lang_param=[], follow_up=type("Alerts", (), {"count": 0, "deals": []})())
    assert "EMPTY" in html and 'id="h-follow-up"' in html and "#deal-" not in html
