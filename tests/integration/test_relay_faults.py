"""The relay rides out a PostgreSQL restart (fast stop or kill -9), a replaced broker and an oversized event."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from services.relay.app import build_relay
from shared import commands as c
from shared.application import Envelope
from shared.bootstrap import build_customers
from shared.events.customer import TouchpointDetails
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
    # the smallest limit a test can reach with a real event (the door caps texts well below the 1 MB default)
    settings = isolated().model_copy(update={"kafka_max_message_bytes": 8 * 1024})
    customers = build_customers(settings)
    first = write_history(customers, actor, n_customers=1, touches=1)
    customer_id = customers.event_recorder.select_notifications(1, 1)[0].originator_id
    big = customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
        channel="email", direction="inbound", summary="長文" * 1900)), customer_id, actor)])[0]
    assert len(customers.recorder.select_notifications(first + 1, 1)[0].state) > 8 * 1024
    total = first + 1 + write_history(customers, actor, n_customers=2, touches=1)
    metrics = Metrics()
    relay = build_relay(settings, metrics)
    with threads_running(relay.run):
        eventually(lambda: relay.position == total, timeout=30)
    relay.close()
    messages = {orjson.loads(m.value)["position"]: orjson.loads(m.value) for m in read_topic(
        settings.kafka_bootstrap_servers, settings.events_topic, lambda ms: len(ms) >= total)}
    assert set(messages) == set(range(1, total + 1))
    omitted = messages[first + 1]
    assert omitted["payload"] is None and omitted["payload_omitted"] == "too_large"
    assert omitted["event_type"] == "TouchpointRecorded" and omitted["stream_version"] == big.stream_version
    assert omitted["customer_id"] == str(customer_id) and omitted["actor"]["user"] == actor.user
    assert {"occurred_at", "recorded_at", "schema_version"} <= set(omitted)
    assert all(m["payload"] is not None for p, m in messages.items() if p != first + 1)
    exposition = metrics.exposition().decode()
    assert f'ct_events_total{{component="relay"}} {float(total)}' in exposition
    assert 'ct_lag_events{component="relay"} 0.0' in exposition
    customers.close()
