"""The projections' side of the event store: reading events to fill gaps and to rebuild."""

from __future__ import annotations

from uuid import UUID

from shared.application import Customers
from shared.events import CustomerEvent


class EventSource:
    def __init__(self, customers: Customers) -> None:
        self.customers = customers

    def missing(self, customer_id: UUID, after: int, up_to: int) -> list[CustomerEvent]:
        """A customer's events with after < version <= up_to, from the event store."""
        events = list(self.customers.events.get(customer_id, gt=after, lte=up_to))
        versions = [e.originator_version for e in events]
        if versions != list(range(after + 1, up_to + 1)):
            raise LookupError(f"the event store lacks events of {customer_id} in ({after}, {up_to}]")
        return events
