"""The funnel's rows (``pipeline_phase_entries``): each deal's first entry into each phase of the process.

A row says when the deal first entered the phase, whether it has reached a later phase since
(``advanced``) and whether it was lost there, its furthest phase (``lost``), with the deal's team,
owner and site, so the funnel of any period is one scan of this table, with no history to group.
A batch loads the rows of the deals it moves and writes only the rows it changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from services.projections.handlers import Handlers
from shared import events as ev
from shared.domain.state import CustomerState
from shared.process import ProcessDefinition

ENTRIES = Handlers()


class PhaseEntries:
    def __init__(self, process: ProcessDefinition, known: dict[UUID, dict[str, list[Any]]]) -> None:
        self.position = {p.id: i for i, p in enumerate(process.phases)}
        self.rows = known  # deal -> phase -> [entered_at, advanced, lost]
        self.changed: dict[tuple[UUID, str], UUID] = {}  # (deal, phase) -> customer

    @classmethod
    def load(cls, curs: Cursor, table: Identifier, process: ProcessDefinition,
             events: dict[UUID, list[ev.CustomerEvent]]) -> PhaseEntries:
        moved = list({e.deal_id for es in events.values() for e in es if type(e) in ENTRIES})
        known: dict[UUID, dict[str, list[Any]]] = {}
        if moved:
            curs.execute(SQL("SELECT deal_id, phase, entered_at, advanced, lost FROM {0} WHERE deal_id = ANY(%s)")
                         .format(table), (moved,))
            for deal_id, phase, entered_at, advanced, lost in curs.fetchall():
                known.setdefault(deal_id, {})[phase] = [entered_at, advanced, lost]
        return cls(process, known)

    def record(self, event: ev.CustomerEvent) -> None:
        ENTRIES(event, self)

    def enter(self, event: Any, phase: str, at: datetime) -> None:
        if phase not in self.position:
            return
        entries = self.rows.setdefault(event.deal_id, {})
        if phase not in entries or at < entries[phase][0]:
            entries.setdefault(phase, [at, False, False])[0] = at
            self.changed[(event.deal_id, phase)] = event.originator_id
        for other, row in entries.items():  # every earlier phase it entered: it got further
            if self.position[other] < self.position[phase] and not row[1]:
                row[1] = True
                self.changed[(event.deal_id, other)] = event.originator_id

    def lose(self, event: Any) -> None:
        entries = self.rows.get(event.deal_id)
        if entries:
            furthest = max(entries, key=self.position.__getitem__)
            entries[furthest][2] = True
            self.changed[(event.deal_id, furthest)] = event.originator_id

    def save(self, curs: Cursor, table: Identifier, states: dict[UUID, CustomerState]) -> None:
        rows = []
        for (deal_id, phase), customer_id in self.changed.items():
            deal = states[customer_id].deals[str(deal_id)]
            rows.append((deal_id, phase, customer_id, *self.rows[deal_id][phase], deal.team, deal.owner, deal.site))
        curs.executemany(SQL("INSERT INTO {0} (deal_id, phase, customer_id, entered_at, advanced, lost, team, owner, "
                             "site) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (deal_id, phase) DO UPDATE "
                             "SET entered_at = EXCLUDED.entered_at, advanced = EXCLUDED.advanced, lost = EXCLUDED.lost, "
                             "team = EXCLUDED.team, owner = EXCLUDED.owner, site = EXCLUDED.site").format(table), rows)


@ENTRIES.on(ev.DealOpened)
def _opened(event: ev.DealOpened, entries: PhaseEntries) -> None:
    entries.enter(event, event.phase, event.occurred_at)


@ENTRIES.on(ev.DealImported)
def _imported(event: ev.DealImported, entries: PhaseEntries) -> None:
    entries.enter(event, event.phase, event.stage_entered_at)


@ENTRIES.on(ev.StageChanged)
def _stage_changed(event: ev.StageChanged, entries: PhaseEntries) -> None:
    entries.enter(event, event.to_phase, event.occurred_at)


@ENTRIES.on(ev.DealLost)
def _lost(event: ev.DealLost, entries: PhaseEntries) -> None:
    entries.lose(event)
