"""Composition of the write side: settings -> process definition + database -> Customers."""

from __future__ import annotations

from shared.application import Customers
from shared.database import database_url, eventsourcing_env
from shared.process import ProcessDefinition, load_process_definition
from shared.settings import Settings


def build_customers(settings: Settings, process: ProcessDefinition | None = None) -> Customers:
    process = process or load_process_definition(settings.process_definition)
    env = eventsourcing_env(database_url(settings), settings)
    return Customers(process, env=env, snapshot_interval=settings.snapshot_interval)
