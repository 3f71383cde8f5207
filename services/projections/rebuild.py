"""Rebuilding a projection from the event store (not Kafka, whose retention is finite).

Events are replayed in notification order into fresh tables (``<table>__rebuild``)
through the same ``Projection.apply`` the workers use. Then, in one transaction, the
workers' writes are held off, the last events are applied, and the new tables take
the live names. Readers keep reading the old tables until that commit, which also records
the definition the tables were made with (a read model marked "needs rebuild" by the
migrations is no longer: ``shared/migrations/read_models.py``).

An event that cannot be applied (or read) is a dead letter in the rebuilt tables and
parks its customer, exactly as in a worker; the rebuild goes on with everyone else
and reports what it parked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier
from tqdm import tqdm

from services.projections.base import Projection
from services.projections.dead_letters import DeadLetter
from services.projections.store import EventSource
from shared.event_store import EventStoreReader
from shared.migrations.read_models import record_rebuilt
from shared.process import ProcessDefinition

SUFFIX = "__rebuild"


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
            database_url: str, page_size: int = 5000, progress: bool = True) -> RebuildReport:
    target, live = projection_class(process, suffix=SUFFIX), projection_class(process)
    source = EventSource(reader)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
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
            while True:
                with conn.transaction(), conn.cursor() as curs:
                    read, position = _replay_page(curs, target, reader, source, position, page_size, letters)
                events += read
                bar.update(read)
                if read < page_size:
                    break
            with conn.transaction(), conn.cursor() as curs:
                for statement in indexes:
                    curs.execute(statement)
            with conn.transaction(), conn.cursor() as curs:
                curs.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(Identifier(live.versions_table)))
                while True:  # the tail, while workers wait for the swap
                    read, position = _replay_page(curs, target, reader, source, position, page_size, letters)
                    events += read
                    bar.update(read)
                    if read < page_size:
                        break
                for table in live.all_tables():
                    curs.execute(SQL("DROP TABLE {0}").format(Identifier(table)))
                    curs.execute(SQL("ALTER TABLE {0} RENAME TO {1}").format(Identifier(table + SUFFIX),
                                                                            Identifier(table)))
                record_rebuilt(curs, live)  # made from the code's definition: no longer "needs rebuild"
    return RebuildReport(live.name, events, time.perf_counter() - started, letters)


def _replay_page(curs: psycopg.Cursor, target: Projection, reader: EventStoreReader, source: EventSource,
                 position: int, page_size: int, letters: list[DeadLetter]) -> tuple[int, int]:
    """Apply the next page of the notification log; return how many notifications were read, and the last."""
    notifications = reader.notifications(position, page_size)
    if not notifications:
        return 0, position
    deliveries, unreadable = [], []
    for n in notifications:
        delivered = source.decode({"notification_id": n.id, "originator_id": n.originator_id,
                                   "originator_version": n.originator_version, "topic": n.topic, "state": n.state})
        (unreadable if isinstance(delivered, DeadLetter) else deliveries).append(delivered)
    letters += target.apply_isolating(curs, deliveries, source.missing, unreadable).dead_letters
    return len(notifications), notifications[-1].id
