"""Sales targets (売上目標): a team's target amount for a month, and optionally one of its owners'.

Targets are no customer's fact, so they live in a stream of their own per team (``targets_stream_id``) in the
same event store: the same envelope (actor, when it happened and was recorded, idempotency key) and the same
hash chain as customer events, so the relay publishes them, ``customer-timeline verify`` checks their chain and
auditors read them as stored. ``TargetEvent`` marks them: the customer read models skip them (``Projection``),
the pipeline read model keeps them (``services/projections/pipeline/targets.py``). They are not in
``EVENT_TYPES`` (the catalogue of a customer's stream) but in ``TARGET_EVENT_TYPES``.

A target set again for the same team, owner and month replaces the earlier one (the latest recorded wins);
the earlier events stay in the stream.
"""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID, uuid5

from pydantic import Field, field_validator

from shared.events.base import MAX_YEN, CustomerEvent, Frozen
from shared.events.limits import Limit

TARGETS_NAMESPACE = UUID("6f0e1c52-3d4b-5a8e-9c71-2b8d4e6f1a90")  # of the teams' targets streams
MONTH = re.compile(r"(19|20)\d{2}-(0[1-9]|1[0-2])")  # YYYY-MM, 1900-01 to 2099-12 (the door's window)


def targets_stream_id(team: str) -> UUID:
    """The stream of one team's targets: derived from the team's name, so every writer finds the same."""
    return uuid5(TARGETS_NAMESPACE, f"sales-targets:{team}")


class TargetDetails(Frozen):
    team: Annotated[str, Limit(max_length=100)] = Field(min_length=1, examples=["本社営業1課"])
    owner: Annotated[str | None, Limit(max_length=100)] = Field(
        default=None, min_length=1, description="one owner's target within the team; none: the team's own",
        examples=["tanaka"])
    month: Annotated[str, Limit(max_length=7)] = Field(description="the month the target is for, YYYY-MM (1900-01 to 2099-12)",
                       examples=["2026-04"])
    amount: int = Field(ge=0, le=MAX_YEN, strict=True, description="target of won amount for the month, JPY",
                        examples=[12_000_000])

    @field_validator("month")
    @classmethod
    def _a_month(cls, value: str) -> str:
        if not MONTH.fullmatch(value):
            raise ValueError(f"'{value}' is not a month YYYY-MM from 1900-01 to 2099-12")
        return value


class TargetEvent(CustomerEvent):
    """Base of the events of a team's targets stream (no customer's: skipped by the customer read models)."""


class TargetSet(TargetEvent, TargetDetails):
    """A target set (or set again, replacing the earlier one) for a team, or an owner of it, and a month."""


TARGET_EVENT_TYPES: dict[str, type[TargetEvent]] = {TargetSet.__name__: TargetSet}
