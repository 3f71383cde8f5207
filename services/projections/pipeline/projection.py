"""The pipeline projection: each customer's state, one row per deal derived from it, stage history.

The projection keeps each customer's state (the same ``CustomerState`` the aggregate
evolves, so facts and missing information are computed by the domain's own code) and
derives the deal rows from it. Stage history rows record when each stage was entered
and left, so durations and "the pipeline as of a date" can be read from them; closing
events write the deal's reasons and notes (``outcomes``).

A batch writes only the deal rows it changed: each deal's row is derived from the state as
loaded and again after the batch, and only those that differ are written (a touchpoint on a
customer with 200 deals writes none of them: the last touch per department is the customer's,
one row of ``pipeline_customers`` joined when deals are listed, not a column of every deal row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.sql import SQL, Composable

from services.projections.base import Projection
from services.projections.batch import Rows
from services.projections.handlers import Handlers
from services.projections.pipeline import tables as t
from services.projections.pipeline import targets
from services.projections.pipeline.outcomes import Closings
from services.projections.pipeline.phase_entries import PhaseEntries
from services.projections.pipeline.stage_history import StageHistory
from shared import events as ev
from shared.domain.facts import missing_information
from shared.domain.state import CustomerState, Deal, evolve, registered
from shared.process import ProcessDefinition

JSON_COLUMNS = frozenset({"missing_information", "win_reasons"})
DEAL_ROWS = Rows(*t.DEAL_TYPES)
JSON_ROWS = Rows("uuid", "jsonb")  # customer id, a JSON document as text
# How much of the customers' states as last written a projection keeps in memory for its next batches, counted as
# their JSON (a state takes about 6 times its JSON as Python objects: 32 MB of JSON, ~200 MB, ~15,000 customers of
# the benchmark's history)
WRITTEN_KEPT_BYTES = 32 * 1024 * 1024


def _evolve(event: ev.CustomerEvent, states: dict[UUID, CustomerState]) -> None:
    evolve(states[event.originator_id], event)


STATE_HANDLERS = Handlers(default=_evolve)  # every event evolves its customer's state; a registration starts one


@STATE_HANDLERS.on(ev.CustomerRegistered)
def _registered(event: ev.CustomerRegistered, states: dict[UUID, CustomerState]) -> None:
    states[event.originator_id] = registered(event)


class PipelineProjection(Projection):
    name = t.NAME
    tables = t.TABLES
    personal_data = ("contact details (name, title, e-mail, phone, decision maker), decrypted with the contacts' "
                     "keys, kept in each customer's state (pipeline_states; 削除済み once erased); company-level "
                     "data: company, deals, amounts, stages, notes, reasons")

    def __init__(self, process: ProcessDefinition, suffix: str = "") -> None:
        super().__init__(process, suffix)
        # customer -> (stream version, state, deal rows, the state's JSON size) as this process last wrote them
        # (``_load_states``), the longest unwritten first
        self._written: dict[UUID, tuple[int, CustomerState, dict[str, dict[str, Any]], int]] = {}
        self._written_bytes = 0  # the JSON size of the states kept

    def schema(self) -> dict[str, Sequence[Composable]]:
        return t.schema(self.table)

    def write_targets(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]) -> None:
        targets.write(curs, self.table(t.TARGETS), events)

    def create_tables(self, curs: Cursor, defer_indexes: bool = False) -> list[Composable]:
        curs.execute("SELECT to_regclass(%s)", (t.PHASE_ENTRIES + self.suffix,))
        funnel_missing = curs.fetchone()[0] is None
        deferred = super().create_tables(curs, defer_indexes)
        if funnel_missing:  # tables made before the funnel had rows of its own: filled from the stage history
            names = {"entries": self.table(t.PHASE_ENTRIES), "history": self.table(t.STAGE_HISTORY),
                     "deals": self.table(t.DEALS), "months": self.table(t.FUNNEL_MONTHS)}
            curs.execute(SQL(FUNNEL_FROM_HISTORY).format(**names), {"phases": [p.id for p in self.process.phases]})
            curs.execute(SQL(FUNNEL_MONTHS_FROM_ENTRIES).format(**names))
        # deal rows made when each carried its customer's last touch: the customers' table takes it from the
        # states, and the column goes (a catalog change; the read model is marked for a rebuild all the same)
        curs.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'last_touch' "
                     "AND NOT attisdropped", (t.DEALS + self.suffix,))
        if curs.fetchone() is not None:
            curs.execute(SQL("INSERT INTO {0} (customer_id, last_touch) SELECT customer_id, "
                             "coalesce(state->'last_touch', '{{}}'::jsonb) FROM {1} ON CONFLICT DO NOTHING").format(
                self.table(t.CUSTOMERS), self.table(t.STATES)))
            curs.execute(SQL("ALTER TABLE {0} DROP COLUMN last_touch").format(self.table(t.DEALS)))
        return deferred

    def write(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]) -> None:
        states, before = self._load_states(curs, events)  # deal rows as the table holds them
        touched = {c: dict(states[c].last_touch) for c in events if c in states}
        history = StageHistory.load(curs, self.table(t.STAGE_HISTORY), events)
        closings = Closings()
        entries = PhaseEntries.load(curs, self.table(t.PHASE_ENTRIES), self.process, events)
        for customer_events in events.values():
            for event in customer_events:
                STATE_HANDLERS(event, states)
                history.record(event)
                closings.record(event)
                entries.record(event)
        documents = {c: states[c].model_dump_json() for c in events}
        JSON_ROWS.execute(curs, SQL("INSERT INTO {0} (customer_id, state) SELECT * FROM {1} ON CONFLICT (customer_id) "
                                    "DO UPDATE SET state = EXCLUDED.state").format(self.table(t.STATES), JSON_ROWS.sql),
                          list(documents.items()))
        touches = [(c, orjson.dumps({k: v.isoformat() for k, v in states[c].last_touch.items()}).decode())
                   for c in events if c not in touched or touched[c] != states[c].last_touch]
        JSON_ROWS.execute(curs, SQL("INSERT INTO {0} (customer_id, last_touch) SELECT * FROM {1} "
                                    "ON CONFLICT (customer_id) DO UPDATE SET last_touch = EXCLUDED.last_touch").format(
            self.table(t.CUSTOMERS), JSON_ROWS.sql), touches)
        after = {c: self._deal_rows(c, states[c]) for c in events}
        changed = {d: row for c in events for d, row in after[c].items()
                   if before.get(c, {}).get(d) != row}  # keyed by deal: one statement touches a row once
        columns_sql = SQL(", ").join(map(SQL, t.DEAL_COLUMNS))
        updates = SQL(", ").join(SQL(f"{c} = EXCLUDED.{c}") for c in t.DEAL_COLUMNS[1:])
        DEAL_ROWS.execute(curs, SQL("INSERT INTO {0} ({1}) SELECT * FROM {2} ON CONFLICT (deal_id) DO UPDATE SET {3}"
                                    ).format(self.table(t.DEALS), columns_sql, DEAL_ROWS.sql, updates),
                          [_stored(row) for row in changed.values()])
        history.save(curs, self.table(t.STAGE_HISTORY))
        closings.save(curs, self.table(t.OUTCOMES), states)
        entries.save(curs, self.table(t.PHASE_ENTRIES), self.table(t.FUNNEL_MONTHS), states)
        for c, customer_events in events.items():
            self._written[c] = (customer_events[-1].originator_version, states[c], after[c], len(documents[c]))
            self._written_bytes += len(documents[c])
        while self._written_bytes > WRITTEN_KEPT_BYTES and self._written:
            self._written_bytes -= self._written.pop(next(iter(self._written)))[3]  # the longest unwritten

    def _deal_rows(self, customer_id: UUID, state: CustomerState) -> dict[str, dict[str, Any]]:
        return {d: deal_row(self.process, customer_id, UUID(d), state) for d in state.deals}

    def _load_states(self, curs: Cursor, events: dict[UUID, list[ev.CustomerEvent]]
                     ) -> tuple[dict[UUID, CustomerState], dict[UUID, dict[str, dict[str, Any]]]]:
        """The batch's customers' states and deal rows as their tables hold them: as this process last wrote them
        when that is the version the batch starts after (its write was committed: a rolled back one left the table
        at an earlier version), else read from the table. What is taken from memory leaves it until the batch's
        write is done, so a batch that fails part way leaves no half-evolved state behind."""
        states, rows, unknown = {}, {}, []
        for c, customer_events in events.items():
            written = self._written.pop(c, None)
            self._written_bytes -= written[3] if written is not None else 0
            if written is not None and written[0] == customer_events[0].originator_version - 1:
                states[c], rows[c] = written[1], written[2]
            else:
                unknown.append(c)
        if unknown:
            curs.execute(SQL("SELECT customer_id, state::text FROM {0} WHERE customer_id = ANY(%s)").format(
                self.table(t.STATES)), (unknown,))  # as text: pydantic parses the JSON itself
            for customer_id, state in curs.fetchall():
                states[customer_id] = CustomerState.model_validate_json(state)
                rows[customer_id] = self._deal_rows(customer_id, states[customer_id])
        return states, rows


FUNNEL_FROM_HISTORY = """
WITH e AS (
    SELECT h.deal_id, h.phase, p.pos, min(h.entered_at) AS entered_at
    FROM {history} h JOIN unnest(%(phases)s::text[]) WITH ORDINALITY AS p(phase, pos) ON p.phase = h.phase
    GROUP BY 1, 2, 3
), f AS (SELECT deal_id, max(pos) AS pos FROM e GROUP BY 1)
INSERT INTO {entries} (deal_id, phase, customer_id, entered_at, advanced, lost, team, owner, site)
SELECT e.deal_id, e.phase, d.customer_id, e.entered_at, f.pos > e.pos, f.pos = e.pos AND d.status = 'lost',
       d.team, d.owner, d.site
FROM e JOIN f USING (deal_id) JOIN {deals} d USING (deal_id)
"""
FUNNEL_MONTHS_FROM_ENTRIES = """
INSERT INTO {months} (month, phase, team, owner, site, entered, advanced, lost)
SELECT date_trunc('month', entered_at AT TIME ZONE 'UTC')::date, phase, team, owner, site,
       count(*), count(*) FILTER (WHERE advanced), count(*) FILTER (WHERE lost)
FROM {entries} GROUP BY 1, 2, 3, 4, 5
"""


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
        "bant_confirmed": confirmed, "bant_complete": confirmed == 4,
        "missing_information": [i.id for i in missing_information(process, state, deal)],
        "lost_reason": deal.lost_reason, "win_reasons": list(deal.win_reasons),
    }


def _stored(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(orjson.dumps(row[c]).decode() if c in JSON_COLUMNS else row[c] for c in t.DEAL_COLUMNS)
