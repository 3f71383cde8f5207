"""The event store: eventsourcing's own statements for ``customers_events`` (its notification index, stored-event
type and insert function) and ``customers_snapshots``, and the recorder's side tables ``command_results`` and
``stream_heads`` (``shared/persistence.py``). All ``IF NOT EXISTS``; a type that exists is left as it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import Cursor
from psycopg.errors import DuplicateObject

from shared.event_store import store_factory

if TYPE_CHECKING:
    from shared.migrations.runner import Target


def apply(curs: Cursor, target: Target) -> None:
    factory = store_factory(target.url, target.settings, pool_size=1)  # only to make the recorders' statements
    try:
        statements = [*factory.application_recorder().sql_create_statements,
                      *factory.aggregate_recorder("snapshots").sql_create_statements]
    finally:
        factory.close()
    texts = [(s, "CREATE TYPE" in s.as_string(curs)) for s in statements]
    # Types first, as eventsourcing does: its insert function names the type.
    for statement in (s for s, is_type in texts if is_type):
        try:
            with curs.connection.transaction():
                curs.execute(statement)
        except DuplicateObject:
            pass  # made by eventsourcing before migrations existed
    for statement in (s for s, is_type in texts if not is_type):
        curs.execute(statement)
