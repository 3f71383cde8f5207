"""The relay's side of the broker: the events topic (made as configured) and the producer publishing to it."""

from __future__ import annotations

from kafka import KafkaProducer

from shared.broker import ensure_event_topics, make_producer, topic_id
from shared.settings import Settings


class EventsTopic:
    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings, self.bootstrap, self.name = settings, bootstrap, settings.events_topic
        self.max_message_bytes = settings.kafka_max_message_bytes

    def prepare(self) -> tuple[str | None, bool]:
        """Create the topics that are missing; return the events topic's id and whether it was missing."""
        created = ensure_event_topics(self.settings, self.bootstrap)
        return topic_id(self.bootstrap, self.name), self.name in created

    def producer(self) -> KafkaProducer:
        return make_producer(self.bootstrap, self.settings, "customer-timeline-relay", linger_ms=5)
