"""Auditors' questions about the past: which stream version was recorded by a time.

(The pipeline as it stood at a time is the pipeline read model's: ``services.projections.pipeline.as_of``.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import Connection

from shared.stored_rows import StoreTables, stored_events


@dataclass(frozen=True)
class RecordedBy:
    version: int | None  # the last version whose recorded time is <= the moment
    recorded_at: datetime | None
    unreadable: int | None  # the first version whose time cannot be read and may lie before the moment


def version_recorded_by(conn: Connection, store: StoreTables, customer_id: UUID, moment: datetime) -> RecordedBy:
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

