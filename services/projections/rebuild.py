"""Rebuilding a projection from the event store (not Kafka, whose retention is finite).

Events are replayed in notification order into fresh tables (``<table>__rebuild``)
through the same ``Projection.apply`` the workers use. Then, in one transaction, the
workers' writes are held off, the last events are applied, and the new tables take
the live names. Readers keep reading the old tables until that commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier
from tqdm import tqdm

from services.projections.base import Projection
from services.projections.store import EventSource
from shared.application import Customers
from shared.process import ProcessDefinition
from shared.wire import Delivered

SUFFIX = "__rebuild"


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(projection_class: type[Projection], process: ProcessDefinition, customers: Customers,
            database_url: str, page_size: int = 5000, progress: bool = True) -> RebuildReport:
    target, live = projection_class(process, suffix=SUFFIX), projection_class(process)
    source = EventSource(customers)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        with conn.transaction(), conn.cursor() as curs:
            for table in target.all_tables():
                curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table + SUFFIX)))
            target.create_tables(curs)
            live.create_tables(curs)  # so a first rebuild has something to swap out
        total = customers.recorder.max_notification_id() or 0
        with tqdm(total=total, unit="ev", desc=f"rebuild {live.name}", disable=not progress,
                  smoothing=0.1) as bar:
            position, events = 0, 0
            while True:
                applied, position = _replay_page(conn, target, customers, source, position, page_size)
                events += applied
                bar.update(applied)
                if applied < page_size:
                    break
            with conn.transaction(), conn.cursor() as curs:
                curs.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(Identifier(live.versions_table)))
                while True:  # the tail, while workers wait for the swap
                    applied, position = _replay_page(conn, target, customers, source, position, page_size,
                                                     curs=curs)
                    events += applied
                    bar.update(applied)
                    if applied < page_size:
                        break
                for table in live.all_tables():
                    curs.execute(SQL("DROP TABLE {0}").format(Identifier(table)))
                    curs.execute(SQL("ALTER TABLE {0} RENAME TO {1}").format(Identifier(table + SUFFIX),
                                                                            Identifier(table)))
    return RebuildReport(live.name, events, time.perf_counter() - started)


def _replay_page(conn: psycopg.Connection, target: Projection, customers: Customers, source: EventSource,
                 position: int, page_size: int, curs: psycopg.Cursor | None = None) -> tuple[int, int]:
    notifications = customers.recorder.select_notifications(start=position, limit=page_size,
                                                            inclusive_of_start=False)
    if not notifications:
        return 0, position
    deliveries = [Delivered(customers.mapper.to_domain_event(n), n.id) for n in notifications]
    if curs is not None:
        target.apply(curs, deliveries, source.missing)
    else:
        with conn.transaction(), conn.cursor() as page_curs:
            target.apply(page_curs, deliveries, source.missing)
    return len(notifications), notifications[-1].id
