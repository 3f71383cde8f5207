"""No single event stops a read model: dead letters, parked customers, forged messages, rebuild, retry.

Old data that breaks today's rules is written straight into the event store (as an
earlier release, or another writer, could have stored it): the door refuses it now.
"""

from __future__ import annotations

import uuid

import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer

from services.projections.rebuild import rebuild
from services.projections.registry import PROJECTIONS
from services.projections.status import projection_status
from shared.bootstrap import build_customers
from shared.wire import encode
from tests.streaming import checksum, eventually, running, write_history
from tests.support import run_cli

NAMES = tuple(PROJECTIONS)


def stored_events(db, customer_id) -> list[tuple]:
    return db.execute("SELECT notification_id, originator_version, topic, state FROM customers_events "
                      "WHERE originator_id = %s ORDER BY originator_version", (customer_id,)).fetchall()


def first_stream(db) -> tuple[uuid.UUID, int]:
    """A customer and its stream's version."""
    return db.execute("SELECT originator_id, max(originator_version) FROM customers_events "
                      "GROUP BY originator_id ORDER BY originator_id LIMIT 1").fetchone()


def store_raw(db, customer_id, version: int, topic: str, state: dict | bytes) -> int:
    """Append an event row as an old writer might have stored it; return its notification id."""
    data = state if isinstance(state, bytes) else orjson.dumps(
        {**state, "originator_id": str(customer_id), "originator_version": version, "event_id": str(uuid.uuid4())},
        option=orjson.OPT_SORT_KEYS)
    return db.execute("INSERT INTO customers_events (originator_id, originator_version, topic, state) "
                      "VALUES (%s, %s, %s, %s) RETURNING notification_id", (customer_id, version, topic, data)
                      ).fetchone()[0]


def a_customer_named_with_nul(db, template_customer) -> uuid.UUID:
    """A customer whose company name holds NUL (which PostgreSQL text and jsonb refuse), with a later touchpoint."""
    rows = stored_events(db, template_customer)
    registration = orjson.loads(rows[0][3])
    touch = next(orjson.loads(r[3]) for r in rows if r[2].endswith(":TouchpointRecorded"))
    bad = uuid.uuid4()
    store_raw(db, bad, 1, rows[0][2], {**registration, "company_name": "株式会社\u0000毒入り"})
    store_raw(db, bad, 2, next(r[2] for r in rows if r[2].endswith(":TouchpointRecorded")),
              {**touch, "deal_id": None, "summary": "後続の接点"})
    return bad


def status(settings) -> dict:
    return {s.projection: s for s in projection_status(settings.database_url, list(NAMES))}


def read_tables(name: str) -> tuple[str, ...]:
    return (*PROJECTIONS[name].tables, f"{name}_versions")


