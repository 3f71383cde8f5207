"""A projection worker: consumes the customer-events topic and applies one projection.

Per poll: undecodable messages go to the dead-letter topic (with the reason); the rest
are applied in ONE PostgreSQL transaction together with the per-customer versions;
only then are the Kafka offsets committed. A crash anywhere re-delivers the batch,
and the recorded versions make the second pass apply nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from kafka import KafkaConsumer, KafkaProducer

from services.projections.base import Projection
from services.projections.store import EventSource
from shared.consuming import commit_offsets, dead_letter, poll_batch
from shared.wire import Delivered, PoisonMessageError, decode

log = logging.getLogger(__name__)


class ProjectionWorker:
    def __init__(self, projection: Projection, consumer: KafkaConsumer, producer: KafkaProducer,
                 database_url: str, source: EventSource, dead_letter_topic: str, batch_size: int) -> None:
        self.projection, self.consumer, self.producer = projection, consumer, producer
        self.database_url, self.source = database_url, source
        self.dead_letter_topic, self.batch_size = dead_letter_topic, batch_size
        self.conn = psycopg.connect(database_url)
        with self.conn.transaction(), self.conn.cursor() as curs:
            projection.create_tables(curs)
        self.applied = 0  # events applied by this worker
        self.consumed = 0  # messages it has seen, re-deliveries and poison included

    def run(self, stop: threading.Event) -> None:
        log.info("projection %s consuming", self.projection.name)
        while not stop.is_set():
            self.step()

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once, apply what came, commit offsets; return how many events were applied."""
        messages = poll_batch(self.consumer, self.batch_size, timeout_ms)
        if not messages:
            return 0
        deliveries: list[Delivered] = []
        for message in messages:
            try:
                deliveries.append(decode(message.value))
            except PoisonMessageError as error:
                dead_letter(self.producer, self.dead_letter_topic, message, str(error),
                            projection=self.projection.name)
        self.producer.flush()
        applied = self._apply(deliveries)
        commit_offsets(self.consumer)
        self.applied += applied
        self.consumed += len(messages)  # counted last: a batch is consumed once it is applied and committed
        return applied

    def _apply(self, deliveries: list[Delivered]) -> int:
        for attempt in range(5):
            try:
                with self.conn.transaction(), self.conn.cursor() as curs:
                    return self.projection.apply(curs, deliveries, self.source.missing)
            except (psycopg.OperationalError, psycopg.errors.UndefinedTable, psycopg.errors.InternalError) as error:
                # the database restarted, or a rebuild swapped the tables under us: reconnect and retry
                log.warning("projection %s: %s; retrying", self.projection.name, error)
                time.sleep(0.2 * (attempt + 1))
                self.conn.close()
                self.conn = psycopg.connect(self.database_url)
        raise RuntimeError(f"projection {self.projection.name} could not apply a batch after 5 attempts")

    def close(self) -> None:
        self.consumer.close()
        self.conn.close()
