"""How customer events are stored: a pydantic mapper and a recorder with two side tables.

The mapper stores each event as its canonical JSON (the bytes its hash covers) and
upcasts old schema versions when reading. The recorder writes, in the same
transaction as the events, the answer to each idempotent command and the head
(version and hash) of each stream it appended to.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import Connection
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import set_json_dumps

from shared.domain.snapshot import CustomerSnapshot
from shared.events.base import CustomerEvent, canonical_json, upcast
from shared.events.personal import ContactErased
from shared.key_store import KEYS_TABLE, KeyRing, create_statements
from shared.sealing import UnsealedPersonalDataError, needs_sealing, open_contacts, open_sealed, seal_contacts

STORE_NAME = "Customers"  # eventsourcing's application name: the tables are customers_events, customers_snapshots


class UnusedTranscoder(Transcoder):
    """The mapper encodes JSON itself; eventsourcing still wants a transcoder object."""

    def encode(self, obj: Any) -> bytes:
        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper):
    """Events to stored rows and back; personal fields sealed with their subject's key (``shared/sealing.py``).

    Without a key ring, sealed fields read as erased: a reader that may not see personal data gets none.
    """

    def __init__(self, key_ring: KeyRing | None = None) -> None:
        super().__init__(transcoder=UnusedTranscoder())
        self.key_ring = key_ring

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, CustomerEvent):
            if needs_sealing(domain_event):
                raise UnsealedPersonalDataError(f"{type(domain_event).__name__} holds personal data but was not "
                                                "sealed: its command context had no key ring")
            state = domain_event.stored_state()
        else:
            data = domain_event.model_dump(mode="json")
            if isinstance(domain_event, CustomerSnapshot):
                if self.key_ring is None:
                    raise UnsealedPersonalDataError("a snapshot of a customer needs a key ring to seal its contacts")
                seal_contacts(data["state"], domain_event.originator_id, self.key_ring)
            state = canonical_json(data)
        return StoredEvent(originator_id=domain_event.originator_id,
                           originator_version=domain_event.originator_version,
                           topic=get_topic(type(domain_event)), state=state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        stored = bytes(stored_event.state)
        data = orjson.loads(stored)
        if cls is CustomerSnapshot:
            open_contacts(data["state"], data["originator_id"], self.key_ring)
            return cls.model_validate(data)
        erased = open_sealed(cls, data, self.key_ring)
        upcast(cls, data, data.pop("class_version", 1))
        event = cls.model_validate(data)
        if isinstance(event, CustomerEvent):
            event.remember_stored_state(stored, sealed=True)
            if erased:
                event.__pydantic_private__["_erased"] = erased
            elif cls is ContactErased and self.key_ring is not None:
                self.key_ring.forget([event.contact_id])  # whoever reads the erasure stops using the key at once
        return event


class CustomerEventRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        set_json_dumps(orjson.dumps)  # psycopg's JSON parameters (stored answers) through orjson, not json
        schema = Identifier(self.datastore.schema)
        self.command_results_table = SQL("{0}.command_results").format(schema)
        self.stream_heads_table = SQL("{0}.stream_heads").format(schema)
        self.keys_table = SQL("{0}.{1}").format(schema, Identifier(KEYS_TABLE))
        self._pinned = threading.local()  # the connection of the batch in hand, per thread (see batch())
        events_table = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name))
        # The table lock serialises appends so that notification ids commit in order (a tailing reader never
        # skips one); SET LOCAL bounds the wait for it (POSTGRES_LOCK_TIMEOUT), as the library does.
        self.begin_and_lock_statement = SQL("BEGIN; SET LOCAL lock_timeout = '{0}s'; "
                                            "LOCK TABLE {1} IN EXCLUSIVE MODE; NOTIFY {2}").format(
            SQL(str(int(self.datastore.lock_timeout))), events_table, Identifier(self.channel_name))
        # Columns as plain arrays in binary format (%b): psycopg dumps those in C, with no escaping; in text format
        # every element of a text, bytea or jsonb array is escaped with a regular expression (a fifth of the
        # writer's time on a batch of 1,000 answered commands), an array of composites is dumped in Python.
        self.insert_all_statement = SQL(
            "WITH answers AS (INSERT INTO {0} (idempotency_key, customer_id, request_hash, response) "
            "  SELECT * FROM unnest(%b::text[], %b::uuid[], %b::text[], %b::jsonb[])), "
            "heads AS (INSERT INTO {1} (customer_id, version, head_hash) "
            "  SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[]) "
            "  ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version, head_hash = EXCLUDED.head_hash), "
            "new_keys AS (INSERT INTO {3} (subject_id, customer_id, key) "
            "  SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bytea[])), "
            "erased_keys AS (UPDATE {3} SET key = NULL, erased_at = now() "
            "  WHERE subject_id = ANY(%b::uuid[]) AND key IS NOT NULL) "
            "INSERT INTO {2} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(self.command_results_table, self.stream_heads_table, events_table, self.keys_table)
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (idempotency_key text PRIMARY KEY, customer_id uuid NOT NULL, "
                "request_hash text NOT NULL, response jsonb NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now())").format(self.command_results_table),
            SQL("CREATE TABLE IF NOT EXISTS {0} (customer_id uuid PRIMARY KEY, version bigint NOT NULL, "
                "head_hash text NOT NULL)").format(self.stream_heads_table),
            *create_statements(self.keys_table),
        ]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert events and side rows in one transaction of three round trips, without a pipeline.

        1. ``BEGIN; SET LOCAL lock_timeout; LOCK TABLE …; NOTIFY …`` as one simple query;
        2. one statement: the command answers and stream heads (data-modifying CTEs, sorted so concurrent
           batches lock rows in one order) and the events, from plain arrays, ``RETURNING notification_id``;
        3. ``COMMIT``.
        The library's way costs eight round trips (each holding the table lock but the first two); its psycopg
        pipeline can stall for good with a large batch over a Unix socket (client and server each waiting for
        the other). Any failure rolls back before the connection goes back to the pool.
        """
        if not stored_events:
            return None
        with self._connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            assert conn.autocommit
            try:
                curs.execute(self.begin_and_lock_statement)
                curs.execute(self.insert_all_statement, self._insert_parameters(stored_events, kwargs))
                notification_ids = [row[0] for row in curs.fetchall()]
                curs.execute("COMMIT")
            except BaseException:
                if not conn.closed:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
            return notification_ids

    @staticmethod
    def _insert_parameters(stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> list[list[Any]]:
        results = sorted(kwargs.get("command_results", ()))
        heads = sorted(kwargs.get("stream_heads", ()), key=lambda head: head[0].int)  # UUID order, compared in C
        keys = sorted(kwargs.get("personal_keys", ()))
        return [*_columns(results, 4), *_columns(heads, 3), *_columns(keys, 3), sorted(kwargs.get("erased_subjects", ())),
                [e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                [e.topic for e in stored_events], [e.state for e in stored_events]]

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run every query of this recorder in the block (on this thread) on one pooled connection: one checkout
        and one check before use for a whole batch instead of one per query."""
        if getattr(self._pinned, "conn", None) is not None:
            yield  # already inside a batch
            return
        with self.datastore.get_connection() as conn:
            self._pinned.conn = conn
            try:
                yield
            finally:
                self._pinned.conn = None

    @contextmanager
    def _connection(self) -> Iterator[Connection[DictRow]]:
        if (conn := getattr(self._pinned, "conn", None)) is not None:
            yield conn
        else:
            with self.datastore.get_connection() as conn:
                yield conn

    def command_results(self, keys: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """Earlier answers to idempotent commands: key -> (request hash, response)."""
        if not keys:
            return {}
        with self._connection() as conn, conn.cursor() as curs:
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
        with self._connection() as conn, conn.cursor() as curs:
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


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column lists (empty lists for no rows), for ``unnest`` of plain arrays."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]
