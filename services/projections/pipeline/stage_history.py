"""Stage history rows produced by one batch: when each deal entered and left each stage.

Each event that moves a deal has its handler: an opened or imported deal enters its
first stage, a stage change leaves the current stage and enters the next, a lost deal
leaves its stage for the ``lost`` row. Other events do not touch the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from services.projections.batch import Rows
from services.projections.handlers import Handlers
from shared import events as ev

MOVES = Handlers()
LEAVING = frozenset({ev.StageChanged, ev.DealLost})  # events that close a deal's open row


class StageHistory:
    def __init__(self, current: dict[UUID, tuple[int, datetime]]) -> None:
        self.current = dict(current)  # deal -> (seq, entered_at) of its open row
        self.inserts: dict[tuple[UUID, int], tuple] = {}  # rows entered in this batch
        self.closes: dict[tuple[UUID, int], tuple] = {}  # rows entered before it, left in it

    @classmethod
    def load(cls, curs: Cursor, table: Identifier, events: dict[UUID, list[ev.CustomerEvent]]) -> StageHistory:
        """The history of a batch, starting from the open row of each deal the batch moves (one query)."""
        moved = list({e.deal_id for es in events.values() for e in es if type(e) in LEAVING})
        if not moved:
            return cls({})
        curs.execute(SQL("SELECT DISTINCT ON (deal_id) deal_id, seq, entered_at FROM {0} WHERE deal_id = ANY(%s) "
                         "ORDER BY deal_id, seq DESC").format(table), (moved,))
        return cls({row[0]: (row[1], row[2]) for row in curs.fetchall()})

    def record(self, event: ev.CustomerEvent) -> None:
        MOVES(event, self)

    def enter(self, event: Any, phase: str, stage: str, entered_at: datetime | None = None) -> None:
        entered_at = entered_at or event.occurred_at
        seq = self.current.get(event.deal_id, (0, None))[0] + 1
        self.current[event.deal_id] = (seq, entered_at)
        self.inserts[(event.deal_id, seq)] = (event.deal_id, seq, event.originator_id, phase, stage,
                                              entered_at, event.actor.user, event.actor.team, None, None)

    def leave(self, event: Any) -> None:
        seq, entered_at = self.current[event.deal_id]
        duration = (event.occurred_at - entered_at).total_seconds()
        key = (event.deal_id, seq)
        if key in self.inserts:  # entered in this same batch: insert it already closed
            self.inserts[key] = (*self.inserts[key][:8], event.occurred_at, duration)
        else:
            self.closes[key] = (event.occurred_at, duration, event.deal_id, seq)

    def save(self, curs: Cursor, table: Identifier) -> None:
        if self.inserts:
            INSERTS.execute(curs, SQL("INSERT INTO {0} (deal_id, seq, customer_id, phase, stage, entered_at, actor_user, "
                                      "team, left_at, duration_seconds) SELECT * FROM {1}").format(table, INSERTS.sql),
                            list(self.inserts.values()))
        if self.closes:
            CLOSES.execute(curs, SQL("UPDATE {0} AS h SET left_at = u.left_at, duration_seconds = u.duration_seconds "
                             "FROM {1} AS u(left_at, duration_seconds, deal_id, seq) "
                                     "WHERE h.deal_id = u.deal_id AND h.seq = u.seq").format(table, CLOSES.sql),
                           list(self.closes.values()))


INSERTS = Rows("uuid", "int", "uuid", "text", "text", "timestamptz", "text", "text", "timestamptz",
                      "double precision")
CLOSES = Rows("timestamptz", "double precision", "uuid", "int")


@MOVES.on(ev.DealOpened)
def _opened(event: ev.DealOpened, history: StageHistory) -> None:
    history.enter(event, event.phase, event.stage)


@MOVES.on(ev.DealImported)
def _imported(event: ev.DealImported, history: StageHistory) -> None:
    history.enter(event, event.phase, event.stage, event.stage_entered_at)


@MOVES.on(ev.StageChanged)
def _stage_changed(event: ev.StageChanged, history: StageHistory) -> None:
    history.leave(event)
    history.enter(event, event.to_phase, event.to_stage)


@MOVES.on(ev.DealLost)
def _lost(event: ev.DealLost, history: StageHistory) -> None:
    history.leave(event)
    history.enter(event, "lost", "lost")
