"""Duplicate approach: the same company worked by two sales teams or sites at once.

The article's case: HQ sales and a regional branch pitch the same proposal to the same
company without knowing it, often because each registered the company on its own
(「株式会社ABC」 and 「㈱ＡＢＣ」). Customers are therefore grouped by the normalised
``company_key`` of their registration, not by customer id.

Tables: ``duplicate_customers`` (each customer's company key and name) and
``company_activity`` (every sales-department event, with who and where). Which
companies are worked twice in a given period is a query over these
(``services.projections.duplicates_queries``), so the window is the caller's choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable

from services.projections.base import Projection
from shared.events import CustomerEvent, CustomerRegistered

COUNTED_DEPARTMENT = "sales"  # CS, support and tech talking to a customer is not a duplicate approach


class DuplicatesProjection(Projection):
    name = "duplicates"
    tables = ("duplicate_customers", "company_activity")

    def schema(self) -> dict[str, Sequence[Composable]]:
        # Indexes stay unnamed: a rebuild creates these tables under a suffix and renames
        # them, so a fixed index name would clash with the renamed table's. ``create_tables``
        # runs a table's statements only while the table does not exist, so indexes are
        # created once, together with their table.
        customers, activity = self.table("duplicate_customers"), self.table("company_activity")
        return {
            "duplicate_customers": [
                SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, company_key text NOT NULL, "
                    "company_name text NOT NULL)").format(customers),
                SQL("CREATE INDEX ON {0} (company_key)").format(customers),
            ],
            "company_activity": [
                SQL("CREATE TABLE {0} (event_id uuid PRIMARY KEY, company_key text NOT NULL, "
                    "customer_id uuid NOT NULL, occurred_at timestamptz NOT NULL, actor_user text NOT NULL, "
                    "team text, site text)").format(activity),
                SQL("CREATE INDEX ON {0} (occurred_at)").format(activity),
            ],
        }

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        keys = self._company_keys(curs, events)
        rows = [(e.event_id, keys[c], c, e.occurred_at, e.actor.user, e.actor.team, e.actor.site)
                for c, customer_events in events.items() if c in keys
                for e in customer_events if e.actor.department == COUNTED_DEPARTMENT]
        if rows:
            curs.executemany(SQL("INSERT INTO {0} (event_id, company_key, customer_id, occurred_at, actor_user, "
                                 "team, site) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING")
                             .format(self.table("company_activity")), rows)

    def _company_keys(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> dict[UUID, str]:
        """Company key per customer: from registrations in this batch, else from earlier ones (one query).

        A customer without a known registration cannot be attributed to a company and is
        left out; it does not happen through ``apply``, whose first event of a stream is
        always the registration.
        """
        registered = {c: e for c, es in events.items() for e in es if isinstance(e, CustomerRegistered)}
        table = self.table("duplicate_customers")
        if registered:
            curs.executemany(SQL("INSERT INTO {0} (customer_id, company_key, company_name) VALUES (%s, %s, %s) "
                                 "ON CONFLICT (customer_id) DO NOTHING").format(table),
                             [(c, e.company_key, e.company_name) for c, e in registered.items()])
        keys = {c: e.company_key for c, e in registered.items()}
        earlier = [c for c, es in events.items()
                   if c not in registered and any(e.actor.department == COUNTED_DEPARTMENT for e in es)]
        if earlier:
            curs.execute(SQL("SELECT customer_id, company_key FROM {0} WHERE customer_id = ANY(%s)").format(table),
                         (earlier,))
            keys.update(curs.fetchall())
        return keys
