"""The pipeline projection: each customer's state, one row per deal derived from it, stage history.

The projection keeps each customer's state (the same ``CustomerState`` the aggregate
evolves, so facts and missing information are computed by the domain's own code) and
derives the deal rows from it. Stage history rows record when each stage was entered
and left, so durations and "the pipeline as of a date" can be read from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable
from psycopg.types.json import Jsonb

from services.projections.base import Projection
from services.projections.handlers import Handlers
from services.projections.pipeline import tables as t
from services.projections.pipeline.stage_history import StageHistory
from shared import events as ev
from shared.domain.facts import missing_information
from shared.domain.state import CustomerState, Deal, evolve, registered
from shared.process import ProcessDefinition

JSON_COLUMNS = frozenset({"last_touch", "missing_information", "win_reasons"})


def _evolve(event: ev.CustomerEvent, states: dict[UUID, CustomerState]) -> None:
    evolve(states[event.originator_id], event)


STATE_HANDLERS = Handlers(default=_evolve)  # every event evolves its customer's state; a registration starts one


@STATE_HANDLERS.on(ev.CustomerRegistered)
def _registered(event: ev.CustomerRegistered, states: dict[UUID, CustomerState]) -> None:
    states[event.originator_id] = registered(event)


class PipelineProjection(Projection):
    name = t.NAME
    tables = t.TABLES

    def schema(self) -> dict[str, Sequence[Composable]]:
        return t.schema(self.table)

    def write(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]) -> None:
        states = self._load_states(curs, list(events))
        history = StageHistory.load(curs, self.table(t.STAGE_HISTORY), events)
        for customer_events in events.values():
            for event in customer_events:
                STATE_HANDLERS(event, states)
                history.record(event)
        curs.executemany(SQL("INSERT INTO {0} (customer_id, state) VALUES (%s, %s) ON CONFLICT (customer_id) "
                             "DO UPDATE SET state = EXCLUDED.state").format(self.table(t.STATES)),
                         [(c, Jsonb(states[c].model_dump(mode="json"))) for c in events])
        columns = SQL(", ").join(map(SQL, t.DEAL_COLUMNS))
        updates = SQL(", ").join(SQL(f"{c} = EXCLUDED.{c}") for c in t.DEAL_COLUMNS[1:])
        curs.executemany(SQL("INSERT INTO {0} ({1}) VALUES ({2}) ON CONFLICT (deal_id) DO UPDATE SET {3}").format(
            self.table(t.DEALS), columns, SQL(", ").join(SQL("%s") * len(t.DEAL_COLUMNS)), updates),
            [_stored(deal_row(self.process, c, UUID(d), states[c])) for c in events for d in states[c].deals])
        history.save(curs, self.table(t.STAGE_HISTORY))

    def _load_states(self, curs: Cursor, customer_ids: list[UUID]) -> dict[UUID, CustomerState]:
        curs.execute(SQL("SELECT customer_id, state FROM {0} WHERE customer_id = ANY(%s)").format(
            self.table(t.STATES)), (customer_ids,))
        return {row[0]: CustomerState.model_validate(row[1]) for row in curs.fetchall()}


def deal_row(process: ProcessDefinition, customer_id: UUID, deal_id: UUID, state: CustomerState) -> dict[str, Any]:
    """A deal's ``pipeline_deals`` row (column -> value, JSON columns as read back) from its customer's state."""
    deal: Deal = state.deals[str(deal_id)]
    action = deal.next_action
    confirmed = [deal.bant.budget, deal.bant.authority, deal.bant.need, deal.bant.timeline].count("confirmed")
    return {
        "deal_id": deal_id, "customer_id": customer_id, "company_name": state.company_name,
        "company_key": state.company_key, "title": deal.title, "phase": deal.phase, "stage": deal.stage,
        "status": deal.status, "owner": deal.owner, "team": deal.team, "site": deal.site, "amount": deal.amount,
        "expected_close": deal.expected_close, "temperature": deal.temperature,
        "decision_status": deal.decision_status, "bucket": process.bucket(deal.temperature, deal.decision_status),
        "next_action": action.choice if action else None, "next_action_note": action.note if action else None,
        "next_action_due": action.due_at if action else None, "stage_entered_at": deal.stage_entered_at,
        "opened_at": deal.opened_at, "closed_at": deal.closed_at,
        "last_touch": {k: v.isoformat() for k, v in state.last_touch.items()},
        "bant_confirmed": confirmed, "bant_complete": confirmed == 4,
        "missing_information": [i.id for i in missing_information(process, state, deal)],
        "lost_reason": deal.lost_reason, "win_reasons": list(deal.win_reasons),
    }


def _stored(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(Jsonb(row[c]) if c in JSON_COLUMNS else row[c] for c in t.DEAL_COLUMNS)
