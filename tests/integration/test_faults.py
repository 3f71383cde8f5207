"""The fault servers themselves: data survives a stop and a kill -9; a replaced broker forgets its topics."""

from __future__ import annotations

import psycopg
from kafka import KafkaAdminClient

from shared.broker import ensure_topics
from tests.faults import RestartableBroker, RestartablePostgres


def test_postgres_keeps_its_data_and_port_across_stop_and_kill(restartable_postgres: RestartablePostgres) -> None:
    url = restartable_postgres.url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (1)")
    restartable_postgres.stop()
    assert not restartable_postgres.running
    restartable_postgres.start()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO kept VALUES (2)")
    restartable_postgres.kill()
    assert not restartable_postgres.running
    restartable_postgres.start()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 2


def test_replaced_broker_has_lost_every_topic(restartable_broker: RestartableBroker) -> None:
    ensure_topics(restartable_broker.bootstrap, {"kept-or-not": 2})
    restartable_broker.replace()
    admin = KafkaAdminClient(bootstrap_servers=restartable_broker.bootstrap)
    try:
        assert "kept-or-not" not in admin.list_topics()
    finally:
        admin.close()
