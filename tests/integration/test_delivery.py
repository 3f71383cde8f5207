"""At-least-once delivery, exactly-once effect: duplicates, kill -9, poison messages, shared groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer

from services.projections.app import build_worker
from services.projections.pipeline.projection import PipelineProjection
from services.projections.rebuild import rebuild
from services.projections.status import projection_status
from services.relay.app import build_relay
from shared.bootstrap import build_customers
from tests.streaming import checksum, eventually, running, threads_running, write_history

TABLES = PipelineProjection.tables + ("pipeline_versions",)


def settings_env(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers, "EVENTS_TOPIC": settings.events_topic,
            "DEAD_LETTER_TOPIC": settings.dead_letter_topic, "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
            "PROJECTION_BATCH_SIZE": "50"}


def applied(settings) -> int:
    return projection_status(settings.database_url, ["pipeline"])[0].applied_events


def test_every_event_delivered_twice_is_applied_once(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    total = write_history(customers, actor, n_customers=40, touches=5)
    relay = build_relay(settings)
    while relay.publish_next():
        pass
    relay.positions.set(0)  # as if the relay crashed before recording its position: publish everything again
    relay.position = 0
    while relay.publish_next():
        pass
    with running(settings, ("pipeline",), relay=False) as workers, \
            psycopg.connect(settings.database_url, autocommit=True) as conn:
        eventually(lambda: workers["pipeline"].consumed >= 2 * total, timeout=60)
        assert workers["pipeline"].applied == total == applied(settings)
        once = checksum(conn, TABLES)
    rebuild(PipelineProjection, customers.process, customers.reader, settings.database_url, progress=False)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert checksum(conn, TABLES) == once
    customers.close()


def test_a_worker_killed_mid_batch_ends_identical_to_a_rebuild(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    total = write_history(customers, actor, n_customers=150, touches=10)
    relay = build_relay(settings)
    while relay.publish_next():
        pass
    command = [sys.executable, "-m", "services.cli", "project", "pipeline"]
    worker = subprocess.Popen(command, env=settings_env(settings), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    eventually(lambda: applied(settings) > 0, timeout=60)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert 0 < applied(settings) < total, "killed part way"
    worker = subprocess.Popen(command, env=settings_env(settings), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: applied(settings) == total, timeout=90)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        after_crash = checksum(conn, TABLES)
    report = rebuild(PipelineProjection, customers.process, customers.reader, settings.database_url, progress=False)
    assert report.events == total
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert checksum(conn, TABLES) == after_crash
    customers.close()


def test_a_poison_message_goes_to_the_dead_letter_topic_and_later_events_apply(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    with running(settings, ("pipeline",)) as workers:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        producer.send(settings.events_topic, key=b"poison", value=b"{not json")
        producer.send(settings.events_topic, key=b"poison", value=orjson.dumps({
            "event_type": "CustomerTeleported", "schema_version": 1, "position": 1, "payload": {}}))
        producer.flush()
        total = write_history(customers, actor, n_customers=3, touches=1)
        eventually(lambda: workers["pipeline"].applied == total)
    dead = KafkaConsumer(settings.dead_letter_topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                         auto_offset_reset="earliest", consumer_timeout_ms=5000)
    reasons = [orjson.loads(m.value)["reason"] for m in dead]
    dead.close()
    assert len(reasons) == 2
    assert reasons[0].startswith("not JSON") and "CustomerTeleported" in reasons[1]
    customers.close()


def test_two_workers_in_one_group_split_the_partitions_and_apply_everything_once(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)

    first, second = build_worker(settings, "pipeline"), build_worker(settings, "pipeline")
    with threads_running(first.run, second.run):
        eventually(lambda: first.consumer.assignment() and second.consumer.assignment(), timeout=60)
        total = write_history(customers, actor, n_customers=60, touches=2)
        with running(settings):  # the relay only
            eventually(lambda: applied(settings) == total, timeout=60)
        mine, theirs = first.consumer.assignment(), second.consumer.assignment()
        assert mine and theirs and not (mine & theirs)
        assert len(mine | theirs) == settings.events_topic_partitions
        assert first.applied > 0 and second.applied > 0
        assert first.applied + second.applied == total
    first.close()
    second.close()
    customers.close()
