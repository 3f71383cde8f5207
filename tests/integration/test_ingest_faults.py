"""Ingest rides out a PostgreSQL restart and a replaced broker, and never commits a batch whose answers were lost."""

from __future__ import annotations

import time
import uuid

import orjson
import psycopg
import pytest
from kafka import KafkaProducer

from services.ingest.app import build_ingest
from services.ingest.clients import IngestClients
from shared.broker import admin_client, make_producer
from shared.metrics import Metrics
from shared.settings import Settings
from tests.faults import RestartableBroker, RestartablePostgres
from tests.integration.test_ingest import register, touch
from tests.streaming import eventually, read_topic, threads_running

OUTAGE_SECONDS = 10


def produce(bootstrap: str, topic: str, messages: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for message in messages:
        producer.send(topic, key=message["customer_id"].encode(), value=orjson.dumps(message)).get(timeout=10)
    producer.close()


def answers(bootstrap: str, topic: str, keys: set[str]) -> dict[str, list[dict]]:
    """Every answer per idempotency key, once each of `keys` has one."""
    def complete(messages) -> bool:
        return {m.key.decode() for m in messages} >= keys
    found: dict[str, list[dict]] = {}
    for m in read_topic(bootstrap, topic, complete, timeout=90):
        found.setdefault(m.key.decode(), []).append(orjson.loads(m.value))
    return found


def stored_events(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM customers_events").fetchone()[0]


def registrations(customers: list[uuid.UUID]) -> list[dict]:
    return [register(c, f"株式会社障害{i}") for i, c in enumerate(customers)]


def touches(customers: list[uuid.UUID], numbers: range) -> list[dict]:
    return [touch(c, n) for n in numbers for c in customers]


def assert_answered_once_each(found: dict[str, list[dict]], keys: set[str]) -> None:
    for key in keys:
        first, *again = found[key]
        assert first["status"] == "accepted", first
        assert all(a == first for a in again), (key, found[key])  # a batch handled twice answers the same


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_ingest_appends_and_answers_everything_after_postgres_was_away(
        restartable_postgres: RestartablePostgres, isolated, outage) -> None:
    settings = isolated(database_url=restartable_postgres.url(), retry_cap_seconds=1.0)
    bootstrap = settings.kafka_bootstrap_servers
    ids = [uuid.uuid4() for _ in range(10)]
    before = registrations(ids) + touches(ids, range(2))
    during = touches(ids, range(2, 5))
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(bootstrap, settings.ingest_topic, before)
        answers(bootstrap, settings.ingest_results_topic, {m["idempotency_key"] for m in before})
        getattr(restartable_postgres, outage)()
        produce(bootstrap, settings.ingest_topic, during)  # sent while PostgreSQL is away
        time.sleep(OUTAGE_SECONDS)
        restartable_postgres.start()
        back = time.monotonic()
        keys = {m["idempotency_key"] for m in before + during}
        found = answers(bootstrap, settings.ingest_results_topic, keys)
        print(f"ingest answered everything {time.monotonic() - back:.1f} s after PostgreSQL was back ({outage})")
    ingest.close()
    assert_answered_once_each(found, keys)
    assert stored_events(settings.database_url) == len(before + during)  # every command appended once


def test_ingest_answers_every_command_sent_after_the_broker_was_replaced(
        restartable_broker: RestartableBroker, isolated) -> None:
    settings = isolated(kafka_bootstrap_servers=restartable_broker.bootstrap, retry_cap_seconds=1.0)
    bootstrap = settings.kafka_bootstrap_servers
    ids = [uuid.uuid4() for _ in range(10)]
    before, after = registrations(ids), touches(ids, range(3))
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(bootstrap, settings.ingest_topic, before)
        answers(bootstrap, settings.ingest_results_topic, {m["idempotency_key"] for m in before})
        restartable_broker.replace()  # every topic, message and committed offset lost
        replaced = time.monotonic()
        produce(bootstrap, settings.ingest_topic, after)
        keys = {m["idempotency_key"] for m in after}
        found = answers(bootstrap, settings.ingest_results_topic, keys)
        print(f"ingest answered on the new broker {time.monotonic() - replaced:.1f} s after the replacement")
    ingest.close()
    assert_answered_once_each(found, keys)
    assert stored_events(settings.database_url) == len(before + after)


class AnswersElsewhere(IngestClients):
    """Commands from the session's broker, answers to a broker of their own (which the test kills)."""

    def __init__(self, settings: Settings, answers_broker: RestartableBroker) -> None:
        super().__init__(settings, settings.kafka_bootstrap_servers)
        self.answers_broker = answers_broker

    def prepare(self) -> None:
        super().prepare()
        IngestClients(self.settings, self.answers_broker.bootstrap).prepare()

    def producer(self) -> KafkaProducer:
        return make_producer(self.answers_broker.bootstrap, self.settings, "ingest-results")


def committed(settings: Settings) -> int:
    group = f"{settings.consumer_group_prefix}-ingest"
    admin = admin_client(settings.kafka_bootstrap_servers)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(o.offset for o in offsets.values() if o.offset > 0)


def retries(metrics: Metrics) -> float:
    return sum(s.value for m in metrics.registry.collect() if m.name == "ct_retries" for s in m.samples
               if s.name == "ct_retries_total" and s.labels["component"] == "ingest")


def test_no_offset_is_committed_for_a_batch_whose_answers_the_broker_did_not_acknowledge(
        restartable_broker: RestartableBroker, isolated) -> None:
    settings = isolated(retry_cap_seconds=1.0)
    ids = [uuid.uuid4() for _ in range(10)]
    first, second = registrations(ids), touches(ids, range(1))
    metrics = Metrics()
    ingest = build_ingest(settings, metrics)
    ingest.clients = AnswersElsewhere(settings, restartable_broker)
    with threads_running(ingest.run):
        produce(settings.kafka_bootstrap_servers, settings.ingest_topic, first)
        answers(restartable_broker.bootstrap, settings.ingest_results_topic, {m["idempotency_key"] for m in first})
        eventually(lambda: committed(settings) == len(first), timeout=30)
        restartable_broker.kill()  # answers can no longer be delivered
        produce(settings.kafka_bootstrap_servers, settings.ingest_topic, second)
        eventually(lambda: stored_events(settings.database_url) > len(first), timeout=30)  # a batch appended
        eventually(lambda: retries(metrics) >= 1, timeout=60)  # the producer gave up on the answers' sends
        assert committed(settings) == len(first), "offsets committed although no answer was acknowledged"
        restartable_broker.start()  # a new, empty broker for the answers
        keys = {m["idempotency_key"] for m in second}
        found = answers(restartable_broker.bootstrap, settings.ingest_results_topic, keys)
        eventually(lambda: committed(settings) == len(first + second), timeout=30)
    ingest.close()
    assert_answered_once_each(found, keys)
    assert stored_events(settings.database_url) == len(first + second)  # handled again: appended nothing new
