"""One owner of the schema: the migrations make every table, once, upgrade databases made before them, and
mark a read model whose definition changed for a rebuild that clears the mark."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL

from services.projections.migrations import read_models
from services.projections.rebuild import rebuild
from services.projections.registry import PROJECTIONS
from services.projections.status import projection_status
from shared.application import Customers
from shared.database import eventsourcing_env
from shared.event_store import open_event_store
from shared.migrations import migrate
from shared.process import default_process_definition
from shared.settings import Settings
from tests.support import run_cli

STORE_TABLES = {"customers_events", "customers_snapshots", "command_results", "stream_heads", "api_tokens",
                "relay_positions", "schema_migrations", "read_models", "personal_data_keys"}
NUMBERED = ["migration 0001_event_store", "migration 0002_api_tokens", "migration 0003_relay_positions",
            "migration 0004_read_models", "migration 0005_personal_data_keys"]


@pytest.fixture
def fresh(postgres_server: str) -> Iterator[Settings]:
    name = f"ct_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Settings(database_url=make_conninfo(postgres_server, dbname=name))
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def read_model_tables() -> set[str]:
    return {t for model in read_models(default_process_definition()) for t in model.all_tables()}


def test_a_fresh_database_migrated_once_has_every_table_and_twice_applies_nothing(fresh: Settings) -> None:
    url, models = fresh.database_url, read_models(default_process_definition())
    applied = migrate(url, fresh, models)
    assert applied[:len(NUMBERED)] == NUMBERED
    assert [line.split(":")[0] for line in applied[len(NUMBERED):]] == [f"read model {m.name}" for m in models]
    assert tables(url) == STORE_TABLES | read_model_tables()
    assert migrate(url, fresh, models) == []
    result = run_cli("migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing to apply: the database is up to date"


def test_the_store_works_on_a_migrated_database_without_the_write_application(fresh: Settings) -> None:
    migrate(fresh.database_url, fresh)
    reader = open_event_store(fresh)
    try:
        assert (reader.last_position(), list(reader.notifications(0, 10))) == (0, [])
    finally:
        reader.close()


def test_a_database_made_before_migrations_existed_upgrades(fresh: Settings, actor) -> None:
    """Tables as the services made them themselves: eventsourcing's CREATE_TABLE, the token store's, the relay's
    first table (no topic id), read tables from the projections' statements, a versions table from before parking."""
    from shared.commands import RegisterCustomer
    from shared.application import Envelope
    from shared.events.customer import CompanyProfile

    url = fresh.database_url
    old = Customers(default_process_definition(), env={**eventsourcing_env(url, fresh), "CREATE_TABLE": "y"})
    register = RegisterCustomer(details=CompanyProfile(company_name="株式会社旧"))
    [outcome] = old.execute([Envelope(register, None, actor)])
    old.close()
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute("CREATE TABLE api_tokens (token_id uuid PRIMARY KEY, token_hash text UNIQUE NOT NULL, "
                     "role text NOT NULL, actor jsonb NOT NULL, issued_at timestamptz NOT NULL DEFAULT now(), "
                     "revoked_at timestamptz)")
        curs.execute("CREATE TABLE relay_positions (name text PRIMARY KEY, position bigint NOT NULL)")
        curs.execute("INSERT INTO relay_positions VALUES ('customer-events', 1)")
        for model in read_models(default_process_definition()):
            curs.execute(SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, version bigint NOT NULL, "
                             "position bigint NOT NULL DEFAULT 0)").format(model.table(model.versions_table)))
            model.create_tables(curs)
    applied = migrate(url, fresh, read_models(default_process_definition()))
    assert applied[:len(NUMBERED)] == NUMBERED
    assert all(line.endswith("definition recorded (tables in place)") for line in applied[len(NUMBERED):]), applied
    assert tables(url) == STORE_TABLES | read_model_tables()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT position, topic_id FROM relay_positions").fetchall() == [(1, None)]
        assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'pipeline_versions' "
                            "AND column_name IN ('parked_version', 'parked_reason')").fetchone()[0] == 2
    reader = open_event_store(fresh)
    try:
        assert reader.get_customer(uuid.UUID(outcome.customer_id)).state.company_name == "株式会社旧"
    finally:
        reader.close()
    assert migrate(url, fresh, read_models(default_process_definition())) == []


def test_a_changed_read_model_is_marked_for_rebuild_and_the_rebuild_clears_the_mark(fresh: Settings) -> None:
    url, process = fresh.database_url, default_process_definition()
    migrate(url, fresh, read_models(process))
    live = PROJECTIONS["timeline"]

    class Upgraded(live):  # the next release adds an index
        def definition(self):  # noqa: ANN202
            found = dict(super().definition())
            versions = self.versions_table
            found[versions] = [*found[versions], SQL("CREATE INDEX ON {0} (position)").format(self.table(versions))]
            return found

    def stale() -> dict[str, bool]:
        return {s.projection: s.needs_rebuild for s in projection_status(url, list(PROJECTIONS))}

    assert not any(stale().values())
    applied = migrate(url, fresh, [Upgraded(process)])
    assert applied == ["read model timeline: definition changed, needs rebuild "
                       "(customer-timeline projections rebuild timeline)"]
    assert migrate(url, fresh, [Upgraded(process)]) == []  # marked once
    assert stale() == {name: name == "timeline" for name in PROJECTIONS}
    status = run_cli("projections", "status", env={"DATABASE_URL": url})
    assert "needs rebuild" in status.stdout, status.stderr
    reader = open_event_store(fresh)
    try:
        rebuild(Upgraded, process, reader, url, progress=False)
    finally:
        reader.close()
    assert not any(stale().values())
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'timeline_versions' "
                            "AND indexdef LIKE '%(\"position\")'").fetchone()[0] == 1
    assert migrate(url, fresh, [Upgraded(process)]) == []
