"""Why deals were won or lost (``pipeline_outcomes``): written from the closing events, read by reason and note.

A ``DealWon`` / ``DealLost`` (recorded, or written by an import) makes its deal's row: the reasons with the
notes written with them, in the order given, the win note, and the texts ``?q=`` searches (title and notes,
folded as ``fold`` folds the needle). Reads count the reasons of the matching deals and page the deals,
latest closed first, joined with their ``pipeline_deals`` row (company, owner, amount, phase …).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import Connection, Cursor
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier

from services.projections.batch import Rows
from services.projections.handlers import Handlers
from services.projections.pipeline.tables import DEALS, OUTCOMES
from shared import events as ev
from shared.domain.state import CustomerState

SEPARATOR = "\x1f"  # between the searched texts: a character the door refuses in any text


def fold(text: str) -> str:
    """What a search compares: width and case folded (ＡＢＣ, abc and ABC are one)."""
    return unicodedata.normalize("NFKC", text).casefold()


# ---------------------------------------------------------------- writing (the pipeline projection's batch)

OUTCOME_ROWS = Rows("uuid", "uuid", "text", "timestamptz", "text", "jsonb", "jsonb", "text")
CLOSINGS = Handlers()


class Closings:
    """The deals a batch closed: deal -> (customer, outcome, [(reason, note)], win note)."""

    def __init__(self) -> None:
        self.closed: dict[UUID, tuple[UUID, str, list[tuple[str, str]], str]] = {}

    def record(self, event: ev.CustomerEvent) -> None:
        CLOSINGS(event, self)

    def save(self, curs: Cursor, table: Identifier, states: dict[UUID, CustomerState]) -> None:
        rows = []
        for deal_id, (customer_id, outcome, reasons, note) in self.closed.items():
            deal = states[customer_id].deals[str(deal_id)]
            texts = [deal.title, note, *(n for _, n in reasons)]
            rows.append((deal_id, customer_id, outcome, deal.closed_at, note,
                         orjson.dumps([{"choice": c, "note": n} for c, n in reasons]).decode(),
                         orjson.dumps(list(dict.fromkeys(c for c, _ in reasons))).decode(),
                         SEPARATOR.join(fold(text) for text in texts if text)))
        if not rows:
            return
        # one statement for the batch; reason_ids (a text[] per row) travels as a JSON array, made an array here
        OUTCOME_ROWS.execute(curs, SQL(
            "INSERT INTO {0} (deal_id, customer_id, outcome, closed_at, note, reasons, reason_ids, search) "
            "SELECT u.deal_id, u.customer_id, u.outcome, u.closed_at, u.note, u.reasons, "
            "ARRAY(SELECT e.id FROM jsonb_array_elements_text(u.ids) WITH ORDINALITY AS e(id, n) "
            "ORDER BY e.n), u.search "
            "FROM {1} AS u(deal_id, customer_id, outcome, closed_at, note, reasons, ids, search) "
            "ON CONFLICT (deal_id) DO UPDATE SET "
            "outcome = EXCLUDED.outcome, closed_at = EXCLUDED.closed_at, note = EXCLUDED.note, "
            "reasons = EXCLUDED.reasons, reason_ids = EXCLUDED.reason_ids, search = EXCLUDED.search"
            ).format(table, OUTCOME_ROWS.sql), rows)


@CLOSINGS.on(ev.DealWon)
def _won(event: ev.DealWon, closings: Closings) -> None:
    closings.closed[event.deal_id] = (event.originator_id, "won", [(r.choice, r.note) for r in event.win_reasons],
                                      event.note)


@CLOSINGS.on(ev.DealLost)
def _lost(event: ev.DealLost, closings: Closings) -> None:
    closings.closed[event.deal_id] = (event.originator_id, "lost", [(event.reason.choice, event.reason.note)], "")


# ---------------------------------------------------------------- reading

def _matching(outcome: str, since: datetime | None, until: datetime | None, q: str | None
              ) -> tuple[Composable, dict[str, Any]]:
    """The condition on ``o`` (only the parts asked for, so each plan is the index range it can be)."""
    conditions = [SQL("o.outcome = %(outcome)s")]
    if since is not None:
        conditions.append(SQL("o.closed_at >= %(since)s"))
    if until is not None:
        conditions.append(SQL("o.closed_at < %(until)s"))
    needle = None if q is None else fold(q)
    if needle is not None:
        conditions.append(SQL("strpos(o.search, %(needle)s) > 0") if SEPARATOR not in needle else SQL("FALSE"))
    return SQL(" AND ").join(conditions), {"outcome": outcome, "since": since, "until": until, "needle": needle}


_COUNTS = "SELECT o.reason_ids, count(*) FROM {outcomes} o WHERE {where} GROUP BY o.reason_ids"


def reason_counts(conn: Connection, outcome: str, since: datetime | None, until: datetime | None,
                  q: str | None) -> tuple[int, dict[str, int]]:
    """How many deals of this outcome closed in [since, until) match ``q`` (title or notes), and per reason id
    how many of them give it (counted per combination of reasons, a few, then added up: one scan, no unnest)."""
    where, params = _matching(outcome, since, until, q)
    matching, counts = 0, {}
    for reason_ids, n in conn.execute(SQL(_COUNTS).format(outcomes=Identifier(OUTCOMES), where=where), params):
        matching += n
        for reason in reason_ids:
            counts[reason] = counts.get(reason, 0) + n
    return matching, counts


_PAGE = """
SELECT o.deal_id, o.customer_id, d.company_name, d.title, d.owner, d.team, d.site, d.amount, d.phase, d.stage,
       o.closed_at, o.reasons, o.note
FROM {outcomes} o JOIN {deals} d USING (deal_id)
WHERE {where}
ORDER BY o.closed_at DESC NULLS LAST, o.deal_id
LIMIT %(limit)s
"""


def closed_deals(conn: Connection, outcome: str, since: datetime | None, until: datetime | None, q: str | None,
                 limit: int) -> list[dict[str, Any]]:
    """The matching deals, latest closed first, each with its reasons ([{choice, note}]) and win note."""
    where, params = _matching(outcome, since, until, q)
    query = SQL(_PAGE).format(outcomes=Identifier(OUTCOMES), deals=Identifier(DEALS), where=where)
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(query, {**params, "limit": limit}).fetchall()
