"""Rebuilding a projection from the event store (not Kafka, whose retention is finite).

Events are replayed in notification order into fresh tables (``<table>__rebuild``)
through the same ``Projection.apply`` the workers use, a page of ``PAGE_SIZE`` notifications per
transaction (the next page read and decoded in a thread meanwhile); the tables' secondary indexes
are made once they are filled. The replay runs in ``processes`` processes at once (one per core by
default), each taking a slice of the streams (``shared.event_store.Slice``: a customer's events are all
in one slice, in their order) up to the log's last position when the rebuild began: every read model
row belongs to one customer, deal or event, and the one table summed across customers (the funnel's
months) is written in one order by every process. Then, in one transaction, the workers' writes are
held off, the last events are applied, and the new tables take the live names. Readers keep reading
the old tables until that commit, which also records the definition the tables were made with (a read
model marked "needs rebuild" by the migrations is no longer: ``shared/migrations/read_models.py``).

An event that cannot be applied (or read) is a dead letter in the rebuilt tables and
parks its customer, exactly as in a worker; the rebuild goes on with everyone else
and reports what it parked.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from tqdm import tqdm

from services.projections.base import Projection
from services.projections.dead_letters import DeadLetter
from services.projections.store import EventSource
from shared.event_store import EVERY_STREAM, EventStoreReader, Slice, open_event_store
from shared.forking import in_processes
from shared.migrations.read_models import record_rebuilt
from shared.process import ProcessDefinition
from shared.settings import Settings
from shared.wire import Delivered

SUFFIX = "__rebuild"
PAGE_SIZE = 20_000  # notifications read and applied per transaction
FIRST_PAGE_SIZE = 2_000  # the first page of a replay, applied while the next is read
REBUILD_GC_THRESHOLD = (1_000_000, 50, 100)  # gc.set_threshold while a rebuild runs
RETRIED_DEADLOCKS = 5  # a page whose transaction PostgreSQL broke a deadlock with is applied again


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    events: int
    seconds: float
    dead_letters: list[DeadLetter]
    processes: int = 1

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class RebuildError(RuntimeError):
    """A replaying process failed: the rebuilt tables are left as they are, the live ones untouched."""


def default_processes() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def rebuild(projection_class: type[Projection], process: ProcessDefinition, reader: EventStoreReader,
            database_url: str, page_size: int = PAGE_SIZE, progress: bool = True, processes: int = 0) -> RebuildReport:
    """Rebuild a read model from the event store; ``processes``: how many replay it, each a slice of the streams
    (0: one per core)."""
    processes = processes or default_processes()
    target, live = projection_class(process, suffix=SUFFIX), projection_class(process)
    source = EventSource(reader)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, fewer_collections():
        with conn.transaction(), conn.cursor() as curs:
            for table in target.all_tables():
                curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table + SUFFIX)))
            indexes = target.create_tables(curs, defer_indexes=True)  # made once the tables are filled
            live.create_tables(curs)  # so a first rebuild has something to swap out
        position = reader.last_position()  # each process replays its slice up to here; the tail comes after
        with tqdm(total=position, unit="ev", desc=f"rebuild {live.name}", disable=not progress,
                  smoothing=0.1) as bar:
            if processes == 1:
                events, letters = replay(conn, target, source, EVERY_STREAM, position, page_size, bar.update)
            else:
                events, letters = _replay_in_processes(projection_class, process, database_url, processes, position,
                                                       page_size, bar.update)
            with conn.transaction(), conn.cursor() as curs:
                for statement in indexes:
                    curs.execute(statement)
            with conn.transaction(), conn.cursor() as curs:
                curs.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(Identifier(live.versions_table)))
                while True:  # the tail, while workers wait for the swap
                    page = _read_page(source, position, None, page_size, EVERY_STREAM)
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
    return RebuildReport(live.name, events, time.perf_counter() - started, letters, processes)


def replay(conn: psycopg.Connection, target: Projection, source: EventSource, part: Slice, up_to: int,
           page_size: int, advance: Callable[[int], Any]) -> tuple[int, list[DeadLetter]]:
    """Apply a slice's stored events up to a position into the target's tables, a page per transaction; return
    how many were read and the dead letters. The next page is read and decoded in a thread while this one is
    applied: PostgreSQL answers the read (and this thread's writes) on its own core, and the GIL is free while
    either side waits."""
    events, letters = 0, []
    with ThreadPoolExecutor(1, "rebuild-read") as reading:
        asked = min(page_size, FIRST_PAGE_SIZE)  # a small first page: nothing is applied until it is decoded
        upcoming = reading.submit(_read_page, source, 0, up_to, asked, part)
        while True:
            page = upcoming.result()
            full, asked = page.read == asked, page_size
            if full:
                upcoming = reading.submit(_read_page, source, page.last, up_to, page_size, part)
            for attempt in range(RETRIED_DEADLOCKS + 1):
                found: list[DeadLetter] = []
                try:
                    with conn.transaction(), conn.cursor() as curs:
                        _apply_page(curs, target, source, page, 0, found)
                    break
                except psycopg.errors.DeadlockDetected:
                    if attempt == RETRIED_DEADLOCKS:
                        raise
            letters += found
            events += page.read
            advance(page.read)
            if not full:
                return events, letters


def _replay_in_processes(projection_class: type[Projection], process: ProcessDefinition, database_url: str,
                         processes: int, up_to: int, page_size: int,
                         advance: Callable[[int], Any]) -> tuple[int, list[DeadLetter]]:
    """``replay`` in as many forked processes as asked, each its own slice of the streams on its own connections;
    the events they read and their dead letters."""
    def replay_slice(index: int, advance: Callable[[int], Any]) -> tuple[int, list[DeadLetter]]:
        reader = open_event_store(Settings(database_url=database_url, postgres_pool_size=2))
        try:
            with psycopg.connect(database_url) as conn, fewer_collections():
                return replay(conn, projection_class(process, suffix=SUFFIX), EventSource(reader),
                              Slice(index, processes), up_to, page_size, advance)
        finally:
            reader.close()

    try:
        replayed = in_processes(replay_slice, processes, advance)
    except Exception as error:
        raise RebuildError(f"a rebuild process failed: {type(error).__name__}: {error}") from error
    return sum(events for events, _ in replayed), [letter for _, letters in replayed for letter in letters]


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


def _read_page(source: EventSource, after: int, up_to: int | None, page_size: int, part: Slice) -> _Page:
    """The next page of a slice of the notification log after a position (up to one), decoded."""
    rows = source.reader.notification_rows(after, up_to, page_size, part)
    deliveries, unreadable = decode_page(source, rows)
    return _Page(len(rows), rows[-1]["notification_id"] if rows else 0, deliveries, unreadable)


def decode_page(source: EventSource, rows: Sequence[dict[str, Any]]) -> tuple[list[Delivered], list[DeadLetter]]:
    """Stored rows (``EventStoreReader.notification_rows``) as events, and those no code can decode as dead
    letters. The keys of the page's personal data are read first, in one query for the page
    (``EventSource.prefetch_keys``), not one per contact as each sealed event is opened (that made reading and
    decoding a rebuild's events 3× slower)."""
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
