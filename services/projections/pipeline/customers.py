"""One customer's page for CS and support, and finding customers by company name.

Both read the pipeline's tables: each customer's ``CustomerState`` as JSON, one row per
deal, and how many of the customer's events that state reflects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.projections.pipeline.projection import deal_row
from services.projections.pipeline.tables import DEALS, STATES, VERSIONS
from shared.domain.state import CustomerState
from shared.process import ProcessDefinition


@dataclass(frozen=True)
class ProjectedCustomer:
    state: CustomerState
    version: int  # the customer's events reflected in the state
    deals: dict[str, dict[str, Any]]  # deal id -> its pipeline_deals row
    source: str = "read_model"


def projected_customer(conn: Connection, customer_id: UUID) -> ProjectedCustomer | None:
    """The customer as the pipeline holds it; None before the projection has reached it."""
    row = conn.execute(SQL("SELECT s.state, v.version FROM {0} s JOIN {1} v USING (customer_id) "
                           "WHERE s.customer_id = %s").format(Identifier(STATES), Identifier(VERSIONS)),
                       (customer_id,)).fetchone()
    if row is None:
        return None
    with conn.cursor(row_factory=dict_row) as curs:
        deals = curs.execute(SQL("SELECT * FROM {0} WHERE customer_id = %s").format(Identifier(DEALS)),
                             (customer_id,)).fetchall()
    return ProjectedCustomer(CustomerState.model_validate(row[0]), row[1], {str(d["deal_id"]): d for d in deals})


def replayed_customer(process: ProcessDefinition, customer_id: UUID, state: CustomerState,
                      version: int) -> ProjectedCustomer:
    """A customer the projection has not reached yet, from a state replayed from its stream: the deal rows
    the projection will write for it."""
    return ProjectedCustomer(state, version, {d: deal_row(process, customer_id, UUID(d), state) for d in state.deals},
                             source="event_store")


_SEARCH = """
SELECT s.customer_id, s.state->>'company_name' AS company_name, s.state->>'company_key' AS company_key,
       s.state->>'industry' AS industry,
       (SELECT count(*) FROM {deals} d WHERE d.customer_id = s.customer_id AND d.status = 'open')
           AS open_deals,
       (SELECT max(t.value::timestamptz) FROM jsonb_each_text(s.state->'last_touch') AS t) AS last_touch_at
FROM {states} s
WHERE strpos(s.state->>'company_key', %(key)s) > 0
  AND (%(after_name)s::text IS NULL
       OR (s.state->>'company_name', s.customer_id) > (%(after_name)s::text, %(after_id)s::uuid))
ORDER BY s.state->>'company_name', s.customer_id
LIMIT %(limit)s
"""


def search_customers(conn: Connection, key: str, limit: int,
                     after: tuple[str, UUID] | None = None) -> list[dict[str, Any]]:
    """Customers whose normalised company key contains ``key``, by company name; ``after``: keyset."""
    after_name, after_id = after or (None, None)
    query = SQL(_SEARCH).format(deals=Identifier(DEALS), states=Identifier(STATES))
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(query, {"key": key, "after_name": after_name, "after_id": after_id,
                                    "limit": limit}).fetchall()
