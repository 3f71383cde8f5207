"""Where the relay is: the last notification id published, and the id of the topic it went to, in PostgreSQL.

Each call opens a short connection of its own, so nothing needs rebuilding after the
database restarted. The table is made by the migrations (``shared/migrations/m0003_relay_positions.py``).
"""

from __future__ import annotations

import psycopg


class RelayPositions:
    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def get(self) -> int:
        return self._row()[0]

    def topic_id(self) -> str | None:
        """The id of the topic the position refers to (a topic made again under the same name has another)."""
        return self._row()[1]

    def _row(self) -> tuple[int, str | None]:
        with self._connect() as conn:
            row = conn.execute("SELECT position, topic_id FROM relay_positions WHERE name = %s",
                               (self.name,)).fetchone()
            return (row[0], row[1]) if row else (0, None)

    def set(self, position: int) -> None:
        with self._connect() as conn:
            conn.execute("INSERT INTO relay_positions (name, position) VALUES (%s, %s) ON CONFLICT (name) "
                         "DO UPDATE SET position = EXCLUDED.position", (self.name, position))

    def start_over(self, topic_id: str | None, position: int = 0) -> None:
        """Record the topic now published to, from `position` (0: the broker lost what was published)."""
        with self._connect() as conn:
            conn.execute("INSERT INTO relay_positions (name, position, topic_id) VALUES (%s, %s, %s) "
                         "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, topic_id = EXCLUDED.topic_id",
                         (self.name, position, topic_id))
