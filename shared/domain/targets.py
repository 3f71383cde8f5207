"""The TeamTargets aggregate: one stream per team holding its monthly sales targets.

Setting a target is always allowed (a manager's decision, replacing any earlier target of the same team,
owner and month); the rules are the details' own (a month YYYY-MM, an amount of 0 JPY or more).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from shared import events as ev
from shared.domain.customer import CommandContext
from shared.domain.errors import InvalidFieldError, InvalidStateError
from shared.domain.stream import EventStream
from shared.events.targets import TargetDetails, TargetEvent, TargetSet, targets_stream_id


class TeamTargets(EventStream):
    def __init__(self, stream_id: UUID) -> None:
        super().__init__(stream_id)
        self.head_hash = ev.GENESIS_HASH
        self.targets: dict[tuple[str | None, str], int] = {}  # (owner, month) -> amount, the latest set
        self.team: str | None = None

    @staticmethod
    def project(targets: TeamTargets | None, events: Any) -> TeamTargets | None:
        for event in events:
            if not isinstance(event, TargetEvent):  # a customer registered under this id: never written to
                raise InvalidStateError(f"stream {event.originator_id} is a customer's, not a team's targets")
            targets = targets or TeamTargets(event.originator_id)
            targets.mutate(event)
        return targets

    def mutate(self, event: TargetEvent) -> None:
        if event.originator_version != self._version + 1:
            raise ValueError(f"event version {event.originator_version} does not follow {self._version}")
        if isinstance(event, TargetSet):
            self.team = event.team
            self.targets[(event.owner, event.month)] = event.amount
        self.head_hash, self._version = event.hash(), event.originator_version

    def set_target(self, details: TargetDetails, ctx: CommandContext) -> TargetSet:
        if targets_stream_id(details.team) != self._id:
            raise InvalidFieldError("team", f"'{details.team}' is not the team of this targets stream")
        now = datetime.now(timezone.utc)
        event = TargetSet(originator_id=self._id, originator_version=self._version + 1, timestamp=now,
                          occurred_at=ctx.occurred_at or now, actor=ctx.actor, idempotency_key=ctx.idempotency_key,
                          prev_hash=self.head_hash, **dict(details))
        self._record(event)
        return event
