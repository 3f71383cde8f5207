"""Composition of the write side: settings -> process definition + migrated database -> Customers.

Only the command API, ingest and the importer build it; whoever only reads the store opens an
``EventStoreReader`` (``shared/event_store.py``).
"""

from __future__ import annotations

from shared.application import Customers
from shared.database import database_url, eventsourcing_env, heal_after_restarts
from shared.migrations import migrate
from shared.process import ProcessDefinition, load_process_definition
from shared.settings import Settings


def build_customers(settings: Settings, process: ProcessDefinition | None = None) -> Customers:
    process = process or load_process_definition(settings.process_definition)
    url = database_url(settings)
    migrate(url, settings)
    customers = Customers(process, env=eventsourcing_env(url, settings), snapshot_interval=settings.snapshot_interval,
                          key_cache_seconds=settings.personal_key_cache_seconds)
    heal_after_restarts(customers.recorder.datastore.pool)  # its snapshots and tracking share this pool
    return customers


def reconnected(customers: Customers) -> Customers:
    """Another application like this one (process definition, database, snapshots, key cache) on connections of
    its own, for a forked process: the pool's connections belong to the process that opened them."""
    copy = Customers(customers.process, env=dict(customers.env),
                     snapshot_interval=next(iter(customers.snapshotting_intervals.values()), 0),
                     key_cache_seconds=customers.key_ring.ttl)
    heal_after_restarts(copy.recorder.datastore.pool)
    return copy
