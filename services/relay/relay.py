"""The relay: follows the event store's notification log in order and publishes to Kafka.

Its position is kept in PostgreSQL and advanced only after the broker acknowledged
every message up to it (idempotent producer, ``acks=all``). After a crash it resumes from
the stored position: an event may be published twice, never skipped. Downstream
projections skip what they have already applied.

It never stops on its own: a database or broker outage is waited out (``keep_running``),
then the LISTEN connection and the producer are rebuilt and missing topics created. A
broker that lost its data (replaced, or the topic deleted) is noticed by the events
topic's id (kept with the position) having changed: everything is published again from
position 0, once.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress

import psycopg
from eventsourcing.persistence import Notification
from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.relay.positions import RelayPositions
from services.relay.topic import EventsTopic
from shared.event_store import EventStoreReader
from shared.metrics import Metrics
from shared.resilience import keep_running
from shared.wire import encode

log = logging.getLogger(__name__)

SEND_TIMEOUT = 30.0  # seconds to wait for one acknowledgement (the producer itself gives up sooner)


class Relay:
    def __init__(self, reader: EventStoreReader, topic: EventsTopic, positions: RelayPositions, batch_size: int,
                 metrics: Metrics | None = None, retry_cap: float = 5.0) -> None:
        self.reader, self.topic, self.positions = reader, topic, positions
        self.batch_size, self.metrics, self.retry_cap = batch_size, metrics, retry_cap
        self.producer: KafkaProducer | None = None
        self.listener: psycopg.Connection | None = None
        self.position = 0

    def connect(self) -> None:
        """Read the position, make missing topics and a producer (again, after a failure)."""
        if self.producer is not None:
            return
        self.position = self.positions.get()
        current, created = self.topic.prepare()
        stored = self.positions.topic_id()
        lost = self.position > 0 and (created or (stored is not None and stored != current))
        if lost:
            log.warning("the events topic %s is not the one published to (the broker was replaced or the topic "
                        "deleted): publishing every event again from position 0 (was at %d)",
                        self.topic.name, self.position)
            self.position = 0
        if lost or stored != current:
            self.positions.start_over(current, self.position)
        self.producer = self.topic.producer()

    def publish_next(self) -> int:
        """Publish the next batch of events after the position; return how many."""
        self.connect()
        assert self.producer is not None
        started = time.perf_counter()
        notifications = self.reader.notifications(self.position, self.batch_size)
        if notifications:
            futures = [self.producer.send(self.topic.name, key=key, value=value)
                       for key, value in map(self._encode, notifications)]
            self.producer.flush(timeout=SEND_TIMEOUT)
            for future in futures:
                future.get(timeout=SEND_TIMEOUT)  # raises if the broker refused any of them: the position stays
            self.positions.set(notifications[-1].id)
            self.position = notifications[-1].id
        self._measure(len(notifications), time.perf_counter() - started)
        return len(notifications)

    def _encode(self, n: Notification) -> tuple[bytes, bytes]:
        key, value = encode(n.topic, n.id, n.state, self.topic.max_message_bytes,
                            customer_id=n.originator_id, stream_version=n.originator_version)
        if value.endswith(b'"payload_omitted":"too_large"}'):
            log.warning("event at position %d is %d bytes, over the broker's limit of %d: published without its "
                        "payload (consumers read it from the event store)", n.id, len(n.state),
                        self.topic.max_message_bytes)
        elif value.endswith(b'"payload_omitted":"unreadable"}'):
            log.warning("event at position %d cannot be read: published without its payload", n.id)
        return key, value

    def _measure(self, published: int, seconds: float) -> None:
        if self.metrics is None:
            return
        if published:
            self.metrics.events.labels("relay").inc(published)
            self.metrics.batches.labels("relay").inc()
            self.metrics.batch_seconds.labels("relay").observe(seconds)
        latest = self.reader.last_position()
        self.metrics.lag.labels("relay").set(max(0, latest - self.position))

    def step(self, poll_interval: float = 1.0) -> None:
        """Publish what there is; when caught up, wait for the event store's NOTIFY (or poll_interval)."""
        if self.publish_next() < self.batch_size:
            if self.listener is None:
                self.listener = psycopg.connect(self.positions.url, autocommit=True, connect_timeout=5)
                self.listener.execute(f'LISTEN "{self.reader.channel_name}"')
            for _ in self.listener.notifies(timeout=poll_interval, stop_after=1):
                pass

    def disconnect(self) -> None:
        """Drop the LISTEN connection and the producer; the next step makes new ones."""
        listener, producer, self.listener, self.producer = self.listener, self.producer, None, None
        if listener is not None:
            with suppress(psycopg.Error, OSError):
                listener.close()
        if producer is not None:
            with suppress(KafkaError, OSError):
                producer.close(timeout=1)

    def close(self) -> None:
        self.disconnect()
        self.reader.close()

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Publish until stopped, riding out database and broker outages."""
        log.info("relay publishing to %s", self.topic.name)
        try:
            keep_running("relay", stop, lambda: self.step(poll_interval), self.disconnect, self.metrics,
                         cap=self.retry_cap)
        finally:
            self.disconnect()
