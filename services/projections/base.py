"""What every projection shares: its tables (renamable for rebuilds) and exactly-once tracking.

A projection applies events to its read tables and, in the same transaction, records
per customer the last stream version it applied. Re-delivered events are skipped; an
event that arrives after a gap is preceded by the missing events, read from the event
store. The worker (Kafka) and the rebuild (event store) both go through ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Identifier

from shared.database import SCHEMA_LOCK
from shared.events import CustomerEvent
from shared.process import ProcessDefinition
from shared.wire import Delivered

FetchMissing = Callable[[UUID, int, int], list[CustomerEvent]]  # customer, after version, up to version


class Projection:
    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]  # read tables, without the versions table

    def __init__(self, process: ProcessDefinition, suffix: str = "") -> None:
        self.process, self.suffix = process, suffix

    # --- tables ------------------------------------------------------------------
    def table(self, base: str) -> Identifier:
        return Identifier(base + self.suffix)

    @property
    def versions_table(self) -> str:
        return f"{self.name}_versions"

    def all_tables(self) -> tuple[str, ...]:
        return (*self.tables, self.versions_table)

    def create_tables(self, curs: Cursor) -> None:
        """Create each table that does not exist yet, with its indexes.

        Indexes stay unnamed (PostgreSQL names them), so tables renamed by a rebuild
        never collide with the next rebuild's.
        """
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # workers may start together
        versions = [SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, version bigint NOT NULL, "
                        "position bigint NOT NULL DEFAULT 0)").format(self.table(self.versions_table))]
        for base, statements in {**self.schema(), self.versions_table: versions}.items():
            curs.execute("SELECT to_regclass(%s)", (base + self.suffix,))
            if curs.fetchone()[0] is None:
                for statement in statements:
                    curs.execute(statement)

    def schema(self) -> dict[str, Sequence[Composable]]:
        """Per read table: its CREATE TABLE and CREATE INDEX statements (name tables via ``self.table``)."""
        raise NotImplementedError

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        """Apply new events (per customer, contiguous, in stream order) to the read tables."""
        raise NotImplementedError

    # --- exactly-once application ------------------------------------------------
    def apply(self, curs: Cursor, deliveries: Sequence[Delivered], fetch_missing: FetchMissing) -> int:
        """Apply what is new among the deliveries; return how many events were applied."""
        by_customer: dict[UUID, dict[int, Delivered]] = {}
        for d in deliveries:
            by_customer.setdefault(d.event.originator_id, {})[d.event.originator_version] = d
        if not by_customer:
            return 0
        applied = self._lock_versions(curs, list(by_customer))
        fresh: dict[UUID, list[CustomerEvent]] = {}
        positions: dict[UUID, int] = {}
        for customer_id, delivered in by_customer.items():
            last = applied[customer_id]
            versions = sorted(v for v in delivered if v > last)
            if not versions:
                continue  # all re-deliveries
            if versions != list(range(last + 1, versions[-1] + 1)):
                fresh[customer_id] = fetch_missing(customer_id, last, versions[-1])  # fill the gap
            else:
                fresh[customer_id] = [delivered[v].event for v in versions]
            positions[customer_id] = max(d.position for d in delivered.values())
        if fresh:
            self.write(curs, fresh)
            curs.executemany(SQL("UPDATE {0} SET version = %s, position = GREATEST(position, %s) "
                                 "WHERE customer_id = %s").format(self.table(self.versions_table)),
                             [(events[-1].originator_version, positions[c], c) for c, events in fresh.items()])
        return sum(len(events) for events in fresh.values())

    def _lock_versions(self, curs: Cursor, customer_ids: list[UUID]) -> dict[UUID, int]:
        """Applied versions of these customers, locked until commit (two workers never apply one twice)."""
        table = self.table(self.versions_table)
        customer_ids.sort()
        curs.execute(SQL("INSERT INTO {0} (customer_id, version) SELECT unnest(%s::uuid[]), 0 "
                         "ON CONFLICT (customer_id) DO NOTHING").format(table), (customer_ids,))
        curs.execute(SQL("SELECT customer_id, version FROM {0} WHERE customer_id = ANY(%s) "
                         "ORDER BY customer_id FOR UPDATE").format(table), (customer_ids,))
        return {row[0]: row[1] for row in curs.fetchall()}
