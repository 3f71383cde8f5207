"""The timeline API end to end: commands through the command API, relay, Kafka, projection workers,
then every view read back through the timeline API and checked against hand-computed values.

The history (T0 = 2026-01-05 09:00 JST, "day n" = T0 + n days):

customer A 株式会社ABC商事 (HQ, tanaka)   deal A1: approach 0 -> hearing 2 -> proposal 6 -> closing 10 -> won 12
                                          -> follow 14; CS and support from day 15; HQ visit on day 32
customer B 株式会社XYZ工業 (branch, yamada) deal B1: approach 0 -> hearing 4 -> lost 9 (価格); B2 opened day 20
customer C ㈱ＡＢＣ商事 (branch, yamada)   the same company as A, registered again on day 30; C1 opened 31, lost 32
customer D 株式会社みらい物流 (HQ, sato)    D1: approach 1 -> hearing 3 -> proposal 9, next action due day 12, hot;
                                          D2: approach 2 -> hearing 5, next action 未定, no amount
customer E 検証株式会社 (HQ)               three events, tampered with by the chain test
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.command.app import create_app as create_command_app
from services.timeline_api.app import create_app as create_timeline_app
from shared.bootstrap import build_customers
from tests.streaming import caught_up, eventually, serving
from tests.support import ACTOR, auth, post, read

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=JST)
HQ = ACTOR  # tanaka, 本社営業1課, 東京本社
HQ2 = {"user": "sato", "team": "本社営業2課", "department": "sales", "site": "東京本社"}
BRANCH = {"user": "yamada", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}
CS = {"user": "suzuki", "team": "CS課", "department": "cs", "site": "東京本社"}
SUPPORT = {"user": "kato", "team": "サポート1課", "department": "support", "site": "大阪サポートセンター"}
ALL_CONFIRMED = {"budget": "confirmed", "authority": "confirmed", "need": "confirmed", "timeline": "confirmed"}


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def day(days: float) -> datetime:
    return T0 + timedelta(days=days)


@dataclass
class Story:
    a: str
    b: str
    c: str
    d: str
    e: str
    deals: dict[str, str]
    mid: datetime  # a wall-clock moment between A's version 13 and 14
    mid_version: int
    e_registered: datetime  # a wall-clock moment between E's version 1 and 2


class Writer:
    """Posts commands at a given day as a given actor."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(self, path: str, body: dict, when: float, actor: dict = HQ) -> dict:
        return post(self.client, path, {**body, "occurred_at": at(when)}, actor=actor)

    def register(self, name: str, when: float, actor: dict, **profile: Any) -> str:
        return self("/customers", {"company_name": name, **profile}, when, actor)["customer_id"]

    def deal(self, cid: str, title: str, owner: str, amount: int | None, when: float, actor: dict) -> str:
        body = {"title": title, "owner": owner, "amount": amount}
        return self(f"/customers/{cid}/deals", body, when, actor)["created"]["deal_id"]

    def first_contact(self, cid: str, did: str, when: float, actor: dict, contact: bool = True) -> None:
        """What approach -> hearing asks for: a contact, a touch with a reaction, a hearing begun."""
        if contact:
            self(f"/customers/{cid}/contacts", {"name": "担当 一郎", "email": "tanto@example.jp"}, when, actor)
        self(f"/customers/{cid}/touchpoints", {"deal_id": did, "channel": "phone", "direction": "outbound",
                                               "summary": "初回架電", "reaction": {"choice": "considering"}},
             when, actor)
        self(f"/customers/{cid}/deals/{did}/hearings", {"issue": "業務の属人化"}, when, actor)

    def stage(self, cid: str, did: str, to_stage: str, when: float, actor: dict = HQ) -> dict:
        return self(f"/customers/{cid}/deals/{did}/stage", {"to_stage": to_stage}, when, actor)

    def meeting_and_proposal(self, cid: str, did: str, when: float, actor: dict) -> None:
        base = f"/customers/{cid}/deals/{did}"
        meeting = self(f"{base}/meetings", {"scheduled_at": at(when), "place": "visit", "purpose": "デモ"}, when, actor)
        self(f"{base}/meetings/{meeting['created']['meeting_id']}/held", {"minutes": "要件確認"}, when, actor)
        self(f"{base}/proposals", {"title": "提案書 v1", "problem": "情報の分断"}, when, actor)


