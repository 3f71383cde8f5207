"""Disclosure (開示, APPI Art. 33): everything held about one contact person, with where and when.

``disclose`` collects, for one contact:

- ``event_store``: each event of the contact's customer stream whose personal data is theirs (``ContactAdded``,
  ``ContactCorrected``, a ``TouchpointRecorded`` or ``TicketOpened`` naming them), one item per personal field
  (``personal.fields`` of the event's class) with its value as read now (「削除済み」 once erased); and the
  privacy office's records about them (``ContactErased``, ``PersonalDataDisclosed``: no personal values);
- ``snapshot``: the contact's details in the customer's latest snapshot;
- ``read_model:pipeline``: the contact in the pipeline read model's customer state;
- ``read_model:timeline``: the timeline entries of those events (Japanese and English summaries);
- ``command_results``: stored answers to idempotent commands that name those events (they hold ids only; the
  key is kept with its owner part, the sender's user);
- ``personal_data_keys``: when the contact's key was made, and when it was deleted (erased).

It answers the export as JSON or CSV (UTF-8 with a BOM, so Excel opens it as UTF-8), then records the disclosure
as a ``PersonalDataDisclosed`` event on the customer's stream (after collecting: the record is what auditors see,
with the number of items given out).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from psycopg.errors import UndefinedTable
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from services.privacy.office import PrivacyOffice, Subject
from services.projections.pipeline.customers import projected_customer
from services.projections.timeline.queries import entries_of_events
from shared.application import SCOPE_SEPARATOR
from shared.commands import RecordDisclosure
from shared.domain.customer import Customer
from shared.events import Actor, ContactAdded, ContactCorrected, ContactErased, CustomerEvent, PersonalDataDisclosed
from shared.events.personal import CONTACT_FIELDS, ERASED
from shared.key_store import KEYS_TABLE
from shared.persistence import select_latest_snapshots

FORMATS = ("json", "csv")
CSV_COLUMNS = ("source", "at", "event_type", "event_id", "field", "value")
RECORDS = (ContactErased, PersonalDataDisclosed)  # the office's records about a contact: no personal values
DETAILS = (ContactAdded, ContactCorrected, ContactErased)  # events that set what a state holds of a contact


def disclose(office: PrivacyOffice, contact_id: UUID, actor: Actor, fmt: str, recipient: str) -> str:
    """The export of what is held about a contact (``fmt``: json or csv), recorded as given to ``recipient``.

    An unknown contact: ``NotFoundError`` (nothing is recorded)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use json or csv")
    subject = office.subject(contact_id)
    company_name, items = collect(office, subject)
    export = {"contact_id": str(subject.contact_id), "customer_id": str(subject.customer_id),
              "company_name": company_name, "generated_at": datetime.now(timezone.utc).isoformat(),
              "erased": subject.erased_at is not None, "items": items}
    text = as_json(export) if fmt == "json" else as_csv(items)
    office.execute(subject.customer_id, RecordDisclosure(contact_id=subject.contact_id, recipient=recipient,
                                                         format=fmt, items=len(items)), actor)
    return text


def collect(office: PrivacyOffice, subject: Subject) -> tuple[str | None, list[dict[str, Any]]]:
    """The customer's company name and every item held about the contact, in source order, each oldest first."""
    events = office.customers.reader.stream(subject.customer_id)
    mine = [e for e in events if about(e, subject.contact_id)]
    company_name = Customer.project(None, events).state.company_name if events else None
    items = [*_event_items(mine), *_snapshot_items(office, subject)]
    with psycopg.connect(office.database_url, autocommit=True) as conn:
        items += _pipeline_items(conn, subject, mine)
        items += _timeline_items(conn, mine)
    items += _answer_items(office, subject, mine)
    items += _key_items(office, subject)
    return company_name, items


def about(event: CustomerEvent, contact_id: UUID) -> bool:
    """The event holds the contact's personal data, or is a privacy record about them."""
    return event.personal_subject() == contact_id or (isinstance(event, RECORDS) and event.contact_id == contact_id)


def as_json(export: dict[str, Any]) -> str:
    return json.dumps(export, ensure_ascii=False, indent=2) + "\n"


