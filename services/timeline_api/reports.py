"""Manager views assembled from query rows, in the order of the process definition.

Every phase and stage of the process appears (with zeros), so a dashboard's rows never
jump around; a phase or stage an older process used is appended where it belongs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.timeline_api import labels as lb
from services.timeline_api import schemas as s
from shared.process import ProcessDefinition


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _layout(process: ProcessDefinition, seen: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Phase -> its stages, in process order, plus any (phase, stage) met in the data."""
    layout = {p.id: [st.id for st in p.stages] for p in process.phases}
    for phase, stage in seen:
        stages = layout.setdefault(phase, [])
        if stage not in stages:
            stages.append(stage)
    return layout


def _groups(rows: Iterable[tuple], group_by: str | None) -> list[str | None]:
    found = sorted({r[0] for r in rows if r[0] is not None})
    nulls = [None] if group_by is None or any(r[0] is None for r in rows) else []
    return [*found, *nulls]


def pipeline_summary(process: ProcessDefinition, rows: list[tuple], status: str,
                     group_by: str | None) -> s.PipelineSummary:
    layout = _layout(process, ((phase, stage) for _, phase, stage, _, _ in rows))
    counts = {(g, phase, stage): (n, amount) for g, phase, stage, n, amount in rows}
    groups = []
    for group in _groups(rows, group_by):
        phases = []
        for phase, stages in layout.items():
            stage_counts = [s.StageCount(stage=st, deals=counts.get((group, phase, st), (0, 0))[0],
                                         amount=counts.get((group, phase, st), (0, 0))[1],
                                         **_names(process, st)) for st in stages]
            phases.append(s.PhaseCount(phase=phase, deals=sum(c.deals for c in stage_counts),
                                       amount=sum(c.amount for c in stage_counts), stages=stage_counts,
                                       **_names(process, phase)))
        groups.append(s.PipelineGroup(group=group, deals=sum(p.deals for p in phases),
                                      amount=sum(p.amount for p in phases), phases=phases))
    return s.PipelineSummary(status=status, group_by=group_by, groups=groups)


def _names(process: ProcessDefinition, item_id: str) -> dict[str, str]:
    ja, en = lb.of_step(process, item_id)
    return {"label": ja, "label_en": en}


def funnel(process: ProcessDefinition, rows: list[tuple], period: Any, group_by: str | None) -> s.Funnel:
    phases = [p.id for p in process.phases]
    counts = {(g, phase): (entered, advanced, lost) for g, phase, entered, advanced, lost in rows}
    groups = []
    for group in _groups(rows, group_by):
        steps = []
        for i, phase in enumerate(phases):
            entered, advanced, lost = counts.get((group, phase), (0, 0, 0))
            following = phases[i + 1] if i + 1 < len(phases) else None
            steps.append(s.FunnelStep(
                phase=phase, **_names(process, phase), next_phase=following,
                next_label=lb.of_step(process, following)[0] if following else None, entered=entered,
                advanced=advanced if following else None, lost=lost, remaining=entered - advanced - lost,
                conversion_rate=_ratio(advanced, entered) if following else None))
        groups.append(s.FunnelGroup(group=group, steps=steps))
    return s.Funnel(since=period.since, until=period.until, group_by=group_by, groups=groups)


def stage_durations(process: ProcessDefinition, rows: list[tuple], period: Any,
                    group_by: str | None) -> s.StageDurations:
    stats = {(g, stage): (stays, median, p90) for g, stage, stays, median, p90 in rows}
    stages = [(p.id, st.id) for p in process.phases for st in p.stages]
    stages += sorted({("", stage) for _, stage, *_ in rows} - {("", st) for _, st in stages})
    groups = []
    for group in _groups(rows, group_by):
        found = []
        for phase, stage in stages:
            stays, median, p90 = stats.get((group, stage), (0, None, None))
            found.append(s.StageDuration(phase=phase, stage=stage, stays=stays, median_days=median, p90_days=p90,
                                         **_names(process, stage)))
        groups.append(s.DurationGroup(group=group, stages=found))
    return s.StageDurations(since=period.since, until=period.until, group_by=group_by, groups=groups)


