"""The relay's side of the broker: the events topic (made as configured) and the producer publishing to it.

An events topic made earlier may take smaller messages than KAFKA_MAX_MESSAGE_BYTES (its
``max.message.bytes`` set by hand, or the broker's default): the broker would refuse a larger
event, and the relay retry it forever. So each prepare reads the topic's limit and publishes
within the smaller of the two (a larger event goes without its payload, ``shared/wire.py``);
the topic is left as its operator set it, and the relay says so once.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer

from shared.broker import ensure_event_topics, make_producer, topic_id, topic_max_message_bytes
from shared.settings import Settings

log = logging.getLogger(__name__)


class EventsTopic:
    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings, self.bootstrap, self.name = settings, bootstrap, settings.events_topic
        self.max_message_bytes = settings.kafka_max_message_bytes  # what the relay publishes whole
        self._said: int | None = None  # the topic limit last logged

    def prepare(self) -> tuple[str | None, bool]:
        """Create the topics that are missing and read the events topic's limit; return the events topic's id
        and whether it was missing."""
        created = ensure_event_topics(self.settings, self.bootstrap)
        self._fit(topic_max_message_bytes(self.bootstrap, self.name))
        return topic_id(self.bootstrap, self.name), self.name in created

    def _fit(self, accepted: int | None) -> None:
        configured = self.settings.kafka_max_message_bytes
        self.max_message_bytes = min(configured, accepted) if accepted else configured
        if accepted is not None and accepted < configured and accepted != self._said:
            log.warning("the events topic %s takes messages up to %d bytes (its max.message.bytes), less than "
                        "KAFKA_MAX_MESSAGE_BYTES (%d): larger events are published without their payload; raise "
                        "the topic's max.message.bytes to publish them whole", self.name, accepted, configured)
        if accepted is not None:
            self._said = accepted

    def producer(self) -> KafkaProducer:
        return make_producer(self.bootstrap, self.settings, "customer-timeline-relay", linger_ms=5)
