"""What every projection shares: its tables (renamable for rebuilds) and exactly-once tracking.

A projection applies events to its read tables and, in the same transaction, records
per customer the last stream version it applied. Re-delivered events are skipped; an
event that arrives after a gap is preceded by the missing events, read from the event
store. The worker (Kafka) and the rebuild (event store) both go through
``apply_isolating``: a batch that fails is applied again customer by customer, and the
one event that cannot be applied becomes a dead letter that parks only its customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar, Literal, get_args, get_origin
from uuid import UUID

import psycopg
from psycopg import Cursor
from psycopg.sql import SQL, Composable, Identifier

from services.projections import dead_letters
from services.projections.batch import Rows
from services.projections.dead_letters import DeadLetter
from shared.database import SCHEMA_LOCK
from shared.events import CustomerEvent
from shared.events.limits import EARLIEST, LATEST
from shared.events.targets import TargetEvent
from shared.process import ProcessDefinition
from shared.resilience import TRANSIENT
from shared.wire import Delivered

log = logging.getLogger(__name__)

FetchMissing = Callable[[UUID, int, int], list[CustomerEvent]]  # customer, after version, up to version

# Failures of the database or of a rebuild's table swap, not of one event: the whole batch is retried.
VERSION_UPDATES = Rows("uuid", "bigint", "bigint")  # customer, version applied, position
NOT_THE_EVENTS_FAULT = (*TRANSIENT, psycopg.errors.UndefinedTable, psycopg.InternalError)


UNDECLARED_PERSONAL_DATA = ("not declared: assume every personal field of the events it applies, decrypted with "
                            "the contacts' keys")


@dataclass
class Applied:
    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


class Projection:
    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]  # read tables, without the versions table
    # What the read model may receive and keep of personal data (APPI Arts. 29-30: its consumer group is a
    # recipient; ``customer-timeline personal-data recipients`` lists it). Every read model says its own; this
    # default assumes the worst for one that does not.
    personal_data: ClassVar[str] = UNDECLARED_PERSONAL_DATA

    def __init__(self, process: ProcessDefinition, suffix: str = "") -> None:
        self.process, self.suffix = process, suffix
        # A customer's stored events (after, up to a version), from the event store: set by whoever applies
        # events, for a read model that must re-derive earlier rows (the timeline, on a correction or erasure).
        self.history: FetchMissing | None = None

    # --- tables ------------------------------------------------------------------
    def table(self, base: str) -> Identifier:
        return Identifier(base + self.suffix)

    @property
    def versions_table(self) -> str:
        return f"{self.name}_versions"

    @property
    def dead_letters_table(self) -> str:
        return f"{self.name}_dead_letters"

    def all_tables(self) -> tuple[str, ...]:
        return (*self.tables, self.versions_table, self.dead_letters_table)

    def definition(self) -> dict[str, Sequence[Composable]]:
        """Every table of the read model (without suffix) with its CREATE statements: its read tables, then its
        versions and dead letters tables."""
        versions = [SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, version bigint NOT NULL, "
                        "position bigint NOT NULL DEFAULT 0, parked_version bigint, parked_reason text)"
                        ).format(self.table(self.versions_table))]
        letters = dead_letters.schema(self.table(self.dead_letters_table))
        return {**self.schema(), self.versions_table: versions, self.dead_letters_table: letters}

    def create_statements(self) -> list[Composable]:
        """The definition as one list: what the migrations fingerprint to notice a changed read model."""
        return [statement for statements in self.definition().values() for statement in statements]

    def create_tables(self, curs: Cursor, defer_indexes: bool = False) -> list[Composable]:
        """Create each table that does not exist yet, with its indexes (the migrations do, for the live tables;
        a rebuild, for its new ones).

        ``defer_indexes``: create the tables with their primary keys only and return the other ``CREATE INDEX``
        statements, for the caller to run once the tables are filled (a rebuild: one sort per index instead of
        an index entry per row written, and none for the rows a batch writes again).

        Indexes stay unnamed (PostgreSQL names them), so tables renamed by a rebuild
        never collide with the next rebuild's.
        """
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # the runner's session holds it already
        deferred: list[Composable] = []
        for base, statements in self.definition().items():
            curs.execute("SELECT to_regclass(%s)", (base + self.suffix,))
            if curs.fetchone()[0] is None:
                for statement in statements:
                    if defer_indexes and statement.as_string(curs).startswith("CREATE INDEX"):
                        deferred.append(statement)
                    else:
                        curs.execute(statement)
        # versions tables made before customers could be parked
        curs.execute(SQL("ALTER TABLE {0} ADD COLUMN IF NOT EXISTS parked_version bigint, "
                         "ADD COLUMN IF NOT EXISTS parked_reason text").format(self.table(self.versions_table)))
        return deferred

    def schema(self) -> dict[str, Sequence[Composable]]:
        """Per read table: its CREATE TABLE and CREATE INDEX statements (name tables via ``self.table``)."""
        raise NotImplementedError

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        """Apply new events (per customer, contiguous, in stream order) to the read tables."""
        raise NotImplementedError

    def write_targets(self, curs: Cursor, events: dict[UUID, list[TargetEvent]]) -> None:
        """Apply new events of teams' targets streams (``shared/events/targets.py``); a customer read model
        skips them (their versions are still recorded, so they are applied once and count as caught up)."""

    # --- exactly-once application, one customer's failure kept to itself -----------
    def apply_isolating(self, curs: Cursor, deliveries: Sequence[Delivered], fetch_missing: FetchMissing,
                        unreadable: Sequence[DeadLetter] = ()) -> Applied:
        """Apply the deliveries; if that fails, each customer's alone, and each event alone for a customer
        that fails: the event that cannot be applied parks its customer (a dead letter), the rest apply.
        ``unreadable``: stored events no code could decode; each parks its customer from there on."""
        if unreadable:
            first: dict[UUID, int] = {}
            for letter in unreadable:
                first[letter.customer_id] = min(letter.stream_version, first.get(letter.customer_id, 1 << 62))
            deliveries = [d for d in deliveries if d.event.originator_version < first.get(d.event.originator_id, 1 << 62)]
            known = self.lock_versions(curs, list(first))  # a re-delivery of what parked a customer says nothing new
            news = [d for d in unreadable if known[d.customer_id][1] is None and known[d.customer_id][0] < d.stream_version]
            result = self._apply_isolating(curs, deliveries, fetch_missing)
            self.record_dead_letters(curs, news)
            for customer_id in {d.customer_id for d in news}:
                self.park(curs, customer_id, "a stored event cannot be decoded")
            result.dead_letters[:0] = news
            return result
        return self._apply_isolating(curs, deliveries, fetch_missing)

    def _apply_isolating(self, curs: Cursor, deliveries: Sequence[Delivered], fetch_missing: FetchMissing) -> Applied:
        conn = curs.connection
        try:
            with conn.transaction():  # a savepoint: what a failure undoes is this batch only
                return Applied(self.apply(curs, deliveries, fetch_missing))
        except NOT_THE_EVENTS_FAULT:
            raise
        except Exception as error:  # noqa: BLE001 - some event of the batch cannot be applied: find it below
            log.warning("projection %s: a batch of %d events failed (%s: %s); applying customer by customer",
                        self.name, len(deliveries), type(error).__name__, error)
        result = Applied()
        for customer_id, own in _by_customer(deliveries).items():
            for delivered in sorted(own, key=lambda d: d.event.originator_version):
                try:
                    with conn.transaction():
                        result.events += self.apply(curs, [delivered], fetch_missing)
                except NOT_THE_EVENTS_FAULT:
                    raise
                except Exception as error:  # noqa: BLE001 - this event cannot be applied: a dead letter
                    reason = f"{type(error).__name__}: {error}".strip()
                    letter = DeadLetter("event_store", reason, customer_id, delivered.event.originator_version,
                                        delivered.position, type(delivered.event).__name__)
                    self.record_dead_letters(curs, [letter])
                    self.park(curs, customer_id, reason)
                    result.dead_letters.append(letter)
                    break  # the customer's later events wait behind it
        return result

    def park(self, curs: Cursor, customer_id: UUID, reason: str) -> None:
        """Hold back a customer's events from the first one not applied (``projections retry`` resumes it)."""
        version = self.lock_versions(curs, [customer_id])[customer_id][0] + 1
        dead_letters.park(curs, self.table(self.versions_table), customer_id, version, reason)
        log.warning("projection %s: parked customer %s at version %d: %s", self.name, customer_id, version, reason)

    def lag(self, curs: Cursor, events_table: str) -> tuple[int, int]:
        """Notifications of the event store past the last one applied, and the customers parked."""
        curs.execute(SQL("SELECT (SELECT coalesce(max(notification_id), 0) FROM {0}) - coalesce(max(position), 0), "
                         "count(*) FILTER (WHERE parked_version IS NOT NULL) FROM {1}").format(
            Identifier(events_table), self.table(self.versions_table)))
        lag, parked = curs.fetchone()
        return max(int(lag), 0), int(parked)

    def record_dead_letters(self, curs: Cursor, letters: list[DeadLetter]) -> None:
        dead_letters.record(curs, self.table(self.dead_letters_table), letters)

    def apply(self, curs: Cursor, deliveries: Sequence[Delivered], fetch_missing: FetchMissing) -> int:
        """Apply what is new among the deliveries (parked customers held back); return how many were applied."""
        by_customer: dict[UUID, dict[int, Delivered]] = {}
        for d in deliveries:
            by_customer.setdefault(d.event.originator_id, {})[d.event.originator_version] = d
        if not by_customer:
            return 0
        applied = self.lock_versions(curs, list(by_customer))
        fresh: dict[UUID, list[CustomerEvent]] = {}
        positions: dict[UUID, int] = {}
        for customer_id, delivered in by_customer.items():
            last, parked = applied[customer_id]
            versions = sorted(v for v in delivered if v > last)
            if not versions or parked is not None:
                continue  # all re-deliveries, or held back behind a dead letter
            if versions != list(range(last + 1, versions[-1] + 1)):
                fresh[customer_id] = fetch_missing(customer_id, last, versions[-1])  # fill the gap
            else:
                fresh[customer_id] = [delivered[v].event for v in versions]
            positions[customer_id] = max(d.position for d in delivered.values())
        if fresh:
            self.history = fetch_missing
            for events in fresh.values():
                for event in events:
                    _refuse_unreadable_moments(event)
            customers = {c: events for c, events in fresh.items() if not isinstance(events[0], TargetEvent)}
            if customers:
                self.write(curs, customers)
            if targets := {c: events for c, events in fresh.items() if c not in customers}:
                self.write_targets(curs, targets)
            VERSION_UPDATES.execute(curs, SQL(
                "UPDATE {0} AS v SET version = u.version, position = GREATEST(v.position, u.position) "
                "FROM {1} AS u(customer_id, version, position) WHERE v.customer_id = u.customer_id").format(
                self.table(self.versions_table), VERSION_UPDATES.sql),
                [(c, events[-1].originator_version, positions[c]) for c, events in fresh.items()])
        return sum(len(events) for events in fresh.values())

    def advance_positions(self, curs: Cursor, positions: dict[UUID, int]) -> None:
        """Record the event store position reached for customers whose events were applied from the store (where
        positions are unknown), as a worker applying them from the topic would have."""
        curs.execute(SQL("UPDATE {0} AS v SET position = GREATEST(v.position, u.position) "
                         "FROM unnest(%s::uuid[], %s::bigint[]) AS u(customer_id, position) "
                         "WHERE v.customer_id = u.customer_id").format(self.table(self.versions_table)),
                     (list(positions), list(positions.values())))

    def lock_versions(self, curs: Cursor, customer_ids: list[UUID]) -> dict[UUID, tuple[int, int | None]]:
        """Applied (and parked) versions of these customers, locked until commit (two workers never apply one
        twice)."""
        table = self.table(self.versions_table)
        customer_ids.sort()
        curs.execute(SQL("INSERT INTO {0} (customer_id, version) SELECT unnest(%s::uuid[]), 0 "
                         "ON CONFLICT (customer_id) DO NOTHING").format(table), (customer_ids,))
        curs.execute(SQL("SELECT customer_id, version, parked_version FROM {0} WHERE customer_id = ANY(%s) "
                         "ORDER BY customer_id FOR UPDATE").format(table), (customer_ids,))
        return {row[0]: (row[1], row[2]) for row in curs.fetchall()}


