"""The weighted pipeline (売上予測): open deals' amounts weighed by their stage's win probability, per month of
expected close.

weighted = Σ amount × win_probability / 100 over the open deals of a group and month; the stage's probability
comes from the process definition (``ProcessDefinition.win_probabilities``), handed in as (stage, percent) pairs,
so the SQL never reads the definition. A deal in a stage the definition no longer has weighs 0. Deals without
``expected_close`` are their own bucket (month None); deals without an amount count, weighing nothing.
"""

from __future__ import annotations

from datetime import date

from psycopg import Connection
from psycopg.sql import SQL, Identifier

from services.projections.pipeline.deals import GROUP_COLUMNS
from services.projections.pipeline.tables import DEALS

_FORECAST = """
SELECT {group} AS grp, date_trunc('month', d.expected_close)::date AS month, count(*) AS deals,
       coalesce(sum(d.amount), 0) AS amount, coalesce(sum(d.amount::numeric * coalesce(p.percent, 0)), 0) AS weighted
FROM {deals} d
LEFT JOIN unnest(%(stages)s::text[], %(percents)s::int[]) AS p(stage, percent) ON p.stage = d.stage
WHERE d.status = 'open'
  AND (d.expected_close IS NULL OR ((%(since)s::date IS NULL OR d.expected_close >= %(since)s)
                                    AND (%(until)s::date IS NULL OR d.expected_close < %(until)s)))
GROUP BY 1, 2
"""


def weighted_pipeline(conn: Connection, probabilities: dict[str, int], group_by: str | None,
                      since: date | None = None, until: date | None = None
                      ) -> list[tuple[str | None, date | None, int, int, int]]:
    """(group, month of expected close or None, open deals, amount JPY, Σ amount × percent) per group and month;
    deals closing in [since, until) (months' first days), and those without expected close. The last value is
    exact (JPY × percent): divide by 100 once, after summing, so totals round once."""
    query = SQL(_FORECAST).format(group=GROUP_COLUMNS[group_by], deals=Identifier(DEALS))
    rows = conn.execute(query, {"stages": list(probabilities), "percents": list(probabilities.values()),
                                "since": since, "until": until}).fetchall()
    return [(g, month, n, int(amount), int(weighted)) for g, month, n, amount, weighted in rows]
