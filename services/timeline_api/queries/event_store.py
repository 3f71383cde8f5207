"""A customer replayed from the event store for the timeline API: a stream no code can replay is a 409.

The stored rows themselves (auditors' views, hand-off and closing notes) are read with
``shared/stored_rows.py``.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import TopicError

from shared.domain.customer import Customer
from shared.domain.errors import InvalidStateError
from shared.event_store import EventStoreReader


class UnreadableStreamError(InvalidStateError):
    """A stored event that can no longer be read (edited by hand?): 409, see the verify endpoint."""

    code = "unreadable_stream"


def replay(reader: EventStoreReader, customer_id: UUID, version: int | None = None) -> Customer:
    """The customer now or at a version, from the latest snapshot up to it and the events after."""
    try:
        return reader.get_customer(customer_id, version=version)
    except (ValueError, KeyError, TypeError, AttributeError, TopicError) as error:
        raise UnreadableStreamError(f"the stream of {customer_id} cannot be replayed to version {version or 'now'} "
                                    f"({type(error).__name__}); see /audit/customers/{customer_id}/verify") from None
