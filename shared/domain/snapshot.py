"""Snapshots of the Customer aggregate, so a long stream loads fast."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from shared.domain.state import CustomerState
from shared.events.base import Frozen


class CustomerSnapshot(Frozen):
    originator_id: UUID
    originator_version: int
    timestamp: datetime
    created_on: datetime
    modified_on: datetime
    state: dict[str, Any]

    @classmethod
    def take(cls, customer: Any) -> CustomerSnapshot:
        return cls(originator_id=customer.id, originator_version=customer.version,
                   timestamp=datetime.now(timezone.utc), created_on=customer.created_on,
                   modified_on=customer.modified_on, state=customer.state.model_dump(mode="json"))

    def restore(self, customer_class: type) -> Any:
        customer = customer_class(self.originator_id)
        customer.state = CustomerState.model_validate(self.state)
        customer.version = self.originator_version
        customer.created_on, customer.modified_on = self.created_on, self.modified_on
        return customer
