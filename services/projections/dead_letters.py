"""What a projection could not apply: dead letters with their reason, and the customers it parks.

Two kinds, one table per projection (``<projection>_dead_letters``, rebuilt and swapped
with the read tables, so it always says what the live read model lacks):

* ``event_store``: a stored event the projection cannot apply (the database refuses a
  value, the payload cannot be decoded, the code fails on it). Its customer is *parked*:
  the versions row keeps the first version not applied, and later events of that
  customer are held back (their order matters), while every other customer goes on.
  ``projections retry`` unparks and applies the held events from the event store.
* ``topic``: a message on the events topic that is not an event of the store (not JSON,
  unknown type, unknown customer, or not matching the stored event at its position).
  It is never applied and never hides the real event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Identifier

from shared.consuming import REASON_CHARS


@dataclass(frozen=True)
class DeadLetter:
    source: str  # "event_store" or "topic"
    reason: str
    customer_id: UUID | None = None
    stream_version: int | None = None
    position: int | None = None
    event_type: str | None = None
    partition: int | None = None
    offset: int | None = None
    recorded_at: datetime | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.source, self.reason[:REASON_CHARS], self.customer_id, self.stream_version, self.position,
                self.event_type, self.partition, self.offset)


COLUMNS = "source, reason, customer_id, stream_version, position, event_type, topic_partition, topic_offset"


def schema(table: Identifier) -> list[Composable]:
    return [
        SQL("CREATE TABLE {0} (source text NOT NULL, reason text NOT NULL, customer_id uuid, stream_version bigint, "
            "position bigint, event_type text, topic_partition int, topic_offset bigint, "
            "recorded_at timestamptz NOT NULL DEFAULT now())").format(table),
        SQL("CREATE INDEX ON {0} (recorded_at)").format(table),
    ]


def record(curs: Cursor, table: Identifier, letters: list[DeadLetter]) -> None:
    if letters:
        curs.executemany(SQL("INSERT INTO {0} (" + COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
                         .format(table), [letter.row() for letter in letters])


def park(curs: Cursor, versions: Identifier, customer_id: UUID, version: int, reason: str) -> None:
    """Hold back this customer from ``version`` on (its row exists: the apply locked it)."""
    curs.execute(SQL("UPDATE {0} SET parked_version = coalesce(parked_version, %s), parked_reason = %s "
                     "WHERE customer_id = %s").format(versions), (version, reason[:REASON_CHARS], customer_id))


def listed(curs: Cursor, table: Identifier, limit: int = 100) -> list[DeadLetter]:
    curs.execute(SQL("SELECT " + COLUMNS + ", recorded_at FROM {0} ORDER BY recorded_at DESC, position DESC "
                     "LIMIT %s").format(table), (limit,))
    return [DeadLetter(*row) for row in curs.fetchall()]


def parked_customers(curs: Cursor, versions: Identifier) -> list[tuple[UUID, int, int, str]]:
    """(customer, last applied version, first held version, reason) of every parked customer."""
    curs.execute(SQL("SELECT customer_id, version, parked_version, parked_reason FROM {0} "
                     "WHERE parked_version IS NOT NULL ORDER BY customer_id").format(versions))
    return curs.fetchall()


def unpark(curs: Cursor, versions: Identifier, customer_ids: list[UUID]) -> None:
    curs.execute(SQL("UPDATE {0} SET parked_version = NULL, parked_reason = NULL WHERE customer_id = ANY(%s)")
                 .format(versions), (customer_ids,))
