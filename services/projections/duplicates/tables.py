"""The duplicate-approach read model's tables: their names (the one place that spells them) and statements.

Indexes stay unnamed: a rebuild creates these tables under a suffix and renames them,
so a fixed index name would clash with the renamed table's. ``create_tables`` runs a
table's statements only while the table does not exist, so indexes are created once,
together with their table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg.sql import SQL, Composable, Identifier

NAME = "duplicates"
CUSTOMERS = "duplicate_customers"  # each customer's company key and name
ACTIVITY = "company_activity"  # every sales-department event, with who and where
TABLES = (CUSTOMERS, ACTIVITY)


def schema(table: Callable[[str], Identifier]) -> dict[str, Sequence[Composable]]:
    """Per table: its CREATE TABLE and CREATE INDEX statements; ``table`` names a table (suffixed in a rebuild)."""
    customers, activity = table(CUSTOMERS), table(ACTIVITY)
    return {
        CUSTOMERS: [
            SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, company_key text NOT NULL, "
                "company_name text NOT NULL)").format(customers),
            SQL("CREATE INDEX ON {0} (company_key)").format(customers),
        ],
        ACTIVITY: [
            SQL("CREATE TABLE {0} (event_id uuid PRIMARY KEY, company_key text NOT NULL, "
                "customer_id uuid NOT NULL, occurred_at timestamptz NOT NULL, actor_user text NOT NULL, "
                "team text, site text)").format(activity),
            SQL("CREATE INDEX ON {0} (occurred_at)").format(activity),
        ],
    }
