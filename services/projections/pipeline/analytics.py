"""How deals move: phase funnel (``pipeline_phase_entries``, ``pipeline_funnel_months``), time in stage
(``pipeline_stage_history``), and the KPIs.

A deal's group (team, owner or site) is the deal's own (``pipeline_deals``), not whoever moved it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import Connection
from psycopg.sql import SQL, Composable, Identifier

from services.projections.pipeline.deals import GROUP_COLUMNS
from services.projections.pipeline.tables import DEALS, FUNNEL_MONTHS, PHASE_ENTRIES, STAGE_HISTORY


_TABLES = {"deals": Identifier(DEALS), "history": Identifier(STAGE_HISTORY)}


def _period(column: str, since: datetime | None, until: datetime | None) -> tuple[Composable, dict[str, Any]]:
    conditions = [SQL("TRUE")]
    if since is not None:
        conditions.append(SQL(f"{column} >= %(since)s"))
    if until is not None:
        conditions.append(SQL(f"{column} < %(until)s"))
    return SQL(" AND ").join(conditions), {"since": since, "until": until}


_FUNNEL = """
SELECT {group} AS grp, d.phase, sum(d.entered) AS entered, sum(d.advanced) AS advanced, sum(d.lost) AS lost
FROM (SELECT phase, team, owner, site, entered, advanced, lost FROM {months} WHERE {months_in}
      UNION ALL
      SELECT phase, team, owner, site, 1, advanced::int, lost::int FROM {entries} WHERE {entries_in}) d
WHERE d.phase = ANY(%(phases)s::text[])
GROUP BY 1, 2
HAVING sum(d.entered) > 0
"""


def _first_month_from(moment: datetime) -> datetime:
    """The start (UTC) of the first whole month at or after ``moment``."""
    start = moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start == moment:
        return start
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _month_of(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def funnel(conn: Connection, phases: list[str], since: datetime | None, until: datetime | None,
           group_by: str | None) -> list[tuple[str | None, str, int, int, int]]:
    """(group, phase, entered, advanced, lost): deals whose first entry into a phase lies in the period,
    how many of them have reached a later phase since (a won deal that skipped 提案 advanced from
    ヒアリング), and how many were lost in that phase (their furthest).

    From the projection's rows per deal and phase entered (``pipeline_phase_entries``): the whole months of
    the period from their sums (``pipeline_funnel_months``), its part-months at either end from the rows."""
    first = None if since is None else _first_month_from(since)  # whole months: [first, last)
    last = None if until is None else _month_of(until)
    months, ends = [SQL("TRUE")], []
    if first is not None and last is not None and first >= last:  # no whole month inside: rows only
        months, ends = [SQL("FALSE")], [SQL("(entered_at >= %(since)s AND entered_at < %(until)s)")]
    else:
        if first is not None:
            months.append(SQL("month >= %(first_month)s"))
            ends.append(SQL("(entered_at >= %(since)s AND entered_at < %(first)s)"))
        if last is not None:
            months.append(SQL("month < %(last_month)s"))
            ends.append(SQL("(entered_at >= %(last)s AND entered_at < %(until)s)"))
    query = SQL(_FUNNEL).format(group=GROUP_COLUMNS[group_by], months=Identifier(FUNNEL_MONTHS),
                                entries=Identifier(PHASE_ENTRIES), months_in=SQL(" AND ").join(months),
                                entries_in=SQL(" OR ").join(ends) if ends else SQL("FALSE"))
    params = {"phases": phases, "since": since, "until": until, "first": first, "last": last,
              "first_month": first and first.date(), "last_month": last and last.date()}
    return [(g, p, int(n), int(a), int(lost)) for g, p, n, a, lost in conn.execute(query, params).fetchall()]


_DURATIONS = """
SELECT {group} AS grp, h.stage, count(*) AS stays,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY h.duration_seconds) / 86400 AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY h.duration_seconds) / 86400 AS p90_days
FROM {history} h {join}
WHERE h.left_at IS NOT NULL AND {period}
GROUP BY 1, 2
"""


def stage_durations(conn: Connection, since: datetime | None, until: datetime | None,
                    group_by: str | None) -> list[tuple[str | None, str, int, float, float]]:
    """(group, stage, stays, median days, p90 days) over the stays that ended in the period."""
    period, params = _period("h.left_at", since, until)
    join = SQL("JOIN {deals} d ON d.deal_id = h.deal_id").format(**_TABLES) if group_by else SQL("")
    query = SQL(_DURATIONS).format(group=GROUP_COLUMNS[group_by], period=period, join=join, **_TABLES)
    return conn.execute(query, params).fetchall()


def open_deal_counts(conn: Connection, first_phase: str) -> dict[str, Any]:
    """Counts over open deals: per phase (deals, amount), per bucket, BANT capture, missing information."""
    deals = Identifier(DEALS)
    phases = {p: (n, int(a)) for p, n, a in conn.execute(SQL(  # sums may pass 64 bits: numeric -> int
        "SELECT phase, count(*), coalesce(sum(amount), 0) FROM {0} WHERE status = 'open' "
        "GROUP BY phase").format(deals)).fetchall()}
    buckets = dict(conn.execute(SQL("SELECT bucket, count(*) FROM {0} WHERE status = 'open' "
                                    "GROUP BY bucket").format(deals)).fetchall())
    past_first, bant_complete, missing = conn.execute(SQL(
        "SELECT count(*) FILTER (WHERE phase <> %(first)s), count(*) FILTER (WHERE phase <> %(first)s "
        "AND bant_complete), count(*) FILTER (WHERE missing_information <> '[]'::jsonb) "
        "FROM {0} WHERE status = 'open'").format(deals), {"first": first_phase}).fetchone()
    by_item = dict(conn.execute(SQL(
        "SELECT item, count(*) FROM {0}, jsonb_array_elements_text(missing_information) AS item "
        "WHERE status = 'open' GROUP BY item").format(deals)).fetchall())
    return {"phases": phases, "buckets": buckets, "past_first": past_first, "bant_complete": bant_complete,
            "missing": missing, "missing_by_item": by_item}
