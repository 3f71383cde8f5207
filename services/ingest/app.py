"""Composition root of the ingest consumer: settings -> event store + broker -> IngestConsumer.

Nothing here talks to the broker: ingest makes its topics and clients when it starts
consuming, and again after every outage.
"""

from __future__ import annotations

from services.ingest.clients import IngestClients
from services.ingest.consumer import IngestConsumer
from shared.bootstrap import build_customers
from shared.broker import bootstrap_servers
from shared.database import database_url
from shared.metrics import Metrics
from shared.settings import Settings


def build_ingest(settings: Settings, metrics: Metrics | None = None) -> IngestConsumer:
    customers = build_customers(settings.model_copy(update={"database_url": database_url(settings)}))
    return IngestConsumer(customers, IngestClients(settings, bootstrap_servers(settings)),
                          settings.ingest_results_topic, settings.ingest_dead_letter_topic,
                          settings.ingest_batch_size, metrics, settings.retry_cap_seconds)
