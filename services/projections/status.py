"""How far each projection is: events applied, last position, lag behind the event store."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class ProjectionStatus:
    projection: str
    applied_events: int
    last_position: int
    store_events: int
    store_position: int

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
        for name in names:
            table = f"{name}_versions"
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                applied, position = 0, 0
            else:
                applied, position = conn.execute(SQL("SELECT coalesce(sum(version), 0), coalesce(max(position), 0) "
                                                     "FROM {0}").format(Identifier(table))).fetchone()
            statuses.append(ProjectionStatus(name, int(applied), int(position), int(store_events),
                                             int(store_position)))
        return statuses
