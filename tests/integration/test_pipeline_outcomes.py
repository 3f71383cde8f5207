"""The pipeline read model writes only the deal rows an event changed, and keeps the reasons and notes of wins
and losses (the outcomes), equal after a rebuild.

Commands go through the command API (the win path as a sales app records it) and Customers.execute (the 200
deals), then the relay, Kafka and the pipeline worker. Deal-row writes are counted by a trigger on the live
``pipeline_deals`` (every INSERT and UPDATE, the upserts' included), which sees what the worker did.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.projections.pipeline import outcomes
from services.projections.pipeline.projection import PipelineProjection
from shared import commands as c
from shared.application import Envelope, Outcome
from shared.events import Actor, Selection
from shared.events.customer import TouchpointDetails
from shared.events.deal import DealDetails, TemperatureDetails
from tests.streaming import caught_up, checksum, eventually, serving
from tests.support import ACTOR, auth, post, register, run_cli

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=JST)
CS = Actor(user="suzuki", team="CS課", department="cs", site="東京本社")
TABLES = (*PipelineProjection.tables, "pipeline_versions")
COUNT_WRITES = """
CREATE TABLE IF NOT EXISTS test_deal_writes (deal_id uuid NOT NULL, op text NOT NULL);
CREATE OR REPLACE FUNCTION test_count_deal_write() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO test_deal_writes VALUES (NEW.deal_id, TG_OP); RETURN NEW; END $$;
CREATE TRIGGER test_count_deal_writes AFTER INSERT OR UPDATE ON pipeline_deals
FOR EACH ROW EXECUTE FUNCTION test_count_deal_write();
"""


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def stack(isolated):
    with serving(isolated(), ("pipeline",)) as s:
        yield s.settings, s.customers, s.client, s.api, s.conn


def settled(conn: psycopg.Connection) -> None:
    eventually(lambda: caught_up(conn, ("pipeline",)), timeout=60)


def execute(customers, envelopes: list[Envelope]) -> list[Outcome]:
    results = customers.execute(envelopes)
    assert all(isinstance(r, Outcome) for r in results), [r for r in results if not isinstance(r, Outcome)][:3]
    return results


def test_touchpoints_on_a_customer_with_200_deals_write_no_deal_row(stack) -> None:
    settings, customers, client, _, conn = stack
    actor = Actor(**ACTOR)
    cid = UUID(register(client, "株式会社二百案件"))
    opened = execute(customers, [Envelope(c.OpenDeal(details=DealDetails(title=f"案件{n:03d}", owner="tanaka")),
                                          cid, actor) for n in range(200)])
    deal_ids = [r.created["deal_id"] for r in opened]
    settled(conn)
    assert conn.execute("SELECT count(*) FROM pipeline_deals WHERE customer_id = %s", (cid,)).fetchone()[0] == 200
    conn.execute(COUNT_WRITES)

    def touch(k: int) -> None:
        execute(customers, [Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            channel="phone", direction="outbound", summary=f"定例連絡 {k}")), cid, CS,
            occurred_at=T0 + timedelta(days=k))])

    touch(0)  # the customer's first contact: a fact every deal's missing information changes with
    settled(conn)
    first = conn.execute("SELECT count(*), count(DISTINCT deal_id) FROM test_deal_writes").fetchone()
    assert first in ((0, 0), (200, 200)), "each deal row written at most once, and only if it changed"
    conn.execute("TRUNCATE test_deal_writes")
    for k in range(1, 11):  # ten more, each its own transaction (and most likely its own batch)
        touch(k)
    settled(conn)
    assert conn.execute("SELECT count(*) FROM test_deal_writes").fetchone()[0] == 0, \
        "ten touchpoints on the customer rewrote deal rows (it used to be 10 x 200)"
    last_touch = conn.execute("SELECT last_touch FROM pipeline_customers WHERE customer_id = %s", (cid,)).fetchone()[0]
    assert datetime.fromisoformat(last_touch["cs"]) == T0 + timedelta(days=10), "the customer's row has the last touch"
    listed = client_get_pipeline(stack, cid)
    assert {datetime.fromisoformat(d["last_touch"]["cs"]) for d in listed} == {T0 + timedelta(days=10)}, \
        "the deal list joins it"

    for k in range(10):  # ten touchpoints on one deal: its row at most, once per touchpoint
        execute(customers, [Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            deal_id=deal_ids[7], channel="email", direction="outbound", summary=f"案件連絡 {k}",
            reaction=Selection(choice="considering"))), cid, actor)])
    execute(customers, [Envelope(c.SetTemperature(deal_id=deal_ids[3], details=TemperatureDetails(
        temperature=Selection(choice="high"))), cid, actor)])
    settled(conn)
    writes = conn.execute("SELECT deal_id, op FROM test_deal_writes").fetchall()
    assert {d for d, _ in writes} <= {UUID(deal_ids[7]), UUID(deal_ids[3])} and len(writes) <= 11, writes
    assert (UUID(deal_ids[3]), "UPDATE") in writes, "the deal whose temperature changed is written"
    assert conn.execute("SELECT temperature FROM pipeline_deals WHERE deal_id = %s", (deal_ids[3],)).fetchone()[0] == "high"

    live = checksum(conn, TABLES)  # the rows not written are still exactly what a rebuild makes
    run_rebuild(settings)
    assert checksum(conn, TABLES) == live


def client_get_pipeline(stack, customer_id: UUID) -> list[dict]:
    _, _, _, api, _ = stack
    found, cursor = [], None
    while True:
        page = get(api, "/pipeline", limit=200, **({"cursor": cursor} if cursor else {}))
        found += [d for d in page["deals"] if d["customer_id"] == str(customer_id)]
        if not (cursor := page["next_cursor"]):
            return found


def get(api: TestClient, path: str, **params) -> dict:
    response = api.get(path, params=params, headers=auth(api, role="manager"))
    assert response.status_code == 200, response.text
    return response.json()


def run_rebuild(settings) -> None:
    result = run_cli("projections", "rebuild", "pipeline", env={"DATABASE_URL": settings.database_url}, timeout=180)
    assert result.returncode == 0, result.stderr


def win(client: TestClient, cid: str, title: str, day: float, reasons: list[dict], note: str) -> str:
    """A deal taken from approach to won as a sales app records it (the criteria of every phase met)."""
    def w(path: str, body: dict, when: float) -> dict:
        return post(client, f"/customers/{cid}{path}", {**body, "occurred_at": at(when)})

    did = w("/deals", {"title": title, "owner": "tanaka", "amount": 2_000_000}, day)["created"]["deal_id"]
    base = f"/deals/{did}"
    w("/contacts", {"name": "佐藤 花子", "title": "部長", "email": "sato@example.jp", "is_decision_maker": True}, day)
    w("/touchpoints", {"deal_id": did, "channel": "phone", "direction": "outbound", "summary": "初回架電",
                       "reaction": {"choice": "positive"}}, day)
    w("/lead-sources", {"source": "trade_show", "detail": "展示会", "deal_id": did}, day)
    w(f"{base}/hearings", {"issue": "情報の分断", "reason": "工数削減", "decision_maker": "山田 取締役",
                           "budget": "年間500万円", "timeline": "2026年10月",
                           "bant": {k: "confirmed" for k in ("budget", "authority", "need", "timeline")}}, day)
    w(f"{base}/stage", {"to_stage": "hearing_done"}, day + 1)
    meeting = w(f"{base}/meetings", {"scheduled_at": at(day + 2), "place": "visit", "purpose": "デモ"}, day + 1)
    w(f"{base}/meetings/{meeting['created']['meeting_id']}/held", {"minutes": "要件確認"}, day + 2)
    w(f"{base}/proposals", {"title": "提案書", "problem": "情報の分断"}, day + 2)
    w(f"{base}/quotes", {"amount": 2_000_000}, day + 2)
    w(f"{base}/stage", {"to_stage": "proposal_sent_waiting"}, day + 3)
    w(f"{base}/proposal-feedback", {"reaction": {"choice": "positive"}}, day + 3)
    w(f"{base}/contract-terms", {"open_points": ["payment_terms"]}, day + 3)
    w(f"{base}/stage", {"to_stage": "negotiating_terms"}, day + 4)
    w(f"{base}/approval", {"status": {"choice": "approved"}}, day + 4)
    w(f"{base}/contract-terms", {"agreed": True}, day + 4)
    w(f"{base}/contract", {"price": 2_000_000, "scope": "全社"}, day + 4)
    w(f"{base}/win", {"win_reasons": reasons, "note": note}, day + 5)
    return did


def lose(client: TestClient, cid: str, title: str, day: float, reason: dict) -> str:
    did = post(client, f"/customers/{cid}/deals", {"title": title, "owner": "tanaka",
                                                   "occurred_at": at(day)})["created"]["deal_id"]
    post(client, f"/customers/{cid}/deals/{did}/loss", {"reason": reason, "occurred_at": at(day + 1)})
    return did


def test_the_outcomes_read_model_answers_the_reasons_and_notes_recorded_also_after_a_rebuild(stack) -> None:
    settings, _, client, api, conn = stack
    a, b = register(client, "株式会社勝因商事", industry="製造業"), register(client, "株式会社失注工業")
    won1 = win(client, a, "基幹システム刷新", 0, [{"choice": "support", "note": "導入支援を評価"},
                                                  {"choice": "price", "note": "月額が手頃"}], "決め手はＳＬＡ")
    won2 = win(client, a, "営業支援", 10, [{"choice": "functionality"}], "")
    lost1 = lose(client, b, "在庫管理", 1, {"choice": "price", "note": "他社より30%高い"})
    lost2 = lose(client, b, "Cloud移行", 20, {"choice": "competitor", "note": "Ａ社に決定"})
    lost3 = lose(client, b, "帳票", 30, {"choice": "price", "note": ""})
    settled(conn)

    def answers() -> dict:
        return {
            "won": get(api, "/outcomes/reasons", outcome="won"),
            "lost": get(api, "/outcomes/reasons", outcome="lost"),
            "lost_price_notes": get(api, "/outcomes/reasons", outcome="lost", q="30％"),  # width folded
            "lost_title": get(api, "/outcomes/reasons", outcome="lost", q="cloud"),  # case folded
            "won_note": get(api, "/outcomes/reasons", outcome="won", q="sla"),
            "lost_period": get(api, "/outcomes/reasons", outcome="lost", since=at(10), until=at(25)),
            "lost_page": get(api, "/outcomes/reasons", outcome="lost", limit=1),
        }

    live = answers()
    won, lost = live["won"], live["lost"]
    assert [(d["deal_id"], d["note"], [(r["id"], r["label"], r["note"]) for r in d["reasons"]])
            for d in won["deals"]] == [
        (won2, "", [("functionality", "機能", "")]),
        (won1, "決め手はＳＬＡ", [("support", "サポート体制", "導入支援を評価"), ("price", "価格", "月額が手頃")])]
    assert [(r["id"], r["deals"]) for r in won["reasons"]] == [("functionality", 1), ("price", 1), ("support", 1)]
    assert (lost["matching_deals"], [(r["id"], r["deals"]) for r in lost["reasons"]]) == (
        3, [("price", 2), ("competitor", 1)])
    assert [(d["deal_id"], d["reasons"][0]["note"], d["company_name"], d["phase"]) for d in lost["deals"]] == [
        (lost3, "", "株式会社失注工業", "approach"), (lost2, "Ａ社に決定", "株式会社失注工業", "approach"),
        (lost1, "他社より30%高い", "株式会社失注工業", "approach")]
    assert [d["deal_id"] for d in live["lost_price_notes"]["deals"]] == [lost1]
    assert [d["deal_id"] for d in live["lost_title"]["deals"]] == [lost2]
    assert (live["won_note"]["matching_deals"], [d["deal_id"] for d in live["won_note"]["deals"]]) == (1, [won1])
    assert [d["deal_id"] for d in live["lost_period"]["deals"]] == [lost2]
    assert (live["lost_page"]["matching_deals"], [d["deal_id"] for d in live["lost_page"]["deals"]]) == (3, [lost3])
    rows = {r[0]: r[1:] for r in conn.execute("SELECT deal_id::text, outcome, note, reasons FROM pipeline_outcomes")}
    assert rows[won1] == ("won", "決め手はＳＬＡ", [{"choice": "support", "note": "導入支援を評価"},
                                                   {"choice": "price", "note": "月額が手頃"}])
    assert rows[lost1] == ("lost", "", [{"choice": "price", "note": "他社より30%高い"}])
    assert outcomes.reason_counts(conn, "lost", None, None, "ａ社") == (1, {"competitor": 1})

    run_rebuild(settings)
    assert answers() == live, "the rebuilt read model answers the same"
    assert {r[0]: r[1:] for r in conn.execute("SELECT deal_id::text, outcome, note, reasons "
                                              "FROM pipeline_outcomes")} == rows


def test_the_funnel_from_its_monthly_sums_equals_the_funnel_counted_from_the_stage_history(stack) -> None:
    """Periods ending inside months, on month starts, across years, open-ended: the sums of whole months plus
    the rows of the part-months equal the definition counted directly (first entry per deal and phase, a
    later phase reached, lost in the furthest) over pipeline_stage_history."""
    from services.projections.pipeline.analytics import funnel
    from shared.process import load_process_definition

    _, customers, client, _, conn = stack
    cid = register(client, "株式会社ファネル", industry="製造業")
    for n in range(6):  # deals entering phases over several months, some lost
        did = win(client, cid, f"案件{n}", 40 * n - 200, [{"choice": "price"}], "") if n % 3 == 0 else \
            lose(client, cid, f"案件{n}", 35 * n - 180, {"choice": "price", "note": ""})
        assert did
    settled(conn)
    phases = [p.id for p in load_process_definition().phases]
    direct = """
        WITH e AS (SELECT h.deal_id, h.phase, p.pos, min(h.entered_at) AS entered_at FROM pipeline_stage_history h
                   JOIN unnest(%(phases)s::text[]) WITH ORDINALITY AS p(phase, pos) ON p.phase = h.phase
                   GROUP BY 1, 2, 3),
             f AS (SELECT deal_id, max(pos) AS pos FROM e GROUP BY 1)
        SELECT d.owner, e.phase, count(*), count(*) FILTER (WHERE f.pos > e.pos),
               count(*) FILTER (WHERE f.pos = e.pos AND d.status = 'lost')
        FROM e JOIN f USING (deal_id) JOIN pipeline_deals d USING (deal_id)
        WHERE (%(since)s::timestamptz IS NULL OR e.entered_at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR e.entered_at < %(until)s) GROUP BY 1, 2"""
    moments = [None, T0 - timedelta(days=150), datetime(2025, 12, 1, tzinfo=timezone.utc), T0, T0 + timedelta(days=3),
               datetime(2026, 4, 1, tzinfo=timezone.utc), T0 + timedelta(days=90)]
    for since in moments:
        for until in moments:
            if since is not None and until is not None and since >= until:
                continue
            expected = conn.execute(direct, {"phases": phases, "since": since, "until": until}).fetchall()
            assert sorted(funnel(conn, phases, since, until, "owner")) == sorted(expected), (since, until)
    funnel_tables = ("pipeline_phase_entries", "pipeline_funnel_months")
    kept = checksum(conn, funnel_tables)  # tables made before the funnel had its own: filled from the history
    conn.execute("DROP TABLE pipeline_phase_entries, pipeline_funnel_months")
    with conn.transaction(), conn.cursor() as curs:
        PipelineProjection(load_process_definition()).create_tables(curs)
    assert checksum(conn, funnel_tables) == kept
    live = checksum(conn, TABLES)  # the sums kept batch by batch are the sums a rebuild makes
    run_rebuild(stack[0])
    assert checksum(conn, TABLES) == live
