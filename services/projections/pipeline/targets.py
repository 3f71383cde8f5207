"""Teams' monthly sales targets in the pipeline read model, and the won amounts they are measured against.

``write`` keeps one ``pipeline_targets`` row per ``TargetSet`` (history kept); the target in force for a team
(or one of its owners) and a month is the latest recorded (highest version of the team's stream). Won amounts
are the amounts of won deals by the month of their ``closed_at`` in the business time zone. Months are the
first day of the month (``date``).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection, Cursor
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.projections.pipeline.tables import DEALS, TARGETS
from shared.events.targets import TargetSet


def first_of(month: str) -> date:
    """'2026-04' -> 2026-04-01."""
    return date(int(month[:4]), int(month[5:7]), 1)


def write(curs: Cursor, table: Identifier, events: dict[UUID, list[Any]]) -> None:
    rows = [(e.originator_id, e.originator_version, e.team, e.owner, first_of(e.month), e.amount, e.occurred_at,
             e.timestamp, e.actor.user) for stream in events.values() for e in stream if isinstance(e, TargetSet)]
    curs.executemany(SQL("INSERT INTO {0} (stream_id, version, team, owner, month, amount, occurred_at, recorded_at, "
                         "actor_user) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                         "ON CONFLICT (stream_id, version) DO NOTHING").format(table), rows)


_IN_FORCE = """
SELECT DISTINCT ON (team, coalesce(owner, ''), month) team, owner, month, amount, version, occurred_at,
       recorded_at, actor_user
FROM {targets} WHERE month >= %(since)s AND month < %(until)s {owners}
ORDER BY team, coalesce(owner, ''), month, version DESC
"""


def targets_in_force(conn: Connection, since: date, until: date, owners: bool | None = None) -> list[dict[str, Any]]:
    """The target in force per team (owner None) or owner of a team, and month in [since, until).
    ``owners``: True only owners' targets, False only teams' own, None both."""
    owned = {None: "", True: "AND owner IS NOT NULL", False: "AND owner IS NULL"}[owners]
    with conn.cursor(row_factory=dict_row) as curs:
        rows = curs.execute(SQL(_IN_FORCE.replace("{owners}", owned)).format(targets=Identifier(TARGETS)),
                            {"since": since, "until": until}).fetchall()
    return sorted(rows, key=lambda r: (r["team"], r["owner"] or "", r["month"]))


def target_history(conn: Connection, since: date, until: date, team: str | None = None) -> list[dict[str, Any]]:
    """Every target set for a month in [since, until) (of one team), in the order recorded."""
    with conn.cursor(row_factory=dict_row) as curs:
        return curs.execute(SQL(
            "SELECT team, owner, month, amount, version, occurred_at, recorded_at, actor_user FROM {0} "
            "WHERE month >= %(since)s AND month < %(until)s AND (%(team)s::text IS NULL OR team = %(team)s) "
            "ORDER BY team, recorded_at, version").format(Identifier(TARGETS)),
            {"since": since, "until": until, "team": team}).fetchall()


_WON = """
SELECT d.team, {owner} AS owner, date_trunc('month', d.closed_at AT TIME ZONE %(zone)s)::date AS month,
       count(*) AS won, coalesce(sum(d.amount), 0) AS won_amount
FROM {deals} d
WHERE d.status = 'won' AND d.closed_at >= %(since)s AND d.closed_at < %(until)s
GROUP BY 1, 2, 3
"""


def won_by_month(conn: Connection, since: Any, until: Any, zone: str, by_owner: bool
                 ) -> list[tuple[str | None, str | None, date, int, int]]:
    """(team, owner or None, month, deals won, won amount JPY) of the deals won in [since, until) (aware times),
    per team (or per owner of a team) and month of ``closed_at`` in ``zone``."""
    query = SQL(_WON).format(owner=SQL("d.owner") if by_owner else SQL("NULL::text"), deals=Identifier(DEALS))
    rows = conn.execute(query, {"since": since, "until": until, "zone": zone}).fetchall()
    return [(team, owner, month, won, int(amount)) for team, owner, month, won, amount in rows]
