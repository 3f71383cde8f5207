"""Forecast (売上予測) and targets (売上目標, 達成率, 売上推移): response bodies and their assembly from the pipeline read
model's rows (``services/projections/pipeline/forecast.py`` and ``targets.py``).

Months are ``YYYY-MM`` in the business time zone. Amounts are JPY integers; a weighted amount is rounded to the
yen once, after summing (Σ amount × win_probability / 100, half up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.timeline_api import labels as lb
from services.timeline_api.schemas import GroupBy
from shared.process import ProcessDefinition

TargetGroupBy = Literal["team", "owner"]


@dataclass(frozen=True)
class Months:
    """[since, until) as first days of months; None: open."""

    since: date | None
    until: date | None


def month_text(month: date | None) -> str | None:
    return None if month is None else f"{month.year:04d}-{month.month:02d}"


def months_between(since: date, until: date) -> list[date]:
    found, month = [], since
    while month < until:
        found.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return found


def _weighted(exact: int) -> int:
    """JPY × percent -> JPY, half up (sums are never negative)."""
    return (exact + 50) // 100


def _ratio(part: int, whole: int | None) -> float | None:
    return part / whole if whole else None


class StageProbability(BaseModel):
    stage: str = Field(examples=["quote_submitted"])
    label: str = Field(examples=["見積提出済み"])
    label_en: str = Field(examples=["Quote submitted"])
    win_probability: int = Field(description="percent (0-100), from the process definition", examples=[40])


class ForecastMonth(BaseModel):
    month: str | None = Field(description="month of expected close (YYYY-MM); null: deals without one",
                              examples=["2026-05"])
    deals: int = Field(description="open deals", examples=[3])
    amount: int = Field(description="their amounts, JPY (unweighted)", examples=[12_000_000])
    weighted_amount: int = Field(description="Σ amount × win probability of the deal's stage / 100, JPY",
                                 examples=[4_800_000])


class ForecastGroup(BaseModel):
    group: str | None = Field(description="the team, owner or site; null: everyone (or not recorded)")
    deals: int
    amount: int
    weighted_amount: int
    months: list[ForecastMonth] = Field(description="months in order, then the deals without expected close")


class Forecast(BaseModel):
    since: str | None = Field(default=None, description="expected close from this month on")
    until: str | None = Field(default=None, description="before this month")
    group_by: GroupBy | None = None
    probabilities: list[StageProbability]
    groups: list[ForecastGroup]


def forecast(process: ProcessDefinition, rows: list[tuple], months: Months, group_by: str | None) -> Forecast:
    by_group: dict[str | None, list[tuple]] = {}
    for row in rows:
        by_group.setdefault(row[0], []).append(row)
    if group_by is None:
        by_group.setdefault(None, [])
    groups = []
    for group in sorted(by_group, key=lambda g: (g is None, g or "")):
        cells = sorted(by_group[group], key=lambda r: (r[1] is None, r[1] or date.min))
        groups.append(ForecastGroup(
            group=group, deals=sum(r[2] for r in cells), amount=sum(r[3] for r in cells),
            weighted_amount=_weighted(sum(r[4] for r in cells)),
            months=[ForecastMonth(month=month_text(m), deals=n, amount=a, weighted_amount=_weighted(w))
                    for _, m, n, a, w in cells]))
    stages = [StageProbability(stage=stage, win_probability=percent, **dict(zip(("label", "label_en"),
                                                                                  lb.of_step(process, stage))))
              for stage, percent in process.win_probabilities().items()]
    return Forecast(since=month_text(months.since), until=month_text(months.until), group_by=group_by,
                    probabilities=stages, groups=groups)


class Target(BaseModel):
    team: str = Field(examples=["本社営業1課"])
    owner: str | None = Field(description="null: the team's own target", examples=[None])
    month: str = Field(examples=["2026-04"])
    amount: int = Field(description="JPY", examples=[12_000_000])
    version: int = Field(description="version of the team's targets stream that set it")
    occurred_at: datetime
    recorded_at: datetime
    set_by: str = Field(description="the user who set it", examples=["suzuki"])


class Targets(BaseModel):
    since: str
    until: str
    targets: list[Target] = Field(description="the target in force per team (and owner) and month: the latest set")
    history: list[Target] = Field(description="every target set for these months, in the order recorded")


def _target(row: dict) -> Target:
    return Target(**{**row, "month": month_text(row["month"]), "set_by": row["actor_user"]})


def targets(in_force: list[dict], history: list[dict], months: Months) -> Targets:
    return Targets(since=month_text(months.since), until=month_text(months.until),
                   targets=[_target(r) for r in in_force], history=[_target(r) for r in history])


class AchievementMonth(BaseModel):
    month: str = Field(examples=["2026-04"])
    target: int | None = Field(description="the target in force, JPY; null: none set", examples=[10_000_000])
    won: int = Field(description="deals won in the month (by close time)", examples=[2])
    won_amount: int = Field(description="their amounts, JPY", examples=[8_000_000])
    achievement: float | None = Field(description="won_amount / target; null without a target above 0",
                                      examples=[0.8])
    gap: int | None = Field(description="target - won_amount, JPY (above 0: short of it; below: beyond it)",
                            examples=[2_000_000])
    cumulative_target: int = Field(description="targets of the months so far (売上推移), JPY")
    cumulative_won_amount: int = Field(description="won amounts of the months so far, JPY")
    cumulative_achievement: float | None
    cumulative_gap: int


class AchievementGroup(BaseModel):
    team: str | None = Field(description="null: won deals without a team")
    owner: str | None = Field(description="with group_by=owner: the owner; else null")
    target: int = Field(description="the period's targets, JPY")
    won: int
    won_amount: int
    achievement: float | None
    gap: int
    months: list[AchievementMonth]


class Achievement(BaseModel):
    since: str
    until: str
    group_by: TargetGroupBy
    groups: list[AchievementGroup]


def achievement(in_force: list[dict], won: list[tuple], months: Months, group_by: str) -> Achievement:
    assert months.since is not None and months.until is not None
    goals = {(r["team"], r["owner"], r["month"]): r["amount"] for r in in_force}
    results = {(team, owner, month): (n, amount) for team, owner, month, n, amount in won}
    keys = sorted({k[:2] for k in (*goals, *results)}, key=lambda k: (k[0] is None, k[0] or "", k[1] or ""))
    groups = []
    for team, owner in keys:
        cells, total_target, total_won, total_amount = [], 0, 0, 0
        for month in months_between(months.since, months.until):
            target = goals.get((team, owner, month))
            n, amount = results.get((team, owner, month), (0, 0))
            total_target, total_won, total_amount = total_target + (target or 0), total_won + n, total_amount + amount
            cells.append(AchievementMonth(
                month=month_text(month), target=target, won=n, won_amount=amount, achievement=_ratio(amount, target),
                gap=None if target is None else target - amount, cumulative_target=total_target,
                cumulative_won_amount=total_amount, cumulative_achievement=_ratio(total_amount, total_target),
                cumulative_gap=total_target - total_amount))
        groups.append(AchievementGroup(team=team, owner=owner, target=total_target, won=total_won,
                                       won_amount=total_amount, achievement=_ratio(total_amount, total_target),
                                       gap=total_target - total_amount, months=cells))
    return Achievement(since=month_text(months.since), until=month_text(months.until), group_by=group_by,
                       groups=groups)
