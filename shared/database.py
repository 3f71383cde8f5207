"""Finding a PostgreSQL server: the configured one, or an embedded one for a bare machine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from shared.settings import Settings

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """The embedded server keeping its data in data_dir/postgres: found running, or started by this process,
    which then stops it at exit unless other clients still use it (see shared/embedded_postgres.py)."""
    from shared.embedded_postgres import EmbeddedPostgres

    server = EmbeddedPostgres(data_dir)
    url, started = server.start()
    if started:
        server.stop_at_exit_unless_used(url)
    return url


def database_url(settings: Settings) -> str:
    return settings.database_url or start_embedded_postgres(settings.data_dir)


def eventsourcing_env(url: str, settings: Settings) -> dict[str, str]:
    """The environment eventsourcing's PostgreSQL persistence reads, from a libpq URL."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_PRE_PING": "y",  # a pooled connection that died with a database restart is replaced, not used
        "POSTGRES_CONNECT_TIMEOUT": "5",  # also how long a request waits for a pooled connection (then 503)
        "POSTGRES_LOCK_TIMEOUT": str(settings.postgres_lock_timeout),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(settings.postgres_idle_in_transaction_timeout),
        "CREATE_TABLE": "n",  # the migrations make the tables (shared/migrations), never the recorders
    }


class CheckBeforeUse:
    """A pool's ``check``: test each connection before handing it out; when one turns out dead (the database
    restarted), test every idle one at once. psycopg_pool alone would try the dead connections one by one,
    pausing 1, 2, 4, 8 ... s between them, so the first request after a restart would wait for 30 s."""

    def __init__(self, pool: ConnectionPool | None = None) -> None:
        self.pool = pool

    def __call__(self, conn: psycopg.Connection) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            if self.pool is not None:
                self.pool.check()  # drops every dead idle connection and starts replacing it
            raise


# How long psycopg_pool keeps re-trying one lost connection (its pauses double: 1, 2, 4 ... s) before it lets a
# waiting client start a fresh attempt. Its default (300 s) leaves requests waiting for seconds after a restart.
RECONNECT_TIMEOUT = 2.0


def open_pool(url: str, name: str, max_size: int, **kwargs: Any) -> ConnectionPool:
    """A pool of our own that checks connections before use and reconnects promptly after a restart;
    ``kwargs`` go to the pool (``configure``, ``kwargs`` for the connections ...)."""
    check = CheckBeforeUse()
    connection_kwargs = {"connect_timeout": 5, **kwargs.pop("kwargs", {})}
    pool = check.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False, check=check, timeout=5,
                                       reconnect_timeout=RECONNECT_TIMEOUT, name=name, kwargs=connection_kwargs,
                                       **kwargs)
    return pool


def heal_after_restarts(pool: ConnectionPool) -> None:
    """Make a pool made elsewhere (eventsourcing's) check connections before use (purging every dead one at
    once) and reconnect promptly once the database is back."""
    pool._check = CheckBeforeUse(pool)  # noqa: SLF001 - psycopg_pool takes `check` only in its constructor
    pool.reconnect_timeout = RECONNECT_TIMEOUT


SCHEMA_LOCK = 7_265_353  # advisory lock key: one process at a time changes the schema


@contextmanager
def schema_lock(url: str) -> Iterator[psycopg.Connection]:
    """A connection holding the schema lock (processes starting together would race on CREATE TABLE IF NOT
    EXISTS); the same session may take the lock again (``pg_advisory_xact_lock``) without waiting."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
