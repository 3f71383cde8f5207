"""The forecast (売上予測) and targets against results (目標と実績, 売上推移) on /ui/analytics, over the demo history
(tests/dashboard/conftest.py; the demo's manager sets the teams' targets for the 12 months up to today's). The
JSON API's answers are the reference for what the page must show."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from services.timeline_api.dashboard.render import yen
from tests.dashboard.conftest import Dashboard

JST = timezone(timedelta(hours=9))


def api(dashboard: Dashboard, path: str, **params) -> dict:
    answer = dashboard.app.get(path, params=params, headers={"Authorization": f"Bearer {dashboard.tokens['manager']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"', 1)[1].split("</section>", 1)[0]


def this_year_of_months() -> tuple[str, str]:
    today = datetime.now(JST).date()
    first = f"{today.year - 1:04d}-{today.month % 12 + 1:02d}" if today.month < 12 else f"{today.year:04d}-01"
    last = f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"
    return first, last


def test_the_analytics_page_shows_the_forecast_by_month(dashboard: Dashboard) -> None:
    html = dashboard.browser("manager").get("/ui/analytics").text
    forecast = section(html, "h-forecast")
    assert "売上予測" in forecast and "加重金額" in forecast and "受注予定月" in forecast
    [everyone] = api(dashboard, "/pipeline/forecast")["groups"]
    assert everyone["deals"] > 0 and everyone["weighted_amount"] > 0, "the demo has open deals with amounts"
    rows = re.findall(r'<tr class="forecast-month">.*?</tr>', forecast, re.S)
    assert len(rows) == len(everyone["months"])
    for row, month in zip(rows, everyone["months"]):
        assert (month["month"] or "予定月なし") in row and yen(month["weighted_amount"]) in row, row
    total = re.search(r'<tr class="forecast-total">.*?</tr>', forecast, re.S).group(0)
    assert yen(everyone["weighted_amount"]) in total and yen(everyone["amount"]) in total


def test_the_analytics_page_shows_targets_achievement_and_the_gap(dashboard: Dashboard) -> None:
    html = dashboard.browser("manager").get("/ui/analytics").text
    targets = section(html, "h-targets")
    since, until = this_year_of_months()
    body = api(dashboard, "/pipeline/achievement", since=since, until=until)
    teams = {g["team"]: g for g in body["groups"]}
    first = teams["本社営業1課"]
    assert first["target"] == 12 * 3_000_000 and teams["大阪支店営業課"]["target"] == 12 * 2_000_000
    assert "目標と実績" in targets and f"{since} – {until}" in targets
    assert f"目標 {yen(first['target'])}" in targets and f"受注金額 {yen(first['won_amount'])}" in targets
    assert f"差額 {yen(first['gap'])}" in targets
    table = targets.split("本社営業1課", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="achievement-month">.*?</tr>', table, re.S)
    assert len(rows) == 12
    for row, month in zip(rows, first["months"]):
        assert month["month"] in row and yen(month["target"]) in row and yen(month["cumulative_won_amount"]) in row
    assert 'style="' not in html and "<script" not in html


def test_per_owner_and_in_english(dashboard: Dashboard) -> None:
    browser = dashboard.browser("manager")
    owners = section(browser.get("/ui/analytics", params={"group_by": "owner"}).text, "h-targets")
    assert "本社営業1課 · tanaka" in owners and yen(12 * 1_500_000) in owners
    english = browser.get("/ui/analytics", params={"lang": "en"}).text
    assert "Forecast (weighted pipeline by month of expected close)" in english
    assert "Targets and results (sales trend)" in english and "Cumulative won" in english


def test_only_pipeline_readers_see_it_and_targets_are_set_by_managers_only(dashboard: Dashboard) -> None:
    assert dashboard.browser("cs").get("/ui/analytics").status_code == 403
    body = {"team": "本社営業1課", "month": "2026-01", "amount": 1}
    for who in ("sales", "cs", "auditor"):
        answer = dashboard.command.post("/targets", json=body,
                                        headers={"Authorization": f"Bearer {dashboard.tokens[who]}"})
        assert answer.status_code == 403 and answer.json()["permission"] == "targets:write", who
