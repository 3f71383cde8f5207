"""SalesTargets: sets teams' monthly targets, each team's in its own stream of the customers' event store.

The write goes through the Customers application's store, so a target is saved like any command: the event,
the stream head (for ``customer-timeline verify``) and the answer kept under its idempotency key in one
transaction. Targets are rare and each is one event, so they are written one at a time (no group commit); a
lost race with another manager setting the same team's target is retried after reloading.
"""

from __future__ import annotations

import random
import time
from typing import ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from psycopg.types.json import Jsonb

from shared.application import MAX_ATTEMPTS, Customers, Envelope, Outcome, Result, _replay
from shared.commands import Command
from shared.domain.customer import CommandContext
from shared.domain.errors import DomainError, VersionConflictError, WriteContentionError
from shared.domain.targets import TeamTargets
from shared.events.targets import TargetDetails, targets_stream_id


class SetTarget(Command):
    name: ClassVar[str] = "set_target"
    details: TargetDetails


def set_target_envelope(details: TargetDetails, **envelope: object) -> Envelope:
    """The envelope of a SetTarget command, addressed to its team's targets stream."""
    return Envelope(command=SetTarget(details=details), customer_id=targets_stream_id(details.team), **envelope)


class SalesTargets:
    def __init__(self, customers: Customers) -> None:
        self.customers = customers

    def set_target(self, envelope: Envelope) -> Result:
        """Append a TargetSet to the team's stream (made by its first target), or answer as the first time did."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._set(envelope)
            except IntegrityError:  # another writer appended to the stream (or used the key) first: reload
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        return WriteContentionError(f"gave up after losing {MAX_ATTEMPTS} write races on one stream")

    def get(self, team: str) -> TeamTargets:
        stream_id = targets_stream_id(team)
        try:
            targets = self.customers.repository.get(stream_id, projector_func=TeamTargets.project)
        except AggregateNotFoundError:
            return TeamTargets(stream_id)
        return targets

    def _set(self, envelope: Envelope) -> Result:
        assert isinstance(envelope.command, SetTarget)
        key = envelope.scoped_key
        if key and (earlier := self.customers.event_recorder.command_results([key]).get(key)):
            return _replay(envelope, *earlier)
        try:
            if (unfit := envelope.unfit()) is not None:
                raise unfit
            targets = self.get(envelope.command.details.team)
            if envelope.expected_version is not None and envelope.expected_version != targets.version:
                raise VersionConflictError(envelope.expected_version, targets.version)
            ctx = CommandContext(self.customers.process, envelope.actor, envelope.occurred_at, envelope.idempotency_key)
            event = targets.set_target(envelope.command.details, ctx)
        except DomainError as error:
            return error
        outcome = Outcome(customer_id=str(targets.id), stream_version=targets.version, events=[
            {"event_id": str(event.event_id), "type": type(event).__name__, "stream_version": event.originator_version}])
        answers = [(key, targets.id, envelope.request_hash(), Jsonb(outcome.as_response()))] if key else []
        self.customers.save(targets, command_results=answers, stream_heads=[(targets.id, targets.version,
                                                                             targets.head_hash)])
        return outcome

