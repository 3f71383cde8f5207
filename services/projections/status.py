"""How far each projection is: events applied, last position, lag behind the event store, dead letters, and
whether its tables wait for a rebuild after an upgrade."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier

from shared.migrations.read_models import needing_rebuild


@dataclass(frozen=True)
class ProjectionStatus:
    projection: str
    applied_events: int
    last_position: int
    store_events: int
    store_position: int
    parked_customers: int = 0
    dead_letters: int = 0
    needs_rebuild: bool = False  # its tables were made with an older definition (shared/migrations/read_models.py)

    @property
    def lag_events(self) -> int:
        return max(self.store_events - self.applied_events, 0)


def projection_status(database_url: str, names: list[str], events_table: str = "customers_events"
                      ) -> list[ProjectionStatus]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        store_events, store_position = conn.execute(
            SQL("SELECT count(*), coalesce(max(notification_id), 0) FROM {0}").format(Identifier(events_table))
        ).fetchone()
        statuses = []
        with conn.cursor() as curs:
            stale = needing_rebuild(curs)
        for name in names:
            versions, letters = f"{name}_versions", f"{name}_dead_letters"
            applied = position = parked = dead = 0
            if conn.execute("SELECT to_regclass(%s)", (versions,)).fetchone()[0] is not None:
                parked_column = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = %s "
                                             "AND column_name = 'parked_version'", (versions,)).fetchone()
                applied, position, parked = conn.execute(SQL(
                    "SELECT coalesce(sum(version), 0), coalesce(max(position), 0), "
                    + ("count(*) FILTER (WHERE parked_version IS NOT NULL)" if parked_column else "0")
                    + " FROM {0}").format(Identifier(versions))).fetchone()
            if conn.execute("SELECT to_regclass(%s)", (letters,)).fetchone()[0] is not None:
                dead = conn.execute(SQL("SELECT count(*) FROM {0}").format(Identifier(letters))).fetchone()[0]
            statuses.append(ProjectionStatus(name, int(applied), int(position), int(store_events),
                                             int(store_position), int(parked), int(dead), name in stale))
        return statuses