def write_history(client: TestClient) -> Story:
    w = Writer(client)
    # --- A: HQ wins A1 and hands it to CS ---
    a = w.register("株式会社ABC商事", 0, HQ, industry="製造業")
    a1 = w.deal(a, "営業支援システム導入", "tanaka", 4_800_000, 0, HQ)
    base = f"/customers/{a}/deals/{a1}"
    w(f"/customers/{a}/contacts", {"name": "佐藤 花子", "title": "部長", "email": "sato@abc.example.jp",
                                   "is_decision_maker": True}, 1)
    w(f"/customers/{a}/touchpoints", {"deal_id": a1, "channel": "phone", "direction": "outbound",
                                      "summary": "初回架電", "reaction": {"choice": "positive"}}, 1)
    w(f"/customers/{a}/lead-sources", {"source": "trade_show", "detail": "DX展示会", "deal_id": a1}, 1)
    w(f"{base}/hearings", {"issue": "拠点ごとに顧客情報が分断"}, 1)
    w.stage(a, a1, "hearing_done", 2)
    w(f"{base}/hearings", {"issue": "拠点ごとに顧客情報が分断", "reason": "営業会議の準備工数削減",
                           "decision_maker": "山田 取締役", "budget": "年間500万円", "timeline": "2026年4月",
                           "bant": ALL_CONFIRMED, "competitor": {"choice": "yes", "note": "B社と比較"},
                           "hurdle": {"choice": "approval"}}, 3)
    w.meeting_and_proposal(a, a1, 4, HQ)
    w(f"{base}/quotes", {"amount": 4_800_000}, 4)
    assert w.stage(a, a1, "proposal_sent_waiting", 6)["stream_version"] == 13
    time.sleep(0.05)
    mid = datetime.now(timezone.utc)
    time.sleep(0.05)
    w(f"{base}/proposal-feedback", {"reaction": {"choice": "positive"}}, 7)
    w(f"{base}/contract-terms", {"open_points": ["payment_terms"]}, 7)
    w.stage(a, a1, "negotiating_terms", 10)
    w(f"{base}/approval", {"status": {"choice": "approved"}}, 11)
    w(f"{base}/contract-terms", {"agreed": True}, 11)
    w(f"{base}/contract", {"price": 4_560_000, "scope": "全拠点"}, 11)
    w(f"{base}/win", {"win_reasons": [{"choice": "support", "note": "導入支援を評価"}, {"choice": "functionality"}],
                      "note": "決め手は導入支援"}, 12)
    w(f"{base}/handoff", {"goal": "3か月で全拠点の案件登録率90%", "cautions": "現場の入力負荷に敏感",
                          "expectations": "営業会議資料の自動化", "cs_owner": "suzuki",
                          "first_response_at": at(20)}, 13)
    w.stage(a, a1, "onboarding", 14)
    w(f"/customers/{a}/onboarding-progress", {"deal_id": a1, "progress_percent": 40, "status": "初期設定完了"}, 15, CS)
    ticket = w(f"/customers/{a}/tickets", {"title": "ログインできない", "priority": "high", "deal_id": a1}, 16,
               SUPPORT)["created"]["ticket_id"]
    w(f"/customers/{a}/tickets/{ticket}/updates", {"status": "in_progress"}, 16.5, SUPPORT)
    w(f"/customers/{a}/satisfaction", {"deal_id": a1, "score": 4}, 17, CS)
    # --- B: the branch loses B1 on price, opens B2 ---
    b = w.register("株式会社XYZ工業", 0, BRANCH, industry="小売")
    b1 = w.deal(b, "在庫管理クラウド", "yamada", 2_000_000, 0, BRANCH)
    w.first_contact(b, b1, 2, BRANCH)
    w.stage(b, b1, "hearing_done", 4, BRANCH)
    w(f"/customers/{b}/deals/{b1}/hearings", {"issue": "在庫の見える化", "bant": {"budget": "confirmed"}}, 5, BRANCH)
    w(f"/customers/{b}/deals/{b1}/loss", {"reason": {"choice": "price", "note": "他社より30%高い"}}, 9, BRANCH)
    b2 = w.deal(b, "追加拠点展開", "yamada", 1_000_000, 20, BRANCH)
    # --- D: HQ's second team, two open deals ---
    d = w.register("株式会社みらい物流", 1, HQ2, industry="物流")
    d1 = w.deal(d, "配車最適化", "sato", 3_000_000, 1, HQ2)
    d2 = w.deal(d, "倉庫管理", "sato", None, 2, HQ2)
    w.first_contact(d, d1, 2, HQ2)
    w.stage(d, d1, "hearing_done", 3, HQ2)
    w(f"/customers/{d}/deals/{d1}/hearings", {"issue": "配車の属人化", "reason": "ドライバー不足", "decision_maker": "物流部長",
                                              "budget": "300万円", "timeline": "今期中", "bant": ALL_CONFIRMED}, 4, HQ2)
    w.first_contact(d, d2, 4, HQ2, contact=False)
    w.stage(d, d2, "hearing_done", 5, HQ2)
    w(f"/customers/{d}/deals/{d2}/next-action", {"plan": {"choice": "undecided"}}, 5, HQ2)
    w.meeting_and_proposal(d, d1, 6, HQ2)
    w.stage(d, d1, "proposal_sent_waiting", 9, HQ2)
    w(f"/customers/{d}/deals/{d1}/next-action", {"plan": {"choice": "scheduled", "note": "稟議資料のドラフト送付"},
                                                 "due_at": at(12)}, 10, HQ2)
    w(f"/customers/{d}/deals/{d1}/temperature", {"temperature": {"choice": "high"},
                                                 "decision_status": {"choice": "in_approval"}}, 10, HQ2)
    # --- C: the branch registers A's company again and loses to a competitor ---
    c = w.register("㈱ＡＢＣ商事", 30, BRANCH)
    c1 = w.deal(c, "営業支援ツール", "yamada", 3_000_000, 31, BRANCH)
    w(f"/customers/{c}/touchpoints", {"deal_id": c1, "channel": "visit", "direction": "outbound",
                                      "summary": "飛び込み訪問"}, 31, BRANCH)
    w(f"/customers/{c}/deals/{c1}/loss", {"reason": {"choice": "competitor", "note": "A社に決定"}}, 32, BRANCH)
    w(f"/customers/{a}/touchpoints", {"channel": "visit", "direction": "outbound", "summary": "追加提案の訪問"}, 32)
    # --- E: three events for the chain test ---
    e = w.register("検証株式会社", 0, HQ, industry="監査")
    time.sleep(0.05)
    e_registered = datetime.now(timezone.utc)
    time.sleep(0.05)
    w(f"/customers/{e}/contacts", {"name": "佐藤 次郎", "email": "jiro@example.jp"}, 1)
    w(f"/customers/{e}/touchpoints", {"channel": "email", "direction": "outbound", "summary": "ご挨拶"}, 2)
    return Story(a, b, c, d, e, {"A1": a1, "B1": b1, "B2": b2, "C1": c1, "D1": d1, "D2": d2}, mid, 13, e_registered)



@dataclass
class Stack:
    api: TestClient
    conn: psycopg.Connection
    story: Story

    def get(self, path: str, role: str = "manager", expect: int = 200, **params: Any) -> Any:
        return read(self.api, path, role, expect, HQ, **params).json()


