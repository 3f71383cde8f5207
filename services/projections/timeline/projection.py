"""The timeline projection: one entry per event, whoever's department wrote it.

Sales, CS, support and tech all read the same entries: who did what (user, team,
department, site), when it happened and when it was recorded, and a one-line
summary in Japanese and English. Each entry also carries the company name from the
customer's registration, kept in ``timeline_customers`` so a later event can find it
without reading the stream again.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable

from services.projections.base import Projection
from services.projections.batch import Rows
from services.projections.handlers import Handlers
from services.projections.timeline import tables as t
from services.projections.timeline.summaries import summarize
from shared.events import ContactAdded, ContactCorrected, ContactErased, CustomerEvent, CustomerRegistered

ENTRY_ROWS = Rows("uuid", "uuid", "bigint", "timestamptz", "timestamptz", "text", "text", "text", "text", "text",
                  "text", "text", "uuid", "uuid", "text")  # of the entry rows ``_row`` makes
NAME_ROWS = Rows("uuid", "text")
SUMMARY_ROWS = Rows("uuid", "text", "text")
COMPANY_NAMES = Handlers()  # events that name the customer's company
PEOPLE_CHANGED = frozenset({ContactCorrected, ContactErased})  # their contact's earlier entries are said again


@COMPANY_NAMES.on(CustomerRegistered)
def _registered(event: CustomerRegistered, names: dict[UUID, str]) -> None:
    names[event.originator_id] = event.company_name


class TimelineProjection(Projection):
    name = t.NAME
    tables = t.TABLES
    personal_data = ("one-line summaries naming contacts (name, title) and the words of touchpoints and tickets "
                     "with a contact, decrypted with the contacts' keys (timeline_entries; re-derived as 削除済み "
                     "after an erasure, corrected values after a correction)")

    def schema(self) -> dict[str, Sequence[Composable]]:
        return t.schema(self.table)

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        names = self._company_names(curs, events)
        rows = [self._row(event, names.get(customer_id))
                for customer_id, customer_events in events.items() for event in customer_events]
        ENTRY_ROWS.execute(  # one statement per batch, its rows copied in
            curs, SQL("INSERT INTO {0} (event_id, customer_id, stream_version, occurred_at, recorded_at, actor_user, "
                      "department, team, site, kind, summary_ja, summary_en, deal_id, ticket_id, company_name) "
                      "SELECT * FROM {1} ON CONFLICT (event_id) DO NOTHING").format(self.table(t.ENTRIES), ENTRY_ROWS.sql),
            rows)
        self._rederive_people(curs, events)

    def _rederive_people(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        """A contact corrected or erased: their earlier entries say it too (corrected details, 「削除済み」).

        Re-derived from the customer's stream as the event store reads now (an erased contact's fields read as
        erased), so a rebuild writes the same summaries.
        """
        for customer_id, customer_events in events.items():
            people = {e.contact_id for e in customer_events if type(e) in PEOPLE_CHANGED}
            if not people or self.history is None:
                continue
            history = [e for e in self.history(customer_id, 0, customer_events[-1].originator_version)
                       if e.personal_subject() in people]
            corrected: dict[UUID, dict[str, str]] = {}  # contact -> their details as corrected since
            for e in history:
                if isinstance(e, ContactCorrected) and not e.erased_fields:
                    corrected.setdefault(e.contact_id, {}).update(e.corrected_fields())
            rows = []
            for e in history:
                if isinstance(e, ContactAdded) and not e.erased_fields and e.contact_id in corrected:
                    e = e.model_copy(update=corrected[e.contact_id])
                rows.append((e.event_id, *summarize(e, self.process)))
            if rows:
                SUMMARY_ROWS.execute(curs, SQL(
                    "UPDATE {0} AS t SET summary_ja = u.ja, summary_en = u.en FROM {1} AS u(event_id, ja, en) "
                    "WHERE t.event_id = u.event_id").format(self.table(t.ENTRIES), SUMMARY_ROWS.sql), rows)

    def _row(self, e: CustomerEvent, company_name: str | None) -> tuple:
        ja, en = summarize(e, self.process)
        a = e.actor
        fields = e.__dict__  # deal_id and ticket_id where the event has them (getattr's miss is slow on pydantic)
        return (e.event_id, e.originator_id, e.originator_version, e.occurred_at, e.timestamp, a.user,
                a.department, a.team, a.site, type(e).__name__, ja, en,
                fields.get("deal_id"), fields.get("ticket_id"), company_name)

    def _company_names(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> dict[UUID, str]:
        """Company name per customer: from registrations in this batch, else from earlier ones (one query)."""
        registered: dict[UUID, str] = {}
        for customer_events in events.values():
            for event in customer_events:
                COMPANY_NAMES(event, registered)
        table = self.table(t.CUSTOMERS)
        if registered:
            NAME_ROWS.execute(curs, SQL("INSERT INTO {0} (customer_id, company_name) SELECT * FROM {1} "
                                        "ON CONFLICT (customer_id) DO NOTHING").format(table, NAME_ROWS.sql),
                              list(registered.items()))
        earlier = [c for c in events if c not in registered]
        if earlier:
            curs.execute(SQL("SELECT customer_id, company_name FROM {0} WHERE customer_id = ANY(%s)").format(table),
                         (earlier,))
            registered.update(curs.fetchall())
        return registered
