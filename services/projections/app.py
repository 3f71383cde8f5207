"""Composition root of a projection worker: settings -> migrations, event store reader + broker -> ProjectionWorker."""

from __future__ import annotations

from functools import partial

from kafka import KafkaConsumer

from services.projections.migrations import read_models
from services.projections.registry import PROJECTIONS
from services.projections.store import EventSource
from services.projections.worker import ProjectionWorker
from shared.event_store import open_event_store
from shared.broker import bootstrap_servers, ensure_event_topics, make_producer, topic_id
from shared.database import database_url
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.process import load_process_definition
from shared.settings import Settings


def _consumer(settings: Settings, bootstrap: str, name: str) -> KafkaConsumer:
    ensure_event_topics(settings, bootstrap)  # a replaced broker has none: recreate them as configured
    return KafkaConsumer(
        settings.events_topic, bootstrap_servers=bootstrap, group_id=f"{settings.consumer_group_prefix}-{name}",
        client_id=f"projection-{name}", enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=settings.projection_batch_size, max_poll_interval_ms=settings.projection_max_poll_interval_ms,
        session_timeout_ms=settings.projection_session_timeout_ms, heartbeat_interval_ms=1000,
        fetch_max_wait_ms=100,  # the broker answers a fetch within 100 ms: lower end-to-end lag
        allow_auto_create_topics=False, metadata_max_age_ms=5_000)  # topics as configured, partitions seen soon


def build_worker(settings: Settings, name: str, metrics: Metrics | None = None) -> ProjectionWorker:
    url = database_url(settings)
    process = load_process_definition(settings.process_definition)
    migrate(url, settings, read_models(process))
    reader = open_event_store(settings.model_copy(update={"database_url": url}))
    bootstrap = bootstrap_servers(settings)
    projection = PROJECTIONS[name](process)
    dead_letters = partial(make_producer, bootstrap, settings, f"projection-{name}-dead-letters")  # sized as the rest
    return ProjectionWorker(projection, partial(_consumer, settings, bootstrap, name), dead_letters,
                            partial(topic_id, bootstrap, settings.events_topic), url, EventSource(reader),
                            settings.dead_letter_topic, settings.projection_batch_size, metrics,
                            settings.retry_cap_seconds)
