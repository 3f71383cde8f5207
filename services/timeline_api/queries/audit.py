"""Auditors' questions about the past: which stream version was recorded by a time, and the
pipeline as it stood at a time (``pipeline_stage_history``: entered_at <= T < left_at)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from services.timeline_api.queries.event_store import EventStore, stored_events


@dataclass(frozen=True)
class RecordedBy:
    version: int | None  # the last version whose recorded time is <= the moment
    recorded_at: datetime | None
    unreadable: int | None  # the first version whose time cannot be read and may lie before the moment


def version_recorded_by(conn: Connection, store: EventStore, customer_id: UUID, moment: datetime) -> RecordedBy:
    """Which stream version the event store had reached at ``moment``.

    The recorded time lives inside each stored event (``timestamp``). A row whose time
    cannot be read (edited by hand) is reported when it follows a version recorded by
    then: it may have been there at ``moment``, so the state then cannot be told.
    """
    version = recorded_at = unreadable = None
    for row in stored_events(conn, store, customer_id):
        payload = row.payload()
        try:
            recorded = datetime.fromisoformat(payload["timestamp"]) if payload else None
        except (KeyError, TypeError, ValueError):
            recorded = None
        if recorded is None or recorded.tzinfo is None:
            unreadable = unreadable or row.version
        elif recorded <= moment:
            version, recorded_at = row.version, recorded
    if unreadable is not None and unreadable > (version or 0) + 1:
        unreadable = None  # recorded after a version that was already later than the moment
    return RecordedBy(version, recorded_at, unreadable)


def pipeline_at(conn: Connection, moment: datetime) -> list[dict[str, Any]]:
    """Each deal opened by ``moment`` with the stage it was in then, in the order they entered it."""
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(
            "SELECT h.deal_id, h.customer_id, d.company_name, d.title, d.owner, d.team, d.site, d.amount, "
            "h.phase, h.stage, h.entered_at, d.status, d.closed_at "
            "FROM pipeline_stage_history h JOIN pipeline_deals d ON d.deal_id = h.deal_id "
            "WHERE h.entered_at <= %(t)s AND (h.left_at IS NULL OR h.left_at > %(t)s) "
            "ORDER BY h.entered_at, h.deal_id", {"t": moment}).fetchall()
