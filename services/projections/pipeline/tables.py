"""The pipeline read model's tables: their names (the one place that spells them) and statements.

Indexes stay unnamed (PostgreSQL names them): a rebuild creates these tables under a
suffix and renames them, so a fixed index name would clash with the renamed table's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg.sql import SQL, Composable, Identifier

NAME = "pipeline"
DEALS = "pipeline_deals"  # one row per deal
STAGE_HISTORY = "pipeline_stage_history"  # one row per stay of a deal in a stage
STATES = "pipeline_states"  # each customer's CustomerState as JSON
VERSIONS = f"{NAME}_versions"  # kept by the projection machinery: the customer's events applied
TABLES = (DEALS, STAGE_HISTORY, STATES)

DEAL_COLUMNS = (
    "deal_id", "customer_id", "company_name", "company_key", "title", "phase", "stage", "status", "owner", "team",
    "site", "amount", "expected_close", "temperature", "decision_status", "bucket", "next_action",
    "next_action_note", "next_action_due", "stage_entered_at", "opened_at", "closed_at", "last_touch",
    "bant_confirmed", "bant_complete", "missing_information", "lost_reason", "win_reasons",
)


def schema(table: Callable[[str], Identifier]) -> dict[str, Sequence[Composable]]:
    """Per table: its CREATE TABLE and CREATE INDEX statements; ``table`` names a table (suffixed in a rebuild)."""
    deals, history, states = table(DEALS), table(STAGE_HISTORY), table(STATES)
    return {
        DEALS: [
            SQL("CREATE TABLE {0} (deal_id uuid PRIMARY KEY, customer_id uuid NOT NULL, company_name text, "
                "company_key text, title text, phase text NOT NULL, stage text NOT NULL, status text NOT NULL, "
                "owner text, team text, site text, amount bigint, expected_close date, temperature text, "
                "decision_status text, bucket text NOT NULL, next_action text, next_action_note text, "
                "next_action_due timestamptz, stage_entered_at timestamptz NOT NULL, opened_at timestamptz, "
                "closed_at timestamptz, last_touch jsonb NOT NULL, bant_confirmed int NOT NULL, "
                "bant_complete boolean NOT NULL, missing_information jsonb NOT NULL, lost_reason text, "
                "win_reasons jsonb NOT NULL)").format(deals),
            SQL("CREATE INDEX ON {0} (status, phase, stage)").format(deals),
            SQL("CREATE INDEX ON {0} (customer_id)").format(deals),
            SQL("CREATE INDEX ON {0} (team, owner)").format(deals),
            # stuck deals (stagnation.py): one ordered range per stage
            SQL("CREATE INDEX ON {0} (stage, stage_entered_at, deal_id) INCLUDE (opened_at) "
                "WHERE status <> 'lost'").format(deals),
        ],
        STAGE_HISTORY: [
            SQL("CREATE TABLE {0} (deal_id uuid NOT NULL, seq int NOT NULL, customer_id uuid NOT NULL, "
                "phase text NOT NULL, stage text NOT NULL, entered_at timestamptz NOT NULL, "
                "left_at timestamptz, duration_seconds double precision, actor_user text, team text, "
                "PRIMARY KEY (deal_id, seq))").format(history),
            SQL("CREATE INDEX ON {0} (entered_at)").format(history),
        ],
        STATES: [
            SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, state jsonb NOT NULL)").format(states),
        ],
    }
