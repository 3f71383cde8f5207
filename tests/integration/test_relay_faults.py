"""The relay rides out a PostgreSQL restart (fast stop or kill -9), a replaced broker and an oversized event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import orjson
import psycopg
import pytest

from services.relay.app import build_relay
from shared.bootstrap import build_customers
from shared.broker import ensure_topics
from shared.metrics import Metrics
from shared.settings import Settings
from tests.faults import RestartableBroker, RestartablePostgres
from tests.streaming import eventually, read_topic, threads_running, write_history

OUTAGE_SECONDS = 10


def fault_settings(database_url: str, bootstrap: str, **overrides) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(database_url=database_url, kafka_bootstrap_servers=bootstrap, events_topic=f"events-{tag}",
                    dead_letter_topic=f"dead-letters-{tag}", consumer_group_prefix=f"group-{tag}",
                    snapshot_interval=10, retry_cap_seconds=1.0, **overrides)


def stored_positions(customers) -> set[int]:
    """Every notification id in the event store (a kill -9 makes PostgreSQL's sequence skip some)."""
    return {n.id for n in customers.recorder.select_notifications(start=None, limit=1_000_000)}


def positions_on_topic(settings: Settings, expected: set[int]) -> set[int]:
    """Every notification id published to the events topic, once all of `expected` are there."""
    def complete(messages) -> bool:
        return {orjson.loads(m.value)["position"] for m in messages} >= expected
    messages = read_topic(settings.kafka_bootstrap_servers, settings.events_topic, complete, timeout=90)
    return {orjson.loads(m.value)["position"] for m in messages}


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_relay_publishes_every_event_after_postgres_was_away(restartable_postgres: RestartablePostgres,
                                                            kafka_bootstrap, actor, outage, caplog) -> None:
    settings = fault_settings(restartable_postgres.url(), kafka_bootstrap)
    customers = build_customers(settings)
    before = write_history(customers, actor, n_customers=5, touches=2)
    relay = build_relay(settings)
    with threads_running(relay.run):
        positions_on_topic(settings, stored_positions(customers))
        getattr(restartable_postgres, outage)()
        time.sleep(OUTAGE_SECONDS)
        restartable_postgres.start()
        back = time.monotonic()
        write_history(customers, actor, n_customers=5, touches=2)
        every = stored_positions(customers)
        assert len(every) == 2 * before
        assert positions_on_topic(settings, every) == every
        print(f"relay caught up {time.monotonic() - back:.1f} s after PostgreSQL was back ({outage})")
        eventually(lambda: relay.position == max(every), timeout=10)
    relay.close()
    assert relay.positions.get() == max(every)
    outage_lines = [r for r in caplog.records if "retrying with backoff" in r.getMessage()]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]  # one line per outage, not per attempt
    customers.close()


def test_relay_publishes_everything_again_to_a_replaced_broker(restartable_broker: RestartableBroker, postgres_server,
                                                              isolated, actor, caplog) -> None:
    settings = isolated().model_copy(update={"kafka_bootstrap_servers": restartable_broker.bootstrap,
                                             "retry_cap_seconds": 1.0})
    customers = build_customers(settings)
    write_history(customers, actor, n_customers=5, touches=2)
    relay = build_relay(settings)
    with threads_running(relay.run):
        positions_on_topic(settings, stored_positions(customers))
        restartable_broker.replace()  # every topic, message and offset lost
        replaced = time.monotonic()
        write_history(customers, actor, n_customers=3, touches=1)
        every = stored_positions(customers)
        assert positions_on_topic(settings, every) == every  # the old ones too
        print(f"relay republished {len(every)} events {time.monotonic() - replaced:.1f} s after the broker was "
              "replaced")
    relay.close()
    assert sum("publishing every event again from position 0" in r.getMessage() for r in caplog.records) == 1
    customers.close()


