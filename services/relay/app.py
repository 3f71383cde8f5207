"""Composition root of the relay: settings -> migrations, event store reader + broker -> Relay.

Nothing here talks to the broker: the relay makes its topics and producer when it
starts publishing, and again after every outage.
"""

from __future__ import annotations

from services.relay.positions import RelayPositions
from services.relay.relay import Relay
from services.relay.topic import EventsTopic
from shared.event_store import open_event_store
from shared.broker import bootstrap_servers
from shared.database import database_url
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.settings import Settings


def build_relay(settings: Settings, metrics: Metrics | None = None) -> Relay:
    url = database_url(settings)
    migrate(url, settings)
    reader = open_event_store(settings.model_copy(update={"database_url": url}))
    return Relay(reader, EventsTopic(settings, bootstrap_servers(settings)),
                 RelayPositions(url, settings.events_topic), settings.relay_batch_size, metrics,
                 settings.retry_cap_seconds)
