"""Win and loss reasons counted, and the closed deals behind them, searchable in titles and notes."""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Any

from services.timeline_api import labels as lb
from services.timeline_api import schemas as s
from shared.events import DealLost, DealWon
from shared.process import ProcessDefinition

REASON_FIELDS = {"won": "win_reason", "lost": "lost_reason"}


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _reasons(process: ProcessDefinition, outcome: str, row: dict[str, Any],
             event: DealWon | DealLost | None) -> list[s.ReasonNote]:
    field = REASON_FIELDS[outcome]
    if isinstance(event, DealWon):
        chosen = [(r.choice, r.note) for r in event.win_reasons]
    elif isinstance(event, DealLost):
        chosen = [(event.reason.choice, event.reason.note)]
    else:  # the closing event could not be read: the reason ids from the read model, without notes
        chosen = [(r, "") for r in (row["win_reasons"] if outcome == "won" else [row["lost_reason"]]) if r]
    return [s.ReasonNote(**lb.labelled(lb.of_option(process, field, c), c), note=note) for c, note in chosen]


def _deal(process: ProcessDefinition, outcome: str, row: dict[str, Any], event: Any) -> s.OutcomeDeal:
    return s.OutcomeDeal(**{**row, **lb.phase_stage(process, row["phase"], row["stage"])},
                         reasons=_reasons(process, outcome, row, event),
                         note=event.note if isinstance(event, DealWon) else "")


def _matches(deal: s.OutcomeDeal, needle: str) -> bool:
    texts = [deal.title or "", deal.note, *(r.note for r in deal.reasons)]
    return any(needle in _folded(text) for text in texts)


def outcome_report(process: ProcessDefinition, outcome: str, rows: list[dict[str, Any]], events: dict[Any, Any],
                   q: str | None, limit: int) -> s.Outcomes:
    deals = [_deal(process, outcome, row, events.get(row["deal_id"])) for row in rows]
    if q:
        deals = [d for d in deals if _matches(d, _folded(q))]
    counted = Counter(r.id for d in deals for r in {r.id: r for r in d.reasons}.values())
    labels = {r.id: r for d in deals for r in d.reasons}
    reasons = [s.ReasonCount(id=i, label=labels[i].label, label_en=labels[i].label_en, deals=n)
               for i, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))]
    return s.Outcomes(outcome=outcome, q=q, matching_deals=len(deals), reasons=reasons, deals=deals[:limit])
