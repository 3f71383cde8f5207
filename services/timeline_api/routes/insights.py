"""Manager views beyond the pipeline list: KPIs, win and loss reasons, duplicate approaches."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from services.projections.duplicates.queries import duplicate_approaches
from services.projections.pipeline.analytics import open_deal_counts
from services.projections.pipeline import outcomes
from services.security import require
from services.timeline_api import reports
from services.timeline_api import schemas as s
from services.timeline_api.dependencies import AsOfDep, ConnDep, Limit, PeriodDep, ProcessDep
from services.timeline_api.errors import ERROR_RESPONSES
from services.timeline_api.outcomes import outcome_report
from shared.auth import Permission as P

router = APIRouter(tags=["insights"], responses=ERROR_RESPONSES, dependencies=[Depends(require(P.READ_PIPELINE))])


@router.get("/kpis", response_model=s.Kpis,
            summary="Open deals per phase, hot / warm / cold, BANT capture rate, deals missing required information")
def kpis(conn: ConnDep, process: ProcessDep) -> s.Kpis:
    return reports.kpis(process, open_deal_counts(conn, process.phases[0].id))


@router.get("/outcomes/reasons", response_model=s.Outcomes,
            summary="Why deals were won or lost: reasons counted, and the deals with their notes (search with q)",
            description="`q` searches deal titles and the notes written with the reasons; the counts are over "
                        "the matching deals. `since` / `until` select by closing time.")
def outcome_reasons(conn: ConnDep, process: ProcessDep, period: PeriodDep,
                    outcome: Annotated[Literal["won", "lost"], Query(examples=["lost"])],
                    q: Annotated[str | None, Query(min_length=1, max_length=200, examples=["価格"])] = None,
                    limit: Limit = 50) -> s.Outcomes:
    matching, counts = outcomes.reason_counts(conn, outcome, period.since, period.until, q)
    rows = outcomes.closed_deals(conn, outcome, period.since, period.until, q, limit)
    return outcome_report(process, outcome, q, matching, counts, rows)


@router.get("/alerts/duplicates", response_model=s.DuplicateAlerts,
            summary="Companies two sales teams or sites approached in the window before as_of (重複アプローチ)")
def duplicates(request: Request, conn: ConnDep, as_of: AsOfDep,
               window_days: Annotated[int | None, Query(ge=1, le=3650, description=
                                                        "default DUPLICATE_WINDOW_DAYS (90)")] = None
               ) -> s.DuplicateAlerts:
    window = window_days or request.app.state.settings.duplicate_window_days
    found = duplicate_approaches(conn, as_of=as_of, window_days=window)
    return s.DuplicateAlerts(as_of=as_of, window_days=window, companies=[
        s.DuplicateApproach(company_key=d.company_key, company_names=list(d.company_names),
                            customer_ids=list(d.customer_ids), teams=list(d.teams), sites=list(d.sites),
                            sides=[s.ActiveSide(**{**side.__dict__, "users": list(side.users),
                                                   "customer_ids": list(side.customer_ids)}) for side in d.sides])
        for d in found])
