"""The projections' side of the event store: the truth behind every message, gaps and rebuilds.

A worker never applies what a message says: it reads the event at the message's
position from the event store and applies that, after checking that the message
names the same customer, stream version and event id. So a forged or corrupt
message is a dead letter, never applied, and never hides the real event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic
from psycopg.sql import SQL, Identifier

from services.projections.dead_letters import DeadLetter
from shared.event_store import EventStoreReader
from shared.events import CustomerEvent
from shared.events.personal import ContactErased
from shared.sealing import SEALED_MARK
from shared.wire import Delivered, Identity


class EventSource:
    def __init__(self, reader: EventStoreReader) -> None:
        self.reader = reader
        recorder = reader.recorder
        self._at_positions = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE notification_id = ANY(%s)").format(Identifier(recorder.datastore.schema),
                                                       Identifier(recorder.events_table_name))
        self._classes: dict[str, tuple[type, bool]] = {}  # topic -> event class, validated straight from JSON

    def missing(self, customer_id: UUID, after: int, up_to: int) -> list[CustomerEvent]:
        """A customer's events with after < version <= up_to, from the event store."""
        events = self.reader.stream(customer_id, after, up_to)
        versions = [e.originator_version for e in events]
        if versions != list(range(after + 1, up_to + 1)):
            raise LookupError(f"the event store lacks events of {customer_id} in ({after}, {up_to}]")
        return events

    def after(self, customer_id: UUID, version: int) -> list[Delivered]:
        """A customer's stored events after a version (positions unknown: 0)."""
        return [Delivered(e, 0) for e in self.reader.stream(customer_id, version)]

    def last_positions(self, customer_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The notification id of each customer's latest stored event (0 for none)."""
        recorder = self.reader.recorder
        with self.reader.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT originator_id, max(notification_id) AS position FROM {0}.{1} "
                             "WHERE originator_id = ANY(%s) GROUP BY originator_id").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)), (list(customer_ids),))
            found = {row["originator_id"]: row["position"] for row in curs.fetchall()}
        return {c: found.get(c, 0) for c in customer_ids}

    def verified(self, messages: Sequence[tuple[Identity, Any]]) -> tuple[list[Delivered], list[DeadLetter]]:
        """The stored events the messages name, each checked against its message; the rest dead letters."""
        rows = self._rows([identity.position for identity, _ in messages])
        self.prefetch_keys(rows.values())
        deliveries, letters = [], []
        for identity, message in messages:
            row = rows.get(identity.position)
            if row is None or (row["originator_id"], row["originator_version"]) != (identity.customer_id,
                                                                                    identity.stream_version):
                found = "no event" if row is None else \
                    f"customer {row['originator_id']} version {row['originator_version']}"
                letters.append(_topic_letter(identity, message, f"does not match the event store: at position "
                                             f"{identity.position} it holds {found}"))
                continue
            delivered = self.decode(row)
            if isinstance(delivered, DeadLetter):
                letters.append(delivered)
            elif identity.event_id is not None and identity.event_id != delivered.event.event_id:
                letters.append(_topic_letter(identity, message, f"does not match the event store: event id "
                                             f"{identity.event_id}, stored {delivered.event.event_id}"))
            else:
                deliveries.append(delivered)
        return deliveries, letters

    def prefetch_keys(self, rows: Iterable[dict[str, Any]]) -> None:
        """The keys of the customers whose rows hold personal data, read in one query before they are decoded
        (instead of one query per contact)."""
        ring = getattr(self.reader.mapper, "key_ring", None)
        if ring is not None:
            ring.prefetch_customers({row["originator_id"] for row in rows if SEALED_MARK in bytes(row["state"])})

    def _class(self, topic: str) -> tuple[type, bool]:
        """A topic's class, and whether its stored JSON is validated straight into it: a customer event at its first
        schema version that is not ``ContactErased`` (the mapper honours an erasure: it forgets the key)."""
        cls = resolve_topic(topic)
        direct = getattr(cls, "class_version", 1) == 1 and issubclass(cls, CustomerEvent) and cls is not ContactErased
        self._classes[topic] = (cls, direct)
        return cls, direct

    def decode(self, row: dict[str, Any]) -> Delivered | DeadLetter:
        """One stored row as an event, or (old data no code can read) a dead letter.

        An event of a class at its first schema version is validated straight from the stored JSON (pydantic
        parses it: no Python dict in between, about a sixth of the decoding); any other goes through the
        mapper, which upcasts older versions. The event remembers its stored bytes either way.
        """
        topic, state = row["topic"], row["state"]
        try:
            cls, direct = self._classes.get(topic) or self._class(topic)
            if direct and isinstance(state, bytes) and SEALED_MARK not in state:  # the mapper opens sealed ones
                event = cls.model_validate_json(state)
                event.remember_stored_state(state)
            else:
                event = self.reader.mapper.to_domain_event(StoredEvent(
                    originator_id=row["originator_id"], originator_version=row["originator_version"], topic=topic,
                    state=bytes(state)))
            return Delivered(event, row["notification_id"])
        except Exception as error:  # noqa: BLE001 - whatever the stored bytes break, this event cannot be read
            return DeadLetter("event_store", f"cannot decode the stored event: {type(error).__name__}: {error}",
                              row["originator_id"], row["originator_version"], row["notification_id"],
                              row["topic"].rsplit(":", 1)[-1])

    def _rows(self, positions: list[int]) -> dict[int, dict[str, Any]]:
        if not positions:
            return {}
        with self.reader.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._at_positions, (positions,))
            return {row["notification_id"]: row for row in curs.fetchall()}


def _topic_letter(identity: Identity, message: Any, reason: str) -> DeadLetter:
    return DeadLetter("topic", reason, identity.customer_id, identity.stream_version, identity.position,
                      identity.event_type, message.partition, message.offset)
