"""Resuming parked customers: after the cause of a dead letter is gone (a fix deployed, a constraint
relaxed), apply each parked customer's held events from the event store, as a worker would."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg

from services.projections import dead_letters
from services.projections.base import Projection
from services.projections.store import EventSource


@dataclass(frozen=True)
class RetryReport:
    projection: str
    resumed: list[UUID]  # customers fully applied now
    still_parked: list[UUID]  # customers whose held events still fail (a new dead letter says why)
    events: int


def retry_parked(projection: Projection, source: EventSource, database_url: str,
                 customer_ids: list[UUID] | None = None) -> RetryReport:
    versions = projection.table(projection.versions_table)
    resumed, still, events = [], [], 0
    with psycopg.connect(database_url) as conn:
        with conn.cursor() as curs:
            parked = [row[0] for row in dead_letters.parked_customers(curs, versions)
                      if customer_ids is None or row[0] in customer_ids]
        conn.commit()
        for customer_id in parked:
            with conn.transaction(), conn.cursor() as curs:
                applied_version = projection.lock_versions(curs, [customer_id])[customer_id][0]
                dead_letters.unpark(curs, versions, [customer_id])
                result = projection.apply_isolating(curs, source.after(customer_id, applied_version), source.missing)
                events += result.events
                (still if result.dead_letters else resumed).append(customer_id)
    return RetryReport(projection.name, resumed, still, events)