def test_an_event_the_database_refuses_parks_only_its_customer_and_everyone_else_goes_on(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=5, touches=2)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        template = db.execute("SELECT originator_id FROM customers_events LIMIT 1").fetchone()[0]
        bad = a_customer_named_with_nul(db, template)
    with running(settings, NAMES) as workers:
        eventually(lambda: all(w.applied == good for w in workers.values()), timeout=60)
        more = write_history(customers, actor, n_customers=3, touches=1)  # later events of others still apply
        eventually(lambda: all(w.applied == good + more for w in workers.values()), timeout=60)
        eventually(lambda: all(w.dead_lettered == 1 for w in workers.values()))
        for worker in workers.values():
            exposition = worker.metrics.exposition().decode()
            assert f'ct_dead_letters_total{{component="projection {worker.projection.name}"}} 1.0' in exposition
    seen = status(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        for name in NAMES:
            assert (seen[name].parked_customers, seen[name].dead_letters) == (1, 1), name
            letter = db.execute(f"SELECT source, customer_id, stream_version, event_type, reason "
                                f"FROM {name}_dead_letters").fetchone()
            assert letter[:4] == ("event_store", bad, 1, "CustomerRegistered"), name
            assert "0x00" in letter[4] or "\\u0000" in letter[4], letter[4]
            assert db.execute(f"SELECT version, parked_version FROM {name}_versions WHERE customer_id = %s",
                              (bad,)).fetchone() == (0, 1)
        live = {name: checksum(db, read_tables(name)) for name in NAMES}
    result = run_cli("projections", "status", env={"DATABASE_URL": settings.database_url})
    assert result.returncode == 0 and "parked" in result.stdout, result.stderr
    for name in NAMES:  # a rebuild completes, parks the same customer, and ends where the workers are
        report = rebuild(PROJECTIONS[name], customers.process, customers.reader, settings.database_url, progress=False)
        assert [(d.customer_id, d.stream_version) for d in report.dead_letters] == [(bad, 1)], name
        assert report.events == good + more + 2
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        assert {name: checksum(db, read_tables(name)) for name in NAMES} == live
    result = run_cli("projections", "dead-letters", "timeline", env={"DATABASE_URL": settings.database_url})
    assert str(bad) in result.stdout and "CustomerRegistered" in result.stdout, result.stdout + result.stderr
    customers.close()


def test_the_rebuild_command_reports_the_customers_it_parked(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=2, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        bad = a_customer_named_with_nul(db, first_stream(db)[0])
    result = run_cli("projections", "rebuild", "timeline", env={"DATABASE_URL": settings.database_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"rebuilt timeline: {good + 2:,} events" in result.stdout, result.stdout
    assert "1 dead letters, 1 customers parked (customer-timeline projections dead-letters timeline)" in lines
    assert any(line.startswith(f"  parked {bad} from version 1 (CustomerRegistered): ") for line in lines), lines
    customers.close()


def test_an_undecodable_stored_event_parks_its_customer_from_there_on(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=3, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        victim = first_stream(db)
        rows = stored_events(db, victim[0])
        topic = next(r[2] for r in rows if r[2].endswith(":TouchpointRecorded"))
        store_raw(db, victim[0], victim[1] + 1, topic, b'{"written by": "a release long gone"}')
        store_raw(db, victim[0], victim[1] + 2, topic, orjson.loads(next(
            r[3] for r in rows if r[2].endswith(":TouchpointRecorded"))))
    with running(settings, ("timeline",)) as workers:
        eventually(lambda: workers["timeline"].applied == good and workers["timeline"].dead_lettered == 1,
                   timeout=60)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        assert db.execute("SELECT version, parked_version FROM timeline_versions WHERE customer_id = %s",
                          (victim[0],)).fetchone() == (victim[1], victim[1] + 1)
        reason = db.execute("SELECT reason FROM timeline_dead_letters").fetchone()[0]
        assert reason.startswith("cannot decode the stored event"), reason
        assert db.execute("SELECT max(stream_version) FROM timeline_entries WHERE customer_id = %s",
                          (victim[0],)).fetchone()[0] == victim[1]
    report = rebuild(PROJECTIONS["timeline"], customers.process, customers.reader, settings.database_url, progress=False)
    assert [(d.customer_id, d.stream_version) for d in report.dead_letters] == [(victim[0], victim[1] + 1)]
    customers.close()


def test_forged_and_unknown_messages_are_never_applied_and_never_hide_the_real_event(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=2, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        target, head = first_stream(db)
        position, _, topic, state = stored_events(db, target)[-1]
    forged_state = orjson.loads(state)
    forged_state.update(originator_version=head + 1, summary="偽の接点", event_id=str(uuid.uuid4()))
    forgeries = [
        encode(topic, position, orjson.dumps(forged_state)),  # the next version, at a real position of another event
        encode(topic, 10**12, orjson.dumps(forged_state)),  # a position the store does not have
        encode(topic, 10**12 + 1, orjson.dumps({**forged_state, "originator_id": str(uuid.uuid4()),
                                                "originator_version": 1})),  # an unknown customer
    ]
    with running(settings, ("timeline",)) as workers:
        eventually(lambda: workers["timeline"].applied == good, timeout=60)
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        for key, value in forgeries:
            producer.send(settings.events_topic, key=key, value=value).get(timeout=10)
        producer.close()
        eventually(lambda: workers["timeline"].dead_lettered == 3, timeout=30)
        from shared import commands as c
        from shared.application import Envelope
        from shared.events.customer import TouchpointDetails

        customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            channel="email", direction="inbound", summary="本物の接点")), target, actor)])
        eventually(lambda: workers["timeline"].applied == good + 1, timeout=30)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        entry = db.execute("SELECT summary_ja FROM timeline_entries WHERE customer_id = %s AND stream_version = %s",
                           (target, head + 1)).fetchone()[0]
        assert "本物の接点" in entry and "偽" not in entry
        reasons = [r[0] for r in db.execute("SELECT reason FROM timeline_dead_letters WHERE source = 'topic'")]
        assert len(reasons) == 3 and all(r.startswith("does not match the event store") for r in reasons), reasons
        assert db.execute("SELECT count(*) FROM timeline_versions WHERE parked_version IS NOT NULL").fetchone()[0] == 0
    dead = KafkaConsumer(settings.dead_letter_topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                         auto_offset_reset="earliest", consumer_timeout_ms=3000)
    assert sum(1 for m in dead if "does not match the event store" in orjson.loads(m.value)["reason"]) == 3
    dead.close()
    customers.close()


def test_a_huge_forged_message_gets_a_small_dead_letter_and_the_next_event_is_applied(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=1, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        target, _ = first_stream(db)
    huge = [b"\x00" * 500_000,  # copied whole into its dead letter: 3 MB once escaped
            orjson.dumps({"event_type": "偽" * 200_000, "position": 1})]  # and named twice, in the reason too
    with running(settings, ("timeline",)) as workers:
        eventually(lambda: workers["timeline"].applied == good, timeout=60)
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        for value in huge:
            producer.send(settings.events_topic, key=str(target).encode(), value=value).get(timeout=10)
        producer.close()
        eventually(lambda: workers["timeline"].dead_lettered == 2, timeout=30)
        from shared import commands as c
        from shared.application import Envelope
        from shared.events.customer import TouchpointDetails

        customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            channel="email", direction="inbound", summary="巨大な偽物の後")), target, actor)])
        eventually(lambda: workers["timeline"].applied == good + 1, timeout=30)
    dead = KafkaConsumer(settings.dead_letter_topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                         auto_offset_reset="earliest", consumer_timeout_ms=3000)
    letters = [(len(m.value), orjson.loads(m.value)) for m in dead]
    dead.close()
    assert [letter["value_bytes"] for _, letter in letters] == [len(v) for v in huge]
    assert all(size <= 256 * 1024 and letter["value_truncated"] for size, letter in letters)
    assert len(letters[1][1]["reason"]) <= 2000 and letters[1][1]["reason"].startswith("unknown event type")
    customers.close()


