"""Stagnation, read from the pipeline tables "as of" a time the caller gives (no hidden clock).

- stuck deals: time in the current stage longer than that stage's threshold
  (``stagnation_days`` in the process definition);
- deals with no next action (none set, or 未定 / undecided);
- deals whose scheduled next action is overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from shared.process import ProcessDefinition

_COLUMNS = ("deal_id, customer_id, company_name, title, phase, stage, owner, team, site, stage_entered_at, "
            "next_action, next_action_due")


_THRESHOLDS = "unnest(%(stages)s::text[], %(days)s::int[]) AS t(stage, days)"
_STUCK = ("status <> 'lost' AND opened_at <= %(as_of)s "
          "AND stage_entered_at + make_interval(days => t.days) < %(as_of)s")
_OPEN = "status = 'open' AND opened_at <= %(as_of)s"


@dataclass(frozen=True)
class DealAlert:
    deal_id: UUID
    customer_id: UUID
    company_name: str
    title: str
    phase: str
    stage: str
    owner: str
    team: str | None
    site: str | None
    stage_entered_at: datetime
    next_action: str | None
    next_action_due: datetime | None
    days_in_stage: float
    threshold_days: int | None = None


def stuck_deals(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime,
                limit: int | None = None, offset: int = 0) -> list[DealAlert]:
    """Deals not lost whose time in their current stage exceeds the stage's threshold at ``as_of``
    (longest stuck first; a page of ``limit`` from ``offset`` when given)."""
    stages = [s for p in process.phases for s in p.stages]
    rows = conn.execute(
        f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400, t.days "
        f"FROM pipeline_deals JOIN {_THRESHOLDS} USING (stage) WHERE {_STUCK} "
        "ORDER BY stage_entered_at, deal_id LIMIT %(limit)s OFFSET %(offset)s",
        {"as_of": as_of, "stages": [s.id for s in stages], "days": [s.stagnation_days for s in stages],
         "limit": limit, "offset": offset},
    ).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12]), threshold_days=row[13]) for row in rows]


def count_stuck_deals(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime) -> int:
    stages = [s for p in process.phases for s in p.stages]
    return conn.execute(f"SELECT count(*) FROM pipeline_deals JOIN {_THRESHOLDS} USING (stage) WHERE {_STUCK}",
                        {"as_of": as_of, "stages": [s.id for s in stages],
                         "days": [s.stagnation_days for s in stages]}).fetchone()[0]


NO_NEXT_ACTION = "(next_action IS NULL OR next_action <> 'scheduled')"
OVERDUE = "next_action = 'scheduled' AND next_action_due < %(as_of)s"


def deals_without_next_action(conn: psycopg.Connection, as_of: datetime, limit: int | None = None,
                              offset: int = 0) -> list[DealAlert]:
    """Open deals with no next action planned (none, or 未定)."""
    return _alerts(conn, as_of, NO_NEXT_ACTION, limit, offset)


def overdue_next_actions(conn: psycopg.Connection, as_of: datetime, limit: int | None = None,
                         offset: int = 0) -> list[DealAlert]:
    """Open deals whose scheduled next action was due before ``as_of``."""
    return _alerts(conn, as_of, OVERDUE, limit, offset)


def count_alerts(conn: psycopg.Connection, as_of: datetime, condition: str) -> int:
    """How many open deals meet one of the conditions above (NO_NEXT_ACTION, OVERDUE)."""
    return conn.execute(f"SELECT count(*) FROM pipeline_deals WHERE {_OPEN} AND {condition}",
                        {"as_of": as_of}).fetchone()[0]


def _alerts(conn: psycopg.Connection, as_of: datetime, condition: str, limit: int | None,
            offset: int) -> list[DealAlert]:
    rows = conn.execute(
        f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400 FROM pipeline_deals "
        f"WHERE {_OPEN} AND {condition} ORDER BY stage_entered_at, deal_id LIMIT %(limit)s OFFSET %(offset)s",
        {"as_of": as_of, "limit": limit, "offset": offset},
    ).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12])) for row in rows]
