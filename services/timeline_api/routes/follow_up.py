"""What CS reads about won customers: the ones stuck in onboarding or adoption (the follow-up stages)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.projections.pipeline import stagnation
from services.security import require
from services.timeline_api import reports
from services.timeline_api import schemas as s
from services.timeline_api.dependencies import AsOfDep, ConnDep, Limit, Offset, ProcessDep
from services.timeline_api.errors import ERROR_RESPONSES
from shared.auth import Permission as P

router = APIRouter(prefix="/follow-up", tags=["customers"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require(P.READ_CUSTOMERS))])


@router.get("/stagnation", response_model=s.DealAlerts,
            summary="Won deals stuck in a follow-up stage (導入対応中, 定着支援, ...) longer than its threshold, as of "
                    "a time; longest stuck first, a page at a time (`count` is the total)",
            description="The stages of the phases after the won phase (フォロー), each with its `stagnation_days`; "
                        "only won deals. For CS and support, who do not read the pipeline.")
def stuck(conn: ConnDep, process: ProcessDep, as_of: AsOfDep, limit: Limit = 100, offset: Offset = 0
          ) -> s.DealAlerts:
    return reports.deal_alerts(process, as_of, stagnation.count_stuck_in_follow_up(conn, process, as_of),
                               stagnation.stuck_in_follow_up(conn, process, as_of, limit, offset))
