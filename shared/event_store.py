"""Reading the event store without the write application: for the relay, the projection workers, rebuilds and
the auditors' views.

``EventStoreReader`` holds the recorder (the notification log, a customer's stored events, stream heads), the
pydantic mapper (old schema versions upcast) and replay (a customer now or at a version, from its latest
snapshot at or before that version and the events after it, as ``Customers.get_customer`` answers). It writes
nothing and creates no table: the migrations do (``shared/migrations``), so it never takes the schema lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper, Notification
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, get_topic
from psycopg.sql import SQL, Composable, Identifier

from shared.database import database_url, eventsourcing_env, heal_after_restarts
from shared.domain.customer import Customer
from shared.domain.errors import NotFoundError
from shared.events import CustomerEvent
from shared.key_store import KeyRing, PostgresKeyStore
from shared.persistence import STORE_NAME, CustomerEventRecorder, PydanticMapper
from shared.settings import Settings


def store_factory(url: str, settings: Settings, pool_size: int | None = None) -> PostgresFactory:
    """eventsourcing's PostgreSQL infrastructure for the customers' store (tables ``customers_events`` and
    ``customers_snapshots``), with table creation off: the recorders it makes only read and write."""
    env = {**eventsourcing_env(url, settings), "APPLICATION_RECORDER_TOPIC": get_topic(CustomerEventRecorder)}
    if pool_size is not None:
        env.update(POSTGRES_POOL_SIZE=str(pool_size), POSTGRES_MAX_OVERFLOW="0")
    return PostgresFactory(Environment(STORE_NAME, env))


@dataclass(frozen=True)
class Slice:
    """One of ``count`` disjoint slices of the event store's streams, by a hash of the stream id: each stream
    (a customer's, a team's targets) is in exactly one slice, whole, so its events keep their order."""

    index: int = 0
    count: int = 1

    def condition(self) -> Composable:
        return SQL(" AND abs(uuid_hash(originator_id) %% {0}) = {1}").format(self.count, self.index) \
            if self.count > 1 else SQL("")


EVERY_STREAM = Slice()


class EventStoreReader:
    def __init__(self, recorder: CustomerEventRecorder, snapshots: AggregateRecorder | None = None,
                 mapper: Mapper | None = None) -> None:
        self.recorder = recorder
        self.mapper = mapper or PydanticMapper(KeyRing(PostgresKeyStore(recorder)))
        self.events = EventStore(self.mapper, recorder)
        self.snapshots = EventStore(self.mapper, snapshots) if snapshots is not None else None
        self.repository: Repository[UUID] = Repository(self.events, snapshot_store=self.snapshots)

    @property
    def datastore(self) -> Any:
        return self.recorder.datastore

    @property
    def events_table_name(self) -> str:
        return self.recorder.events_table_name

    @property
    def channel_name(self) -> str:
        """The channel the event store NOTIFYs on every append."""
        return self.recorder.channel_name

    def stream(self, customer_id: UUID, after: int = 0, up_to: int | None = None) -> list[CustomerEvent]:
        """A customer's events with after < version (<= up_to), in stream order."""
        return list(self.events.get(customer_id, gt=after, lte=up_to))

    def get_customer(self, customer_id: UUID, version: int | None = None) -> Customer:
        """A customer now, or at a past stream version."""
        try:
            return self.repository.get(customer_id, version=version, projector_func=Customer.project)
        except AggregateNotFoundError:
            raise NotFoundError("customer", customer_id) from None

    def notifications(self, after: int, limit: int) -> Sequence[Notification]:
        """The notification log after a position, in order: at most ``limit`` stored events."""
        return self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)

    def notification_rows(self, after: int, up_to: int | None, limit: int,
                          part: Slice = EVERY_STREAM) -> list[dict[str, Any]]:
        """The notification log after a position (up to one, if given), in order, at most ``limit`` stored events
        of a slice of the streams: as rows of the columns a reader decodes (``notification_id``, ``originator_id``,
        ``originator_version``, ``topic``, ``state``), without the library's ``Notification`` per row."""
        statement = SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "
                        "WHERE notification_id > %s AND notification_id <= %s{2} ORDER BY notification_id LIMIT %s"
                        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name),
                                 part.condition())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (after, (1 << 62) if up_to is None else up_to, limit), prepare=True)
            return curs.fetchall()

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def close(self) -> None:
        self.recorder.datastore.close()


def open_event_store(settings: Settings) -> EventStoreReader:
    """A reader of the event store on a pool of its own (``POSTGRES_POOL_SIZE``), once the database is migrated."""
    factory = store_factory(database_url(settings), settings)
    recorder = factory.application_recorder()
    assert isinstance(recorder, CustomerEventRecorder)
    ring = KeyRing(PostgresKeyStore(recorder), ttl=settings.personal_key_cache_seconds)
    reader = EventStoreReader(recorder, factory.aggregate_recorder("snapshots"), PydanticMapper(ring))
    heal_after_restarts(factory.datastore.pool)
    return reader
