"""Health, readiness and metrics of both APIs, and both APIs across a PostgreSQL restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from services.command.app import create_app as create_command_app
from services.timeline_api.app import create_app as create_timeline_app
from shared.bootstrap import build_customers
from shared.events import Actor
from tests.faults import RestartablePostgres
from tests.streaming import eventually, write_history
from tests.support import auth, register

OUTAGE_SECONDS = 10


@pytest.fixture(scope="module")
def apis(isolated) -> Iterator[tuple[TestClient, TestClient]]:
    settings = isolated()
    with TestClient(create_command_app(settings)) as command, TestClient(create_timeline_app(settings)) as timeline:
        yield command, timeline


@pytest.mark.parametrize("which", [0, 1], ids=["command", "timeline"])
def test_healthz_and_readyz_answer_without_a_token(apis, which) -> None:
    api = apis[which]
    assert (api.get("/healthz").status_code, api.get("/healthz").json()) == (200, {"status": "ok"})
    assert (api.get("/readyz").status_code, api.get("/readyz").json()) == (200, {"status": "ready"})


def test_metrics_count_requests_by_route_template_and_status(apis) -> None:
    command, timeline = apis
    customer_id = register(command)
    timeline.get(f"/customers/{customer_id}/timeline", headers=auth(timeline, role="sales"))
    timeline.get(f"/customers/{customer_id}/timeline")  # no token: 401
    timeline.get("/no/such/page")
    text = timeline.get("/metrics").text
    assert 'ct_http_requests_total{method="GET",route="/customers/{customer_id}/timeline",status="200"} 1.0' in text
    assert 'ct_http_requests_total{method="GET",route="/customers/{customer_id}/timeline",status="401"} 1.0' in text
    assert 'ct_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert customer_id not in text  # route templates, never raw paths
    assert 'ct_http_request_seconds_count{method="GET",route="/customers/{customer_id}/timeline"} 2.0' in text
    assert timeline.get("/metrics").headers["content-type"].startswith("text/plain")
    written = command.get("/metrics").text
    assert 'ct_http_requests_total{method="POST",route="/customers",status="201"}' in written


def bearer(client: TestClient, role: str) -> dict[str, str]:
    """A fresh token (tests.support caches tokens per app object, and app ids repeat across tests)."""
    actor = Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社")
    return {"Authorization": f"Bearer {client.app.state.tokens.issue(role, actor).token}"}


def _restart_clients(restartable_postgres: RestartablePostgres, isolated):
    settings = isolated(database_url=restartable_postgres.url())
    return TestClient(create_command_app(settings)), TestClient(create_timeline_app(settings))


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_both_apis_answer_503_during_an_outage_and_2xx_right_after_it(restartable_postgres, isolated, outage) -> None:
    command_client, timeline_client = _restart_clients(restartable_postgres, isolated)
    with command_client as command, timeline_client as timeline:
        reader, writer = bearer(timeline, "sales"), bearer(command, "sales")
        customer_id = command.post("/customers", json={"company_name": "株式会社再起動"}, headers=writer).json()[
            "customer_id"]
        for _ in range(20):  # fill the pools with connections that the restart will kill
            assert timeline.get(f"/customers/{customer_id}/timeline", headers=reader).status_code == 200
        getattr(restartable_postgres, outage)()

        away = time.monotonic()
        write = command.post("/customers", json={"company_name": "株式会社停電中"}, headers=writer)
        read = timeline.get(f"/customers/{customer_id}/timeline", headers=reader)
        print(f"a write and a read answered 503 in {time.monotonic() - away:.2f} s ({outage})")
        for answer in (write, read):
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "database_unavailable" and answer.json()["message"]
        for api in (command, timeline):
            assert api.get("/healthz").status_code == 200
            not_ready = api.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["code"] == "not_ready", not_ready.text
        time.sleep(OUTAGE_SECONDS)
        restartable_postgres.start()

        started = time.monotonic()
        for n in range(10):  # the very first requests after the restart succeed
            assert command.post("/customers", json={"company_name": f"株式会社復旧{n}"},
                                headers=writer).status_code == 201
            assert timeline.get(f"/customers/{customer_id}/timeline", headers=reader).status_code == 200
        assert command.get("/readyz").status_code == timeline.get("/readyz").status_code == 200
        print(f"20 requests after the restart ({outage}) in {time.monotonic() - started:.2f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_relay_ingest_and_workers_serve_their_metrics_on_metrics_port(isolated, actor) -> None:
    settings = isolated()
    written = write_history(build_customers(settings), actor, n_customers=2, touches=1)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "EVENTS_TOPIC": settings.events_topic, "INGEST_TOPIC": settings.ingest_topic,
           "INGEST_RESULTS_TOPIC": settings.ingest_results_topic,
           "INGEST_DEAD_LETTER_TOPIC": settings.ingest_dead_letter_topic,
           "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix}
    relay_port, ingest_port, worker_port = _free_port(), _free_port(), _free_port()
    relay = subprocess.Popen([sys.executable, "-m", "services.cli", "relay"], env={**env, "METRICS_PORT": str(relay_port)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingest = subprocess.Popen([sys.executable, "-m", "services.cli", "ingest", "--metrics-port", str(ingest_port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "services.cli", "project", "timeline", "--metrics-port",
                               str(worker_port)], env={**env, "DEAD_LETTER_TOPIC": settings.dead_letter_topic},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        published = (f'ct_events_total{{component="relay"}} {float(written)}', 'ct_lag_events{component="relay"} 0.0')
        relay_text = eventually(lambda: all(line in (text := _scrape(relay_port)) for line in published) and text,
                                timeout=60)
        assert 'ct_batches_total{component="relay"}' in relay_text
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        producer.send(settings.ingest_topic, value=b"not json").get(timeout=10)
        producer.close()
        eventually(lambda: 'ct_dead_letters_total{component="ingest"} 1.0' in _scrape(ingest_port), timeout=60)
        handled = ('ct_batch_seconds_count{component="ingest"} 1.0', 'ct_lag_events{component="ingest"} 0.0')
        eventually(lambda: all(line in (text := _scrape(ingest_port)) for line in handled), timeout=30)  # measured
        # once the dead letter is acknowledged and the offset committed, a moment after it was counted
        applied = f'ct_events_total{{component="projection timeline"}} {float(written)}'
        eventually(lambda: applied in _scrape(worker_port), timeout=60)
    finally:
        for process in (relay, ingest, worker):
            process.terminate()
            process.wait(timeout=30)
    assert relay.returncode == ingest.returncode == worker.returncode == 0


def test_ingest_exports_its_consumer_lag(isolated) -> None:
    from services.ingest.app import build_ingest
    from shared.metrics import Metrics
    from tests.integration.test_ingest import produce, register, touch

    settings = isolated(ingest_batch_size=2)
    customer = uuid.uuid4()
    metrics = Metrics()
    ingest = build_ingest(settings, metrics)
    ingest.connect()  # its topics
    produce(settings, [register(customer, "株式会社ラグ")] + [touch(customer, n) for n in range(5)])  # one partition

    def lag() -> float | None:
        return metrics.registry.get_sample_value("ct_lag_events", {"component": "ingest"})

    try:
        assert eventually(ingest.step, timeout=30) == 2  # the first batch of two (after joining the group)
        assert lag() == 4.0  # end offset 6 less the position 2
        handled = 2
        while handled < 6:
            handled += ingest.step()
        assert lag() == 0.0
    finally:
        ingest.close()
