"""Commands through the API reach every read model through the relay and Kafka."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.command.app import create_app
from services.projections.duplicates.queries import duplicate_approaches
from services.projections.timeline.queries import customer_timeline
from services.projections.pipeline.stagnation import deals_without_next_action, overdue_next_actions, stuck_deals
from shared.bootstrap import build_customers
from tests.streaming import eventually, running
from tests.support import open_deal, post, prepare_approach_to_hearing, register, stage

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def stack(isolated):
    settings = isolated()
    customers = build_customers(settings)
    with TestClient(create_app(settings, customers)) as client, running(settings, ("pipeline", "timeline", "duplicates")):
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            yield client, conn, customers
    customers.close()


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def deal_row(conn: psycopg.Connection, deal_id: str, **expected) -> dict | None:
    """The pipeline row of a deal once it matches the expected values (with its customer's last touch per
    department, kept once per customer in pipeline_customers)."""
    cursor = conn.execute("SELECT d.*, c.last_touch FROM pipeline_deals d JOIN pipeline_customers c "
                          "USING (customer_id) WHERE d.deal_id = %s", (deal_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    record = dict(zip([c.name for c in cursor.description], row))
    return record if all(record[k] == v for k, v in expected.items()) else None


def test_a_deal_appears_in_the_pipeline_with_its_stage_history(stack) -> None:
    client, conn, _ = stack
    cid = register(client, "株式会社パイプライン", industry="小売", occurred_at=at(0))
    did = open_deal(client, cid, occurred_at=at(0), amount=3_000_000)
    prepare_approach_to_hearing(client, cid, did)
    stage(client, cid, did, "hearing_done")
    post(client, f"/customers/{cid}/deals/{did}/temperature",
         {"temperature": {"choice": "high"}, "decision_status": {"choice": "in_approval"}})
    row = eventually(lambda: deal_row(conn, did, stage="hearing_done", bucket="hot"))
    assert (row["phase"], row["company_name"], row["amount"], row["team"]) == (
        "hearing", "株式会社パイプライン", 3_000_000, "本社営業1課")
    assert row["missing_information"] == ["hearing_reason", "hearing_decision_maker", "hearing_budget",
                                          "hearing_timeline"]
    assert set(row["last_touch"]) == {"sales"}
    history = conn.execute("SELECT seq, phase, stage, left_at IS NOT NULL FROM pipeline_stage_history "
                           "WHERE deal_id = %s ORDER BY seq", (did,)).fetchall()
    assert history == [(1, "approach", "lead_acquired", True), (2, "hearing", "hearing_done", False)]


def test_a_lost_deal_closes_its_stage_history(stack) -> None:
    client, conn, _ = stack
    cid = register(client, "失注商事")
    did = open_deal(client, cid)
    post(client, f"/customers/{cid}/deals/{did}/loss", {"reason": {"choice": "price", "note": "予算超過"}})
    row = eventually(lambda: deal_row(conn, did, status="lost"))
    assert row["lost_reason"] == "price" and row["closed_at"] is not None
    stages = conn.execute("SELECT stage FROM pipeline_stage_history WHERE deal_id = %s ORDER BY seq",
                          (did,)).fetchall()
    assert stages == [("lead_acquired",), ("lost",)]


def test_stagnation_and_next_actions_as_of_a_given_time(stack) -> None:
    """DOMAIN thresholds: リード獲得 14 days. Hand-computed expectations for three deals."""
    client, conn, _ = stack
    cid = register(client, "滞留工業", occurred_at=at(0))
    idle = open_deal(client, cid, title="放置案件", occurred_at=at(0))          # no next action at all
    planned = open_deal(client, cid, title="予定あり案件", occurred_at=at(0))
    post(client, f"/customers/{cid}/deals/{planned}/next-action",
         {"plan": {"choice": "scheduled", "note": "再訪問"}, "due_at": at(15), "occurred_at": at(1)})
    undecided = open_deal(client, cid, title="未定案件", occurred_at=at(10))
    post(client, f"/customers/{cid}/deals/{undecided}/next-action", {"plan": {"choice": "undecided"},
                                                                      "occurred_at": at(10)})
    eventually(lambda: deal_row(conn, undecided, next_action="undecided"))
    ours = {UUID(idle), UUID(planned), UUID(undecided)}

    def ids(alerts) -> set[UUID]:
        return {a.deal_id for a in alerts} & ours

    process = stack[2].process
    assert ids(stuck_deals(conn, process, T0 + timedelta(days=14))) == set()
    assert ids(stuck_deals(conn, process, T0 + timedelta(days=14, hours=1))) == {UUID(idle), UUID(planned)}
    assert ids(stuck_deals(conn, process, T0 + timedelta(days=25))) == {UUID(idle), UUID(planned), UUID(undecided)}
    assert ids(deals_without_next_action(conn, T0 + timedelta(days=5))) == {UUID(idle)}, "undecided opens at day 10"
    assert ids(deals_without_next_action(conn, T0 + timedelta(days=11))) == {UUID(idle), UUID(undecided)}
    assert ids(overdue_next_actions(conn, T0 + timedelta(days=14))) == set()
    assert ids(overdue_next_actions(conn, T0 + timedelta(days=16))) == {UUID(planned)}
    [alert] = [a for a in stuck_deals(conn, process, T0 + timedelta(days=20)) if a.deal_id == UUID(idle)]
    assert (alert.threshold_days, round(alert.days_in_stage)) == (14, 20)


def test_one_customer_history_reaches_the_timeline_for_every_department(stack) -> None:
    client, conn, _ = stack
    cid = register(client, "株式会社タイムライン")
    did = open_deal(client, cid)
    post(client, f"/customers/{cid}/tickets", {"title": "請求書の再発行", "deal_id": did},
         actor={"user": "kato", "department": "support", "team": "サポート"})
    post(client, f"/customers/{cid}/satisfaction", {"score": 5}, actor={"user": "suzuki", "department": "cs"})
    page = eventually(lambda: (p := customer_timeline(conn, UUID(cid))) and len(p.entries) == 4 and p)
    assert [e.kind for e in page.entries] == ["SatisfactionRecorded", "TicketOpened", "DealOpened",
                                              "CustomerRegistered"]
    assert [e.department for e in page.entries] == ["cs", "support", "sales", "sales"]
    assert page.entries[1].summary_ja.startswith("問い合わせ起票: 請求書の再発行")
    support_only = customer_timeline(conn, UUID(cid), departments=["support"])
    assert [e.kind for e in support_only.entries] == ["TicketOpened"]


def test_hq_and_branch_approaching_one_company_is_detected(stack) -> None:
    client, conn, _ = stack
    hq = {"user": "tanaka", "department": "sales", "team": "本社営業", "site": "東京本社"}
    branch = {"user": "yamada", "department": "sales", "team": "大阪支店営業", "site": "大阪支店"}
    first = post(client, "/customers", {"company_name": "株式会社重複テック", "occurred_at": at(0)}, actor=hq)
    second = post(client, "/customers", {"company_name": "㈱重複テック", "occurred_at": at(20)}, actor=branch)
    touch = {"channel": "visit", "direction": "outbound", "summary": "提案訪問"}
    post(client, f"/customers/{first['customer_id']}/touchpoints", {**touch, "occurred_at": at(30)}, actor=hq)
    post(client, f"/customers/{second['customer_id']}/touchpoints", {**touch, "occurred_at": at(31)}, actor=branch)

    def alerts(as_of_days: float, window: int) -> list:
        found = duplicate_approaches(conn, as_of=T0 + timedelta(days=as_of_days), window_days=window)
        return [a for a in found if a.company_key == "重複テック"]

    [alert] = eventually(lambda: alerts(32, 90))
    assert set(alert.teams) == {"本社営業", "大阪支店営業"}
    assert set(alert.company_names) == {"株式会社重複テック", "㈱重複テック"}
    assert alerts(10, 90) == [], "only HQ had approached by then"
