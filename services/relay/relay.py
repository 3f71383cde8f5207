"""The relay: follows the event store's notification log in order and publishes to Kafka.

Its position is kept in PostgreSQL and advanced only after the broker acknowledged
everything up to it (idempotent producer, ``acks=all``). After a crash it resumes from
the stored position: an event may be published twice, never skipped. Downstream
projections skip what they have already applied.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from kafka import KafkaProducer

from shared.application import Customers
from shared.wire import encode

log = logging.getLogger(__name__)


class RelayPositions:
    """The relay's position (a notification id), kept in PostgreSQL."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS relay_positions (name text PRIMARY KEY, position bigint NOT NULL)")

    def get(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT position FROM relay_positions WHERE name = %s", (self.name,)).fetchone()
            return row[0] if row else 0

    def set(self, position: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("INSERT INTO relay_positions (name, position) VALUES (%s, %s) ON CONFLICT (name) "
                         "DO UPDATE SET position = EXCLUDED.position", (self.name, position))


class Relay:
    def __init__(self, customers: Customers, producer: KafkaProducer, topic: str, positions: RelayPositions,
                 batch_size: int) -> None:
        self.customers, self.producer, self.topic = customers, producer, topic
        self.positions, self.batch_size = positions, batch_size
        self.position = positions.get()

    def publish_next(self) -> int:
        """Publish the next batch of events after the position; return how many."""
        notifications = self.customers.recorder.select_notifications(
            start=self.position, limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        futures = []
        for n in notifications:
            key, value = encode(n.topic, n.id, n.state)
            futures.append(self.producer.send(self.topic, key=key, value=value))
        self.producer.flush()
        for future in futures:
            future.get()  # raises if the broker refused any of them: the position stays put
        self.position = notifications[-1].id
        self.positions.set(self.position)
        return len(notifications)

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Publish until stopped; woken by the event store's NOTIFY, polling as a fallback."""
        channel = self.customers.recorder.channel_name
        with psycopg.connect(self.positions.url, autocommit=True) as listener:
            listener.execute(f'LISTEN "{channel}"')
            log.info("relay publishing to %s from position %d", self.topic, self.position)
            while not stop.is_set():
                if self.publish_next() < self.batch_size:
                    for _ in listener.notifies(timeout=poll_interval, stop_after=1):
                        pass
