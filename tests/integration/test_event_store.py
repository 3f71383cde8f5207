"""The stored events themselves: hash chain, tamper detection, upcasting, snapshots."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID, uuid4

import orjson

from shared.application import Envelope
from shared.audit import verify_chain
from shared.commands import RecordTouchpoint, RegisterCustomer
from shared.events import CustomerRegistered
from shared.events.customer import CompanyProfile, TouchpointDetails
from tests.support import events_of


def new_customer(customers, actor, touches: int = 3) -> UUID:
    [made] = customers.execute([Envelope(RegisterCustomer(details=CompanyProfile(company_name="株式会社チェーン")),
                                         None, actor)])
    cid = UUID(made.customer_id)
    customers.execute([Envelope(RecordTouchpoint(details=TouchpointDetails(
        channel="visit", direction="outbound", summary=f"訪問 {i}")), cid, actor) for i in range(touches)])
    return cid


def test_hash_chain_is_intact_after_writes(customers, actor) -> None:
    cid = new_customer(customers, actor)
    report = verify_chain(customers.event_recorder, cid)
    assert (report.intact, report.events_checked) == (True, 4)


def test_an_edited_row_is_detected_at_its_link(customers, actor, db) -> None:
    cid = new_customer(customers, actor)
    state = db.execute("SELECT state FROM customers_events WHERE originator_id = %s AND originator_version = 2",
                       (cid,)).fetchone()[0]
    forged = orjson.loads(state) | {"summary": "改ざん"}
    db.execute("UPDATE customers_events SET state = %s WHERE originator_id = %s AND originator_version = 2",
               (orjson.dumps(forged), cid))
    report = verify_chain(customers.event_recorder, cid)
    assert (report.intact, report.first_broken_version) == (False, 2)


def test_an_edited_last_row_and_a_deleted_tail_are_detected(customers, actor, db) -> None:
    cid = new_customer(customers, actor)
    db.execute("UPDATE customers_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '訪問 2', "
               "'電話 2'), 'UTF8') WHERE originator_id = %s AND originator_version = 4", (cid,))
    report = verify_chain(customers.event_recorder, cid)
    assert (report.intact, report.first_broken_version) == (False, 4)
    other = new_customer(customers, actor)
    db.execute("DELETE FROM customers_events WHERE originator_id = %s AND originator_version = 4", (other,))
    assert not verify_chain(customers.event_recorder, other).intact


def test_a_version_1_registration_is_upcast_with_its_company_key(customers, actor, db) -> None:
    """Schema v1 of CustomerRegistered had no company_key; reading it computes one."""
    cid = uuid4()
    now = datetime.now(timezone.utc).isoformat()
    v1 = {"originator_id": str(cid), "originator_version": 1, "timestamp": now, "occurred_at": now,
          "event_id": str(uuid4()), "actor": actor.model_dump(), "idempotency_key": None,
          "prev_hash": "0" * 64, "company_name": "㈱ＡＢＣ商事", "industry": None, "address": None,
          "website": None, "employee_count": None}
    db.execute("INSERT INTO customers_events (originator_id, originator_version, topic, state) "
               "VALUES (%s, 1, %s, %s)", (cid, "shared.events.customer:CustomerRegistered", orjson.dumps(v1)))
    [event] = customers.events.get(cid)
    assert isinstance(event, CustomerRegistered) and event.company_key == "abc商事"
    customers.execute([Envelope(RecordTouchpoint(details=TouchpointDetails(
        channel="phone", direction="inbound", summary="問い合わせ")), cid, actor)])
    assert customers.get_customer(cid).state.company_key == "abc商事"
    assert verify_chain(customers.event_recorder, cid).intact, "the chain covers the stored v1 bytes"


def test_snapshots_are_taken_and_load_the_same_state(customers, actor, db) -> None:
    cid = new_customer(customers, actor, touches=24)  # 25 events, snapshot every 10
    snapshots = db.execute("SELECT originator_version FROM customers_snapshots WHERE originator_id = %s "
                           "ORDER BY 1", (cid,)).fetchall()
    assert [v for (v,) in snapshots] == [10, 20]
    from_snapshot = customers.get_customer(cid)
    replayed = type(from_snapshot).project(None, customers.events.get(cid))
    assert from_snapshot.version == replayed.version == 25
    assert from_snapshot.state == replayed.state
    assert len(events_of(db, str(cid))) == 25


def test_a_large_batch_is_saved_in_one_transaction(customers, actor, db) -> None:
    """3,000 events in one save (over a Unix socket where the embedded server runs: no stall)."""
    cid = new_customer(customers, actor, touches=0)
    touches = [Envelope(RecordTouchpoint(details=TouchpointDetails(
        channel="email", direction="outbound", summary=f"一斉連絡 {i}" * 20)), cid, actor) for i in range(3000)]
    results = customers.execute(touches)
    assert [r.stream_version for r in results] == list(range(2, 3002))
    assert db.execute("SELECT count(DISTINCT xmin::text) FROM customers_events WHERE originator_id = %s "
                      "AND originator_version > 1", (cid,)).fetchone()[0] == 1
    assert verify_chain(customers.event_recorder, cid).intact


def test_processes_starting_together_on_a_fresh_database_all_come_up(isolated) -> None:
    """Several services starting at once race on CREATE TABLE IF NOT EXISTS unless they take turns."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    from services.projections.pipeline.projection import PipelineProjection
    from shared.auth import TokenStore
    from shared.bootstrap import build_customers

    settings = isolated()

    def start(_: int):
        app = build_customers(settings)
        TokenStore.open(settings.database_url).close()
        with psycopg.connect(settings.database_url) as conn, conn.transaction(), conn.cursor() as curs:
            PipelineProjection(app.process).create_tables(curs)
        return app

    with ThreadPoolExecutor(6) as pool:
        apps = list(pool.map(start, range(6)))
    for app in apps:
        app.close()
