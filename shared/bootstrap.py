"""Composition of the write side: settings -> process definition + database -> Customers."""

from __future__ import annotations

from shared.application import Customers
from shared.database import database_url, eventsourcing_env, heal_after_restarts, schema_lock
from shared.process import ProcessDefinition, load_process_definition
from shared.settings import Settings


def build_customers(settings: Settings, process: ProcessDefinition | None = None) -> Customers:
    process = process or load_process_definition(settings.process_definition)
    url = database_url(settings)
    with schema_lock(url):  # creates the event store's tables if missing
        customers = Customers(process, env=eventsourcing_env(url, settings), snapshot_interval=settings.snapshot_interval)
    heal_after_restarts(customers.recorder.datastore.pool)  # its snapshots and tracking share this pool
    return customers