def as_csv(items: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 with a BOM: Excel (in Japan too) then reads it as UTF-8, not Shift_JIS
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(["" if item.get(column) is None else item[column] for column in CSV_COLUMNS])
    return out.getvalue()


def _item(source: str, at: datetime | None, event_type: str | None, event_id: Any, field: str, value: Any,
          erased: bool = False) -> dict[str, Any]:
    return {"source": source, "at": at.isoformat() if at is not None else None, "event_type": event_type,
            "event_id": str(event_id) if event_id is not None else None, "field": field,
            "value": ERASED if erased else value, "erased": erased}


def _event_items(events: list[CustomerEvent]) -> list[dict[str, Any]]:
    items = []
    for event in events:
        kind = type(event).__name__
        if isinstance(event, ContactErased):
            items.append(_item("event_store", event.occurred_at, kind, event.event_id, "reason", event.reason))
            continue
        if isinstance(event, PersonalDataDisclosed):
            items.append(_item("event_store", event.occurred_at, kind, event.event_id, "recipient",
                               f"{event.recipient} ({event.format}, {event.items} items)"))
            continue
        for path in event.personal.fields:
            erased = path in event.erased_fields
            value = _at_path(event, path)
            if value is None and not erased:
                continue  # not given (an optional detail, a field a correction left alone)
            items.append(_item("event_store", event.occurred_at, kind, event.event_id, path, value, erased))
    return items


def _snapshot_items(office: PrivacyOffice, subject: Subject) -> list[dict[str, Any]]:
    snapshots = office.customers.snapshots
    if snapshots is None:
        return []
    found = select_latest_snapshots(snapshots.recorder, [subject.customer_id])
    if not found:
        return []
    snapshot = office.customers.mapper.to_domain_event(found[0])
    contact = (snapshot.state.get("contacts") or {}).get(str(subject.contact_id))
    if contact is None:
        return []  # taken before the contact was added
    erased = bool(contact.get("erased"))
    return [_item("snapshot", snapshot.timestamp, "CustomerSnapshot", None, f"contacts.{name}", contact.get(name),
                  erased)
            for name in CONTACT_FIELDS if erased or contact.get(name) is not None]


def _pipeline_items(conn: psycopg.Connection, subject: Subject, mine: list[CustomerEvent]) -> list[dict[str, Any]]:
    try:
        projected = projected_customer(conn, subject.customer_id)
    except UndefinedTable:
        return []  # a deployment without this read model
    contact = projected.state.contacts.get(str(subject.contact_id)) if projected is not None else None
    if contact is None:
        return []
    # when the state's copy was last set: the latest of the contact's events the read model reflects
    at = max((e.occurred_at for e in mine if isinstance(e, DETAILS) and e.originator_version <= projected.version),
             default=None)
    return [_item("read_model:pipeline", at, "CustomerState", None, f"contacts.{name}", getattr(contact, name),
                  contact.erased)
            for name in CONTACT_FIELDS if contact.erased or getattr(contact, name) is not None]


def _timeline_items(conn: psycopg.Connection, mine: list[CustomerEvent]) -> list[dict[str, Any]]:
    try:
        entries = entries_of_events(conn, [e.event_id for e in mine])
    except UndefinedTable:
        return []
    return [_item("read_model:timeline", entry.occurred_at, entry.kind, entry.event_id, field, getattr(entry, field))
            for entry in entries for field in ("summary_ja", "summary_en")]


def _answer_items(office: PrivacyOffice, subject: Subject, mine: list[CustomerEvent]) -> list[dict[str, Any]]:
    """Stored answers naming the contact's events: ids only; the key kept under its owner (``user:<user>``)."""
    kinds = {str(e.event_id): type(e).__name__ for e in mine}
    if not kinds:
        return []
    recorder = office.customers.event_recorder
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=dict_row) as curs:
        curs.execute(SQL("SELECT idempotency_key, response, recorded_at FROM {0} WHERE customer_id = %s "
                         "AND response->'events' @> ANY(%s::jsonb[]) ORDER BY recorded_at, idempotency_key").format(
            recorder.command_results_table),
            (subject.customer_id, [Jsonb([{"event_id": event_id}]) for event_id in kinds]))
        rows = curs.fetchall()
    items = []
    for row in rows:
        owner = row["idempotency_key"].split(SCOPE_SEPARATOR, 1)[0]
        for ref in row["response"].get("events") or ():
            if (event_id := ref.get("event_id")) in kinds:
                items.append(_item("command_results", row["recorded_at"], kinds[event_id], event_id, "response",
                                   f"ids only (customer, stream version, event ids); idempotency key kept "
                                   f"under its owner {owner}"))
    return items


def _key_items(office: PrivacyOffice, subject: Subject) -> list[dict[str, Any]]:
    datastore = office.customers.event_recorder.datastore
    with datastore.get_connection() as conn, conn.cursor(row_factory=dict_row) as curs:
        curs.execute(SQL("SELECT created_at, erased_at FROM {0}.{1} WHERE subject_id = %s").format(
            Identifier(datastore.schema), Identifier(KEYS_TABLE)), (subject.contact_id,))
        row = curs.fetchone()
    if row is None:
        return []
    items = [_item(KEYS_TABLE, row["created_at"], None, None, "key",
                   "AES-256 key made: opens this person's sealed fields")]
    if row["erased_at"] is not None:
        items.append(_item(KEYS_TABLE, row["erased_at"], None, None, "key",
                           "key deleted (erased): the sealed fields cannot be read by anyone"))
    return items


def _at_path(event: CustomerEvent, path: str) -> Any:
    value: Any = event
    for name in path.split("."):
        if value is None:
            return None
        value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return value
