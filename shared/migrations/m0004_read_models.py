"""The read models' bookkeeping (``read_models.py``): the definition each read model's live tables were made
with, and since when a newer one waits for ``customer-timeline projections rebuild``."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from shared.migrations.read_models import TABLE


def apply(curs: Cursor, _: Any) -> None:
    curs.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (name text PRIMARY KEY, fingerprint text NOT NULL, "
                 "definition text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), "
                 "rebuild_needed_since timestamptz)")
