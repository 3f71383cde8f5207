"""What anyone serving a customer reads: the shared timeline, the CS/support summary, finding a customer."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.projections.pipeline.customers import (
    MergeLinks, merge_links, projected_customer, replayed_customer, search_customers, with_merged,
)
from services.projections import cursors
from services.projections.timeline.queries import customer_timeline
from services.security import require
from services.timeline_api import schemas as s
from services.timeline_api.dependencies import (
    NO_NUL, ConnDep, Cursor, ReaderDep, EventStoreDep, KnownCustomerDep, Limit, PeriodDep, ProcessDep,
)
from services.timeline_api.errors import ERROR_RESPONSES
from services.timeline_api.queries.event_store import replay
from services.timeline_api.summary import customer_summary, handoff_notes
from shared.auth import Permission as P
from shared.company_key import company_key
from shared.domain.errors import CustomerMergedError, InvalidFieldError
from shared.events import EVENT_TYPES, Department

router = APIRouter(prefix="/customers", tags=["customers"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require(P.READ_CUSTOMERS))])


@router.get("", response_model=s.CustomerSearchPage,
            summary="Find customers by company name: 株式会社 ABC, ㈱ABC and ＡＢＣ find the same companies",
            description="Matches the normalised company key (legal form, width, case and spaces ignored) as a "
                        "substring; ordered by company name.")
def search(conn: ConnDep, q: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL, examples=["㈱ABC"])],
           limit: Limit = 50, cursor: Cursor = None) -> s.CustomerSearchPage:
    key = company_key(q)
    if not key:
        raise InvalidFieldError("query.q", "give some letters of the company name")
    after = cursors.decode(cursor, str, UUID) if cursor else None
    rows = search_customers(conn, key, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    return s.CustomerSearchPage(q=q, company_key=key, customers=[s.CustomerMatch(**r) for r in rows],
                                next_cursor=cursors.encode(rows[-1]["company_name"], rows[-1]["customer_id"])
                                if more else None)


@router.get("/{customer_id}/timeline", response_model=s.TimelinePage,
            summary="The customer's history across sales, CS, support and tech, newest first")
def timeline(customer_id: KnownCustomerDep, conn: ConnDep, period: PeriodDep,
             department: Annotated[list[Department] | None, Query(description="repeatable")] = None,
             kind: Annotated[list[str] | None, Query(description="event types, repeatable",
                                                     examples=[["HearingRecorded"]])] = None,
             limit: Limit = 50, cursor: Cursor = None) -> s.TimelinePage:
    if unknown := sorted(set(kind or ()) - set(EVENT_TYPES)):
        raise InvalidFieldError("query.kind", f"unknown event type(s): {', '.join(unknown)}", sorted(EVENT_TYPES))
    links = _survivor(conn, customer_id)
    page = customer_timeline(conn, links.streams(customer_id), departments=department, kinds=kind,
                             since=period.since, until=period.until, limit=limit, before=cursor)
    return s.TimelinePage(customer_id=customer_id, next_cursor=page.next_cursor,
                          entries=[s.TimelineEntryOut.model_validate(e, from_attributes=True) for e in page.entries])


@router.get("/{customer_id}/summary", response_model=s.CustomerSummary,
            summary="For CS and support: company, contacts, deals with phase and stage, what sales heard "
                    "(課題, 導入理由, 決裁者, 予算, 導入時期, BANT) and handed off, tickets, last touch per department")
def summary(customer_id: KnownCustomerDep, conn: ConnDep, store: EventStoreDep, reader: ReaderDep,
            process: ProcessDep) -> s.CustomerSummary:
    links = _survivor(conn, customer_id)
    projected = projected_customer(conn, customer_id)
    if projected is None:  # registered a moment ago, not projected yet: this page replays the stream instead
        customer = replay(reader, customer_id)
        projected = replayed_customer(process, customer_id, customer.state, customer.version)
    projected, merged = with_merged(conn, projected)
    notes = handoff_notes(conn, store, reader, links.streams(customer_id))
    return customer_summary(customer_id, projected, notes, process, merged)


def _survivor(conn, customer_id: UUID) -> MergeLinks:
    """The customer's merges; a customer merged into another answers with a pointer there (307)."""
    links = merge_links(conn, customer_id)
    if links.merged_into is not None:
        raise CustomerMergedError(customer_id, links.merged_into)
    return links
