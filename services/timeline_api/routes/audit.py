"""Auditors' views: stored events as they are, a customer's state as of a time, the pipeline as of a
day, and the hash chain. History itself is the question here, so these read the event store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.projections.pipeline.as_of import pipeline_at
from services.security import require
from services.timeline_api import reports
from services.timeline_api import schemas as s
from services.timeline_api.dependencies import (
    AsOfDep, ConnDep, ReaderDep, EventStoreDep, KnownCustomerDep, ProcessDep,
)
from services.timeline_api.errors import ERROR_RESPONSES
from services.timeline_api.queries.audit import version_recorded_by
from services.timeline_api.queries.event_store import UnreadableStreamError, replay
from shared.audit import verify_chain
from shared.auth import Permission as P
from shared.domain.errors import NotFoundError
from shared.events import stored_hash
from shared.stored_rows import StoredRow, stored_events, stream_head

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require(P.READ_AUDIT))])
MAX_VERSION = 2**62


def _stored(row: StoredRow) -> s.StoredEvent:
    payload = row.payload()
    field = (lambda name: payload.get(name)) if payload else (lambda name: None)
    return s.StoredEvent(position=row.position, stream_version=row.version, event_type=row.event_type,
                         topic=row.topic, hash=stored_hash(row.topic, row.state), prev_hash=field("prev_hash"),
                         occurred_at=field("occurred_at"), recorded_at=field("timestamp"), actor=field("actor"),
                         payload=payload, stored_state=None if payload else row.state.decode(errors="replace"))


@router.get("/customers/{customer_id}/events", response_model=s.StoredEventsPage,
            summary="A customer's stored events, every field as stored, in stream order")
def events(customer_id: KnownCustomerDep, conn: ConnDep, store: EventStoreDep,
           after_version: Annotated[int, Query(ge=0, le=MAX_VERSION, description="start after this version")] = 0,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> s.StoredEventsPage:
    rows = stored_events(conn, store, customer_id, after_version, limit + 1)
    page = rows[:limit]
    return s.StoredEventsPage(customer_id=customer_id, events=[_stored(r) for r in page],
                              next_after_version=page[-1].version if len(rows) > limit else None)


@router.get("/customers/{customer_id}/state", response_model=s.StateAsOf,
            summary="The customer's state as the event store knew it at as_of (last version recorded by then)")
def state_as_of(customer_id: KnownCustomerDep, as_of: AsOfDep, conn: ConnDep, store: EventStoreDep,
                reader: ReaderDep) -> s.StateAsOf:
    found = version_recorded_by(conn, store, customer_id, as_of)
    if found.unreadable is not None:
        raise UnreadableStreamError(f"stored event {found.unreadable} of {customer_id} cannot be read; see "
                                    f"/audit/customers/{customer_id}/verify")
    if found.version is None:
        raise NotFoundError("customer at as_of", customer_id)
    customer = replay(reader, customer_id, found.version)
    head = stream_head(conn, store, customer_id)
    return s.StateAsOf(customer_id=customer_id, as_of=as_of, version=customer.version, recorded_at=found.recorded_at,
                       head_hash=customer.state.head_hash, current_version=head[0] if head else None,
                       state=customer.state)


@router.get("/pipeline", response_model=s.PipelineAsOf,
            summary="What a manager would have seen: each deal's phase and stage at as_of (a date: its end)")
def pipeline_as_of(conn: ConnDep, process: ProcessDep, as_of: AsOfDep) -> s.PipelineAsOf:
    return reports.pipeline_as_of(process, pipeline_at(conn, as_of), as_of)


@router.get("/customers/{customer_id}/verify", response_model=s.ChainReport,
            summary="Recompute the customer's hash chain from the stored rows; names the first broken link")
def verify(customer_id: KnownCustomerDep, reader: ReaderDep) -> s.ChainReport:
    report = verify_chain(reader.recorder, customer_id)
    return s.ChainReport(**report.__dict__)

