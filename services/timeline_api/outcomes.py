"""Win and loss reasons counted, and the closed deals behind them, searchable in titles and notes.

The rows come from the pipeline read model (``services.projections.pipeline.outcomes``); this module
labels them for the answer.
"""

from __future__ import annotations

from typing import Any

from services.timeline_api import labels as lb
from services.timeline_api import schemas as s
from shared.process import ProcessDefinition

REASON_FIELDS = {"won": "win_reason", "lost": "lost_reason"}


def _reason(process: ProcessDefinition, outcome: str, choice: str) -> dict[str, str]:
    return lb.labelled(lb.of_option(process, REASON_FIELDS[outcome], choice), choice)


def _deal(process: ProcessDefinition, outcome: str, row: dict[str, Any]) -> s.OutcomeDeal:
    reasons = [s.ReasonNote(**_reason(process, outcome, r["choice"]), note=r["note"]) for r in row["reasons"]]
    return s.OutcomeDeal(**{**row, **lb.phase_stage(process, row["phase"], row["stage"]), "reasons": reasons})


def outcome_report(process: ProcessDefinition, outcome: str, q: str | None, matching: int, counts: dict[str, int],
                   rows: list[dict[str, Any]]) -> s.Outcomes:
    """``counts``: reason id -> matching deals giving it; ``rows``: the page of deals, latest closed first."""
    reasons = [s.ReasonCount(**_reason(process, outcome, i), deals=n)
               for i, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return s.Outcomes(outcome=outcome, q=q, matching_deals=matching, reasons=reasons,
                      deals=[_deal(process, outcome, row) for row in rows])
