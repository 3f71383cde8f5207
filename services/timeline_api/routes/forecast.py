"""Manager views of what is coming and what was promised: the weighted pipeline by month of expected close
(売上予測), the teams' targets (売上目標), and achievement against them (達成率, 差額, 売上推移)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.projections.pipeline import forecast as fc
from services.projections.pipeline import targets as tg
from services.security import require
from services.timeline_api import forecast as report
from services.timeline_api.dependencies import ConnDep, GroupByParam, ProcessDep, Text
from services.timeline_api.errors import ERROR_RESPONSES
from shared.auth import Permission as P
from shared.domain.errors import InvalidFieldError
from shared.events.targets import MONTH

router = APIRouter(prefix="/pipeline", tags=["forecast and targets"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require(P.READ_PIPELINE))])
MAX_MONTHS = 120
MonthParam = Annotated[str | None, Query(max_length=7, description="a month, YYYY-MM", examples=["2026-04"])]


def _month(text: str | None, parameter: str) -> date | None:
    if text is None:
        return None
    if not MONTH.fullmatch(text):
        raise InvalidFieldError(f"query.{parameter}", f"'{text}' is not a month YYYY-MM from 1900-01 to 2099-12")
    return tg.first_of(text)


def _checked(since: date | None, until: date | None) -> report.Months:
    if since is not None and until is not None:
        if since >= until:
            raise InvalidFieldError("query.until", "until must be a later month than since")
        if len(report.months_between(since, until)) > MAX_MONTHS:
            raise InvalidFieldError("query.until", f"at most {MAX_MONTHS} months at once")
    return report.Months(since, until)


def open_months(since: MonthParam = None, until: MonthParam = None) -> report.Months:
    """Months as given; either end may be open."""
    return _checked(_month(since, "since"), _month(until, "until"))


def year_months(request: Request, since: MonthParam = None, until: MonthParam = None) -> report.Months:
    """Months as given; default: the calendar year of today (business time zone), or 12 months from since."""
    start, end = _month(since, "since"), _month(until, "until")
    if start is None:
        today = datetime.now(request.app.state.settings.timezone).date()
        start = date(today.year, 1, 1) if end is None else date(end.year - 1, end.month, 1)
    if end is None:
        end = date(start.year + 1, start.month, 1)
    return _checked(start, end)


OpenMonthsDep = Annotated[report.Months, Depends(open_months)]
YearMonthsDep = Annotated[report.Months, Depends(year_months)]
TargetGroupParam = Annotated[report.TargetGroupBy, Query(
    description="team: the teams' own targets against their won deals; owner: each owner's target (within a "
                "team) against the owner's won deals in that team")]


@router.get("/forecast", response_model=report.Forecast,
            summary="Weighted pipeline (売上予測): open deals' amounts × their stage's win probability, per month of "
                    "expected close, optionally per team, owner or site",
            description="`weighted_amount` = Σ amount × win_probability / 100 (the process definition's percent of "
                        "the deal's current stage), rounded to the yen once per cell. `since` / `until` (YYYY-MM) "
                        "narrow the months of expected close; deals without expected close are always there, "
                        "as `month: null`.")
def forecast(conn: ConnDep, process: ProcessDep, months: OpenMonthsDep,
             group_by: GroupByParam = None) -> report.Forecast:
    rows = fc.weighted_pipeline(conn, process.win_probabilities(), group_by, months.since, months.until)
    return report.forecast(process, rows, months, group_by)


@router.get("/targets", response_model=report.Targets,
            summary="Targets in force per team (and owner) and month, and every target set for those months")
def targets(conn: ConnDep, months: YearMonthsDep, team: Text = None) -> report.Targets:
    in_force = [r for r in tg.targets_in_force(conn, months.since, months.until) if team is None or r["team"] == team]
    return report.targets(in_force, tg.target_history(conn, months.since, months.until, team), months)


@router.get("/achievement", response_model=report.Achievement,
            summary="Target against won amount per team (or owner) and month: achievement, gap and the cumulative "
                    "series (売上推移)",
            description="Won amount: the amounts of deals won with their close time in the month (business time "
                        "zone). `achievement` = won_amount / target (null without a target above 0); `gap` = "
                        "target - won_amount. Default months: this calendar year.")
def achievement(request: Request, conn: ConnDep, months: YearMonthsDep,
                group_by: TargetGroupParam = "team") -> report.Achievement:
    zone = request.app.state.settings.timezone
    since, until = (datetime.combine(m, time(), zone) for m in (months.since, months.until))
    in_force = tg.targets_in_force(conn, months.since, months.until, owners=group_by == "owner")
    won = tg.won_by_month(conn, since, until, str(zone), by_owner=group_by == "owner")
    return report.achievement(in_force, won, months, group_by)
