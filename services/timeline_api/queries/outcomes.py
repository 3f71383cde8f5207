"""Won and lost deals, with the reasons and notes people recorded when they closed them.

The pipeline read model keeps each closed deal's reason ids (``win_reasons``,
``lost_reason``) but not the free text written with them. The notes are read from
the closed deals' ``DealWon`` / ``DealLost`` events in the event store: one indexed
read per customer with closed deals of the asked outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic
from psycopg import Connection
from psycopg.rows import dict_row

from services.timeline_api.queries.event_store import EventStore, events_of_types
from shared.application import Customers
from shared.events import DealLost, DealWon

OUTCOME_EVENTS = {"won": DealWon, "lost": DealLost}


def closed_deals(conn: Connection, outcome: str, since: datetime | None, until: datetime | None
                 ) -> list[dict[str, Any]]:
    """Deals with this outcome closed in [since, until), latest first."""
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(
            "SELECT deal_id, customer_id, company_name, title, owner, team, site, amount, phase, stage, closed_at, "
            "lost_reason, win_reasons FROM pipeline_deals WHERE status = %(outcome)s "
            "AND (%(since)s::timestamptz IS NULL OR closed_at >= %(since)s) "
            "AND (%(until)s::timestamptz IS NULL OR closed_at < %(until)s) "
            "ORDER BY closed_at DESC NULLS LAST, deal_id",
            {"outcome": outcome, "since": since, "until": until}).fetchall()


def closing_events(conn: Connection, store: EventStore, customers: Customers, outcome: str,
                   rows: list[dict[str, Any]]) -> dict[Any, DealWon | DealLost]:
    """Deal id -> the event that closed it; a stored row that cannot be read is left out."""
    found: dict[Any, Any] = {}
    topic = get_topic(OUTCOME_EVENTS[outcome])
    for row in events_of_types(conn, store, sorted({r["customer_id"] for r in rows}), [topic]):
        if (event := row.event(customers.mapper)) is not None:
            found[event.deal_id] = event
    return found