class MomentOutOfWindowError(ValueError):
    """A stored event's date or time outside the window the door admits (old data): read models hold none,
    since every reader of such a row would fail (year 1 with an offset is before year 1 in UTC)."""


_FIRST_YEAR, _LAST_YEAR = EARLIEST.year - 1, LATEST.year  # a year of slack


def _refuse_unreadable_moments(event: CustomerEvent) -> None:
    fields = event.__dict__
    names = _MOMENTS.get(type(event))  # every event of a rebuild comes here: no call, no lookup more than needed
    for name in _moment_fields(type(event)) if names is None else names:
        value = fields.get(name)
        if isinstance(value, date) and not _FIRST_YEAR <= value.year <= _LAST_YEAR:
            raise MomentOutOfWindowError(f"{name} {value.isoformat()} is outside [{EARLIEST.date()}, {LATEST.date()})")


_MOMENTS: dict[type, tuple[str, ...]] = {}


def _moment_fields(cls: type) -> tuple[str, ...]:
    """The fields of an event class that can hold a date or time (its other fields never do: pydantic validated
    them): looked at once per class, not every field of every event."""
    names = _MOMENTS.get(cls)
    if names is None:
        fields = getattr(cls, "model_fields", None)
        names = _MOMENTS[cls] = tuple(fields) if fields is None else tuple(
            name for name, field in fields.items() if _may_hold_a_moment(field.annotation))
    return names


def _may_hold_a_moment(annotation: object) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, date)
    if get_origin(annotation) is Literal:
        return False
    args = get_args(annotation)  # X | None, Annotated[X, ...], tuple[X, ...]; anything else: looked at
    return any(_may_hold_a_moment(arg) for arg in args if arg is not Ellipsis) if args else True


def _by_customer(deliveries: Sequence[Delivered]) -> dict[UUID, list[Delivered]]:
    grouped: dict[UUID, list[Delivered]] = {}
    for d in deliveries:
        grouped.setdefault(d.event.originator_id, []).append(d)
    return grouped
