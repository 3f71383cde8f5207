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


def stuck_deals(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime) -> list[DealAlert]:
    """Deals not lost whose time in their current stage exceeds the stage's threshold at ``as_of``."""
    stages = [s for p in process.phases for s in p.stages]
    rows = conn.execute(
        f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400, t.days "
        "FROM pipeline_deals JOIN unnest(%(stages)s::text[], %(days)s::int[]) AS t(stage, days) USING (stage) "
        "WHERE status <> 'lost' AND opened_at <= %(as_of)s "
        "AND stage_entered_at + make_interval(days => t.days) < %(as_of)s "
        "ORDER BY stage_entered_at, deal_id",
        {"as_of": as_of, "stages": [s.id for s in stages], "days": [s.stagnation_days for s in stages]},
    ).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12]), threshold_days=row[13]) for row in rows]


def deals_without_next_action(conn: psycopg.Connection, as_of: datetime) -> list[DealAlert]:
    """Open deals with no next action planned (none, or 未定)."""
    return _alerts(conn, as_of, "(next_action IS NULL OR next_action <> 'scheduled')")


def overdue_next_actions(conn: psycopg.Connection, as_of: datetime) -> list[DealAlert]:
    """Open deals whose scheduled next action was due before ``as_of``."""
    return _alerts(conn, as_of, "next_action = 'scheduled' AND next_action_due < %(as_of)s")


def _alerts(conn: psycopg.Connection, as_of: datetime, condition: str) -> list[DealAlert]:
    rows = conn.execute(
        f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400 FROM pipeline_deals "
        f"WHERE status = 'open' AND opened_at <= %(as_of)s AND {condition} ORDER BY stage_entered_at, deal_id",
        {"as_of": as_of},
    ).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12])) for row in rows]
