"""The pipeline's deal rows: as they are now (filtered, paged), counted per phase and stage, won and lost.

Reads ``pipeline_deals`` (the list with each deal's customer's last touch, ``pipeline_customers``).
Group columns and filters are chosen from fixed lists, never taken from the request as SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier

from services.projections.pipeline.tables import CUSTOMERS, DEALS

FILTERS = ("team", "site", "owner", "phase", "stage", "bucket", "status")
GROUP_COLUMNS: dict[str | None, Composable] = {None: SQL("NULL::text"), "team": SQL("d.team"),
                                               "owner": SQL("d.owner"), "site": SQL("d.site")}


def _where(filters: dict[str, Any]) -> tuple[Composable, list[Any]]:
    conditions: list[Composable] = [SQL("TRUE")]
    params: list[Any] = []
    for column, value in filters.items():
        if column not in FILTERS:
            raise ValueError(f"not a pipeline filter: {column}")
        if value is not None:
            conditions.append(SQL("d.{0} = %s").format(Identifier(column)))
            params.append(value)
    return SQL(" AND ").join(conditions), params


def list_deals(conn: Connection, filters: dict[str, Any], limit: int,
               after: tuple[datetime, UUID] | None = None) -> list[dict[str, Any]]:
    """Deal rows matching the filters, longest in their current stage first; ``after``: keyset."""
    where, params = _where(filters)
    if after is not None:
        where = SQL("{0} AND (d.stage_entered_at, d.deal_id) > (%s, %s)").format(where)
        params.extend(after)
    query = SQL("SELECT d.*, coalesce(c.last_touch, '{{}}'::jsonb) AS last_touch FROM {0} d LEFT JOIN {1} c "
                "USING (customer_id) WHERE {2} ORDER BY d.stage_entered_at, d.deal_id LIMIT %s").format(
        Identifier(DEALS), Identifier(CUSTOMERS), where)
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(query, [*params, limit]).fetchall()


def counts_by_stage(conn: Connection, status: str, group_by: str | None) -> list[tuple[str | None, str, str, int, int]]:
    """(group, phase, stage, deals, amount) of the deals with this status."""
    query = SQL("SELECT {0} AS grp, d.phase, d.stage, count(*), coalesce(sum(d.amount), 0) "
                "FROM {1} d WHERE d.status = %s GROUP BY 1, 2, 3").format(GROUP_COLUMNS[group_by], Identifier(DEALS))
    # a sum of bigints is numeric and may pass 64 bits (many deals near MAX_YEN): keep it exact
    return [(g, p, s, n, int(a)) for g, p, s, n, a in conn.execute(query, (status,)).fetchall()]


def closed_counts(conn: Connection, since: datetime | None, until: datetime | None, group_by: str | None
                  ) -> list[tuple[str | None, int, int, int, int]]:
    """(group, won, won amount, lost, lost amount) of the deals closed in [since, until) (by close time)."""
    query = SQL("SELECT {0} AS grp, count(*) FILTER (WHERE d.status = 'won'), "
                "coalesce(sum(d.amount) FILTER (WHERE d.status = 'won'), 0), count(*) FILTER (WHERE d.status = 'lost'), "
                "coalesce(sum(d.amount) FILTER (WHERE d.status = 'lost'), 0) FROM {1} d "
                "WHERE d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL "
                "AND (%(since)s::timestamptz IS NULL OR d.closed_at >= %(since)s) "
                "AND (%(until)s::timestamptz IS NULL OR d.closed_at < %(until)s) GROUP BY 1").format(
        GROUP_COLUMNS[group_by], Identifier(DEALS))
    rows = conn.execute(query, {"since": since, "until": until}).fetchall()
    return [(g, won, int(won_amount), lost, int(lost_amount)) for g, won, won_amount, lost, lost_amount in rows]
