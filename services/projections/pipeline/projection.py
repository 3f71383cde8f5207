"""The pipeline read model: one row per deal, plus each deal's stage history.

The projection keeps each customer's state (the same ``CustomerState`` the aggregate
evolves, so facts and missing information are computed by the domain's own code) and
derives the deal rows from it. Stage history rows record when each stage was entered
and left, so durations and "the pipeline as of a date" can be read from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable
from psycopg.types.json import Jsonb

from shared import events as ev
from shared.domain.facts import deal_facts
from shared.domain.state import CustomerState, Deal, evolve, registered
from services.projections.base import Projection

DEAL_COLUMNS = (
    "deal_id", "customer_id", "company_name", "company_key", "title", "phase", "stage", "status", "owner", "team",
    "site", "amount", "expected_close", "temperature", "decision_status", "bucket", "next_action",
    "next_action_note", "next_action_due", "stage_entered_at", "opened_at", "closed_at", "last_touch",
    "bant_confirmed", "bant_complete", "missing_information", "lost_reason", "win_reasons",
)


class PipelineProjection(Projection):
    name = "pipeline"
    tables = ("pipeline_deals", "pipeline_stage_history", "pipeline_states")

    def schema(self) -> dict[str, Sequence[Composable]]:
        deals, history, states = (self.table(t) for t in self.tables)
        return {
            "pipeline_deals": [
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
                # stuck deals (services/projections/stagnation.py): one ordered range per stage
                SQL("CREATE INDEX ON {0} (stage, stage_entered_at, deal_id) INCLUDE (opened_at) "
                    "WHERE status <> 'lost'").format(deals),
            ],
            "pipeline_stage_history": [
                SQL("CREATE TABLE {0} (deal_id uuid NOT NULL, seq int NOT NULL, customer_id uuid NOT NULL, "
                    "phase text NOT NULL, stage text NOT NULL, entered_at timestamptz NOT NULL, "
                    "left_at timestamptz, duration_seconds double precision, actor_user text, team text, "
                    "PRIMARY KEY (deal_id, seq))").format(history),
                SQL("CREATE INDEX ON {0} (entered_at)").format(history),
            ],
            "pipeline_states": [
                SQL("CREATE TABLE {0} (customer_id uuid PRIMARY KEY, state jsonb NOT NULL)").format(states),
            ],
        }

    def write(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]) -> None:
        states = self._load_states(curs, list(events))
        history = _History(self._current_stages(curs, events))
        for customer_id, customer_events in events.items():
            for event in customer_events:
                if isinstance(event, ev.CustomerRegistered):
                    states[customer_id] = registered(event)
                else:
                    evolve(states[customer_id], event)
                history.record(event)
        deals, states_table, history_table = (self.table(t) for t in ("pipeline_deals", "pipeline_states",
                                                                       "pipeline_stage_history"))
        curs.executemany(SQL("INSERT INTO {0} (customer_id, state) VALUES (%s, %s) ON CONFLICT (customer_id) "
                             "DO UPDATE SET state = EXCLUDED.state").format(states_table),
                         [(c, Jsonb(states[c].model_dump(mode="json"))) for c in events])
        columns = SQL(", ").join(map(SQL, DEAL_COLUMNS))
        updates = SQL(", ").join(SQL(f"{c} = EXCLUDED.{c}") for c in DEAL_COLUMNS[1:])
        curs.executemany(SQL("INSERT INTO {0} ({1}) VALUES ({2}) ON CONFLICT (deal_id) DO UPDATE SET {3}").format(
            deals, columns, SQL(", ").join(SQL("%s") * len(DEAL_COLUMNS)), updates),
            [self._deal_row(c, UUID(d), states[c]) for c in events for d in states[c].deals])
        history.save(curs, history_table)

    def _load_states(self, curs: Cursor, customer_ids: list[UUID]) -> dict[UUID, CustomerState]:
        curs.execute(SQL("SELECT customer_id, state FROM {0} WHERE customer_id = ANY(%s)").format(
            self.table("pipeline_states")), (customer_ids,))
        return {row[0]: CustomerState.model_validate(row[1]) for row in curs.fetchall()}

    def _current_stages(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]) -> dict[UUID, tuple]:
        moved = list({e.deal_id for es in events.values() for e in es if isinstance(e, (ev.StageChanged, ev.DealLost))})
        if not moved:
            return {}
        curs.execute(SQL("SELECT DISTINCT ON (deal_id) deal_id, seq, entered_at FROM {0} WHERE deal_id = ANY(%s) "
                         "ORDER BY deal_id, seq DESC").format(self.table("pipeline_stage_history")), (moved,))
        return {row[0]: (row[1], row[2]) for row in curs.fetchall()}

    def _deal_row(self, customer_id: UUID, deal_id: UUID, state: CustomerState) -> tuple[Any, ...]:
        deal: Deal = state.deals[str(deal_id)]
        facts = deal_facts(state, deal)
        missing = [i.id for i in self.process.required_for(deal.stage) if i.fact not in facts] \
            if self.process.has_stage(deal.stage) else []
        action = deal.next_action
        bant = [deal.bant.budget, deal.bant.authority, deal.bant.need, deal.bant.timeline]
        return (
            deal_id, customer_id, state.company_name, state.company_key, deal.title, deal.phase, deal.stage,
            deal.status, deal.owner, deal.team, deal.site, deal.amount, deal.expected_close, deal.temperature,
            deal.decision_status, self.process.bucket(deal.temperature, deal.decision_status),
            action.choice if action else None, action.note if action else None, action.due_at if action else None,
            deal.stage_entered_at, deal.opened_at, deal.closed_at,
            Jsonb({k: v.isoformat() for k, v in state.last_touch.items()}),
            bant.count("confirmed"), bant.count("confirmed") == 4, Jsonb(missing), deal.lost_reason,
            Jsonb(deal.win_reasons),
        )


class _History:
    """Stage history rows produced by one batch: entered / left times per deal."""

    def __init__(self, current: dict[UUID, tuple[int, datetime]]) -> None:
        self.current = dict(current)  # deal -> (seq, entered_at) of its open row
        self.inserts: dict[tuple[UUID, int], tuple] = {}  # rows entered in this batch
        self.closes: dict[tuple[UUID, int], tuple] = {}  # rows entered before it, left in it

    def record(self, event: ev.CustomerEvent) -> None:
        if isinstance(event, ev.DealOpened):
            self._enter(event, event.phase, event.stage)
        elif isinstance(event, ev.DealImported):
            self._enter(event, event.phase, event.stage, event.stage_entered_at)
        elif isinstance(event, ev.StageChanged):
            self._leave(event)
            self._enter(event, event.to_phase, event.to_stage)
        elif isinstance(event, ev.DealLost):
            self._leave(event)
            self._enter(event, "lost", "lost")

    def _enter(self, event: Any, phase: str, stage: str, entered_at: datetime | None = None) -> None:
        entered_at = entered_at or event.occurred_at
        seq = self.current.get(event.deal_id, (0, None))[0] + 1
        self.current[event.deal_id] = (seq, entered_at)
        self.inserts[(event.deal_id, seq)] = (event.deal_id, seq, event.originator_id, phase, stage,
                                              entered_at, event.actor.user, event.actor.team, None, None)

    def _leave(self, event: Any) -> None:
        seq, entered_at = self.current[event.deal_id]
        duration = (event.occurred_at - entered_at).total_seconds()
        key = (event.deal_id, seq)
        if key in self.inserts:  # entered in this same batch: insert it already closed
            self.inserts[key] = (*self.inserts[key][:8], event.occurred_at, duration)
        else:
            self.closes[key] = (event.occurred_at, duration, event.deal_id, seq)

    def save(self, curs: Cursor, table: Any) -> None:
        curs.executemany(SQL("INSERT INTO {0} (deal_id, seq, customer_id, phase, stage, entered_at, actor_user, "
                             "team, left_at, duration_seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
                         .format(table), list(self.inserts.values()))
        curs.executemany(SQL("UPDATE {0} SET left_at = %s, duration_seconds = %s WHERE deal_id = %s AND seq = %s")
                         .format(table), list(self.closes.values()))
