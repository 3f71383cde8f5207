"""Rebuilding a projection from the event store (not Kafka, whose retention is finite).

Events are replayed in notification order into fresh tables (``<table>__rebuild``)
through the same ``Projection.apply`` the workers use, a page of ``PAGE_SIZE`` notifications per
transaction (the next page read and decoded in a thread meanwhile); the tables' secondary indexes
are made once they are filled. Then, in one transaction, the
workers' writes are held off, the last events are applied, and the new tables take
the live names. Readers keep reading the old tables until that commit, which also records
the definition the tables were made with (a read model marked "needs rebuild" by the
migrations is no longer: ``shared/migrations/read_models.py``).

An event that cannot be applied (or read) is a dead letter in the rebuilt tables and
parks its customer, exactly as in a worker; the rebuild goes on with everyone else
and reports what it parked.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from tqdm import tqdm

from services.projections.base import Projection
from services.projections.dead_letters import DeadLetter
from services.projections.store import EventSource
from shared.event_store import EventStoreReader
from shared.migrations.read_models import record_rebuilt
from shared.process import ProcessDefinition
from shared.wire import Delivered

SUFFIX = "__rebuild"
PAGE_SIZE = 20_000  # notifications read and applied per transaction
REBUILD_GC_THRESHOLD = (1_000_000, 50, 100)  # gc.set_threshold while a rebuild runs


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    events: int
    seconds: float
    dead_letters: list[DeadLetter]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(projection_class: type[Projection], process: ProcessDefinition, reader: EventStoreReader,
            database_url: str, page_size: int = PAGE_SIZE, progress: bool = True) -> RebuildReport:
    target, live = projection_class(process, suffix=SUFFIX), projection_class(process)
    source = EventSource(reader)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, fewer_collections(), ThreadPoolExecutor(1, "rebuild-read") as reading:
        with conn.transaction(), conn.cursor() as curs:
            for table in target.all_tables():
                curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table + SUFFIX)))
            indexes = target.create_tables(curs, defer_indexes=True)  # made once the tables are filled
            live.create_tables(curs)  # so a first rebuild has something to swap out
        total = reader.last_position()
        letters: list[DeadLetter] = []
        with tqdm(total=total, unit="ev", desc=f"rebuild {live.name}", disable=not progress,
                  smoothing=0.1) as bar:
            position, events = 0, 0
            # The next page is read and decoded in a thread while this one is applied: PostgreSQL answers the
            # read (and this thread's writes) on its own core, and the GIL is free while either side waits.
            upcoming = reading.submit(_read_page, reader, source, position, page_size)
            while True:
                page = upcoming.result()
                if page.read == page_size:
                    upcoming = reading.submit(_read_page, reader, source, page.last, page_size)
                with conn.transaction(), conn.cursor() as curs:
                    position = _apply_page(curs, target, source, page, position, letters)
                events += page.read
                bar.update(page.read)
                if page.read < page_size:
                    break
            with conn.transaction(), conn.cursor() as curs:
                for statement in indexes:
                    curs.execute(statement)
            with conn.transaction(), conn.cursor() as curs:
                curs.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(Identifier(live.versions_table)))
                while True:  # the tail, while workers wait for the swap
                    page = _read_page(reader, source, position, page_size)
                    position = _apply_page(curs, target, source, page, position, letters)
                    events += page.read
                    bar.update(page.read)
                    if page.read < page_size:
                        break
                for table in live.all_tables():
                    curs.execute(SQL("DROP TABLE {0}").format(Identifier(table)))
                    curs.execute(SQL("ALTER TABLE {0} RENAME TO {1}").format(Identifier(table + SUFFIX),
                                                                            Identifier(table)))
                record_rebuilt(curs, live)  # made from the code's definition: no longer "needs rebuild"
    return RebuildReport(live.name, events, time.perf_counter() - started, letters)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """CPython's young collections every 1,000,000 allocations instead of 700 while a rebuild runs, and the
    older generations' rarely (restored after): a page of decoded events is alive while the next is decoded, and
    every collection walked it, while the events hold no reference cycles for a collection to find (measured:
    the rebuilds 1.5-2.5× faster at 50,000; at 1,000,000 another 10-25%, the collector having taken 15-20% of a
    rebuild's wall time at 50,000; ``customer-timeline`` sets 50,000 for its long-running loops)."""
    before = gc.get_threshold()
    if before[0] < REBUILD_GC_THRESHOLD[0]:
        gc.set_threshold(*REBUILD_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass(frozen=True)
class _Page:
    read: int  # notifications read
    last: int  # the position of the last one (0: none read)
    deliveries: list[Delivered]
    unreadable: list[DeadLetter]  # stored events no code can decode


def _read_page(reader: EventStoreReader, source: EventSource, position: int, page_size: int) -> _Page:
    """The next page of the notification log after a position, decoded."""
    notifications = reader.notifications(position, page_size)
    deliveries, unreadable = decode_page(source, notifications)
    return _Page(len(notifications), notifications[-1].id if notifications else 0, deliveries, unreadable)


def decode_page(source: EventSource, notifications: Sequence[Any]) -> tuple[list[Delivered], list[DeadLetter]]:
    """Stored notifications as events, and those no code can decode as dead letters. The keys of the page's
    personal data are read first, in one query for the page (``EventSource.prefetch_keys``), not one per contact
    as each sealed event is opened (that made reading and decoding a rebuild's events 3× slower)."""
    rows = [{"notification_id": n.id, "originator_id": n.originator_id, "originator_version": n.originator_version,
             "topic": n.topic, "state": n.state} for n in notifications]
    source.prefetch_keys(rows)
    deliveries, unreadable = [], []
    for row in rows:
        delivered = source.decode(row)
        (unreadable if isinstance(delivered, DeadLetter) else deliveries).append(delivered)
    return deliveries, unreadable


def _apply_page(curs: psycopg.Cursor, target: Projection, source: EventSource, page: _Page, position: int,
                letters: list[DeadLetter]) -> int:
    """Apply a page; return the position of its last notification (the given one for an empty page)."""
    if not page.read:
        return position
    letters += target.apply_isolating(curs, page.deliveries, source.missing, page.unreadable).dead_letters
    return page.last