def test_retry_applies_what_was_held_once_the_cause_is_gone(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=3, touches=2)
    with running(settings, ("timeline",)) as workers:
        eventually(lambda: workers["timeline"].applied == good, timeout=60)
        with psycopg.connect(settings.database_url, autocommit=True) as db:  # a cause outside the event
            db.execute("ALTER TABLE timeline_entries ADD CONSTRAINT no_blocked CHECK (summary_ja NOT LIKE '%止め%')")
            target = db.execute("SELECT customer_id FROM timeline_customers LIMIT 1").fetchone()[0]
        from shared import commands as c
        from shared.application import Envelope
        from shared.events.customer import TouchpointDetails

        for summary in ("止めてください", "その後の連絡"):
            customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
                channel="email", direction="inbound", summary=summary)), target, actor)])
        eventually(lambda: workers["timeline"].dead_lettered == 1, timeout=30)
    assert status(settings)["timeline"].parked_customers == 1
    env = {"DATABASE_URL": settings.database_url}
    assert run_cli("projections", "retry", "timeline", env=env).returncode == 1  # the cause is still there
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        db.execute("ALTER TABLE timeline_entries DROP CONSTRAINT no_blocked")
    result = run_cli("projections", "retry", "timeline", env=env)
    assert result.returncode == 0 and "1 customers resumed (2 events applied)" in result.stdout, result.stdout
    seen = status(settings)["timeline"]
    assert (seen.parked_customers, seen.applied_events, seen.lag_events) == (0, good + 2, 0)
    customers.close()


def test_a_stored_event_from_year_one_is_parked_and_the_pipeline_still_answers(isolated, actor) -> None:
    from fastapi.testclient import TestClient

    from services.timeline_api.app import create_app
    from tests.support import auth

    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=3, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        template = db.execute("SELECT originator_id FROM customers_events LIMIT 1").fetchone()[0]
        rows = stored_events(db, template)
        ancient = uuid.uuid4()
        store_raw(db, ancient, 1, rows[0][2], {**orjson.loads(rows[0][3]), "occurred_at": "0001-01-01T00:00:00+09:00"})
        opened = next(r for r in rows if r[2].endswith(":DealOpened"))
        store_raw(db, ancient, 2, opened[2], {**orjson.loads(opened[3]), "deal_id": str(uuid.uuid4())})
    with running(settings, ("pipeline",)) as workers:
        eventually(lambda: workers["pipeline"].applied == good and workers["pipeline"].dead_lettered == 1, timeout=60)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        assert "outside [1900-01-01, 2100-01-01)" in db.execute("SELECT reason FROM pipeline_dead_letters").fetchone()[0]
    with TestClient(create_app(settings, customers.reader)) as client:
        headers = auth(client, role="manager")
        for path in ("/pipeline", "/pipeline/stagnation", "/pipeline/summary"):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
        assert len(client.get("/pipeline", headers=headers).json()["deals"]) == 3
    customers.close()


def test_an_event_too_big_for_the_broker_is_published_without_payload_and_applied_from_the_store(isolated,
                                                                                                   actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    good = write_history(customers, actor, n_customers=2, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        target, head = first_stream(db)
        rows = stored_events(db, target)
        touch = next(r for r in rows if r[2].endswith(":TouchpointRecorded"))
        store_raw(db, target, head + 1, touch[2], {**orjson.loads(touch[3]),  # 2.4 MB, from before the door's limits
                                                   "topics_of_interest": [f"関心事{i:06d}" * 10 for i in range(8_000)]})
    with running(settings, ("timeline",)) as workers:
        eventually(lambda: workers["timeline"].applied == good + 1, timeout=60)
        more = write_history(customers, actor, n_customers=2, touches=1)  # and the relay goes on
        eventually(lambda: workers["timeline"].applied == good + 1 + more, timeout=60)
    assert workers["timeline"].dead_lettered == 0
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM timeline_entries WHERE customer_id = %s AND stream_version = %s",
                          (target, head + 1)).fetchone()[0] == 1
    customers.close()
