"""Request-scoped dependencies of the timeline API, as ``Annotated`` aliases.

Every request reads through one pooled connection in one read-only REPEATABLE READ
transaction, so the several queries of a page see the read models at one moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Query, Request
from psycopg import Connection

from services.timeline_api.moments import check_period, parse_moment
from shared.domain.errors import NotFoundError
from shared.event_store import EventStoreReader
from shared.process import ProcessDefinition
from shared.stored_rows import StoreTables, customer_exists


def connection(request: Request) -> Iterator[Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def reader_of(request: Request) -> EventStoreReader:
    return request.app.state.reader


def process_of(request: Request) -> ProcessDefinition:
    return request.app.state.process


def event_store_of(request: Request) -> StoreTables:
    return request.app.state.event_store


def as_of(request: Request, as_of: Annotated[str | None, Query(
        description="a time (2026-02-01T18:00:00+09:00) or a date (the end of that day); default: now",
        examples=["2026-02-01T18:00:00+09:00"])] = None) -> datetime:
    if as_of is None:
        return datetime.now(timezone.utc)
    return parse_moment(as_of, "as_of", request.app.state.settings.timezone, end_of_day=True)


@dataclass(frozen=True)
class Period:
    since: datetime | None
    until: datetime | None


def period(request: Request,
           since: Annotated[str | None, Query(description="from this time or date on (inclusive)",
                                              examples=["2026-01-01"])] = None,
           until: Annotated[str | None, Query(description="before this time or date (exclusive)",
                                              examples=["2026-04-01"])] = None) -> Period:
    zone = request.app.state.settings.timezone
    found = Period(None if since is None else parse_moment(since, "since", zone),
                   None if until is None else parse_moment(until, "until", zone))
    check_period(found.since, found.until)
    return found


ConnDep = Annotated[Connection, Depends(connection)]
ReaderDep = Annotated[EventStoreReader, Depends(reader_of)]  # replay and decoding, for the auditors' views
ProcessDep = Annotated[ProcessDefinition, Depends(process_of)]
EventStoreDep = Annotated[StoreTables, Depends(event_store_of)]
AsOfDep = Annotated[datetime, Depends(as_of)]
PeriodDep = Annotated[Period, Depends(period)]


def known_customer(customer_id: UUID, conn: ConnDep, store: EventStoreDep) -> UUID:
    """The path's customer id, or 404 if the event store has never heard of it."""
    if not customer_exists(conn, store, customer_id):
        raise NotFoundError("customer", customer_id)
    return customer_id


KnownCustomerDep = Annotated[UUID, Depends(known_customer)]
Limit = Annotated[int, Query(ge=1, le=200, description="at most this many per page (1-200)")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
Cursor = Annotated[str | None, Query(max_length=500, pattern=NO_NUL, description="`next_cursor` of the previous page")]
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)]
GroupByParam = Annotated[Literal["team", "owner", "site"] | None,
                         Query(description="one row group per team, owner or site (the deal's own)")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="skip this many (pages of `limit`)")]
