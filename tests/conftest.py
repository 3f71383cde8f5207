"""Test fixtures on a real PostgreSQL.

The server is, in order: the one at DATABASE_URL; a testcontainers container where a
Docker engine answers; else an embedded server from PyPI. Each test session works
in a fresh database of its own, dropped at the end.

The broker (`kafka_bootstrap`) is, in order: the one at KAFKA_BOOTSTRAP_SERVERS; Apache Kafka
started by infra/kafka where Java is installed (TEST_BROKER=kafka insists on it); else, or with
TEST_BROKER=tansu, a local tansu.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from shared.application import Customers
from shared.bootstrap import build_customers
from shared.events import Actor
from shared.settings import Settings
from tests.faults import restartable_broker, restartable_postgres  # noqa: F401 - fixtures for fault tests


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # no Docker engine on this machine: any failure means "not available"
        return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A libpq URL of a running PostgreSQL server (its maintenance database)."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        from shared.embedded_postgres import EmbeddedPostgres

        data_dir = Path(tempfile.mkdtemp(prefix="ct-embedded-"))
        server = EmbeddedPostgres(data_dir)
        url, _ = server.start()
        try:
            yield url
        finally:
            server.stop()  # the session's own server: stopped whoever is still connected
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    """A fresh database for this test session."""
    name = f"ct_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(postgres_server, dbname=name)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, snapshot_interval=10, postgres_pool_size=16)


@pytest.fixture(scope="session")
def customers(settings: Settings) -> Iterator[Customers]:
    app = build_customers(settings)
    yield app
    app.close()


@pytest.fixture(scope="session")
def client(settings: Settings, customers: Customers):
    from fastapi.testclient import TestClient

    from services.command.app import create_app

    with TestClient(create_app(settings, customers)) as test_client:
        yield test_client


@pytest.fixture
def actor() -> Actor:
    return Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社")


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn




def _test_broker() -> str:
    """Which broker the session uses: "external" (KAFKA_BOOTSTRAP_SERVERS), "kafka" (Apache Kafka from
    infra/kafka) or "tansu". TEST_BROKER=kafka insists on Apache Kafka (fails if it cannot start),
    TEST_BROKER=tansu on tansu; unset, Apache Kafka where Java is installed, else tansu."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "external"
    wanted = os.environ.get("TEST_BROKER", "").strip().lower()
    if wanted not in ("", "kafka", "tansu"):
        raise pytest.UsageError(f"TEST_BROKER={wanted!r}: use 'kafka' or 'tansu'")
    if wanted:
        return wanted
    from infra.kafka import available

    return "kafka" if available() else "tansu"


def pytest_report_header(config: pytest.Config) -> str:
    from infra.kafka import KAFKA_VERSION

    broker = _test_broker()
    return "broker: " + {"external": f"KAFKA_BOOTSTRAP_SERVERS={os.environ.get('KAFKA_BOOTSTRAP_SERVERS')}",
                         "kafka": f"Apache Kafka {KAFKA_VERSION} (infra/kafka, one KRaft node, started on first use)",
                         "tansu": "tansu (in memory, started on first use)"}[broker]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka-protocol broker for the session: KAFKA_BOOTSTRAP_SERVERS where set; else Apache Kafka
    (infra/kafka: a single KRaft node on a free port, its data in a temporary directory, stopped at the
    end) where Java is installed, unless TEST_BROKER=tansu; else a local tansu on a free port."""
    broker = _test_broker()
    if broker == "external":
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if broker == "kafka":
        from infra.kafka import KafkaUnavailable, start_broker

        data_dir = Path(tempfile.mkdtemp(prefix="ct-kafka-"))
        try:
            cluster = start_broker(None, data_dir, die_with_parent=True)
        except KafkaUnavailable as error:
            raise KafkaUnavailable(f"{error}\n(TEST_BROKER=tansu runs the tests on tansu instead)") from error
        try:
            yield cluster.bootstrap
        finally:
            cluster.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        return
    import socket

    from shared.broker import start_local_broker

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield start_local_broker(port)


@pytest.fixture(scope="session")
def isolated(postgres_server: str, kafka_bootstrap: str):
    """Make settings with a fresh database, topics and consumer groups of their own."""
    made: list[str] = []

    def make(**overrides) -> Settings:
        tag = uuid.uuid4().hex[:10]
        name = f"ct_iso_{tag}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return Settings(**{"database_url": make_conninfo(postgres_server, dbname=name),
                           "kafka_bootstrap_servers": kafka_bootstrap,
                           "events_topic": f"events-{tag}", "dead_letter_topic": f"dead-letters-{tag}",
                           "ingest_topic": f"commands-{tag}", "ingest_results_topic": f"results-{tag}",
                           "ingest_dead_letter_topic": f"commands-dead-{tag}",
                           "consumer_group_prefix": f"group-{tag}", "snapshot_interval": 10, **overrides})

    yield make
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
