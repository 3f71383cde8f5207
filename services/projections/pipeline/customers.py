"""One customer's page for CS and support, finding customers by company name, and when customers were last
active (personal data retention).

Both read the pipeline's tables: each customer's ``CustomerState`` as JSON, one row per
deal, and how many of the customer's events that state reflects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.projections.pipeline.projection import deal_row
from services.projections.pipeline.tables import CUSTOMERS, DEALS, STATES, VERSIONS
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


@dataclass(frozen=True)
class MergeLinks:
    merged_into: UUID | None  # the survivor this customer was merged into
    absorbed: tuple[UUID, ...]  # the customers merged into this one

    def streams(self, customer_id: UUID) -> list[UUID]:
        """The customer's own stream and those of the customers merged into it."""
        return [customer_id, *self.absorbed]


def merge_links(conn: Connection, customer_id: UUID) -> MergeLinks:
    """A customer's merges as the pipeline holds them (none before the projection has reached it)."""
    row = conn.execute(SQL("SELECT state->>'merged_into', state->'absorbed' FROM {0} WHERE customer_id = %s").format(
        Identifier(STATES)), (customer_id,)).fetchone()
    if row is None:
        return MergeLinks(None, ())
    return MergeLinks(UUID(row[0]) if row[0] else None, tuple(UUID(c) for c in row[1] or ()))


def with_merged(conn: Connection, survivor: ProjectedCustomer) -> tuple[ProjectedCustomer, list[tuple[UUID, str]]]:
    """The survivor's view including each customer merged into it (deals, contacts, tickets, last touch),
    and those customers (id, company name); the survivor's own profile stays."""
    merged = [(UUID(c), found) for c in survivor.state.absorbed if (found := projected_customer(conn, UUID(c)))]
    if not merged:
        return survivor, []
    state = survivor.state.model_copy(deep=True)
    deals = dict(survivor.deals)
    for _, other in merged:
        state.deals.update(other.state.deals)
        state.contacts.update(other.state.contacts)
        state.tickets.update(other.state.tickets)
        for department, at in other.state.last_touch.items():
            if department not in state.last_touch or state.last_touch[department] < at:
                state.last_touch[department] = at
        deals.update(other.deals)
    return (ProjectedCustomer(state, survivor.version, deals, survivor.source),
            [(c, other.state.company_name) for c, other in merged])


def replayed_customer(process: ProcessDefinition, customer_id: UUID, state: CustomerState,
                      version: int) -> ProjectedCustomer:
    """A customer the projection has not reached yet, from a state replayed from its stream: the deal rows
    the projection will write for it."""
    return ProjectedCustomer(state, version, {d: deal_row(process, customer_id, UUID(d), state) for d in state.deals},
                             source="event_store")


_SEARCH = """
SELECT s.customer_id, s.state->>'company_name' AS company_name, s.state->>'company_key' AS company_key,
       s.state->>'industry' AS industry,
       (SELECT count(*) FROM {deals} d WHERE d.status = 'open' AND d.customer_id = ANY(s.customer_id ||
            ARRAY(SELECT jsonb_array_elements_text(s.state->'absorbed')::uuid))) AS open_deals,
       (SELECT max(t.value::timestamptz) FROM jsonb_each_text(s.state->'last_touch') AS t) AS last_touch_at
FROM {states} s
WHERE s.state->>'merged_into' IS NULL
  AND s.customer_id IN (SELECT coalesce((m.state->>'merged_into')::uuid, m.customer_id) FROM {states} m
                        WHERE strpos(m.state->>'company_key', %(key)s) > 0)
  AND (%(after_name)s::text IS NULL
       OR (s.state->>'company_name', s.customer_id) > (%(after_name)s::text, %(after_id)s::uuid))
ORDER BY s.state->>'company_name', s.customer_id
LIMIT %(limit)s
"""


def search_customers(conn: Connection, key: str, limit: int,
                     after: tuple[str, UUID] | None = None) -> list[dict[str, Any]]:
    """Customers whose normalised company key contains ``key``, by company name; ``after``: keyset. A merged
    customer is found as its survivor (under the survivor's name), never itself."""
    after_name, after_id = after or (None, None)
    query = SQL(_SEARCH).format(deals=Identifier(DEALS), states=Identifier(STATES))
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(query, {"key": key, "after_name": after_name, "after_id": after_id,
                                    "limit": limit}).fetchall()


@dataclass(frozen=True)
class CustomerActivity:
    customer_id: UUID
    company_name: str
    group_id: UUID  # the survivor it was merged into, else itself
    last_activity: datetime | None  # the latest last touch over the group; None: no touch at all


_LAST_ACTIVITY = """
WITH own AS (
    SELECT s.customer_id, s.state->>'company_name' AS company_name,
           coalesce((s.state->>'merged_into')::uuid, s.customer_id) AS group_id
    FROM {states} s WHERE s.customer_id = ANY(%(ids)s)
), members AS (
    SELECT g.group_id, g.group_id AS member FROM (SELECT DISTINCT group_id FROM own) g
    UNION
    SELECT g.group_id, a.member::uuid
    FROM (SELECT DISTINCT group_id FROM own) g JOIN {states} s ON s.customer_id = g.group_id,
         jsonb_array_elements_text(s.state->'absorbed') AS a(member)
), touched AS (
    SELECT m.group_id, max(t.value::timestamptz) AS last_activity
    FROM members m JOIN {customers} c ON c.customer_id = m.member, jsonb_each_text(c.last_touch) AS t
    GROUP BY m.group_id
)
SELECT own.customer_id, own.company_name, own.group_id, touched.last_activity
FROM own LEFT JOIN touched USING (group_id)
"""


def last_activity(conn: Connection, customer_ids: Sequence[UUID]) -> dict[UUID, CustomerActivity]:
    """When each of these customers was last active, as the pipeline holds it: the latest last touch of any
    department (events about the records, merges and privacy requests, are no touch) over the customer's merge
    group (the survivor and every customer merged into it: a merged customer's contacts are the survivor's
    too). Customers the projection has not reached are left out."""
    query = SQL(_LAST_ACTIVITY).format(states=Identifier(STATES), customers=Identifier(CUSTOMERS))
    with conn.cursor() as curs:
        rows = curs.execute(query, {"ids": list(customer_ids)}).fetchall()
    return {row[0]: CustomerActivity(row[0], row[1], row[2], row[3]) for row in rows}
