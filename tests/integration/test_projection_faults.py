"""A projection worker rides out a PostgreSQL restart and a broker replacement by itself, losing nothing."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from services.projections.app import build_worker
from services.projections.pipeline.projection import PipelineProjection
from services.projections.rebuild import rebuild
from services.projections.status import projection_status
from services.relay.app import build_relay
from shared.bootstrap import build_customers
from shared.settings import Settings
from tests.faults import restartable_broker, restartable_postgres  # noqa: F401 - fixtures
from tests.streaming import checksum, eventually, running, threads_running, write_history

TABLES = (*PipelineProjection.tables, "pipeline_versions")


def private_settings(database_url: str, bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(database_url=database_url, kafka_bootstrap_servers=bootstrap, events_topic=f"events-{tag}",
                    dead_letter_topic=f"dead-{tag}", consumer_group_prefix=f"group-{tag}", snapshot_interval=10,
                    retry_cap_seconds=1.0)


def applied(settings: Settings) -> int:
    return projection_status(settings.database_url, ["pipeline"])[0].applied_events


@pytest.mark.parametrize("outage", ["fast stop", "kill -9"])
def test_a_worker_waits_out_a_postgres_outage_and_catches_up_to_a_rebuild(restartable_postgres, kafka_bootstrap,
                                                                          actor, outage) -> None:
    server = restartable_postgres
    settings = private_settings(server.url(), kafka_bootstrap)
    customers = build_customers(settings)
    total = write_history(customers, actor, n_customers=60, touches=4)
    relay = build_relay(settings)
    while relay.publish_next():
        pass
    worker = build_worker(settings, "pipeline")
    server.stop() if outage == "fast stop" else server.kill()
    with threads_running(worker.run):
        eventually(lambda: worker.pending, timeout=30)  # a batch in hand that cannot be checked or applied
        time.sleep(3)
        assert worker.applied == 0
        server.start()
        eventually(lambda: worker.applied == total, timeout=60)
    worker.close()
    exposition = worker.metrics.exposition().decode()
    assert 'ct_retries_total{component="projection pipeline"' in exposition
    assert applied(settings) == total
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        after_outage = checksum(conn, TABLES)
    report = rebuild(PipelineProjection, customers.process, customers.reader, settings.database_url, progress=False)
    assert report.events == total and not report.dead_letters
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert checksum(conn, TABLES) == after_outage
    customers.close()


def test_a_worker_started_before_the_database_waits_for_it(restartable_postgres, kafka_bootstrap) -> None:
    from shared.metrics import Metrics
    from shared.resilience import patiently

    server = restartable_postgres
    settings = private_settings(server.url(), kafka_bootstrap)
    server.stop()
    built: list = []
    stop = threading.Event()
    waiting = threading.Thread(target=lambda: built.append(
        patiently("projection pipeline", lambda: build_worker(settings, "pipeline"), stop, Metrics(), cap=0.5)))
    waiting.start()
    time.sleep(2)
    assert not built, "nothing to build against while the database is away"
    server.start()
    waiting.join(timeout=60)
    assert built and built[0] is not None
    built[0].close()


def test_a_worker_survives_a_replaced_broker_and_applies_what_comes_after(isolated, restartable_broker,
                                                                           actor) -> None:
    broker = restartable_broker
    settings = isolated(kafka_bootstrap_servers=broker.bootstrap, retry_cap_seconds=1.0)
    customers = build_customers(settings)
    first = write_history(customers, actor, n_customers=10, touches=1)
    with running(settings, ("pipeline",)) as workers:
        eventually(lambda: workers["pipeline"].applied == first, timeout=60)
        broker.replace()  # every topic, message and committed offset gone
        later = write_history(customers, actor, n_customers=10, touches=1)
        eventually(lambda: applied(settings) == first + later, timeout=120)
    assert workers["pipeline"].applied == first + later
    customers.close()
