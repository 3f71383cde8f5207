"""The cross-department timeline: every event of a customer as one readable entry.

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
from services.projections.summaries import summarize
from shared.events import CustomerEvent, CustomerRegistered


class TimelineProjection(Projection):
    name = "timeline"
    tables = ("timeline_entries", "timeline_customers")

    def schema(self) -> dict[str, Sequence[Composable]]:
        # Indexes stay unnamed: a rebuild creates these tables under a suffix and renames
        # them, so a fixed index name would clash with the renamed table's. ``create_tables``
        # runs a table's statements only while the table does not exist, so indexes are
        # created once, together with their table.
        entries, customers = self.table("timeline_entries"), self.table("timeline_customers")
        return {
            "timeline_entries": [
                SQL("CREATE TABLE {0} (event_id uuid PRIMARY KEY, customer_id uuid NOT NULL, "
                    "stream_version bigint NOT NULL, occurred_at timestamptz NOT NULL, "
                    "recorded_at timestamptz NOT NULL, actor_user text NOT NULL, department text NOT NULL, "
                    "team text, site text, kind text NOT NULL, summary_ja text NOT NULL, summary_en text NOT NULL, "
                    "deal_id uuid, ticket_id uuid, company_name text)").format(entries),
                SQL("CREATE INDEX ON {0} (customer_id, occurred_at DESC, stream_version DESC)").format(entries),
                SQL("CREATE INDEX ON {0} (department)").format(entries),
            ],
            "timeline_customers": [
                SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, company_name text NOT NULL)").format(customers),
            ],
        }

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        names = self._company_names(curs, events)
        curs.executemany(
            SQL("INSERT INTO {0} (event_id, customer_id, stream_version, occurred_at, recorded_at, actor_user, "
                "department, team, site, kind, summary_ja, summary_en, deal_id, ticket_id, company_name) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (event_id) DO NOTHING").format(self.table("timeline_entries")),
            [self._row(event, names.get(customer_id))
             for customer_id, customer_events in events.items() for event in customer_events],
        )

    def _row(self, e: CustomerEvent, company_name: str | None) -> tuple:
        ja, en = summarize(e, self.process)
        a = e.actor
        return (e.event_id, e.originator_id, e.originator_version, e.occurred_at, e.timestamp, a.user,
                a.department, a.team, a.site, type(e).__name__, ja, en,
                getattr(e, "deal_id", None), getattr(e, "ticket_id", None), company_name)

    def _company_names(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> dict[UUID, str]:
        """Company name per customer: from registrations in this batch, else from earlier ones (one query)."""
        registered = {c: e.company_name for c, es in events.items() for e in es if isinstance(e, CustomerRegistered)}
        table = self.table("timeline_customers")
        if registered:
            curs.executemany(SQL("INSERT INTO {0} (customer_id, company_name) VALUES (%s, %s) "
                                 "ON CONFLICT (customer_id) DO NOTHING").format(table), list(registered.items()))
        earlier = [c for c in events if c not in registered]
        if earlier:
            curs.execute(SQL("SELECT customer_id, company_name FROM {0} WHERE customer_id = ANY(%s)").format(table),
                         (earlier,))
            registered.update(curs.fetchall())
        return registered
