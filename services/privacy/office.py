"""The privacy office: the write side and the read models of one database, for a privacy officer's requests.

Each request is a command on the contact's customer stream (``shared/commands.py``: CorrectContact,
EraseContact, RecordDisclosure), so it is an event auditors see. After it, every read model applies the
customer's new events from the event store at once (exactly once: a worker that gets them later skips
them), so a correction or erasure is seen everywhere when the command returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier

from services.projections.registry import PROJECTIONS
from services.projections.store import EventSource
from shared.application import Customers, Envelope, Outcome
from shared.commands import Command
from shared.domain.errors import DomainError, NotFoundError
from shared.events import Actor
from shared.key_store import KEYS_TABLE

CATCH_UP_CHUNK = 500  # customers per transaction when many are caught up at once


@dataclass(frozen=True)
class Subject:
    contact_id: UUID
    customer_id: UUID
    erased_at: Any  # None while the key exists


class PrivacyOffice:
    def __init__(self, customers: Customers, database_url: str) -> None:
        self.customers, self.database_url = customers, database_url
        self.source = EventSource(customers.reader)

    def subject(self, contact_id: UUID) -> Subject:
        """Whose customer a contact is (every contact has a key row from their first event on)."""
        with self.customers.event_recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT customer_id, erased_at FROM {0}.{1} WHERE subject_id = %s").format(
                Identifier(self.customers.event_recorder.datastore.schema), Identifier(KEYS_TABLE)), (contact_id,))
            row = curs.fetchone()
        if row is None:
            raise NotFoundError("contact", contact_id)
        return Subject(contact_id, row["customer_id"], row["erased_at"])

    def execute(self, customer_id: UUID, command: Command, actor: Actor) -> Outcome:
        """One request as a command on the customer's stream, then every read model brought up to date."""
        result = self.append(Envelope(command, customer_id, actor))
        if isinstance(result, DomainError):
            raise result
        self.catch_up([customer_id])
        return result

    def append(self, envelope: Envelope) -> Outcome | DomainError:
        """The command executed on its own (the command API's office joins its writer's batches instead)."""
        return self.customers.execute([envelope])[0]

    def catch_up(self, customer_ids: Iterable[UUID]) -> int:
        """Apply the customers' events every read model lacks, from the event store; the events applied. Many
        customers (retention) go a few hundred per transaction on one connection."""
        ids = list(dict.fromkeys(customer_ids))
        applied = 0
        with psycopg.connect(self.database_url) as conn:
            projections = [p for p in (cls(self.customers.process) for cls in PROJECTIONS.values())
                           if conn.execute("SELECT to_regclass(%s)", (p.versions_table,)).fetchone()[0] is not None]
            conn.commit()  # (a read model this deployment has not created is left out)
            for start in range(0, len(ids), CATCH_UP_CHUNK):
                chunk = ids[start:start + CATCH_UP_CHUNK]
                positions = self.source.last_positions(chunk)
                for projection in projections:
                    with conn.transaction(), conn.cursor() as curs:
                        versions = projection.lock_versions(curs, list(chunk))
                        deliveries = [d for c in chunk for d in self.source.after(c, versions[c][0])]
                        applied += projection.apply_isolating(curs, deliveries, self.source.missing).events
                        projection.advance_positions(curs, positions)
        return applied

    def close(self) -> None:
        self.customers.close()


def open_office(settings: Any) -> PrivacyOffice:
    from services.projections.migrations import read_models
    from shared.bootstrap import build_customers
    from shared.database import database_url
    from shared.migrations import migrate
    from shared.process import load_process_definition

    url = database_url(settings)
    settings = settings.model_copy(update={"database_url": url})
    process = load_process_definition(settings.process_definition)
    migrate(url, settings, read_models(process))
    return PrivacyOffice(build_customers(settings, process), url)
