"""A projection worker: consumes the customer-events topic and applies one projection.

Per poll: each message names a stored event (position, customer, version, event id);
the worker reads those events from the event store and applies them, never the
messages themselves. In ONE PostgreSQL transaction: the events, the per-customer
versions, and the dead letters (messages that name no stored event; events that cannot
be applied, which park their customer). Dead letters also go to the dead-letter topic;
only when the broker has acknowledged them are the Kafka offsets committed. A crash
anywhere re-delivers the batch, and the recorded versions make the second pass apply
nothing twice.

The loop never stops on its own: a database or broker outage is waited out (capped
backoff, one log line), connections and clients are rebuilt, and the batch in hand is
applied once the database is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from services.projections.base import Projection
from services.projections.dead_letters import DeadLetter
from services.projections.store import EventSource
from shared.consuming import PoisonMessageError, commit_offsets, dead_letter, poll_batch
from shared.metrics import Metrics
from shared.resilience import keep_running
from shared.wire import identify

log = logging.getLogger(__name__)

LAG_EVERY = 5.0  # seconds between two readings of the lag behind the event store


class ProjectionWorker:
    def __init__(self, projection: Projection, connect_consumer: Callable[[], KafkaConsumer],
                 connect_producer: Callable[[], KafkaProducer], read_topic_id: Callable[[], str | None],
                 database_url: str, source: EventSource, dead_letter_topic: str, batch_size: int,
                 metrics: Metrics | None = None, retry_cap: float = 5.0) -> None:
        self.projection, self.connect_consumer, self.connect_producer = projection, connect_consumer, connect_producer
        self.read_topic_id = read_topic_id
        self.database_url, self.source = database_url, source
        self.dead_letter_topic, self.batch_size, self.retry_cap = dead_letter_topic, batch_size, retry_cap
        self.metrics = metrics or Metrics()
        self.component = f"projection {projection.name}"
        self.consumer, self.producer = connect_consumer(), connect_producer()
        self.topic_id, self.rewind = read_topic_id(), False
        self.conn = psycopg.connect(database_url)  # its tables: made by the migrations (see app.py)
        self.pending: list[Any] | None = None  # a polled batch not yet applied and committed
        self.kafka_broken = False
        self.lag_read_at = time.monotonic()
        self.applied = 0  # events applied by this worker
        self.consumed = 0  # messages it has seen, re-deliveries and poison included
        self.dead_lettered = 0

    def run(self, stop: threading.Event) -> None:
        log.info("projection %s consuming", self.projection.name)
        keep_running(self.component, stop, self.step, self.reconnect, self.metrics, cap=self.retry_cap)

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once (or take the batch an outage interrupted), apply, commit; return the events applied."""
        try:
            applied = self._step(timeout_ms)
            self._read_lag()
        except KafkaError:
            self.kafka_broken = True
            raise
        return applied

    def _step(self, timeout_ms: int) -> int:
        if self.pending is None:
            self.pending = poll_batch(self.consumer, self.batch_size, timeout_ms)
        if self.rewind and self.consumer.assignment():
            self.consumer.seek_to_beginning()  # the topic was made anew: what it holds now is all new to us
            self.rewind, self.pending = False, None
            return 0
        if not self.pending:
            self.pending = None
            return 0
        started = time.perf_counter()
        applied, letters = self._apply(self.pending)
        self._publish(letters)
        commit_offsets(self.consumer)
        self._count(len(self.pending), applied, letters, time.perf_counter() - started)
        self.pending = None
        return applied

    def _apply(self, messages: list[Any]) -> tuple[int, list[DeadLetter]]:
        named, letters = [], []
        for message in messages:
            try:
                named.append((identify(message.value), message))
            except PoisonMessageError as error:
                letters.append(DeadLetter("topic", str(error), partition=message.partition, offset=message.offset))
        deliveries, rejected = self.source.verified(named)
        letters += [d for d in rejected if d.source == "topic"]
        unreadable = [d for d in rejected if d.source == "event_store"]
        with self.conn.transaction(), self.conn.cursor() as curs:
            result = self.projection.apply_isolating(curs, deliveries, self.source.missing, unreadable)
            self.projection.record_dead_letters(curs, letters)
        return result.events, letters + result.dead_letters

    def _publish(self, letters: list[DeadLetter]) -> None:
        """Dead letters of messages to the dead-letter topic, acknowledged before the offsets are committed."""
        by_offset = {(m.partition, m.offset): m for m in self.pending or ()}
        futures = [dead_letter(self.producer, self.dead_letter_topic, by_offset[(d.partition, d.offset)], d.reason,
                               projection=self.projection.name)
                   for d in letters if d.source == "topic" and (d.partition, d.offset) in by_offset]
        for future in futures:
            future.get(timeout=30)

    def _count(self, consumed: int, applied: int, letters: list[DeadLetter], seconds: float) -> None:
        self.applied += applied
        self.dead_lettered += len(letters)
        self.consumed += consumed  # counted last: a batch is consumed once it is applied and committed
        m, name = self.metrics, self.component
        m.events.labels(name).inc(applied)
        m.batches.labels(name).inc()
        m.batch_seconds.labels(name).observe(seconds)
        m.dead_letters.labels(name).inc(len(letters))

    def _read_lag(self) -> None:
        """Now and then: the lag and parked customers (metrics), and whether the topic was made anew."""
        if time.monotonic() - self.lag_read_at < LAG_EVERY:
            return
        self.lag_read_at = time.monotonic()
        self._notice_new_topic()
        with self.conn.transaction(), self.conn.cursor() as curs:
            lag, parked = self.projection.lag(curs, self.source.reader.events_table_name)
        self.metrics.lag.labels(self.component).set(lag)
        self.metrics.parked.labels(self.component).set(parked)

    def _notice_new_topic(self) -> None:
        """A topic deleted and made again, or a replaced broker, restarts offsets at 0: read it from the start
        (the relay publishes everything again to a new topic; what was applied is skipped)."""
        current = self.read_topic_id()
        if current is not None and self.topic_id is not None and current != self.topic_id:
            log.warning("projection %s: the events topic was made anew (broker replaced or topic recreated): "
                        "reading it again from the start", self.projection.name)
            self.rewind = True
        self.topic_id = current or self.topic_id

    def reconnect(self) -> None:
        """After an outage: a new database connection; new Kafka clients if the broker failed them."""
        self.conn.close()
        self.conn = psycopg.connect(self.database_url)
        if self.kafka_broken:
            for client in (self.consumer, self.producer):
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - a client of a broker that is gone may fail to close
                    pass
            self.pending = None  # not committed: the new consumer is given it again
            self.consumer, self.producer = self.connect_consumer(), self.connect_producer()
            self.kafka_broken = False
            self._notice_new_topic()

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
        self.conn.close()
        self.source.reader.close()
