"""Composition root of the ingest consumer: settings -> event store + broker -> IngestConsumer."""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer

from services.ingest.consumer import IngestConsumer
from shared.bootstrap import build_customers
from shared.broker import bootstrap_servers, ensure_topics
from shared.database import database_url
from shared.settings import Settings


def build_ingest(settings: Settings) -> IngestConsumer:
    customers = build_customers(settings.model_copy(update={"database_url": database_url(settings)}))
    bootstrap = bootstrap_servers(settings)
    ensure_topics(bootstrap, {settings.ingest_topic: settings.ingest_topic_partitions,
                              settings.ingest_results_topic: settings.ingest_topic_partitions,
                              settings.ingest_dead_letter_topic: 1})
    consumer = KafkaConsumer(
        settings.ingest_topic, bootstrap_servers=bootstrap, group_id=f"{settings.consumer_group_prefix}-ingest",
        client_id="ingest", enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=settings.ingest_batch_size, max_poll_interval_ms=settings.projection_max_poll_interval_ms,
        session_timeout_ms=settings.projection_session_timeout_ms, heartbeat_interval_ms=1000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                             batch_size=512 * 1024, client_id="ingest-results")
    return IngestConsumer(customers, consumer, producer, settings.ingest_results_topic,
                          settings.ingest_dead_letter_topic, settings.ingest_batch_size)
