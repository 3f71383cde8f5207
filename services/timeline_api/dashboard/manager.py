"""The manager's pages (営業マネージャー): the pipeline board with KPI tiles, funnel, win rates and stage durations,
the lists that need attention, win and loss reasons, duplicate approaches. Each calls the JSON route's
function, in the request's read-only transaction, and renders its answer."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from services.timeline_api.dashboard.render import page
from services.timeline_api.dashboard.session import may
from services.timeline_api.dependencies import NO_NUL, ConnDep, ProcessDep, period
from services.timeline_api.forecast import Months
from services.timeline_api.routes import forecast as forecast_routes
from services.timeline_api.routes import insights, pipeline
from services.timeline_api.schemas import PipelineDeal
from shared.auth import Permission as P
from shared.process import ProcessDefinition

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(may(P.READ_PIPELINE))])
# a form's empty field ("all") comes as an empty string: no filter
Choice = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
BOARD_LIMIT = 1000  # cards on one board; more: narrow it with the filters
NEAR = 0.75  # of the stage's stagnation threshold: "near"
GROUP_BY = ("team", "owner", "site")  # the analytics page's win rates, per one of these or everyone


def time_in_stage(deal: PipelineDeal, threshold_days: int, now: datetime) -> tuple[float, str]:
    days = (now - deal.stage_entered_at).total_seconds() / 86400
    return days, "over" if days > threshold_days else "near" if days >= NEAR * threshold_days else "within"


def board_deals(conn, process: ProcessDefinition, team: str | None, site: str | None, owner: str | None
                ) -> tuple[list[PipelineDeal], bool]:
    """The deals of the board: open ones, and won ones (成約 and フォロー: the customer is being served);
    lost deals leave it. True if there were more than BOARD_LIMIT."""
    found: list[PipelineDeal] = []
    for status in ("open", "won"):
        cursor = None
        while True:
            got = pipeline.deals(conn, process, team=team, site=site, owner=owner, status=status, limit=200,
                                 cursor=cursor)
            found += got.deals
            cursor = got.next_cursor
            if len(found) > BOARD_LIMIT:
                return found[:BOARD_LIMIT], True
            if cursor is None:
                break
    return found, False


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, conn: ConnDep, process: ProcessDep, team: Choice = None, site: Choice = None,
          owner: Choice = None) -> HTMLResponse:
    now = datetime.now(timezone.utc)
    team, site, owner = team or None, site or None, owner or None
    deals, truncated = board_deals(conn, process, team, site, owner)
    thresholds = {stage.id: stage.stagnation_days for stage in process.stages()}
    cards: dict[str, list[dict]] = {}
    for deal in deals:
        days, state = time_in_stage(deal, thresholds[deal.stage], now)
        cards.setdefault(deal.stage, []).append({"deal": deal, "days": days, "state": state,
                                                 "threshold": thresholds[deal.stage]})
    for stage_cards in cards.values():
        stage_cards.sort(key=lambda c: -c["days"])
    everyone = board_deals(conn, process, None, None, None)[0] if (team or site or owner) else deals
    choices = {key: sorted({getattr(d, key) for d in everyone if getattr(d, key)}) for key in ("team", "site", "owner")}
    return page(request, "board.html", process=process, cards=cards, kpis=insights.kpis(conn, process),
                filters={"team": team, "site": site, "owner": owner}, choices=choices, count=len(deals),
                amount=sum(d.amount or 0 for d in deals), truncated=truncated)


def _default_period(since: str | None, until: str | None) -> tuple[str, str]:
    today = date.today()
    return since or (today - timedelta(days=365)).isoformat(), until or (today + timedelta(days=1)).isoformat()


@router.get("/analytics", response_class=HTMLResponse)
def analytics(request: Request, conn: ConnDep, process: ProcessDep,
              since: Annotated[str | None, Query(max_length=40)] = None,
              until: Annotated[str | None, Query(max_length=40)] = None, group_by: Choice = None) -> HTMLResponse:
    since, until = _default_period(since, until)
    chosen = period(request, since, until)
    group_by = group_by if group_by in GROUP_BY else None  # empty or unknown: everyone
    return page(request, "analytics.html", since=since, until=until, group_by=group_by, group_choices=GROUP_BY,
                funnel=pipeline.funnel(conn, process, chosen), durations=pipeline.stage_durations(conn, process, chosen),
                win_rates=pipeline.win_rates(conn, chosen, group_by),
                **forecast_section(request, conn, process, since, until, group_by))


def forecast_section(request: Request, conn, process: ProcessDefinition, since: str, until: str,
                     group_by: str | None) -> dict:
    """The analytics page's forecast (every open deal, by month of expected close) and targets against won
    amounts: the 12 months up to the period's last month (at most this month), per owner when grouped by owner,
    else per team."""
    today = datetime.now(request.app.state.settings.timezone).date()
    start, end = date.fromisoformat(since[:10]), min(date.fromisoformat(until[:10]) - timedelta(days=1), today)
    last = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    first = max(date(start.year, start.month, 1), date(last.year - 1, last.month, 1))
    months = Months(min(first, date(end.year, end.month, 1)), last)
    forecast = forecast_routes.forecast(conn, process, forecast_routes.open_months(), group_by)
    return {"forecast": forecast, "forecast_most": max((m.weighted_amount for g in forecast.groups for m in g.months),
                                                       default=0),
            "achievement": forecast_routes.achievement(request, conn, months,
                                                       "owner" if group_by == "owner" else "team")}


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, conn: ConnDep, process: ProcessDep) -> HTMLResponse:
    now = datetime.now(timezone.utc)
    lists = [("stuck", pipeline.stuck(conn, process, now, limit=200, offset=0)),
             ("no_next_action", pipeline.no_next_action(conn, process, now, limit=200, offset=0)),
             ("overdue", pipeline.overdue(conn, process, now, limit=200, offset=0))]
    return page(request, "alerts.html", lists=lists)


@router.get("/outcomes", response_class=HTMLResponse)
def outcomes(request: Request, conn: ConnDep, process: ProcessDep, outcome: Literal["won", "lost"] = "lost",
             q: Choice = None) -> HTMLResponse:
    report = insights.outcome_reasons(conn, process, period(request, None, None), outcome, q or None, 100)
    return page(request, "outcomes.html", outcome=outcome, q=q or "", report=report)


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates(request: Request, conn: ConnDep) -> HTMLResponse:
    found = insights.duplicates(request, conn, datetime.now(timezone.utc), None)
    return page(request, "duplicates.html", found=found)
