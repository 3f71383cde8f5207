"""Manager views of the pipeline: deals, distribution, funnel, time in stage, win rates, stagnation and next
actions."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.projections import cursors
from services.projections.pipeline import analytics, stagnation
from services.projections.pipeline.deals import closed_counts, counts_by_stage, list_deals
from services.security import require
from services.timeline_api import reports
from services.timeline_api import labels as lb
from services.timeline_api import schemas as s
from services.timeline_api.dependencies import (
    AsOfDep, ConnDep, Cursor, GroupByParam, Limit, Offset, PeriodDep, ProcessDep, Text,
)
from services.timeline_api.errors import ERROR_RESPONSES
from shared.auth import Permission as P
from shared.domain.errors import InvalidFieldError
from shared.process import ProcessDefinition

router = APIRouter(prefix="/pipeline", tags=["pipeline"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require(P.READ_PIPELINE))])
Status = Literal["open", "won", "lost"]


def _one_of(value: str | None, allowed: list[str], parameter: str) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidFieldError(f"query.{parameter}", f"'{value}' is not a {parameter} of the process", allowed)
    return value


def _deal(process: ProcessDefinition, row: dict) -> s.PipelineDeal:
    return s.PipelineDeal(**{**row, **lb.phase_stage(process, row["phase"], row["stage"]),
                             "missing_information": [s.Label(**lb.labelled(lb.of_required(process, i), i))
                                                     for i in row["missing_information"]]})


@router.get("", response_model=s.PipelinePage, summary="Deals, filtered; longest in their current stage first")
def deals(conn: ConnDep, process: ProcessDep, team: Text = None, site: Text = None, owner: Text = None,
          phase: Text = None, stage: Text = None, bucket: Text = None, status: Status | None = None,
          limit: Limit = 50, cursor: Cursor = None) -> s.PipelinePage:
    filters = {"team": team, "site": site, "owner": owner, "status": status,
               "phase": _one_of(phase, [p.id for p in process.phases], "phase"),
               "stage": _one_of(stage, [st.id for st in process.stages()], "stage"),
               "bucket": _one_of(bucket, lb.buckets(process), "bucket")}
    after = cursors.decode(cursor, cursors.aware, UUID) if cursor else None
    rows = list_deals(conn, filters, limit + 1, after)
    page = rows[:limit]
    return s.PipelinePage(deals=[_deal(process, r) for r in page],
                          next_cursor=cursors.encode(page[-1]["stage_entered_at"], page[-1]["deal_id"])
                          if len(rows) > limit else None)


@router.get("/summary", response_model=s.PipelineSummary,
            summary="Deals and amount per phase and stage (all of the process, in order), optionally per team, "
                    "owner or site")
def summary(conn: ConnDep, process: ProcessDep, group_by: GroupByParam = None,
            status: Annotated[Status, Query(description="which deals to count")] = "open") -> s.PipelineSummary:
    return reports.pipeline_summary(process, counts_by_stage(conn, status, group_by), status, group_by)


@router.get("/funnel", response_model=s.Funnel,
            summary="Phase conversion: deals that entered each phase in the period, and how many reached the next",
            description="A deal counts in a phase's cohort when it first entered the phase within "
                        "[since, until); `advanced` counts those that have reached a later phase by now (the next, or one past it), `lost` "
                        "those lost in the phase. Per team, owner or site: who stumbles at which phase.")
def funnel(conn: ConnDep, process: ProcessDep, period: PeriodDep, group_by: GroupByParam = None) -> s.Funnel:
    rows = analytics.funnel(conn, [p.id for p in process.phases], period.since, period.until, group_by)
    return reports.funnel(process, rows, period, group_by)


@router.get("/stage-durations", response_model=s.StageDurations,
            summary="Median and 90th percentile of time in each stage, over the stays that ended in the period")
def stage_durations(conn: ConnDep, process: ProcessDep, period: PeriodDep,
                    group_by: GroupByParam = None) -> s.StageDurations:
    rows = analytics.stage_durations(conn, period.since, period.until, group_by)
    return reports.stage_durations(process, rows, period, group_by)


@router.get("/win-rates", response_model=s.WinRates,
            summary="Won and lost deals closed in the period (by close time), and the win rate by count and amount",
            description="Per group (team, owner or site) or everyone: deals won and lost with `closed_at` in "
                        "[since, until), their amounts, `win_rate` = won / (won + lost) and `amount_win_rate` = won "
                        "amount / (won + lost amount); null when nothing closed.")
def win_rates(conn: ConnDep, period: PeriodDep, group_by: GroupByParam = None) -> s.WinRates:
    return reports.win_rates(closed_counts(conn, period.since, period.until, group_by), period, group_by)


StuckStatus = Annotated[Literal["open", "won", "all"], Query(
    description="open deals (default), won deals (成約, フォロー), or all of them (open and won; never lost)")]


@router.get("/stagnation", response_model=s.DealAlerts,
            summary="Deals stuck in their stage longer than the stage's threshold (滞留), as of a time; "
                    "longest stuck first, a page at a time (`count` is the total)",
            description="Open deals by default; `status=won` for won deals (成約, フォロー), `status=all` for both. "
                        "Customers stuck in onboarding or adoption: `GET /follow-up/stagnation`.")
def stuck(conn: ConnDep, process: ProcessDep, as_of: AsOfDep, limit: Limit = 100, offset: Offset = 0,
          status: StuckStatus = "open") -> s.DealAlerts:
    return reports.deal_alerts(process, as_of, stagnation.count_stuck_deals(conn, process, as_of, status),
                               stagnation.stuck_deals(conn, process, as_of, limit, offset, status))


@router.get("/no-next-action", response_model=s.DealAlerts,
            summary="Open deals without a planned next action (none, or 未定), as of a time; a page at a time")
def no_next_action(conn: ConnDep, process: ProcessDep, as_of: AsOfDep, limit: Limit = 100, offset: Offset = 0
                   ) -> s.DealAlerts:
    return reports.deal_alerts(process, as_of, stagnation.count_alerts(conn, as_of, stagnation.NO_NEXT_ACTION),
                               stagnation.deals_without_next_action(conn, as_of, limit, offset))


@router.get("/overdue-next-actions", response_model=s.DealAlerts,
            summary="Open deals whose scheduled next action was due before as_of; a page at a time")
def overdue(conn: ConnDep, process: ProcessDep, as_of: AsOfDep, limit: Limit = 100, offset: Offset = 0
            ) -> s.DealAlerts:
    return reports.deal_alerts(process, as_of, stagnation.count_alerts(conn, as_of, stagnation.OVERDUE),
                               stagnation.overdue_next_actions(conn, as_of, limit, offset))
