"""Events of a deal's life: opened, moved between stages, won or lost, next steps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
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


class ImportedStep(Frozen):
    """A stage the deal passed through before its current one, and when it entered it."""

    stage: str = Field(min_length=1, max_length=100, examples=["hearing_done"])
    entered_at: datetime = Field(examples=["2024-04-01T00:00:00+09:00"])


class ImportedClose(Frozen):
    """How an imported deal ended: won or lost, when, and why (an option of win_reason or lost_reason)."""

    outcome: Literal["won", "lost"]
    closed_at: datetime | None = Field(default=None, description="default: when it entered its last known stage")
    reason: Selection | None = Field(default=None, description="a win_reason / lost_reason option; default: other")


class ImportedStage(Frozen):
    """Where an existing deal stood when it was brought in from another system, and how it got there."""

    stage: str = Field(min_length=1, max_length=100, examples=["negotiating_terms"])
    stage_entered_at: datetime | None = Field(default=None, description="when it entered that stage, if known")
    source: str = Field(default="import", max_length=200, examples=["顧客台帳.xlsx"])
    earlier_stages: Annotated[tuple[ImportedStep, ...], Limit(max_items=50)] = Field(
        default=(), description="stages it entered before its current one, in the order it entered them")
    close: ImportedClose | None = Field(default=None, description="for a deal already won or lost")
    imported_by: str | None = Field(default=None, max_length=100,
                                    description="who brought it in, when the actor is the deal's owner")


class DealImported(DealEvent, DealDetails):
    """A deal brought in from another system at the first stage known of it: history-honest, nothing
    fabricated. The later stages it is known to have entered follow as ``StageChanged`` events (no
    criteria claimed), and how it ended as ``DealWon`` / ``DealLost``, each at the time it happened."""

    phase: str
    stage: str
    stage_entered_at: datetime
    source: str
    imported_by: str | None = None


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
