"""Events about the customer company itself: registration, contacts, touches, lead source."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import EmailStr, Field

from shared.company_key import company_key
from shared.events.base import CustomerEvent, Frozen, Selection
from shared.events.limits import Limit
from shared.events.personal import CONTACT_PERSONAL, PersonalData

Channel = Literal["email", "phone", "visit", "online_meeting", "web_form", "event", "chat", "letter", "other"]
LeadSource = Literal["trade_show", "web", "referral", "outbound", "partner", "seminar", "other"]


class CompanyProfile(Frozen):
    company_name: str = Field(min_length=1, max_length=200, examples=["株式会社ABC商事"])
    industry: str | None = Field(default=None, max_length=100, examples=["製造業"])
    address: str | None = Field(default=None, max_length=300, examples=["東京都千代田区丸の内1-1-1"])
    website: str | None = Field(default=None, max_length=300, examples=["https://abc.example.jp"])
    employee_count: int | None = Field(default=None, ge=0, le=10_000_000, strict=True, examples=[850])


class CustomerRegistered(CustomerEvent, CompanyProfile):
    """v2 added ``company_key``; v1 events get it computed when read back."""

    schema_version = 2
    company_key: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["company_key"] = company_key(state["company_name"])


class ContactDetails(Frozen):
    name: str = Field(min_length=1, max_length=100, examples=["佐藤 花子"])
    title: str | None = Field(default=None, max_length=100, examples=["情報システム部 部長"])
    email: Annotated[EmailStr | None, Limit(max_length=254)] = Field(default=None,
                                                                     examples=["hanako.sato@abc.example.jp"])
    phone: str | None = Field(default=None, max_length=40, examples=["03-1234-5678"])
    is_decision_maker: bool = Field(default=False, strict=True)


class ContactAdded(CustomerEvent, ContactDetails):
    personal = CONTACT_PERSONAL
    contact_id: UUID


class TouchpointDetails(Frozen):
    deal_id: UUID | None = None
    channel: Channel = Field(examples=["phone"])
    direction: Literal["inbound", "outbound"] = Field(examples=["outbound"])
    summary: str = Field(min_length=1, max_length=4000, examples=["初回架電。業務効率化に関心あり"])
    contact_id: UUID | None = None
    reaction: Selection | None = Field(default=None, description="initial_reaction option")
    topics_of_interest: Annotated[tuple[str, ...], Limit(max_items=20, max_length=100)] = Field(
        default=(), examples=[["営業管理", "案件の見える化"]])


class TouchpointRecorded(CustomerEvent, TouchpointDetails):
    personal = PersonalData("contact_id", ("summary", "reaction.note"))
    touchpoint_id: UUID


class LeadSourceDetails(Frozen):
    source: LeadSource = Field(examples=["trade_show"])
    detail: str = Field(default="", max_length=1000, examples=["2026年秋 DX展示会 ブース来訪"])
    deal_id: UUID | None = None


class LeadSourceRecorded(CustomerEvent, LeadSourceDetails):
    pass
