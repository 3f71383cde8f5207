"""One customer's page for CS and support, and finding customers by company name.

Both read the pipeline projection's tables: ``pipeline_states`` (each customer's
``CustomerState`` as JSON) and ``pipeline_deals`` (one row per deal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from shared.domain.state import CustomerState


@dataclass(frozen=True)
class ProjectedCustomer:
    state: CustomerState
    version: int  # the customer's events reflected in the state
    deals: dict[str, dict[str, Any]]  # deal id -> pipeline_deals row
    source: str = "read_model"


def projected_customer(conn: Connection, customer_id: UUID) -> ProjectedCustomer | None:
    row = conn.execute("SELECT s.state, v.version FROM pipeline_states s "
                       "JOIN pipeline_versions v USING (customer_id) WHERE s.customer_id = %s",
                       (customer_id,)).fetchone()
    if row is None:
        return None
    with conn.cursor(row_factory=dict_row) as curs:
        deals = curs.execute("SELECT * FROM pipeline_deals WHERE customer_id = %s", (customer_id,)).fetchall()
    return ProjectedCustomer(CustomerState.model_validate(row[0]), row[1], {str(d["deal_id"]): d for d in deals})


_SEARCH = """
SELECT s.customer_id, s.state->>'company_name' AS company_name, s.state->>'company_key' AS company_key,
       s.state->>'industry' AS industry,
       (SELECT count(*) FROM pipeline_deals d WHERE d.customer_id = s.customer_id AND d.status = 'open')
           AS open_deals,
       (SELECT max(t.value::timestamptz) FROM jsonb_each_text(s.state->'last_touch') AS t) AS last_touch_at
FROM pipeline_states s
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
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(_SEARCH, {"key": key, "after_name": after_name, "after_id": after_id,
                                      "limit": limit}).fetchall()
