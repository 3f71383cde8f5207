"""The writer's current state of a customer, as the GET endpoints answer it."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from shared.domain.customer import Customer
from shared.domain.state import Contact, Deal, Ticket
from shared.process import ProcessDefinition


class MissingInfo(BaseModel):
    id: str = Field(examples=["hearing_budget"])
    label: str = Field(examples=["予算"])
    label_en: str = Field(examples=["Budget"])
    reason: str = ""


class DealView(Deal):
    deal_id: UUID
    phase_label: str = Field(examples=["ヒアリング"])
    stage_label: str = Field(examples=["BANT確認中"])
    bucket: str = Field(description="hot / warm / cold from temperature and decision status")
    facts: list[str] = Field(description="facts that hold over what has been recorded")
    missing_information: list[MissingInfo] = Field(description="required information of the current stage not yet recorded")


class CustomerView(BaseModel):
    customer_id: UUID
    version: int = Field(description="the stream version (use it as If-Match)")
    head_hash: str
    company_name: str
    company_key: str
    industry: str | None
    address: str | None
    website: str | None
    contacts: dict[str, Contact]
    deals: list[DealView]
    tickets: dict[str, Ticket]


def deal_view(customer: Customer, deal_id: str, process: ProcessDefinition) -> DealView:
    deal = customer.deal(deal_id)
    return DealView(
        **deal.model_dump(), deal_id=UUID(deal_id),
        phase_label=_label(process, deal.phase), stage_label=_label(process, deal.stage),
        bucket=process.bucket(deal.temperature, deal.decision_status),
        facts=sorted(customer.facts(deal_id)),
        missing_information=[MissingInfo(id=i.id, label=i.label, label_en=i.label_en, reason=i.reason)
                             for i in customer.missing_information(deal_id, process)],
    )


def customer_view(customer: Customer, process: ProcessDefinition) -> CustomerView:
    s = customer.state
    return CustomerView(
        customer_id=customer.id, version=customer.version, head_hash=s.head_hash, company_name=s.company_name,
        company_key=s.company_key, industry=s.industry, address=s.address, website=s.website, contacts=s.contacts,
        deals=[deal_view(customer, deal_id, process) for deal_id in s.deals], tickets=s.tickets,
    )


def _label(process: ProcessDefinition, ident: str) -> str:
    """The label of a phase or stage, or the id itself if the process no longer defines it."""
    try:
        return process.label(ident)
    except KeyError:
        return ident
