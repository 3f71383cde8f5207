"""The timeline read model's tables: their names (the one place that spells them) and statements.

Indexes stay unnamed: a rebuild creates these tables under a suffix and renames them,
so a fixed index name would clash with the renamed table's. ``create_tables`` runs a
table's statements only while the table does not exist, so indexes are created once,
together with their table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg.sql import SQL, Composable, Identifier

NAME = "timeline"
ENTRIES = "timeline_entries"  # one entry per event
CUSTOMERS = "timeline_customers"  # each customer's company name, from its registration
TABLES = (ENTRIES, CUSTOMERS)


def schema(table: Callable[[str], Identifier]) -> dict[str, Sequence[Composable]]:
    """Per table: its CREATE TABLE and CREATE INDEX statements; ``table`` names a table (suffixed in a rebuild)."""
    entries, customers = table(ENTRIES), table(CUSTOMERS)
    return {
        ENTRIES: [
            SQL("CREATE TABLE {0} (event_id uuid PRIMARY KEY, customer_id uuid NOT NULL, "
                "stream_version bigint NOT NULL, occurred_at timestamptz NOT NULL, "
                "recorded_at timestamptz NOT NULL, actor_user text NOT NULL, department text NOT NULL, "
                "team text, site text, kind text NOT NULL, summary_ja text NOT NULL, summary_en text NOT NULL, "
                "deal_id uuid, ticket_id uuid, company_name text)").format(entries),
            SQL("CREATE INDEX ON {0} (customer_id, occurred_at DESC, stream_version DESC)").format(entries),
            SQL("CREATE INDEX ON {0} (department)").format(entries),
        ],
        CUSTOMERS: [
            SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, company_name text NOT NULL)").format(customers),
        ],
    }
