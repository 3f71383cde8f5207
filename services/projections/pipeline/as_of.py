"""The pipeline as it stood at a past moment, from the stage history (``entered_at <= T < left_at``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.projections.pipeline.tables import DEALS, STAGE_HISTORY


def pipeline_at(conn: Connection, moment: datetime) -> list[dict[str, Any]]:
    """Each deal opened by ``moment`` with the stage it was in then, in the order they entered it."""
    query = SQL("SELECT h.deal_id, h.customer_id, d.company_name, d.title, d.owner, d.team, d.site, d.amount, "
                "h.phase, h.stage, h.entered_at, d.status, d.closed_at "
                "FROM {0} h JOIN {1} d ON d.deal_id = h.deal_id "
                "WHERE h.entered_at <= %(t)s AND (h.left_at IS NULL OR h.left_at > %(t)s) "
                "ORDER BY h.entered_at, h.deal_id").format(Identifier(STAGE_HISTORY), Identifier(DEALS))
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(query, {"t": moment}).fetchall()
