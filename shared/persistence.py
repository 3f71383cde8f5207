"""How customer events are stored: a pydantic mapper and a recorder with two side tables.

The mapper stores each event as its canonical JSON (the bytes its hash covers) and
upcasts old schema versions when reading. The recorder writes, in the same
transaction as the events, the answer to each idempotent command and the head
(version and hash) of each stream it appended to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.json import set_json_dumps

from shared.events.base import CustomerEvent, canonical_json, upcast

STORE_NAME = "Customers"  # eventsourcing's application name: the tables are customers_events, customers_snapshots


class UnusedTranscoder(Transcoder):
    """The mapper encodes JSON itself; eventsourcing still wants a transcoder object."""

    def encode(self, obj: Any) -> bytes:
        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper):
    def __init__(self) -> None:
        super().__init__(transcoder=UnusedTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, CustomerEvent):
            state = domain_event.stored_state()
        else:
            state = canonical_json(domain_event.model_dump(mode="json"))
        return StoredEvent(originator_id=domain_event.originator_id,
                           originator_version=domain_event.originator_version,
                           topic=get_topic(type(domain_event)), state=state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        stored = bytes(stored_event.state)
        data = orjson.loads(stored)
        upcast(cls, data, data.pop("class_version", 1))
        event = cls.model_validate(data)
        if isinstance(event, CustomerEvent):
            event.remember_stored_state(stored)
        return event


class CustomerEventRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        set_json_dumps(orjson.dumps)  # psycopg's JSON parameters (stored answers) through orjson, not json
        schema = Identifier(self.datastore.schema)
        self.command_results_table = SQL("{0}.command_results").format(schema)
        self.stream_heads_table = SQL("{0}.stream_heads").format(schema)
        # Columns as four plain arrays: psycopg dumps those in C, an array of composites in Python.
        self.insert_columns_statement = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) RETURNING notification_id"
        ).format(schema, Identifier(self.events_table_name))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (idempotency_key text PRIMARY KEY, customer_id uuid NOT NULL, "
                "request_hash text NOT NULL, response jsonb NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now())").format(self.command_results_table),
            SQL("CREATE TABLE IF NOT EXISTS {0} (customer_id uuid PRIMARY KEY, version bigint NOT NULL, "
                "head_hash text NOT NULL)").format(self.stream_heads_table),
        ]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert events and side rows in one transaction, without an explicit pipeline.

        The library wraps this transaction in a psycopg pipeline; with a large batch over a
        Unix socket that pipeline can stall for good (client and server each waiting for the
        other). Plain statements cost a few round trips and never stall.
        """
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # One statement per table, from arrays. Sorted, so concurrent batches lock rows in one order.
        if results := sorted(kwargs.get("command_results", ())):
            curs.execute(SQL("INSERT INTO {0} (idempotency_key, customer_id, request_hash, response) "
                             "SELECT * FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::jsonb[])").format(
                self.command_results_table), [list(column) for column in zip(*results)])
        if heads := sorted(kwargs.get("stream_heads", ())):
            curs.execute(SQL("INSERT INTO {0} (customer_id, version, head_hash) "
                             "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[]) "
                             "ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version, "
                             "head_hash = EXCLUDED.head_hash").format(self.stream_heads_table),
                         [list(column) for column in zip(*heads)])
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement, (
            [e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
            [e.topic for e in stored_events], [e.state for e in stored_events]))

    def command_results(self, keys: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """Earlier answers to idempotent commands: key -> (request hash, response)."""
        if not keys:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT idempotency_key, request_hash, response FROM {0} "
                             "WHERE idempotency_key = ANY(%s)").format(self.command_results_table), (list(keys),))
            return {row["idempotency_key"]: (row["request_hash"], row["response"]) for row in curs.fetchall()}

    def select_streams_after(self, after: dict[Any, int]) -> list[StoredEvent]:
        """Events of many streams at once, each after its given version, in stream order."""
        if not after:
            return []
        statement = SQL("SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {0}.{1} e "
                        "JOIN unnest(%s::uuid[], %s::bigint[]) AS a(id, v) "
                        "ON e.originator_id = a.id AND e.originator_version > a.v "
                        "ORDER BY e.originator_id, e.originator_version").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(after), list(after.values())))
            return [StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                                topic=row["topic"], state=bytes(row["state"])) for row in curs.fetchall()]

    def stream_head(self, customer_id: Any) -> tuple[int, str] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT version, head_hash FROM {0} WHERE customer_id = %s").format(
                self.stream_heads_table), (customer_id,))
            row = curs.fetchone()
            return (row["version"], row["head_hash"]) if row else None


def select_latest_snapshots(recorder: Any, ids: Sequence[Any]) -> list[StoredEvent]:
    """The latest snapshot of each of many streams, in one query."""
    if not ids:
        return []
    statement = SQL("SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state "
                    "FROM {0}.{1} WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC"
                    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (list(ids),))
        return [StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                            topic=row["topic"], state=bytes(row["state"])) for row in curs.fetchall()]