@pytest.fixture(scope="module")
def stack(isolated):
    with serving(isolated()) as s:
        story = write_history(s.client)
        eventually(lambda: caught_up(s.conn), timeout=60)
        yield Stack(s.api, s.conn, story)


def ids(items: list[dict], key: str = "deal_id") -> list[str]:
    return [item[key] for item in items]


# --- customer views ------------------------------------------------------------------------
def test_the_timeline_filters_by_department_kind_and_period_newest_first(stack) -> None:
    a = stack.story.a
    page = stack.get(f"/customers/{a}/timeline", role="cs", department=["cs", "support"])
    assert [(e["kind"], e["department"]) for e in page["entries"]] == [
        ("SatisfactionRecorded", "cs"), ("TicketUpdated", "support"), ("TicketOpened", "support"),
        ("OnboardingProgressRecorded", "cs")]
    assert page["entries"][2]["summary_ja"].startswith("問い合わせ起票: ログインできない") and page["next_cursor"] is None
    stages = stack.get(f"/customers/{a}/timeline", role="support", kind="StageChanged")["entries"]
    assert [e["occurred_at"] for e in stages] == [
        day(n).astimezone(timezone.utc).isoformat().replace("+00:00", "Z") for n in (14, 12, 10, 6, 2)]
    period = stack.get(f"/customers/{a}/timeline", role="sales", since=at(10), until=at(13))["entries"]
    assert [e["kind"] for e in period] == ["DealWon", "StageChanged", "ContractSigned", "ContractTermsUpdated",
                                           "ApprovalStatusUpdated", "StageChanged"], "ties: newest stream version first"


