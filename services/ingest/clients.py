"""The broker side of ingest: its topics, a consumer in the ingest group, a producer for the answers.

Made again after every broker failure; a client made while the broker is away fails
within seconds (and the caller retries).
"""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer

from shared.broker import BOOTSTRAP_TIMEOUT_MS, ensure_topics, make_producer, sized
from shared.settings import Settings


class IngestClients:
    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings, self.bootstrap = settings, bootstrap

    def prepare(self) -> None:
        """Create the topics that are missing (a new broker has none), with the configured partitions, each
        accepting messages up to kafka_max_message_bytes."""
        s = self.settings
        ensure_topics(self.bootstrap, {s.ingest_topic: s.ingest_topic_partitions,
                                       s.ingest_results_topic: s.ingest_topic_partitions,
                                       s.ingest_dead_letter_topic: 1},
                      sized(s, s.ingest_topic, s.ingest_results_topic, s.ingest_dead_letter_topic))

    def consumer(self) -> KafkaConsumer:
        s = self.settings
        return KafkaConsumer(
            s.ingest_topic, bootstrap_servers=self.bootstrap, group_id=s.ingest_group,
            client_id="ingest", enable_auto_commit=False, auto_offset_reset="earliest",
            allow_auto_create_topics=False, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            max_poll_records=s.ingest_batch_size, max_poll_interval_ms=s.ingest_max_poll_interval_ms,
            session_timeout_ms=s.ingest_session_timeout_ms, heartbeat_interval_ms=1000)

    def producer(self) -> KafkaProducer:
        return make_producer(self.bootstrap, self.settings, "ingest-results", linger_ms=20, batch_size=512 * 1024)
