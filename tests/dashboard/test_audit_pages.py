"""The auditor pages (監査), over the demo history (tests/dashboard/conftest.py): raw events with their hashes,
the hash-chain check, the state as of a time, the pipeline as of a date, and what a bad request gets."""

from __future__ import annotations

import html as markup
import re
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.dashboard.conftest import Dashboard
from tests.streaming import caught_up, eventually

JST = ZoneInfo("Asia/Tokyo")
PHASES_JA = ["アプローチ", "ヒアリング", "提案", "クロージング", "成約", "フォロー"]


def api(dashboard: Dashboard, path: str, **params) -> dict:
    answer = dashboard.app.get(path, params=params, headers={"Authorization": f"Bearer {dashboard.tokens['auditor']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def rows(page: str) -> list[tuple[int, str]]:
    """(version, hash) of every event row of a customer audit page, in page order."""
    found = re.findall(r'<tr id="v-(\d+)" data-version="\1".*?data-hash="([0-9a-f]{64})"', page, re.S)
    return [(int(v), h) for v, h in found]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return markup.unescape(found.group(1)) if found else None


def is_html(answer) -> bool:
    return answer.headers["content-type"].startswith("text/html") and not answer.text.lstrip().startswith("{")


@pytest.fixture(scope="module")
def showcase(dashboard: Dashboard) -> dict:
    """The showcase customer's id and every stored event (JSON), oldest first."""
    cid = dashboard.demo.showcase_customer_id
    return {"id": cid, "events": api(dashboard, f"/audit/customers/{cid}/events", limit=1000)["events"]}


def test_the_events_page_lists_the_stored_events_in_order_with_their_hashes(dashboard: Dashboard, showcase) -> None:
    cid, every = showcase["id"], showcase["events"]
    assert len(every) > 20, "the showcase customer has a long history"
    answer = dashboard.browser("auditor").get(f"/ui/audit/customers/{cid}")
    assert answer.status_code == 200 and is_html(answer)
    first = api(dashboard, f"/audit/customers/{cid}/events")  # the JSON route's first page (100)
    shown = rows(answer.text)
    assert shown == [(e["stream_version"], e["hash"]) for e in first["events"]]
    assert [v for v, _ in shown] == list(range(1, len(shown) + 1))
    one = every[1]
    for value in (one["prev_hash"], one["event_type"], one["occurred_at"], one["recorded_at"],
                  one["payload"]["idempotency_key"], one["actor"]["user"]):
        assert value and markup.escape(value) in answer.text, value
    assert every[0]["prev_hash"] == "0" * 64 and "0" * 64 in answer.text
    assert (link(answer.text, "next") is not None) == (first["next_after_version"] is not None)


def test_the_events_page_pages_by_version_with_links_in_the_url(dashboard: Dashboard, showcase) -> None:
    cid, every = showcase["id"], showcase["events"]
    browser = dashboard.browser("auditor")
    path, seen, pages = f"/ui/audit/customers/{cid}?limit=10", [], 0
    while path is not None:
        answer = browser.get(path)
        assert answer.status_code == 200, path
        got = rows(answer.text)
        assert 0 < len(got) <= 10
        seen += got
        pages += 1
        path = link(answer.text, "next")
        if path:
            assert f"after_version={got[-1][0]}" in path and "limit=10" in path
        if pages > 1:
            assert link(answer.text, "first") == f"/ui/audit/customers/{cid}?limit=10"
    assert seen == [(e["stream_version"], e["hash"]) for e in every]
    assert pages == -(-len(every) // 10)


def test_the_chain_check_says_intact_for_the_demo(dashboard: Dashboard, showcase) -> None:
    page = dashboard.browser("auditor").get(f"/ui/audit/customers/{showcase['id']}").text
    assert 'data-intact="true"' in page and "ハッシュチェーンは正常です" in page
    assert f'<strong class="events-checked">{len(showcase["events"])}</strong>' in page
    english = dashboard.browser("auditor").get(f"/ui/audit/customers/{showcase['id']}", params={"lang": "en"}).text
    assert "Intact: the hash chain is unbroken" in english and 'lang="en"' in english


def test_the_chain_check_names_the_first_broken_version_and_the_state_says_it_cannot_be_read(
        dashboard: Dashboard) -> None:
    headers = {"Authorization": f"Bearer {dashboard.tokens['sales']}"}
    made = dashboard.command.post("/customers", headers=headers,
                                  json={"company_name": f"監査改ざん試験{uuid.uuid4().hex[:6]}株式会社", "industry": "製造業"})
    assert made.status_code == 201, made.text
    cid = made.json()["customer_id"]
    for name in ("佐藤 次郎", "高橋 三郎", "伊藤 四郎"):
        added = dashboard.command.post(f"/customers/{cid}/contacts", headers=headers, json={"name": name})
        assert added.status_code == 201, added.text
    eventually(lambda: caught_up(dashboard.conn), timeout=30)  # relayed and projected before it is broken
    browser = dashboard.browser("auditor")
    assert 'data-intact="true"' in browser.get(f"/ui/audit/customers/{cid}").text
    dashboard.conn.execute("UPDATE customers_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                           "'\"is_decision_maker\":false', '\"is_decision_maker\":true'), 'UTF8') WHERE originator_id = %s AND originator_version = 2",
                           (cid,))
    broken = browser.get(f"/ui/audit/customers/{cid}")
    assert broken.status_code == 200
    assert 'data-intact="false"' in broken.text and "ハッシュチェーンが壊れています" in broken.text
    assert re.search(r'最初に壊れているバージョン: <strong data-first-broken="2">2</strong>', broken.text)
    assert '<tr id="v-2" data-version="2" class="broken">' in broken.text
    dashboard.conn.execute("UPDATE customers_events SET state = 'not json'::bytea WHERE originator_id = %s "
                           "AND originator_version = 3", (cid,))
    unreadable = browser.get(f"/ui/audit/customers/{cid}")
    assert unreadable.status_code == 200 and is_html(unreadable)
    assert 'data-problem="au_unreadable"' in unreadable.text and "unreadable_stream" in unreadable.text
    assert "保存されたイベントの一部が読み取れない" in unreadable.text and "not json" in unreadable.text
    assert [v for v, _ in rows(unreadable.text)] == [1, 2, 3, 4]


def test_the_state_as_of_a_time_in_the_middle_is_an_earlier_version_with_the_stage_then(
        dashboard: Dashboard, showcase) -> None:
    cid, every = showcase["id"], showcase["events"]
    middle = every[len(every) // 2]["recorded_at"]
    then = api(dashboard, f"/audit/customers/{cid}/state", as_of=middle)
    now = api(dashboard, f"/audit/customers/{cid}/state")
    assert then["version"] < now["version"]
    browser = dashboard.browser("auditor")
    page = browser.get(f"/ui/audit/customers/{cid}", params={"as_of": middle})
    assert page.status_code == 200
    assert f'<strong class="state-version">{then["version"]}</strong>' in page.text
    assert f'<span class="current-version">{now["version"]}</span>' in page.text
    assert then["head_hash"] in page.text and "<details" in page.text
    current = browser.get(f"/ui/audit/customers/{cid}").text
    assert f'<strong class="state-version">{now["version"]}</strong>' in current
    changed = [d for d in then["state"]["deals"] if d in now["state"]["deals"]
               and then["state"]["deals"][d]["stage"] != now["state"]["deals"][d]["stage"]]
    deal = changed[0] if changed else next(iter(then["state"]["deals"]))
    stage = then["state"]["deals"][deal]["stage"]
    assert f'<tr id="deal-{deal}" data-deal="{deal}" data-stage="{stage}">' in page.text
    if changed:
        assert f'data-deal="{deal}" data-stage="{now["state"]["deals"][deal]["stage"]}"' in current
    # what the datetime-local input sends: a local time without an offset, read in Asia/Tokyo
    # (to the second, rounded up: the demo records a customer's events within a second or two, so a time
    # rounded down could fall before its first event)
    moment = datetime.fromisoformat(middle).astimezone(JST)
    moment = moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0)
    local = moment.strftime("%Y-%m-%dT%H:%M:%S")
    typed = browser.get(f"/ui/audit/customers/{cid}", params={"as_of": local, "limit": "5"})
    version = api(dashboard, f"/audit/customers/{cid}/state", as_of=local)["version"]
    assert f'<strong class="state-version">{version}</strong>' in typed.text
    assert f'value="{local}"' in typed.text  # the form shows what is being looked at
    assert f"as_of={local.replace(':', '%3A')}" in link(typed.text, "next")  # paging keeps the moment


def test_before_the_customer_was_recorded_the_page_says_so(dashboard: Dashboard, showcase) -> None:
    early = (dashboard.demo.anchor - timedelta(days=3650)).isoformat()
    page = dashboard.browser("auditor").get(f"/ui/audit/customers/{showcase['id']}", params={"as_of": early})
    assert page.status_code == 200 and "まだこの顧客のイベントは記録されていません" in page.text
    assert f'value="{early}"' in page.text and rows(page.text)  # the events are still listed


def test_the_pipeline_as_of_an_early_date_shows_fewer_deals_than_now(dashboard: Dashboard) -> None:
    browser = dashboard.browser("auditor")
    early = (dashboard.demo.anchor - timedelta(days=200)).isoformat()
    then = browser.get("/ui/audit/pipeline", params={"as_of": early})
    now = browser.get("/ui/audit/pipeline")
    assert then.status_code == now.status_code == 200
    deals_then = re.findall(r'<tr data-deal="([0-9a-f-]+)"', then.text)
    deals_now = re.findall(r'<tr data-deal="([0-9a-f-]+)"', now.text)
    json_then = api(dashboard, "/audit/pipeline", as_of=early)["deals"]
    assert sorted(deals_then) == sorted(d["deal_id"] for d in json_then)
    assert 0 < len(deals_then) < len(deals_now) == len(api(dashboard, "/audit/pipeline")["deals"])
    assert f'value="{early}"' in then.text
    one = next(d for d in json_then if d["status"] == "open")
    assert re.search(rf'data-deal="{one["deal_id"]}" data-stage="{one["stage"]}">.*?{re.escape(one["stage_label"])}',
                     then.text, re.S)
    assert f'href="/ui/audit/customers/{one["customer_id"]}#deal-{one["deal_id"]}"' in then.text
    headings = [h for h in PHASES_JA if f'{h} <span class="n">' in now.text]
    assert len(headings) >= 3 and [now.text.index(f'{h} <span class="n">') for h in headings] == sorted(
        now.text.index(f'{h} <span class="n">') for h in headings)
    english = browser.get("/ui/audit/pipeline", params={"as_of": early, "lang": "en"}).text
    assert "Pipeline as of a date" in english and ("Approach" in english or "Hearing" in english)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45", "9999-01-01", "<b>x</b>"])
def test_a_bad_as_of_is_a_friendly_message_on_the_page(dashboard: Dashboard, showcase, bad: str) -> None:
    browser = dashboard.browser("auditor")
    for path in (f"/ui/audit/customers/{showcase['id']}", "/ui/audit/pipeline"):
        answer = browser.get(path, params={"as_of": bad})
        assert answer.status_code == 422 and is_html(answer), (path, answer.text[:200])
        assert "時点の形式が正しくありません" in answer.text and markup.escape(bad) in answer.text
        assert "Traceback" not in answer.text and "<b>x</b>" not in answer.text
    english = browser.get("/ui/audit/pipeline", params={"as_of": bad, "lang": "en"})
    assert english.status_code == 422 and "The moment cannot be read" in english.text


def test_bad_paging_values_are_a_message_not_json(dashboard: Dashboard, showcase) -> None:
    answer = dashboard.browser("auditor").get(f"/ui/audit/customers/{showcase['id']}",
                                              params={"after_version": "abc", "limit": "0"})
    assert answer.status_code == 422 and is_html(answer) and "after_version / limit" in answer.text
    assert rows(answer.text)[0][0] == 1


@pytest.mark.parametrize("wrong", ["not-a-uuid", str(uuid.UUID(int=7)), "1' OR '1'='1"])
def test_an_unknown_or_malformed_customer_is_the_404_page(dashboard: Dashboard, wrong: str) -> None:
    answer = dashboard.browser("auditor").get(f"/ui/audit/customers/{wrong}")
    assert answer.status_code == 404 and is_html(answer)
    assert "<h1>見つかりません</h1>" in answer.text and "この顧客は見つかりません" in answer.text


def test_the_start_page_finds_customers_by_name_and_links_their_audit_pages(dashboard: Dashboard) -> None:
    browser = dashboard.browser("auditor")
    start = browser.get("/ui/audit")
    assert start.status_code == 200 and 'action="/ui/audit/pipeline"' in start.text and 'name="q"' in start.text
    assert '<label for="q">' in start.text and '<label for="pipeline-as-of">' in start.text
    found = browser.get("/ui/audit", params={"q": "北斗精機"})
    ids = set(re.findall(r'href="/ui/audit/customers/([0-9a-f-]+)"', found.text))
    assert set(dashboard.demo.duplicate_customer_ids) <= ids
    nothing = browser.get("/ui/audit", params={"q": "存在しない会社名ゼロ"})
    assert nothing.status_code == 200 and "該当する顧客はありません" in nothing.text
    for useless in ("・", "x" * 201):  # no letter of a name; longer than the JSON route takes
        empty = browser.get("/ui/audit", params={"q": useless})
        assert empty.status_code == 422 and is_html(empty) and "会社名の文字を入力してください" in empty.text
    forged = browser.get("/ui/audit", params={"q": "北斗", "cursor": "garbage"})
    assert forged.status_code == 422 and "ページの指定が正しくありません" in forged.text
    english = browser.get("/ui/audit", params={"lang": "en", "q": "北斗精機"}).text
    assert "Find a customer by company name" in english and "?lang=en" in english


@pytest.mark.parametrize("who", ["manager", "cs", "support", "sales"])
def test_only_auditors_see_the_audit_pages(dashboard: Dashboard, showcase, who: str) -> None:
    browser = dashboard.browser(who)
    for path in ("/ui/audit", f"/ui/audit/customers/{showcase['id']}", "/ui/audit/pipeline?as_of=2026-03-31",
                 "/ui/audit/customers/not-a-uuid"):
        answer = browser.get(path)
        assert answer.status_code == 403 and is_html(answer), (who, path)
        assert "audit:read" in answer.text and "このページを表示する権限がありません" in answer.text
        assert 'href="/ui/audit"' not in answer.text


def test_hostile_text_is_escaped_on_every_audit_page(dashboard: Dashboard) -> None:
    headers = {"Authorization": f"Bearer {dashboard.tokens['sales']}"}
    name = "<script>alert('audit')</script>監査試験株式会社"
    made = dashboard.command.post("/customers", headers=headers, json={"company_name": name, "industry": "製造業"})
    assert made.status_code == 201, made.text
    cid = made.json()["customer_id"]
    browser = dashboard.browser("auditor")
    page = browser.get(f"/ui/audit/customers/{cid}")
    assert page.status_code == 200
    deadline = time.monotonic() + 30
    while cid not in (found := browser.get("/ui/audit", params={"q": "監査試験"})).text:
        assert time.monotonic() < deadline, "the hostile customer never reached the search"
        time.sleep(0.3)
    for html in (page.text, found.text):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;audit&#39;)&lt;/script&gt;" in html
    assert "<script" not in page.text and "style=" not in page.text  # no script, no inline style (CSP)


def test_every_audit_page_answers_within_300_ms_on_the_demo(dashboard: Dashboard, showcase) -> None:
    middle = showcase["events"][len(showcase["events"]) // 2]["recorded_at"]
    early = (dashboard.demo.anchor - timedelta(days=200)).isoformat()
    browser = dashboard.browser("auditor")
    paths = ["/ui/audit", "/ui/audit?q=北斗精機", f"/ui/audit/customers/{showcase['id']}",
             f"/ui/audit/customers/{showcase['id']}?as_of={middle.replace('+', '%2B')}",
             "/ui/audit/pipeline", f"/ui/audit/pipeline?as_of={early}"]
    timings = {}
    for path in paths:
        browser.get(path)  # warm
        started = time.perf_counter()
        answer = browser.get(path)
        timings[path] = seconds = time.perf_counter() - started
        assert answer.status_code == 200, path
        assert seconds < 0.3, f"{path}: {seconds * 1000:.0f} ms"
    print("audit page times:", {p: f"{s * 1000:.0f} ms" for p, s in timings.items()})


def test_the_pages_need_no_script_and_no_inline_style(dashboard: Dashboard, showcase) -> None:
    browser = dashboard.browser("auditor")
    for path in ("/ui/audit", f"/ui/audit/customers/{showcase['id']}", "/ui/audit/pipeline"):
        answer = browser.get(path)
        assert "<script" not in answer.text and "style=" not in answer.text, path
        assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
        assert '<th scope="col">' in answer.text or path == "/ui/audit"
