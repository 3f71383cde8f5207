"""The data subjects' keys (``shared/key_store.py``) beside the event store, for databases made before them
(a fresh database has the table from m0001, which runs the recorder's own statements)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import Cursor

from shared.event_store import store_factory
from shared.key_store import create_statements

if TYPE_CHECKING:
    from shared.migrations.runner import Target


def apply(curs: Cursor, target: Target) -> None:
    factory = store_factory(target.url, target.settings, pool_size=1)
    try:
        for statement in create_statements(factory.application_recorder().keys_table):
            curs.execute(statement)
    finally:
        factory.close()
