"""Where the relay is (``services/relay/positions.py``): the last notification id published per events topic,
and the id of the topic it went to (a column older databases lack)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor


def apply(curs: Cursor, _: Any) -> None:
    curs.execute("CREATE TABLE IF NOT EXISTS relay_positions (name text PRIMARY KEY, position bigint NOT NULL, "
                 "topic_id text)")
    curs.execute("ALTER TABLE relay_positions ADD COLUMN IF NOT EXISTS topic_id text")
