"""The funnel's rows (``pipeline_phase_entries``): each deal's first entry into each phase of the process.

A row says when the deal first entered the phase, whether it has reached a later phase since
(``advanced``) and whether it was lost there, its furthest phase (``lost``), with the deal's team,
owner and site. ``pipeline_funnel_months`` sums the rows per month of entry (UTC), phase and group,
so a funnel reads whole months from the sums and only the part-months at its ends from the rows
(``analytics.funnel``). A batch loads the rows of the deals it moves, writes only the rows it
changed, and adds what each change moves to the months' sums.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from services.projections.batch import Rows
from services.projections.handlers import Handlers
from shared import events as ev
from shared.domain.state import CustomerState
from shared.process import ProcessDefinition

ENTRIES = Handlers()
# a batch's rows in one statement each (``batch.py``), not one statement per row
ENTRY_ROWS = Rows("uuid", "text", "uuid", "timestamptz", "boolean", "boolean", "text", "text", "text")
MONTH_ROWS = Rows("date", "text", "text", "text", "text", "int", "int", "int")


class PhaseEntries:
    def __init__(self, process: ProcessDefinition, known: dict[UUID, dict[str, list[Any]]]) -> None:
        self.position = {p.id: i for i, p in enumerate(process.phases)}
        self.rows = known  # deal -> phase -> [entered_at, advanced, lost, team, owner, site]
        self.changed: dict[tuple[UUID, str], UUID] = {}  # (deal, phase) -> customer
        self.before: dict[tuple[UUID, str], tuple[Any, ...] | None] = {}  # the row as loaded, None if new

    @classmethod
    def load(cls, curs: Cursor, table: Identifier, process: ProcessDefinition,
             events: dict[UUID, list[ev.CustomerEvent]]) -> PhaseEntries:
        moved = list({e.deal_id for es in events.values() for e in es if type(e) in ENTRIES})
        known: dict[UUID, dict[str, list[Any]]] = {}
        if moved:
            curs.execute(SQL("SELECT deal_id, phase, entered_at, advanced, lost, team, owner, site FROM {0} "
                             "WHERE deal_id = ANY(%s)").format(table), (moved,))
            for deal_id, phase, *row in curs.fetchall():
                known.setdefault(deal_id, {})[phase] = row
        return cls(process, known)

    def record(self, event: ev.CustomerEvent) -> None:
        ENTRIES(event, self)

    def enter(self, event: Any, phase: str, at: datetime) -> None:
        if phase not in self.position:
            return
        entries = self.rows.setdefault(event.deal_id, {})
        if phase not in entries or at < entries[phase][0]:
            self._changing(event, phase)
            entries.setdefault(phase, [at, False, False, None, None, None])[0] = at
        for other, row in entries.items():  # every earlier phase it entered: it got further
            if self.position[other] < self.position[phase] and not row[1]:
                self._changing(event, other)
                row[1] = True

    def lose(self, event: Any) -> None:
        entries = self.rows.get(event.deal_id)
        if entries:
            furthest = max(entries, key=self.position.__getitem__)
            self._changing(event, furthest)
            entries[furthest][2] = True

    def _changing(self, event: Any, phase: str) -> None:
        key = (event.deal_id, phase)
        if key not in self.changed:
            row = self.rows.get(event.deal_id, {}).get(phase)
            self.before[key] = None if row is None else tuple(row)
            self.changed[key] = event.originator_id

    def save(self, curs: Cursor, table: Identifier, months: Identifier, states: dict[UUID, CustomerState]) -> None:
        rows, sums = [], {}
        for (deal_id, phase), customer_id in self.changed.items():
            deal = states[customer_id].deals[str(deal_id)]
            row = self.rows[deal_id][phase]
            row[3:] = [deal.team, deal.owner, deal.site]
            rows.append((deal_id, phase, customer_id, *row))
            for sign, counted in ((-1, self.before[(deal_id, phase)]), (1, tuple(row))):
                if counted is not None:  # what the row counted before leaves its month, what it counts now enters
                    entered_at, advanced, lost, *group = counted
                    total = sums.setdefault((month_of(entered_at), phase, *group), [0, 0, 0])
                    total[0], total[1], total[2] = total[0] + sign, total[1] + sign * advanced, total[2] + sign * lost
        if rows:
            ENTRY_ROWS.execute(curs, SQL(
                "INSERT INTO {0} (deal_id, phase, customer_id, entered_at, advanced, lost, team, owner, site) "
                "SELECT * FROM {1} ON CONFLICT (deal_id, phase) DO UPDATE "
                "SET entered_at = EXCLUDED.entered_at, advanced = EXCLUDED.advanced, lost = EXCLUDED.lost, "
                "team = EXCLUDED.team, owner = EXCLUDED.owner, site = EXCLUDED.site").format(table, ENTRY_ROWS.sql),
                rows)  # one row per (deal, phase): keyed above
        # in key order: rebuild processes (each its own customers) add to the same months, and rows locked in one
        # order never deadlock
        if months_rows := [(*key, *total) for key, total in sorted(sums.items(), key=_month_order) if any(total)]:
            MONTH_ROWS.execute(curs, SQL(
                "INSERT INTO {0} AS m (month, phase, team, owner, site, entered, advanced, lost) "
                "SELECT * FROM {1} ON CONFLICT (month, phase, team, owner, site) DO UPDATE "
                "SET entered = m.entered + EXCLUDED.entered, advanced = m.advanced + EXCLUDED.advanced, "
                "lost = m.lost + EXCLUDED.lost").format(months, MONTH_ROWS.sql),
                months_rows)  # one row per key (NULLS NOT DISTINCT): summed above


def _month_order(item: tuple[tuple[Any, ...], list[int]]) -> tuple[Any, ...]:
    month, phase, *group = item[0]
    return month, phase, *((value is None, value or "") for value in group)


def month_of(moment: datetime) -> date:
    """The month (its first day, UTC) a moment falls in: the key of ``pipeline_funnel_months``."""
    return moment.astimezone(timezone.utc).date().replace(day=1)


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
