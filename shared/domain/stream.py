"""What every aggregate here is to eventsourcing: one stream, its version, the events not yet saved."""

from __future__ import annotations

from typing import Any
from uuid import UUID


class EventStream:
    """Base of the aggregates (a customer, a team's targets): ``mutate`` is theirs, the bookkeeping this."""

    def __init__(self, stream_id: UUID) -> None:
        self._id = stream_id
        self._version = 0
        self._pending_events: list[Any] = []

    @property
    def id(self) -> UUID:
        return self._id

    @property
    def version(self) -> int:
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self._version = value

    def collect_events(self) -> list[Any]:
        collected, self._pending_events = self._pending_events, []
        return collected

    def mutate(self, event: Any) -> None:
        raise NotImplementedError

    def _record(self, event: Any) -> None:
        """Apply a new event and keep it to be saved."""
        self.mutate(event)
        self._pending_events.append(event)
