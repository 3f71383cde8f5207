"""Stagnation, read from the pipeline's deal rows "as of" a time the caller gives (no hidden clock).

- stuck deals: time in the current stage longer than that stage's threshold
  (``stagnation_days`` in the process definition): open deals by default, won ones on request;
- customers stuck in follow-up: won deals past the threshold of a stage after the won phase
  (導入対応中, 定着支援, ...), what CS needs to see;
- deals with no next action (none set, or 未定 / undecided);
- deals whose scheduled next action is overdue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from services.projections.pipeline.tables import DEALS
from shared.domain.customer import WON_PHASE
from shared.process import ProcessDefinition, Stage

_COLUMNS = ("deal_id, customer_id, company_name, title, phase, stage, owner, team, site, stage_entered_at, "
            "next_action, next_action_due")


# Stuck deals are read stage by stage: for each stage, the deals (of the statuses asked for, never
# lost) that entered it before ``as_of`` minus the stage's threshold. Each stage is one range of the
# partial index on pipeline_deals (tables.py: stage, stage_entered_at, deal_id) WHERE status <> 'lost',
# read in order, so a page merges at most ``offset + limit`` rows per stage (opened_at and status are
# in the index too: the count reads the index alone).
_STUCK_BY_STAGE = (
    "unnest(%(stages)s::text[], %(days)s::int[]) AS t(stage, days) CROSS JOIN LATERAL ("
    f" SELECT d.deal_id, d.stage_entered_at FROM {DEALS} d"
    " WHERE d.stage = t.stage AND d.status = ANY(%(statuses)s::text[]) AND d.opened_at <= %(as_of)s"
    " AND d.stage_entered_at < %(as_of)s - make_interval(days => t.days)"
    " ORDER BY d.stage_entered_at, d.deal_id LIMIT {window}) s"  # formatted below
)
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


STUCK_PAGE = (
    f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400, page.days "
    f"FROM (SELECT s.deal_id, t.days FROM {_STUCK_BY_STAGE.format(window='%(window)s')} "
    "      ORDER BY s.stage_entered_at, s.deal_id LIMIT %(limit)s OFFSET %(offset)s) page "
    f"JOIN {DEALS} USING (deal_id) ORDER BY stage_entered_at, deal_id"
)
STUCK_COUNT = f"SELECT count(*) FROM {_STUCK_BY_STAGE.format(window='ALL')}"


# which deals a stuck list holds: open ones (the default), won ones (成約 and フォロー), or both; never lost
STATUSES: dict[str, list[str]] = {"open": ["open"], "won": ["won"], "all": ["open", "won"]}


def stuck_parameters(process: ProcessDefinition, as_of: datetime, limit: int | None = None, offset: int = 0,
                     status: str = "open", stages: Sequence[Stage] | None = None) -> dict[str, object]:
    """Parameters of STUCK_PAGE (and STUCK_COUNT, which counts them all); ``stages``: default every stage."""
    stages = process.stages() if stages is None else stages
    return {"stages": [s.id for s in stages], "days": [s.stagnation_days for s in stages], "as_of": as_of,
            "statuses": STATUSES[status], "window": None if limit is None else offset + limit, "limit": limit,
            "offset": offset}


def stuck_deals(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime,
                limit: int | None = None, offset: int = 0, status: str = "open",
                stages: Sequence[Stage] | None = None) -> list[DealAlert]:
    """Deals of ``status`` (open, won or all: open and won) whose time in their current stage exceeds the
    stage's threshold at ``as_of`` (longest stuck first; a page of ``limit`` from ``offset`` when given).

    Open deals by default: a won deal sits in 成約 / フォロー by design, and an imported history holds
    thousands of them; the customers stuck in follow-up have their own list (``stuck_in_follow_up``).
    """
    rows = conn.execute(STUCK_PAGE, stuck_parameters(process, as_of, limit, offset, status, stages)).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12]), threshold_days=row[13]) for row in rows]


def count_stuck_deals(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime,
                      status: str = "open", stages: Sequence[Stage] | None = None) -> int:
    return conn.execute(STUCK_COUNT, stuck_parameters(process, as_of, status=status, stages=stages)).fetchone()[0]


def follow_up_stages(process: ProcessDefinition) -> tuple[Stage, ...]:
    """The stages of the phases after the won phase (フォロー: 導入対応中, 定着支援, アップセル検討)."""
    if WON_PHASE not in [p.id for p in process.phases]:
        return ()
    return tuple(st for p in process.phases[process.phase_index(WON_PHASE) + 1:] for st in p.stages)


def stuck_in_follow_up(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime,
                       limit: int | None = None, offset: int = 0) -> list[DealAlert]:
    """Won deals past the threshold of their follow-up stage at ``as_of``: customers stuck in onboarding
    or adoption, longest stuck first."""
    return stuck_deals(conn, process, as_of, limit, offset, "won", follow_up_stages(process))


def count_stuck_in_follow_up(conn: psycopg.Connection, process: ProcessDefinition, as_of: datetime) -> int:
    return count_stuck_deals(conn, process, as_of, "won", follow_up_stages(process))


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
    return conn.execute(f"SELECT count(*) FROM {DEALS} WHERE {_OPEN} AND {condition}",
                        {"as_of": as_of}).fetchone()[0]


def _alerts(conn: psycopg.Connection, as_of: datetime, condition: str, limit: int | None,
            offset: int) -> list[DealAlert]:
    rows = conn.execute(
        f"SELECT {_COLUMNS}, extract(epoch FROM %(as_of)s - stage_entered_at) / 86400 FROM {DEALS} "
        f"WHERE {_OPEN} AND {condition} ORDER BY stage_entered_at, deal_id LIMIT %(limit)s OFFSET %(offset)s",
        {"as_of": as_of, "limit": limit, "offset": offset},
    ).fetchall()
    return [DealAlert(*row[:12], days_in_stage=float(row[12])) for row in rows]
