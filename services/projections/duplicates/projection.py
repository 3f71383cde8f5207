"""The duplicate-approach projection: each customer's company key, and every sales-department event.

The article's case: HQ sales and a regional branch pitch the same proposal to the same
company without knowing it, often because each registered the company on its own
(「株式会社ABC」 and 「㈱ＡＢＣ」). Customers are therefore grouped by the normalised
``company_key`` of their registration, not by customer id. Which companies are worked
twice in a given period is a query over these tables (``queries``), so the window is
the caller's choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable

from services.projections.base import Projection
from services.projections.batch import Rows
from services.projections.duplicates import tables as t
from services.projections.handlers import Handlers
from shared.events import CustomerEvent, CustomerRegistered
from shared.events import RECORD_KEEPING

COUNTED_DEPARTMENT = "sales"  # CS, support and tech talking to a customer is not a duplicate approach
COMPANIES = Handlers()
ACTIVITY_ROWS = Rows("uuid", "text", "uuid", "timestamptz", "text", "text", "text")
CUSTOMER_ROWS = Rows("uuid", "text", "text")  # events that say which company a customer is


@COMPANIES.on(CustomerRegistered)
def _registered(event: CustomerRegistered, registered: dict[UUID, CustomerRegistered]) -> None:
    registered[event.originator_id] = event


class DuplicatesProjection(Projection):
    name = t.NAME
    tables = t.TABLES
    personal_data = ("company-level data only: company name and key, and when which sales user, team and site "
                     "worked the company; it keeps none of a contact's data")

    def schema(self) -> dict[str, Sequence[Composable]]:
        return t.schema(self.table)

    def write(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> None:
        keys = self._company_keys(curs, events)
        rows = [(e.event_id, keys[c], c, e.occurred_at, e.actor.user, e.actor.team, e.actor.site)
                for c, customer_events in events.items() if c in keys
                for e in customer_events if e.actor.department == COUNTED_DEPARTMENT and type(e) not in RECORD_KEEPING]
        if rows:
            ACTIVITY_ROWS.execute(curs, SQL(
                "INSERT INTO {0} (event_id, company_key, customer_id, occurred_at, actor_user, team, site) "
                "SELECT * FROM {1} ON CONFLICT (event_id) DO NOTHING").format(self.table(t.ACTIVITY), ACTIVITY_ROWS.sql),
                rows)

    def _company_keys(self, curs: Cursor, events: dict[UUID, list[CustomerEvent]]) -> dict[UUID, str]:
        """Company key per customer: from registrations in this batch, else from earlier ones (one query).

        A customer without a known registration cannot be attributed to a company and is
        left out; it does not happen through ``apply``, whose first event of a stream is
        always the registration.
        """
        registered: dict[UUID, CustomerRegistered] = {}
        for customer_events in events.values():
            for event in customer_events:
                COMPANIES(event, registered)
        table = self.table(t.CUSTOMERS)
        if registered:
            CUSTOMER_ROWS.execute(curs, SQL("INSERT INTO {0} (customer_id, company_key, company_name) SELECT * FROM {1} "
                                            "ON CONFLICT (customer_id) DO NOTHING").format(table, CUSTOMER_ROWS.sql),
                                  [(c, e.company_key, e.company_name) for c, e in registered.items()])
        keys = {c: e.company_key for c, e in registered.items()}
        earlier = [c for c, es in events.items()
                   if c not in registered and any(e.actor.department == COUNTED_DEPARTMENT for e in es)]
        if earlier:
            curs.execute(SQL("SELECT customer_id, company_key FROM {0} WHERE customer_id = ANY(%s)").format(table),
                         (earlier,))
            keys.update(curs.fetchall())
        return keys
