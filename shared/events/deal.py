"""Events of a deal's life: opened, moved between stages, won or lost, next steps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, model_validator

from shared.events.base import MAX_YEN, CustomerEvent, Frozen, Selection
from shared.events.limits import Limit


class DealEvent(CustomerEvent):
    deal_id: UUID


class DealDetails(Frozen):
    title: str = Field(min_length=1, max_length=200, examples=["営業支援システム導入"])
    owner: str = Field(min_length=1, max_length=100, examples=["tanaka"])
    team: str | None = Field(default=None, max_length=100, examples=["本社営業1課"])
    site: str | None = Field(default=None, max_length=100, examples=["東京本社"])
    amount: int | None = Field(default=None, ge=0, le=MAX_YEN, strict=True, description="expected amount in JPY",
                               examples=[4_800_000])
    expected_close: date | None = Field(default=None, examples=["2027-03-31"])


class DealOpened(DealEvent, DealDetails):
    phase: str
    stage: str


class ImportedStage(Frozen):
    """Where an existing deal stood when it was brought in from another system."""

    stage: str = Field(min_length=1, max_length=100, examples=["negotiating_terms"])
    stage_entered_at: datetime | None = Field(default=None, description="when it entered that stage, if known")
    source: str = Field(default="import", max_length=200, examples=["顧客台帳.xlsx"])


class DealImported(DealEvent, DealDetails):
    """A deal opened directly at its current stage by an import: history-honest, nothing fabricated."""

    phase: str
    stage: str
    stage_entered_at: datetime
    source: str


class SatisfiedCriterion(Frozen):
    id: str
    facts: tuple[str, ...]


class StageChanged(DealEvent):
    from_phase: str
    from_stage: str
    to_phase: str
    to_stage: str
    satisfied_criteria: tuple[SatisfiedCriterion, ...] = ()
    note: str = ""


class WinDetails(Frozen):
    win_reasons: Annotated[tuple[Selection, ...], Limit(max_items=20)] = Field(min_length=1,
                                                                               description="win_reason options")
    note: str = Field(default="", max_length=4000)


class DealWon(DealEvent, WinDetails):
    pass


class LossDetails(Frozen):
    reason: Selection = Field(description="lost_reason option")


class DealLost(DealEvent, LossDetails):
    phase: str
    stage: str


class NextActionDetails(Frozen):
    plan: Selection = Field(description="next_action option: scheduled / undecided, note says what")
    due_at: datetime | None = Field(default=None, examples=["2026-12-03T10:00:00+09:00"])

    @model_validator(mode="after")
    def _scheduled_needs_due_date(self) -> NextActionDetails:
        if self.plan.choice == "scheduled" and self.due_at is None:
            raise ValueError("due_at is required when the next action is scheduled")
        return self


class NextActionSet(DealEvent, NextActionDetails):
    action_id: UUID


class NextActionOutcome(Frozen):
    outcome: str = Field(default="", max_length=4000)


class NextActionCompleted(DealEvent, NextActionOutcome):
    action_id: UUID


class TemperatureDetails(Frozen):
    temperature: Selection = Field(description="temperature option: high / medium / low")
    decision_status: Selection | None = Field(default=None, description="decision_status option")


class TemperatureSet(DealEvent, TemperatureDetails):
    pass
