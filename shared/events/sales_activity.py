"""Events of the work done on a deal: hearing, meetings, proposals, closing, hand-off."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from shared.events.base import MAX_YEN, Frozen, Selection
from shared.events.deal import DealEvent
from shared.events.limits import Limit

BantLevel = Literal["unknown", "partial", "confirmed"]


class BantStatus(Frozen):
    budget: BantLevel = "unknown"
    authority: BantLevel = "unknown"
    need: BantLevel = "unknown"
    timeline: BantLevel = "unknown"

    def confirmed(self) -> bool:
        return all(level == "confirmed" for level in (self.budget, self.authority, self.need, self.timeline))


class HearingDetails(Frozen):
    """The article's five hearing items, BANT, and the select fields met in discovery."""

    issue: str | None = Field(default=None, max_length=4000, description="課題", examples=["拠点ごとに顧客情報が分断"])
    reason: str | None = Field(default=None, max_length=4000, description="導入理由", examples=["営業会議の準備工数削減"])
    decision_maker: str | None = Field(default=None, max_length=200, description="決裁者", examples=["山田 取締役"])
    budget: str | None = Field(default=None, max_length=200, description="予算", examples=["年間500万円"])
    timeline: str | None = Field(default=None, max_length=200, description="導入時期", examples=["2027年4月"])
    bant: BantStatus = BantStatus()
    competitor: Selection | None = Field(default=None, description="competitor option: yes / no")
    hurdle: Selection | None = Field(default=None, description="hurdle option")
    notes: str = Field(default="", max_length=8000)


class HearingRecorded(DealEvent, HearingDetails):
    pass


class MeetingPlan(Frozen):
    scheduled_at: datetime = Field(examples=["2026-12-10T14:00:00+09:00"])
    place: Literal["online", "visit", "our_office", "other"] = Field(examples=["visit"])
    location: str = Field(default="", max_length=300)
    purpose: str = Field(min_length=1, max_length=1000, examples=["課題ヒアリングとデモ"])
    agenda: str = Field(default="", max_length=4000)
    attendees_ours: Annotated[tuple[str, ...], Limit(max_items=50, max_length=100)] = ()
    attendees_theirs: Annotated[tuple[str, ...], Limit(max_items=50, max_length=100)] = ()


class MeetingScheduled(DealEvent, MeetingPlan):
    meeting_id: UUID


class MeetingOutcome(Frozen):
    minutes: str = Field(default="", max_length=8000)


class MeetingHeld(DealEvent, MeetingOutcome):
    meeting_id: UUID


class ProposalDetails(Frozen):
    title: str = Field(min_length=1, max_length=200, examples=["営業DX提案書 v1"])
    problem: str = Field(default="", max_length=4000, description="which problem the proposal answers")
    summary: str = Field(default="", max_length=8000)


class ProposalSent(DealEvent, ProposalDetails):
    proposal_id: UUID


class QuoteDetails(Frozen):
    amount: int = Field(ge=0, le=MAX_YEN, strict=True, description="JPY", examples=[4_800_000])
    valid_until: date | None = None
    note: str = Field(default="", max_length=4000)


class QuoteSubmitted(DealEvent, QuoteDetails):
    quote_id: UUID


class FeedbackDetails(Frozen):
    proposal_id: UUID | None = None
    reaction: Selection = Field(description="initial_reaction option")
    questions: str = Field(default="", max_length=4000)
    concerns: str = Field(default="", max_length=4000)


class ProposalFeedbackRecorded(DealEvent, FeedbackDetails):
    pass


class RevisionRequest(Frozen):
    request: str = Field(min_length=1, max_length=4000, examples=["価格を年額から月額表記に"])
    proposal_id: UUID | None = None


class RevisionRequested(DealEvent, RevisionRequest):
    revision_id: UUID


class RevisionResult(Frozen):
    response: str = Field(default="", max_length=4000)


class RevisionDone(DealEvent, RevisionResult):
    revision_id: UUID


class ApprovalDetails(Frozen):
    status: Selection = Field(description="approval_status option (稟議)")
    stuck_at: str = Field(default="", max_length=1000, examples=["経理部長の確認待ち"])
    people_involved: Annotated[tuple[str, ...], Limit(max_items=50, max_length=100)] = ()


class ApprovalStatusUpdated(DealEvent, ApprovalDetails):
    pass


class ContractTermsDetails(Frozen):
    open_points: Annotated[tuple[Literal["amount", "delivery", "payment_terms", "scope", "other"], ...],
                           Limit(max_items=5)] = ()
    agreed: bool = Field(default=False, strict=True, description="both sides agree on every term")
    blockers: str = Field(default="", max_length=4000)
    note: str = Field(default="", max_length=4000)


class ContractTermsUpdated(DealEvent, ContractTermsDetails):
    pass


class ContractDetails(Frozen):
    price: int = Field(ge=0, le=MAX_YEN, strict=True, description="JPY", examples=[4_560_000])
    scope: str = Field(min_length=1, max_length=4000)
    term_start: date | None = None
    term_end: date | None = None
    conditions: str = Field(default="", max_length=4000)


class ContractSigned(DealEvent, ContractDetails):
    pass


class HandoffDetails(Frozen):
    goal: str = Field(min_length=1, max_length=4000, examples=["3か月で全拠点の案件登録率90%"])
    cautions: str = Field(default="", max_length=4000)
    expectations: str = Field(default="", max_length=4000)
    cs_owner: str = Field(min_length=1, max_length=100, examples=["suzuki"])
    first_response_at: datetime = Field(examples=["2027-01-10T10:00:00+09:00"])


class HandedOffToCS(DealEvent, HandoffDetails):
    pass
