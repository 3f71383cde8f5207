"""The notes people recorded with the reasons when they closed deals, from the event store.

The pipeline read model keeps each closed deal's reason ids (``win_reasons``,
``lost_reason``; ``services.projections.pipeline.deals.closed_deals``) but not the free
text written with them. The notes are read from the closed deals' ``DealWon`` /
``DealLost`` events in the event store: one indexed read per customer with closed deals
of the asked outcome.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic
from psycopg import Connection

from shared.event_store import EventStoreReader
from shared.events import DealLost, DealWon
from shared.stored_rows import StoreTables, events_of_types

OUTCOME_EVENTS = {"won": DealWon, "lost": DealLost}


def closing_events(conn: Connection, store: StoreTables, reader: EventStoreReader, outcome: str,
                   rows: list[dict[str, Any]]) -> dict[Any, DealWon | DealLost]:
    """Deal id -> the event that closed it; a stored row that cannot be read is left out."""
    found: dict[Any, Any] = {}
    topic = get_topic(OUTCOME_EVENTS[outcome])
    for row in events_of_types(conn, store, sorted({r["customer_id"] for r in rows}), [topic]):
        if (event := row.event(reader.mapper)) is not None:
            found[event.deal_id] = event
    return found
