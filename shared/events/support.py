"""Events from customer success and support: onboarding, satisfaction, tickets."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.events.personal import PersonalData
from shared.events.base import CustomerEvent, Frozen


class OnboardingProgress(Frozen):
    deal_id: UUID | None = None
    progress_percent: int = Field(ge=0, le=100, strict=True, examples=[40])
    status: str = Field(default="", max_length=200, examples=["初期設定完了"])
    support_contacts_communicated: bool = Field(default=False, strict=True)
    note: str = Field(default="", max_length=4000)


class OnboardingProgressRecorded(CustomerEvent, OnboardingProgress):
    pass


class SatisfactionDetails(Frozen):
    deal_id: UUID | None = None
    score: int = Field(ge=1, le=5, strict=True, examples=[4])
    method: Literal["survey", "interview", "other"] = "survey"
    comment: str = Field(default="", max_length=4000)


class SatisfactionRecorded(CustomerEvent, SatisfactionDetails):
    pass


class FeedbackDetails(Frozen):
    """What CS, tech or support learned from the customer: usage, trouble, requests, upsell hints."""

    deal_id: UUID | None = None
    kind: Literal["usage", "trouble", "request", "upsell_hint", "other"] = Field(examples=["upsell_hint"])
    summary: str = Field(min_length=1, max_length=1000, examples=["他部署でも利用したいとの声"])
    detail: str = Field(default="", max_length=8000)


class CustomerFeedbackRecorded(CustomerEvent, FeedbackDetails):
    pass


class TicketDetails(Frozen):
    title: str = Field(min_length=1, max_length=200, examples=["ログインできない"])
    description: str = Field(default="", max_length=8000)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    category: str = Field(default="general", max_length=100)
    contact_id: UUID | None = None
    deal_id: UUID | None = None


class TicketOpened(CustomerEvent, TicketDetails):
    personal = PersonalData("contact_id", ("description",))
    ticket_id: UUID


class TicketUpdate(Frozen):
    status: Literal["open", "in_progress", "waiting_customer"] = Field(examples=["in_progress"])
    note: str = Field(default="", max_length=4000)


class TicketUpdated(CustomerEvent, TicketUpdate):
    ticket_id: UUID


class TicketResolution(Frozen):
    resolution: str = Field(min_length=1, max_length=4000, examples=["パスワード再設定で解決"])


class TicketResolved(CustomerEvent, TicketResolution):
    ticket_id: UUID