def win_rates(rows: list[tuple], period: Any, group_by: str | None) -> s.WinRates:
    """Per group (everyone: one row, zeros included): won and lost deals and amounts, and the win rates."""
    counts = {g: (won, won_amount, lost, lost_amount) for g, won, won_amount, lost, lost_amount in rows}
    groups = []
    for group in _groups(rows, group_by):
        won, won_amount, lost, lost_amount = counts.get(group, (0, 0, 0, 0))
        groups.append(s.WinRateGroup(group=group, won=won, lost=lost, won_amount=won_amount, lost_amount=lost_amount,
                                     win_rate=_ratio(won, won + lost),
                                     amount_win_rate=_ratio(won_amount, won_amount + lost_amount)))
    return s.WinRates(since=period.since, until=period.until, group_by=group_by, groups=groups)


def deal_alerts(process: ProcessDefinition, as_of: datetime, total: int, alerts: Iterable[Any]) -> s.DealAlerts:
    """A page of stagnation alerts (``stagnation.DealAlert``) with phase and stage labels; ``total``: them all."""
    return s.DealAlerts(as_of=as_of, count=total, deals=[
        s.DealAlert(**{**a.__dict__, **lb.phase_stage(process, a.phase, a.stage)}) for a in alerts])


def kpis(process: ProcessDefinition, counts: dict[str, Any]) -> s.Kpis:
    phases = counts["phases"]
    open_deals = sum(n for n, _ in phases.values())
    order = [p.id for p in process.phases] + sorted(set(phases) - {p.id for p in process.phases})
    items = list(process.required_information)

    def order_of(item: str) -> int:
        return items.index(item) if item in items else len(items)

    return s.Kpis(
        open_deals=open_deals, open_amount=sum(a for _, a in phases.values()),
        phase_distribution=[s.PhaseShare(phase=p, **_names(process, p), deals=phases.get(p, (0, 0))[0],
                                         amount=phases.get(p, (0, 0))[1],
                                         share=_ratio(phases.get(p, (0, 0))[0], open_deals)) for p in order],
        buckets={b: counts["buckets"].get(b, 0) for b in [*lb.buckets(process), *counts["buckets"]]},
        bant_capture=s.Rate(deals=counts["bant_complete"], of=counts["past_first"],
                            rate=_ratio(counts["bant_complete"], counts["past_first"])),
        missing_information=s.Rate(deals=counts["missing"], of=open_deals, rate=_ratio(counts["missing"], open_deals)),
        missing_by_item=[s.MissingCount(**lb.labelled(lb.of_required(process, item), item), deals=n)
                         for item, n in sorted(counts["missing_by_item"].items(),
                                               key=lambda kv: (-kv[1], order_of(kv[0])))],
    )


def pipeline_as_of(process: ProcessDefinition, rows: list[dict[str, Any]], as_of: datetime) -> s.PipelineAsOf:
    """Deals in process order; status as of then (lost: in the lost row; won: closed as won by then)."""
    deals = []
    for r in rows:
        won = r["status"] == "won" and r["closed_at"] is not None and r["closed_at"] <= as_of
        status = "lost" if r["stage"] == "lost" else "won" if won else "open"
        deals.append(s.PipelineAsOfDeal(**{**r, **lb.phase_stage(process, r["phase"], r["stage"]), "status": status,
                                           "stage_entered_at": r["entered_at"],
                                           "days_in_stage": (as_of - r["entered_at"]).total_seconds() / 86400}))
    order = {p.id: i for i, p in enumerate(process.phases)}
    deals.sort(key=lambda d: (order.get(d.phase, len(order)), d.stage_entered_at))
    open_deals = [d for d in deals if d.status == "open"]
    phases = []
    for p in process.phases:
        here = [d for d in open_deals if d.phase == p.id]
        phases.append(s.PhaseShare(phase=p.id, label=p.label, label_en=p.label_en, deals=len(here),
                                   amount=sum(d.amount or 0 for d in here), share=_ratio(len(here), len(open_deals))))
    return s.PipelineAsOf(as_of=as_of, phases=phases, deals=deals)
