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
CUSTOMERS = "pipeline_customers"  # each customer's columns that deal rows show: the last touch per department
OUTCOMES = "pipeline_outcomes"  # one row per won or lost deal: its reasons with their notes, the win note
PHASE_ENTRIES = "pipeline_phase_entries"  # per deal and phase: its first entry, got further, lost there
FUNNEL_MONTHS = "pipeline_funnel_months"  # the phase entries summed per month of entry, phase and group
VERSIONS = f"{NAME}_versions"  # kept by the projection machinery: the customer's events applied
TARGETS = "pipeline_targets"  # one row per target set (history kept): shared/events/targets.py
TABLES = (DEALS, STAGE_HISTORY, STATES, CUSTOMERS, OUTCOMES, PHASE_ENTRIES, FUNNEL_MONTHS, TARGETS)

DEAL_COLUMNS = (
    "deal_id", "customer_id", "company_name", "company_key", "title", "phase", "stage", "status", "owner", "team",
    "site", "amount", "expected_close", "temperature", "decision_status", "bucket", "next_action",
    "next_action_note", "next_action_due", "stage_entered_at", "opened_at", "closed_at",
    "bant_confirmed", "bant_complete", "missing_information", "lost_reason", "win_reasons",
)
DEAL_TYPES = (  # of DEAL_COLUMNS, as the table defines them (rows go to PostgreSQL as one array per column)
    "uuid", "uuid", "text", "text", "text", "text", "text", "text", "text", "text",
    "text", "bigint", "date", "text", "text", "text", "text",
    "text", "timestamptz", "timestamptz", "timestamptz", "timestamptz",
    "int", "boolean", "jsonb", "text", "jsonb",
)


def schema(table: Callable[[str], Identifier]) -> dict[str, Sequence[Composable]]:
    """Per table: its CREATE TABLE and CREATE INDEX statements; ``table`` names a table (suffixed in a rebuild)."""
    deals, history, states, customers = table(DEALS), table(STAGE_HISTORY), table(STATES), table(CUSTOMERS)
    outcomes = table(OUTCOMES)
    return {
        DEALS: [
            SQL("CREATE TABLE {0} (deal_id uuid PRIMARY KEY, customer_id uuid NOT NULL, company_name text, "
                "company_key text, title text, phase text NOT NULL, stage text NOT NULL, status text NOT NULL, "
                "owner text, team text, site text, amount bigint, expected_close date, temperature text, "
                "decision_status text, bucket text NOT NULL, next_action text, next_action_note text, "
                "next_action_due timestamptz, stage_entered_at timestamptz NOT NULL, opened_at timestamptz, "
                "closed_at timestamptz, bant_confirmed int NOT NULL, "
                "bant_complete boolean NOT NULL, missing_information jsonb NOT NULL, lost_reason text, "
                "win_reasons jsonb NOT NULL)").format(deals),
            SQL("CREATE INDEX ON {0} (status, phase, stage)").format(deals),
            SQL("CREATE INDEX ON {0} (customer_id)").format(deals),
            SQL("CREATE INDEX ON {0} (team, owner)").format(deals),
            # stuck deals (stagnation.py): one ordered range per stage
            SQL("CREATE INDEX ON {0} (stage, stage_entered_at, deal_id) INCLUDE (opened_at, status) "
                "WHERE status <> 'lost'").format(deals),
        ],
        STAGE_HISTORY: [
            SQL("CREATE TABLE {0} (deal_id uuid NOT NULL, seq int NOT NULL, customer_id uuid NOT NULL, "
                "phase text NOT NULL, stage text NOT NULL, entered_at timestamptz NOT NULL, "
                "left_at timestamptz, duration_seconds double precision, actor_user text, team text, "
                "PRIMARY KEY (deal_id, seq))").format(history),
            SQL("CREATE INDEX ON {0} (entered_at)").format(history),
            # stage durations (analytics.py): each stage's durations in order, the outer sort gone
            SQL("CREATE INDEX ON {0} (stage, duration_seconds) WHERE left_at IS NOT NULL").format(history),
        ],
        STATES: [
            SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, state jsonb NOT NULL)").format(states),
        ],
        CUSTOMERS: [
            SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, last_touch jsonb NOT NULL)").format(customers),
        ],
        OUTCOMES: [
            # reasons: [{"choice", "note"}] as recorded; reason_ids: the distinct choices, counted;
            # search: the title, win note and reason notes folded (outcomes.fold), one per line, for ?q=
            SQL("CREATE TABLE {0} (deal_id uuid PRIMARY KEY, customer_id uuid NOT NULL, outcome text NOT NULL, "
                "closed_at timestamptz, note text NOT NULL, reasons jsonb NOT NULL, reason_ids text[] NOT NULL, "
                "search text NOT NULL)").format(outcomes),
            SQL("CREATE INDEX ON {0} (outcome, closed_at DESC NULLS LAST, deal_id) INCLUDE (reason_ids)"
                ).format(outcomes),
        ],
        PHASE_ENTRIES: [  # the funnel (analytics.py, phase_entries.py)
            SQL("CREATE TABLE {0} (deal_id uuid NOT NULL, phase text NOT NULL, customer_id uuid NOT NULL, "
                "entered_at timestamptz NOT NULL, advanced boolean NOT NULL, lost boolean NOT NULL, team text, "
                "owner text, site text, PRIMARY KEY (deal_id, phase))").format(table(PHASE_ENTRIES)),
            SQL("CREATE INDEX ON {0} (entered_at) INCLUDE (phase, advanced, lost, team, owner, site)").format(
                table(PHASE_ENTRIES)),
        ],
        FUNNEL_MONTHS: [
            SQL("CREATE TABLE {0} (month date NOT NULL, phase text NOT NULL, team text, owner text, site text, "
                "entered int NOT NULL, advanced int NOT NULL, lost int NOT NULL, "
                "UNIQUE NULLS NOT DISTINCT (month, phase, team, owner, site))").format(table(FUNNEL_MONTHS)),
        ],
        **targets_schema(table),
    }


def targets_schema(table: Callable[[str], Identifier]) -> dict[str, Sequence[Composable]]:
    """Teams' monthly sales targets: the latest version per team, owner and month is the target in force
    (``targets.py``)."""
    targets = table(TARGETS)
    return {TARGETS: [
        SQL("CREATE TABLE {0} (stream_id uuid NOT NULL, version bigint NOT NULL, team text NOT NULL, owner text, "
            "month date NOT NULL, amount bigint NOT NULL, occurred_at timestamptz NOT NULL, "
            "recorded_at timestamptz NOT NULL, actor_user text NOT NULL, PRIMARY KEY (stream_id, version))"
            ).format(targets),
        SQL("CREATE INDEX ON {0} (month, team, owner)").format(targets),
    ]}