def test_the_timeline_pages_with_a_cursor_through_all_28_events(stack) -> None:
    a, seen, cursor = stack.story.a, [], None
    for expected in (10, 10, 8):
        page = stack.get(f"/customers/{a}/timeline", limit=10, **({"cursor": cursor} if cursor else {}))
        assert len(page["entries"]) == expected
        seen += [e["stream_version"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert cursor is None and sorted(seen) == list(range(1, 29)) and len(set(seen)) == 28


def test_the_summary_gives_cs_what_sales_heard_and_handed_off(stack) -> None:
    summary = stack.get(f"/customers/{stack.story.a}/summary", role="cs")
    assert summary["company"] == {"name": "株式会社ABC商事", "key": "abc商事", "industry": "製造業", "address": None,
                                  "website": None}
    assert (summary["version"], summary["source"]) == (28, "read_model")
    [contact] = summary["contacts"]
    assert (contact["name"], contact["title"], contact["is_decision_maker"]) == ("佐藤 花子", "部長", True)
    [deal] = summary["deals"]
    assert (deal["status"], deal["phase"], deal["phase_label"], deal["stage"], deal["stage_label"]) == (
        "won", "follow", "フォロー", "onboarding", "導入対応中")
    assert deal["hearing"] == {
        "issue": "拠点ごとに顧客情報が分断", "reason": "営業会議の準備工数削減", "decision_maker": "山田 取締役",
        "budget": "年間500万円", "timeline": "2026年4月", "bant": ALL_CONFIRMED, "bant_complete": True,
        "competitor": {"id": "yes", "label": "あり", "label_en": "Yes"},
        "hurdle": {"id": "approval", "label": "稟議", "label_en": "Internal approval"}}
    handoff = deal["handoff"]
    assert [handoff[k] for k in ("goal", "cautions", "expectations", "cs_owner", "recorded_by")] == [
        "3か月で全拠点の案件登録率90%", "現場の入力負荷に敏感", "営業会議資料の自動化", "suzuki", "tanaka"]
    assert (datetime.fromisoformat(handoff["first_response_at"]), datetime.fromisoformat(handoff["handed_off_at"])) \
        == (day(20), day(13))
    assert [r["label"] for r in deal["win_reasons"]] == ["サポート体制", "機能"] and deal["missing_information"] == []
    [ticket] = summary["tickets"]
    assert (ticket["title"], ticket["status"], ticket["priority"]) == ("ログインできない", "in_progress", "high")
    assert {k: datetime.fromisoformat(v) for k, v in summary["last_touch"].items()} == {
        "sales": day(32), "cs": day(17), "support": day(16.5)}
    assert (summary["onboarding_progress"], summary["satisfaction"]) == (40, 4)


def test_the_summary_of_open_deals_lists_what_is_missing(stack) -> None:
    deals = {d["title"]: d for d in stack.get(f"/customers/{stack.story.d}/summary", role="support")["deals"]}
    assert [d["status"] for d in deals.values()] == ["open", "open"]
    d1, d2 = deals["配車最適化"], deals["倉庫管理"]
    assert (d1["phase_label"], d1["stage_label"], d1["bucket"], d1["next_action"]["choice"]["label"]) == (
        "提案", "提案済み・反応待ち", "hot", "予定あり")
    assert [m["label"] for m in d2["missing_information"]] == ["導入理由", "決裁者", "予算", "導入時期"]
    assert d2["hearing"]["bant_complete"] is False and d2["amount"] is None


@pytest.mark.parametrize("q", ["株式会社 ABC", "㈱ABC", "ＡＢＣ", "abc", "(株)ａｂｃ商事"])
def test_search_finds_a_company_however_its_name_is_written(stack, q: str) -> None:
    found = stack.get("/customers", role="sales", q=q)
    assert {c["customer_id"] for c in found["customers"]} == {stack.story.a, stack.story.c}
    assert {c["company_name"] for c in found["customers"]} == {"株式会社ABC商事", "㈱ＡＢＣ商事"}


def test_search_pages_and_counts_open_deals(stack) -> None:
    first = stack.get("/customers", role="cs", q="ABC", limit=1)
    second = stack.get("/customers", role="cs", q="ABC", limit=1, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    both = {first["customers"][0]["customer_id"], second["customers"][0]["customer_id"]}
    assert both == {stack.story.a, stack.story.c}
    [mirai] = stack.get("/customers", role="cs", q="みらい")["customers"]
    assert (mirai["customer_id"], mirai["open_deals"], mirai["industry"]) == (stack.story.d, 2, "物流")
    assert datetime.fromisoformat(mirai["last_touch_at"]) == day(10)


def test_before_any_worker_ran_the_api_answers_and_the_summary_replays_the_stream(isolated) -> None:
    settings = isolated()
    customers = build_customers(settings)
    try:
        with TestClient(create_command_app(settings, customers)) as client, \
                TestClient(create_timeline_app(settings, customers.reader)) as api:
            cid = post(client, "/customers", {"company_name": "株式会社できたて", "industry": "IT"})["customer_id"]
            post(client, f"/customers/{cid}/deals", {"title": "新規案件", "owner": "tanaka"})
            headers = auth(api, {**HQ, "user": "early-cs"}, role="cs")
            summary = api.get(f"/customers/{cid}/summary", headers=headers).json()
            assert (summary["source"], summary["version"], summary["company"]["name"]) == (
                "event_store", 2, "株式会社できたて")
            [deal] = summary["deals"]
            assert (deal["stage_label"], deal["bucket"], [m["id"] for m in deal["missing_information"]]) == (
                "リード獲得", "cold", ["lead_source", "first_contact", "contact_person", "initial_reaction"])
            assert api.get(f"/customers/{cid}/timeline", headers=headers).json()["entries"] == []
            kpis = api.get("/kpis", headers=auth(api, {**HQ, "user": "early-boss"}, role="manager")).json()
            assert (kpis["open_deals"], kpis["bant_capture"]["rate"]) == (0, None)
    finally:
        customers.close()


# --- manager views ---------------------------------------------------------------------------
def test_the_pipeline_lists_deals_filtered_and_paged(stack) -> None:
    deals = stack.story.deals
    assert ids(stack.get("/pipeline", status="open")["deals"]) == [deals["D2"], deals["D1"], deals["B2"]]
    assert ids(stack.get("/pipeline", owner="sato", phase="hearing")["deals"]) == [deals["D2"]]
    [hot] = stack.get("/pipeline", bucket="hot")["deals"]
    assert (hot["deal_id"], hot["stage_label"], hot["next_action_note"]) == (deals["D1"], "提案済み・反応待ち",
                                                                            "稟議資料のドラフト送付")
    assert ids(stack.get("/pipeline", site="大阪支店", status="lost")["deals"]) == [deals["B1"], deals["C1"]]
    first = stack.get("/pipeline", limit=4)
    rest = stack.get("/pipeline", limit=4, cursor=first["next_cursor"])
    assert ids(first["deals"]) + ids(rest["deals"]) == [deals[k] for k in ("B1", "D2", "D1", "A1", "B2", "C1")]
    assert rest["next_cursor"] is None


def test_the_pipeline_summary_counts_deals_and_amounts_per_phase_and_stage(stack) -> None:
    summary = stack.get("/pipeline/summary")
    [everyone] = summary["groups"]
    assert (everyone["group"], everyone["deals"], everyone["amount"]) == (None, 3, 4_000_000)
    phases = {p["phase"]: p for p in everyone["phases"]}
    assert [p["phase"] for p in everyone["phases"]] == ["approach", "hearing", "proposal", "closing", "won", "follow"]
    assert {k: (p["deals"], p["amount"]) for k, p in phases.items()} == {
        "approach": (1, 1_000_000), "hearing": (1, 0), "proposal": (1, 3_000_000), "closing": (0, 0),
        "won": (0, 0), "follow": (0, 0)}
    assert [(s["stage"], s["label"], s["deals"]) for s in phases["proposal"]["stages"]] == [
        ("preparing_materials", "資料作成中", 0), ("proposal_sent_waiting", "提案済み・反応待ち", 1),
        ("revising", "修正対応中", 0), ("quote_submitted", "見積提出済み", 0)]
    grouped = stack.get("/pipeline/summary", group_by="owner")["groups"]
    by_owner = {g["group"]: (g["deals"], g["amount"]) for g in grouped}
    assert by_owner == {"sato": (2, 3_000_000), "yamada": (1, 1_000_000)}
    won = stack.get("/pipeline/summary", status="won")["groups"][0]
    assert [(p["phase"], p["deals"], p["amount"]) for p in won["phases"] if p["deals"]] == [("follow", 1, 4_800_000)]


def steps(group: dict) -> dict[str, tuple]:
    return {s["phase"]: (s["entered"], s["advanced"], s["lost"], s["remaining"]) for s in group["steps"]}


def test_the_funnel_counts_each_phase_cohort_and_who_advanced(stack) -> None:
    [everyone] = stack.get("/pipeline/funnel")["groups"]
    assert steps(everyone) == {"approach": (6, 4, 1, 1), "hearing": (4, 2, 1, 1), "proposal": (2, 1, 0, 1),
                               "closing": (1, 1, 0, 0), "won": (1, 1, 0, 0), "follow": (1, None, 0, 1)}
    rates = [s["conversion_rate"] for s in everyone["steps"]]
    assert rates == [pytest.approx(4 / 6), 0.5, 0.5, 1.0, 1.0, None]
    [window] = stack.get("/pipeline/funnel", since=at(3), until=at(10))["groups"]
    assert steps(window)["approach"] == (0, 0, 0, 0) and window["steps"][0]["conversion_rate"] is None
    assert (steps(window)["hearing"], steps(window)["proposal"], steps(window)["closing"]) == (
        (3, 1, 1, 1), (2, 1, 0, 1), (0, 0, 0, 0))


def test_the_funnel_per_owner_shows_who_stumbles_where(stack) -> None:
    groups = {g["group"]: steps(g) for g in stack.get("/pipeline/funnel", group_by="owner")["groups"]}
    assert list(groups) == ["sato", "tanaka", "yamada"]
    assert (groups["sato"]["approach"], groups["sato"]["hearing"], groups["sato"]["proposal"]) == (
        (2, 2, 0, 0), (2, 1, 0, 1), (1, 0, 0, 1))
    assert groups["tanaka"]["won"] == (1, 1, 0, 0)
    assert (groups["yamada"]["approach"], groups["yamada"]["hearing"]) == ((3, 1, 1, 1), (1, 0, 1, 0))


def test_stage_durations_give_median_and_p90_of_closed_stays(stack) -> None:
    [everyone] = stack.get("/pipeline/stage-durations")["groups"]
    found = {s["stage"]: (s["stays"], s["median_days"], s["p90_days"]) for s in everyone["stages"]}
    # lead_acquired stays: 2 (A1), 4 (B1), 1 (C1, ended by the loss), 2 (D1), 3 (D2) days
    assert found["lead_acquired"] == (5, pytest.approx(2.0), pytest.approx(3.6))
    assert found["hearing_done"] == (3, pytest.approx(5.0), pytest.approx(5.8))  # 4, 5, 6 days
    assert found["proposal_sent_waiting"] == (1, pytest.approx(4.0), pytest.approx(4.0))
    assert found["onboarding"] == (0, None, None), "A1 is still onboarding: no closed stay"
    by_owner = {g["group"]: {s["stage"]: s for s in g["stages"]}
                for g in stack.get("/pipeline/stage-durations", group_by="owner")["groups"]}
    yamada = by_owner["yamada"]["lead_acquired"]
    assert (yamada["stays"], yamada["median_days"], yamada["p90_days"]) == (2, pytest.approx(2.5), pytest.approx(3.7))
    [window] = stack.get("/pipeline/stage-durations", since=at(5), until=at(10))["groups"]
    assert {s["stage"]: s["stays"] for s in window["stages"] if s["stays"]} == {"lead_acquired": 1, "hearing_done": 3}


def test_stagnation_and_next_action_alerts_as_of_a_time(stack) -> None:
    deals = stack.story.deals
    stuck = stack.get("/pipeline/stagnation", as_of=at(40))
    assert ids(stuck["deals"]) == [deals["D2"], deals["D1"], deals["B2"]] and stuck["count"] == 3
    assert [(d["stage_label"], d["threshold_days"], round(d["days_in_stage"])) for d in stuck["deals"]] == [
        ("ヒアリング実施済み", 14, 35), ("提案済み・反応待ち", 14, 31), ("リード獲得", 14, 20)]
    assert ids(stack.get("/pipeline/stagnation", as_of=at(30))["deals"]) == [deals["D2"], deals["D1"]]
    pages = [stack.get("/pipeline/stagnation", as_of=at(40), limit=1, offset=n) for n in range(4)]
    assert [ids(p["deals"]) for p in pages] == [[deals["D2"]], [deals["D1"]], [deals["B2"]], []], \
        "pages merge the stages in order of time stuck"
    assert {p["count"] for p in pages} == {3}
    later = stack.get("/pipeline/stagnation", as_of=at(200))["deals"]
    assert deals["A1"] not in ids(later), "open deals by default: a won deal in onboarding (導入対応中) is not stuck"
    assert deals["A1"] in ids(stack.get("/pipeline/stagnation", as_of=at(200), status="won")["deals"])
    assert deals["A1"] in ids(stack.get("/follow-up/stagnation", role="cs", as_of=at(200))["deals"]), \
        "CS sees the customer stuck in onboarding"
    every = ids(stack.get("/pipeline/stagnation", as_of=at(200), status="all")["deals"])
    assert deals["A1"] in every and deals["C1"] not in every, "lost deals never are"
    assert ids(stack.get("/pipeline/no-next-action", as_of=at(40))["deals"]) == [deals["D2"], deals["B2"]]
    assert ids(stack.get("/pipeline/no-next-action", as_of=at(10))["deals"]) == [deals["D2"]], "B2 opens on day 20"
    assert ids(stack.get("/pipeline/overdue-next-actions", as_of=at(40))["deals"]) == [deals["D1"]]
    assert stack.get("/pipeline/overdue-next-actions", as_of=at(11))["deals"] == []
    assert datetime.fromisoformat(stack.get("/pipeline/overdue-next-actions")["as_of"]) > day(40), "default: now"


def test_kpis_phase_distribution_bant_capture_and_missing_information(stack) -> None:
    kpis = stack.get("/kpis")
    assert (kpis["open_deals"], kpis["open_amount"]) == (3, 4_000_000)
    assert [(p["phase"], p["deals"], p["share"]) for p in kpis["phase_distribution"]][:4] == [
        ("approach", 1, pytest.approx(1 / 3)), ("hearing", 1, pytest.approx(1 / 3)),
        ("proposal", 1, pytest.approx(1 / 3)), ("closing", 0, 0.0)]
    assert kpis["buckets"] == {"hot": 1, "warm": 0, "cold": 2}
    assert kpis["bant_capture"] == {"deals": 1, "of": 2, "rate": 0.5}, "D1 confirmed all four; D2 did not"
    assert kpis["missing_information"] == {"deals": 2, "of": 3, "rate": pytest.approx(2 / 3)}
    assert [(m["id"], m["deals"]) for m in kpis["missing_by_item"]] == [
        ("lead_source", 1), ("first_contact", 1), ("initial_reaction", 1), ("hearing_reason", 1),
        ("hearing_decision_maker", 1), ("hearing_budget", 1), ("hearing_timeline", 1)]


def test_win_and_loss_reasons_with_their_notes_searchable(stack) -> None:
    deals = stack.story.deals
    lost = stack.get("/outcomes/reasons", outcome="lost")
    assert [(r["id"], r["label"], r["deals"]) for r in lost["reasons"]] == [("competitor", "競合", 1),
                                                                           ("price", "価格", 1)]
    assert [(d["deal_id"], d["reasons"][0]["note"], d["phase"]) for d in lost["deals"]] == [
        (deals["C1"], "A社に決定", "approach"), (deals["B1"], "他社より30%高い", "hearing")]
    by_note = stack.get("/outcomes/reasons", outcome="lost", q="30%")
    assert (by_note["matching_deals"], ids(by_note["deals"]), [r["id"] for r in by_note["reasons"]]) == (
        1, [deals["B1"]], ["price"])
    assert ids(stack.get("/outcomes/reasons", outcome="lost", q="クラウド")["deals"]) == [deals["B1"]], "title"
    assert ids(stack.get("/outcomes/reasons", outcome="lost", q="ａ社")["deals"]) == [deals["C1"]], "width, case"
    won = stack.get("/outcomes/reasons", outcome="won", q="導入支援")
    [deal] = won["deals"]
    assert (deal["deal_id"], deal["note"], [(r["label"], r["note"]) for r in deal["reasons"]]) == (
        deals["A1"], "決め手は導入支援", [("サポート体制", "導入支援を評価"), ("機能", "")])
    assert [(r["id"], r["deals"]) for r in won["reasons"]] == [("functionality", 1), ("support", 1)]
    none = stack.get("/outcomes/reasons", outcome="won", q="存在しない")
    assert (none["matching_deals"], none["reasons"], none["deals"]) == (0, [], [])


def test_duplicate_approach_alerts_name_both_teams(stack) -> None:
    [alert] = stack.get("/alerts/duplicates", as_of=at(33))["companies"]
    assert (alert["company_key"], set(alert["company_names"]), set(alert["customer_ids"])) == (
        "abc商事", {"株式会社ABC商事", "㈱ＡＢＣ商事"}, {stack.story.a, stack.story.c})
    assert (alert["teams"], alert["sites"]) == (["本社営業1課", "大阪支店営業"], ["東京本社", "大阪支店"])
    assert stack.get("/alerts/duplicates", as_of=at(20))["companies"] == [], "the branch came on day 30"
    assert stack.get("/alerts/duplicates", as_of=at(33), window_days=1)["companies"] == []


# --- auditor views ---------------------------------------------------------------------------
def test_stored_events_are_shown_raw_and_paged_by_version(stack) -> None:
    a = stack.story.a
    page = stack.get(f"/audit/customers/{a}/events", role="auditor", limit=5)
    events = page["events"]
    assert [e["stream_version"] for e in events] == [1, 2, 3, 4, 5] and page["next_after_version"] == 5
    first = events[0]
    assert (first["event_type"], first["payload"]["company_name"], first["actor"]["user"]) == (
        "CustomerRegistered", "株式会社ABC商事", "tanaka")
    assert datetime.fromisoformat(first["occurred_at"]) == T0 and first["recorded_at"] == first["payload"]["timestamp"]
    assert first["prev_hash"] == "0" * 64 and all(e["prev_hash"] == p["hash"] for p, e in zip(events, events[1:]))
    last = stack.get(f"/audit/customers/{a}/events", role="auditor", after_version=25, limit=5)
    assert [e["stream_version"] for e in last["events"]] == [26, 27, 28] and last["next_after_version"] is None


def test_the_state_as_of_a_time_is_the_last_version_recorded_by_then(stack) -> None:
    a, a1 = stack.story.a, stack.story.deals["A1"]
    then = stack.get(f"/audit/customers/{a}/state", role="auditor", as_of=stack.story.mid.isoformat())
    assert then["version"] == stack.story.mid_version == 13 and then["current_version"] == 28
    deal = then["state"]["deals"][a1]
    assert (deal["phase"], deal["stage"], deal["status"], deal["hearing"]["budget"], deal["quotes"]) == (
        "proposal", "proposal_sent_waiting", "open", "年間500万円", 1)
    events = stack.get(f"/audit/customers/{a}/events", role="auditor", after_version=12, limit=1)["events"]
    assert then["head_hash"] == events[0]["hash"]
    assert datetime.fromisoformat(then["recorded_at"]) <= stack.story.mid
    now = stack.get(f"/audit/customers/{a}/state", role="auditor")
    assert (now["version"], now["state"]["deals"][a1]["stage"]) == (28, "onboarding")
    body = stack.get(f"/audit/customers/{a}/state", role="auditor", expect=404, as_of="2000-01-01")
    assert body["code"] == "not_found"


def test_the_pipeline_as_of_a_day_is_what_a_manager_saw(stack) -> None:
    deals = stack.story.deals
    seen = stack.get("/audit/pipeline", role="auditor", as_of=at(7))
    assert [(d["deal_id"], d["stage"]) for d in seen["deals"]] == [
        (deals["D1"], "hearing_done"), (deals["B1"], "hearing_done"), (deals["D2"], "hearing_done"),
        (deals["A1"], "proposal_sent_waiting")]
    assert [(p["phase"], p["deals"]) for p in seen["phases"] if p["deals"]] == [("hearing", 3), ("proposal", 1)]
    # a bare date is the end of that day (Asia/Tokyo): B1 was lost and D1 moved to 提案 that morning
    day9 = stack.get("/audit/pipeline", role="auditor", as_of="2026-01-14")
    assert [(d["deal_id"], d["stage_label"], d["status"]) for d in day9["deals"]] == [
        (deals["D2"], "ヒアリング実施済み", "open"), (deals["A1"], "提案済み・反応待ち", "open"),
        (deals["D1"], "提案済み・反応待ち", "open"), (deals["B1"], "失注", "lost")]
    assert datetime.fromisoformat(day9["as_of"]) == datetime(2026, 1, 14, 23, 59, 59, 999999, tzinfo=JST)
    later = {d["deal_id"]: d["status"] for d in stack.get("/audit/pipeline", role="auditor", as_of=at(13))["deals"]}
    assert later[deals["A1"]] == "won"


def test_verify_finds_the_chain_intact_then_names_the_tampered_event(stack) -> None:
    e = stack.story.e
    assert stack.get(f"/audit/customers/{e}/verify", role="auditor") == {
        "customer_id": e, "intact": True, "events_checked": 3, "first_broken_version": None, "problem": None}
    stack.conn.execute("UPDATE customers_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                       "'\"is_decision_maker\":false', '\"is_decision_maker\":true'), 'UTF8') WHERE originator_id = %s AND originator_version = 2", (e,))
    broken = stack.get(f"/audit/customers/{e}/verify", role="auditor")
    assert (broken["intact"], broken["first_broken_version"]) == (False, 2)
    raw = stack.get(f"/audit/customers/{e}/events", role="auditor")["events"]
    assert raw[1]["payload"]["is_decision_maker"] is True and raw[2]["prev_hash"] != raw[1]["hash"]
    assert "personal_data" in raw[1]["payload"] and "佐藤 次郎" not in str(raw[1]), "auditors see the stored (sealed) form"
    stack.conn.execute("UPDATE customers_events SET state = 'not json'::bytea WHERE originator_id = %s "
                       "AND originator_version = 3", (e,))
    raw = stack.get(f"/audit/customers/{e}/events", role="auditor")["events"]
    assert (raw[2]["payload"], raw[2]["stored_state"]) == (None, "not json")
    body = stack.get(f"/audit/customers/{e}/state", role="auditor", expect=409)
    assert body["code"] == "unreadable_stream"
    before = stack.get(f"/audit/customers/{e}/state", role="auditor", as_of=stack.story.e_registered.isoformat())
    assert before["version"] == 1, "the unreadable event 3 came after version 2, recorded later than as_of"
    broken = stack.get(f"/audit/customers/{e}/verify", role="auditor")
    assert (broken["first_broken_version"], broken["problem"]) == (3, "stored state is not JSON")


# --- who may read what ------------------------------------------------------------------------
ROLES = ["sales", "cs", "support", "manager", "auditor", "admin"]
GROUPS = {  # endpoint group -> (permission, roles allowed, paths)
    "customer views": ("customers:read", {"sales", "cs", "support", "manager", "auditor"}, [
        "/customers?q=ABC", "/customers/{a}/timeline", "/customers/{a}/summary", "/follow-up/stagnation"]),
    "manager views": ("pipeline:read", {"manager", "auditor"}, [
        "/pipeline", "/pipeline/summary?group_by=team", "/pipeline/funnel", "/pipeline/stage-durations",
        "/pipeline/win-rates", "/pipeline/forecast?group_by=site", "/pipeline/targets", "/pipeline/achievement",
        "/pipeline/stagnation", "/pipeline/no-next-action", "/pipeline/overdue-next-actions", "/kpis",
        "/outcomes/reasons?outcome=lost", "/alerts/duplicates"]),
    "auditor views": ("audit:read", {"auditor"}, [
        "/audit/customers/{a}/events", "/audit/customers/{a}/state", "/audit/pipeline",
        "/audit/customers/{a}/verify"]),
}
EVERY_PATH = [path for _, _, paths in GROUPS.values() for path in paths]


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_of_the_timeline_api(stack, role: str, group: str) -> None:
    permission, allowed, paths = GROUPS[group]
    headers = auth(stack.api, {**HQ, "user": f"matrix-{role}"}, role=role)
    for path in paths:
        response = stack.api.get(path.format(a=stack.story.a), headers=headers)
        if role in allowed:
            assert response.status_code == 200, f"{role} on {path}: {response.text}"
        else:
            assert (response.status_code, response.json()) == (403, {
                "code": "forbidden", "permission": permission,
                "message": f"role '{role}' lacks permission '{permission}'"}), f"{role} on {path}"


@pytest.mark.parametrize("path", EVERY_PATH)
def test_every_endpoint_wants_a_valid_bearer_token(stack, path: str) -> None:
    path = path.format(a=stack.story.a)
    for headers in ({}, {"Authorization": "Bearer ct_unknown"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        response = stack.api.get(path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated"), (path, headers)


# --- invalid input: 404 / 422 naming the parameter, never 5xx ---------------------------------------
INVALID = [  # (path, params, field named)
    ("/customers", {"q": " ・ "}, "query.q"),
    ("/customers", {}, "query.q"),
    ("/customers", {"q": "abc", "cursor": "bm90LWEtY3Vyc29y"}, "query.cursor"),
    ("/customers/{a}/timeline", {"cursor": "garbage"}, "query.cursor"),
    ("/customers/{a}/timeline", {"limit": 201}, "query.limit"),
    ("/customers/{a}/timeline", {"limit": 0}, "query.limit"),
    ("/customers/{a}/timeline", {"kind": "DealDeleted"}, "query.kind"),
    ("/customers/{a}/timeline", {"department": "finance"}, "query.department.0"),
    ("/customers/{a}/timeline", {"since": "yesterday"}, "query.since"),
    ("/customers/{a}/timeline", {"since": "2026-02-01", "until": "2026-01-01"}, "query.until"),
    ("/customers/not-a-uuid/summary", {}, "path.customer_id"),
    ("/pipeline", {"phase": "negotiation"}, "query.phase"),
    ("/pipeline", {"stage": "almost_won"}, "query.stage"),
    ("/pipeline", {"bucket": "lukewarm"}, "query.bucket"),
    ("/pipeline", {"status": "pending"}, "query.status"),
    ("/pipeline", {"cursor": "x"}, "query.cursor"),
    ("/pipeline/summary", {"group_by": "region"}, "query.group_by"),
    ("/pipeline/win-rates", {"group_by": "department"}, "query.group_by"),
    ("/pipeline/stagnation", {"status": "lost"}, "query.status"),
    ("/follow-up/stagnation", {"limit": 0}, "query.limit"),
    ("/pipeline/funnel", {"since": "2026-13-01"}, "query.since"),
    ("/pipeline/stagnation", {"as_of": "0001-01-01"}, "query.as_of"),
    ("/outcomes/reasons", {}, "query.outcome"),
    ("/outcomes/reasons", {"outcome": "draw"}, "query.outcome"),
    ("/alerts/duplicates", {"window_days": 0}, "query.window_days"),
    ("/audit/customers/{a}/events", {"after_version": -1}, "query.after_version"),
    ("/audit/customers/{a}/state", {"as_of": "2026-02-30"}, "query.as_of"),
]


@pytest.mark.parametrize(("path", "params", "field"), INVALID)
def test_invalid_query_values_are_422_naming_the_parameter(stack, path: str, params: dict, field: str) -> None:
    body = stack.get(path.format(a=stack.story.a), role="auditor", expect=422, **params)
    assert body["field"] == field and body["code"] in ("invalid_request", "invalid_field"), body


@pytest.mark.parametrize("path", ["/customers/{x}/timeline", "/customers/{x}/summary", "/audit/customers/{x}/events",
                                  "/audit/customers/{x}/state", "/audit/customers/{x}/verify"])
def test_an_unknown_customer_is_404(stack, path: str) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    body = stack.get(path.format(x=unknown), role="auditor", expect=404)
    assert (body["code"], body["kind"], body["id"]) == ("not_found", "customer", unknown)


HOSTILE = ["", " ", "x", "-1", "0", "99999999999999999999999", "1e309", "NaN", "2026-02-30", "0000-00-00",
           "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00 09:00", "\x00", "a\x00b",
           "'; DROP TABLE pipeline_deals; --", "%", "_", "㈱", "🙂" * 50, "x" * 5000, "WyJcdTAwMDAiLCAiMSJd",
           "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIm5vdC1hLXV1aWQiXQ"]
PARAMETERS = {
    "/customers": ["q", "limit", "cursor"],
    "/customers/{a}/timeline": ["department", "kind", "since", "until", "limit", "cursor"],
    "/customers/{a}/summary": [],
    "/pipeline": ["team", "site", "owner", "phase", "stage", "bucket", "status", "limit", "cursor"],
    "/pipeline/summary": ["group_by", "status"],
    "/pipeline/funnel": ["since", "until", "group_by"],
    "/pipeline/stage-durations": ["since", "until", "group_by"],
    "/pipeline/win-rates": ["since", "until", "group_by"],
    "/pipeline/stagnation": ["as_of", "status", "limit", "offset"],
    "/follow-up/stagnation": ["as_of", "limit", "offset"],
    "/pipeline/no-next-action": ["as_of"],
    "/pipeline/overdue-next-actions": ["as_of"],
    "/kpis": [],
    "/outcomes/reasons": ["outcome", "q", "since", "until", "limit"],
    "/alerts/duplicates": ["as_of", "window_days"],
    "/audit/customers/{a}/events": ["after_version", "limit"],
    "/audit/customers/{a}/state": ["as_of"],
    "/audit/pipeline": ["as_of"],
    "/audit/customers/{a}/verify": [],
}


@pytest.mark.parametrize("path", list(PARAMETERS))
def test_no_input_makes_a_5xx(stack, path: str) -> None:
    headers = auth(stack.api, {**HQ, "user": "fuzzer"}, role="auditor")
    base = {"q": "abc"} if path == "/customers" else {"outcome": "won"} if path == "/outcomes/reasons" else {}
    for parameter in PARAMETERS[path]:
        for value in HOSTILE:
            response = stack.api.get(path.format(a=stack.story.a), params={**base, parameter: value}, headers=headers)
            assert response.status_code < 500, (path, parameter, value, response.text)
            assert response.status_code in (200, 404 if path.endswith("/state") else 200, 422), \
                (path, parameter, value, response.text)
    for customer in ("x", "0", "00000000-0000-0000-0000-000000000000", "%00", "🙂"):
        if "{a}" in path:
            response = stack.api.get(path.format(a=customer), headers=headers)
            assert response.status_code in (404, 422), (path, customer, response.text)


def test_unknown_paths_answer_in_the_error_shape(stack) -> None:
    response = stack.api.get("/nothing-here")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- OpenAPI -------------------------------------------------------------------------------------
def test_every_endpoint_documents_its_response_model_examples_and_errors(stack) -> None:
    spec = stack.api.get("/openapi.json").json()
    assert set(spec["paths"]) == {p.split("?")[0].replace("{a}", "{customer_id}") for p in EVERY_PATH}
    schemas = spec["components"]["schemas"]

    def has_examples(name: str, seen: set[str]) -> bool:
        if name in seen:
            return False
        seen.add(name)
        for prop in schemas[name].get("properties", {}).values():
            if "examples" in prop or "example" in prop:
                return True
            refs = [prop.get("$ref")] + [i.get("$ref") for i in prop.get("anyOf", []) + [prop.get("items", {})]]
            if any(ref and has_examples(ref.rsplit("/", 1)[-1], seen) for ref in refs):
                return True
        return False

    for path, operations in spec["paths"].items():
        operation = operations["get"]
        assert operation.get("summary"), path
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in ok, path
        assert has_examples(ok["$ref"].rsplit("/", 1)[-1], set()), path
        assert {"401", "403", "422"} <= set(operation["responses"]), path
        error = operation["responses"]["403"]["content"]["application/json"]["schema"]["$ref"]
        assert error.endswith("/ErrorBody"), path
