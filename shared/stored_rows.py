"""The event store's own tables read as they are stored: for auditors, and for the few facts no read model keeps.

The event store is no read model: these rows are the truth itself, read beside the
``EventStoreReader`` (``shared/event_store.py``) on the caller's connection, so one request
sees them and the read models at one moment. Rows are returned as stored (bytes);
``payload`` decodes one and answers None for bytes that are not a JSON object any more, so a
hand-edited row is shown, never a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import TopicError
from psycopg import Connection
from psycopg.sql import SQL, Composable, Identifier

from shared.persistence import CustomerEventRecorder


@dataclass(frozen=True)
class StoreTables:
    """The event store's tables, as SQL names."""

    events: Composable  # <schema>.customers_events
    heads: Composable  # <schema>.stream_heads

    @classmethod
    def of(cls, recorder: CustomerEventRecorder) -> StoreTables:
        schema = Identifier(recorder.datastore.schema)
        return cls(SQL("{0}.{1}").format(schema, Identifier(recorder.events_table_name)),
                   recorder.stream_heads_table)


@dataclass(frozen=True)
class StoredRow:
    customer_id: UUID
    position: int  # notification id
    version: int
    topic: str
    state: bytes

    @property
    def event_type(self) -> str:
        return self.topic.rsplit(":", 1)[-1]

    def event(self, mapper: Mapper) -> Any | None:
        """The domain event, upcast as the application reads it; None if the row cannot be read."""
        try:
            return mapper.to_domain_event(StoredEvent(originator_id=self.customer_id, originator_version=self.version,
                                                      topic=self.topic, state=self.state))
        except (ValueError, TopicError):  # not JSON, or no longer a valid event: the audit endpoints show it
            return None

    def payload(self) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self.state)
        except orjson.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None


_COLUMNS = "originator_id, notification_id, originator_version, topic, state"


def customer_exists(conn: Connection, store: StoreTables, customer_id: UUID) -> bool:
    """Whether the event store has a stream (or a recorded head) for this customer."""
    row = conn.execute(SQL("SELECT EXISTS (SELECT 1 FROM {0} WHERE customer_id = %(id)s) "
                           "OR EXISTS (SELECT 1 FROM {1} WHERE originator_id = %(id)s)").format(
        store.heads, store.events), {"id": customer_id}).fetchone()
    return bool(row[0])


def stream_head(conn: Connection, store: StoreTables, customer_id: UUID) -> tuple[int, str] | None:
    row = conn.execute(SQL("SELECT version, head_hash FROM {0} WHERE customer_id = %s").format(store.heads),
                       (customer_id,)).fetchone()
    return (row[0], row[1]) if row else None


def stored_events(conn: Connection, store: StoreTables, customer_id: UUID, after_version: int = 0,
                  limit: int | None = None) -> list[StoredRow]:
    """A customer's stored events after a version, in stream order."""
    query = SQL("SELECT " + _COLUMNS + " FROM {0} WHERE originator_id = %s AND originator_version > %s "
                "ORDER BY originator_version LIMIT %s").format(store.events)
    rows = conn.execute(query, (customer_id, after_version, limit)).fetchall()
    return [StoredRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


def events_of_types(conn: Connection, store: StoreTables, customer_ids: Sequence[UUID],
                    topics: Sequence[str]) -> list[StoredRow]:
    """The stored events of these types of these customers, in stream order."""
    if not customer_ids:
        return []
    query = SQL("SELECT " + _COLUMNS + " FROM {0} WHERE originator_id = ANY(%s) AND topic = ANY(%s) "
                "ORDER BY originator_id, originator_version").format(store.events)
    rows = conn.execute(query, (list(customer_ids), list(topics))).fetchall()
    return [StoredRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
