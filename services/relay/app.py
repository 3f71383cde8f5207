"""Composition root of the relay: settings -> event store + broker -> Relay."""

from __future__ import annotations

from kafka import KafkaProducer

from services.relay.relay import Relay, RelayPositions
from shared.bootstrap import build_customers
from shared.broker import bootstrap_servers, ensure_event_topics
from shared.database import database_url
from shared.settings import Settings


def build_relay(settings: Settings) -> Relay:
    url = database_url(settings)
    customers = build_customers(settings.model_copy(update={"database_url": url}))
    bootstrap = bootstrap_servers(settings)
    ensure_event_topics(settings, bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                             client_id="customer-timeline-relay")
    return Relay(customers, producer, settings.events_topic, RelayPositions(url, settings.events_topic),
                 settings.relay_batch_size)