def test_an_oversized_event_goes_without_its_payload_and_later_events_still_flow(isolated, actor) -> None:
    settings = isolated()  # KAFKA_MAX_MESSAGE_BYTES: 1 MiB, the producer's and the topic's limit
    customers = build_customers(settings)
    first = write_history(customers, actor, n_customers=1, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        customer_id, topic, state = db.execute(
            "SELECT originator_id, topic, state FROM customers_events "
            "WHERE topic LIKE '%:TouchpointRecorded' ORDER BY notification_id DESC LIMIT 1").fetchone()
        version = first + 1  # the one customer's next version
        big = {**orjson.loads(state), "summary": "長文" * 200_000,  # 1.2 MB, stored before the door's limits
               "originator_version": version, "event_id": str(uuid.uuid4())}
        position = db.execute("INSERT INTO customers_events (originator_id, originator_version, topic, state) "
                              "VALUES (%s, %s, %s, %s) RETURNING notification_id",
                              (customer_id, version, topic, orjson.dumps(big))).fetchone()[0]
    assert len(orjson.dumps(big)) > settings.kafka_max_message_bytes
    total = first + 1 + write_history(customers, actor, n_customers=2, touches=1)
    metrics = Metrics()
    relay = build_relay(settings, metrics)
    with threads_running(relay.run):
        eventually(lambda: relay.position == total, timeout=30)
    relay.close()
    messages = {orjson.loads(m.value)["position"]: orjson.loads(m.value) for m in read_topic(
        settings.kafka_bootstrap_servers, settings.events_topic, lambda ms: len(ms) >= total)}
    assert set(messages) == set(range(1, total + 1))
    omitted = messages[position]
    assert omitted["payload"] is None and omitted["payload_omitted"] == "too_large"
    assert omitted["event_type"] == "TouchpointRecorded" and omitted["stream_version"] == version
    assert omitted["customer_id"] == str(customer_id) and omitted["actor"]["user"] == actor.user
    assert {"occurred_at", "recorded_at", "schema_version"} <= set(omitted)
    assert all(m["payload"] is not None for p, m in messages.items() if p != position)
    exposition = metrics.exposition().decode()
    assert f'ct_events_total{{component="relay"}} {float(total)}' in exposition
    assert 'ct_lag_events{component="relay"} 0.0' in exposition
    customers.close()


def test_an_events_topic_taking_smaller_messages_lowers_the_relays_limit_instead_of_stalling_it(isolated, actor,
                                                                                                 caplog) -> None:
    settings = isolated()
    ensure_topics(settings.kafka_bootstrap_servers, {settings.events_topic: 2},  # made before, by hand
                  {settings.events_topic: {"max.message.bytes": "100000"}})
    customers = build_customers(settings)
    first = write_history(customers, actor, n_customers=1, touches=1)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        customer_id, topic, state = db.execute(
            "SELECT originator_id, topic, state FROM customers_events "
            "WHERE topic LIKE '%:TouchpointRecorded' ORDER BY notification_id DESC LIMIT 1").fetchone()
        big = {**orjson.loads(state), "summary": "長文" * 50_000,  # 300 KB: within 1 MiB, not within the topic's
               "originator_version": first + 1, "event_id": str(uuid.uuid4())}
        position = db.execute("INSERT INTO customers_events (originator_id, originator_version, topic, state) "
                              "VALUES (%s, %s, %s, %s) RETURNING notification_id",
                              (customer_id, first + 1, topic, orjson.dumps(big))).fetchone()[0]
    total = first + 1 + write_history(customers, actor, n_customers=1, touches=1)
    relay = build_relay(settings)
    with caplog.at_level("WARNING", logger="services.relay.topic"), threads_running(relay.run):
        eventually(lambda: relay.position == total, timeout=30)
        relay.topic.prepare()  # again, as after an outage: said once
    relay.close()
    assert relay.topic.max_message_bytes == 100_000
    said = [r.getMessage() for r in caplog.records if "max.message.bytes" in r.getMessage()]
    assert len(said) == 1 and "up to 100000 bytes" in said[0], said
    messages = {orjson.loads(m.value)["position"]: orjson.loads(m.value) for m in read_topic(
        settings.kafka_bootstrap_servers, settings.events_topic, lambda ms: len(ms) >= total)}
    assert set(messages) == set(range(1, total + 1))
    assert (messages[position]["payload"], messages[position]["payload_omitted"]) == (None, "too_large")
    assert all(m["payload"] is not None for p, m in messages.items() if p != position)
    customers.close()


def test_a_relay_started_before_postgres_waits_for_it(restartable_postgres: RestartablePostgres, kafka_bootstrap,
                                                      actor) -> None:
    settings = fault_settings(restartable_postgres.url(), kafka_bootstrap)
    restartable_postgres.stop()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "EVENTS_TOPIC": settings.events_topic, "DEAD_LETTER_TOPIC": settings.dead_letter_topic,
           "RETRY_CAP_SECONDS": "1"}
    relay = subprocess.Popen([sys.executable, "-m", "services.cli", "relay"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert relay.poll() is None, "the relay gave up while PostgreSQL was away"
        restartable_postgres.start()
        customers = build_customers(settings)
        write_history(customers, actor, n_customers=2, touches=1)
        every = stored_positions(customers)
        assert positions_on_topic(settings, every) == every
        customers.close()
    finally:
        relay.terminate()
        _, stderr = relay.communicate(timeout=30)
    assert relay.returncode == 0
    assert sum("retrying with backoff" in line for line in stderr.splitlines()) == 1, stderr[-3000:]
