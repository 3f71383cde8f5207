"""Commands: what a client may ask of a customer's stream, and which aggregate method answers.

The same command models serve the HTTP API, the Kafka ingest consumer and the importer,
so all three go through one code path for rules. Payloads reuse the event catalogue's
detail models, so a field is defined once. Every command is checked at the door by
``shared.events.limits.refuse_unfit`` (text fit to store, lengths, list sizes, dates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from shared.domain.customer import CommandContext, Customer
from shared.events.base import Frozen
from shared.events.customer import CompanyProfile, ContactDetails, LeadSourceDetails, TouchpointDetails
from shared.events.deal import DealDetails, ImportedStage, LossDetails, NextActionDetails, NextActionOutcome, TemperatureDetails, WinDetails
from shared.events.limits import refuse_unfit
from shared.events.merges import MergeDetails, UnmergeDetails
from shared.events.personal import ContactCorrection, ErasureReason
from shared.events.sales_activity import (
    ApprovalDetails, ContractDetails, ContractTermsDetails, FeedbackDetails, HandoffDetails, HearingDetails,
    MeetingOutcome, MeetingPlan, ProposalDetails, QuoteDetails, RevisionRequest, RevisionResult,
)
from shared.events.support import FeedbackDetails as CustomerFeedbackDetails
from shared.events.support import OnboardingProgress, SatisfactionDetails, TicketDetails, TicketResolution, TicketUpdate


class Command(Frozen):
    name: ClassVar[str]

    @model_validator(mode="after")
    def _fit_to_keep(self) -> Command:
        refuse_unfit(self)
        return self


class DealCommand(Command):
    deal_id: UUID


class RegisterCustomer(Command):
    name = "register_customer"
    details: CompanyProfile


class AddContact(Command):
    name = "add_contact"
    details: ContactDetails


class RecordTouchpoint(Command):
    name = "record_touchpoint"
    details: TouchpointDetails


class RecordLeadSource(Command):
    name = "record_lead_source"
    details: LeadSourceDetails


class OpenDeal(Command):
    name = "open_deal"
    details: DealDetails


class DealImport(Frozen):
    deal: DealDetails
    imported: ImportedStage


class ImportDeal(Command):
    name = "import_deal"
    details: DealImport


class RecordFeedback(Command):
    name = "record_feedback"
    details: CustomerFeedbackDetails


class RecordOnboarding(Command):
    name = "record_onboarding"
    details: OnboardingProgress


class RecordSatisfaction(Command):
    name = "record_satisfaction"
    details: SatisfactionDetails


class OpenTicket(Command):
    name = "open_ticket"
    details: TicketDetails


class UpdateTicket(Command):
    name = "update_ticket"
    ticket_id: UUID
    details: TicketUpdate


class ResolveTicket(Command):
    name = "resolve_ticket"
    ticket_id: UUID
    details: TicketResolution


class StageChange(Frozen):
    to_stage: str = Field(min_length=1, max_length=100, examples=["hearing_done"])
    note: str = Field(default="", max_length=4000)


class ChangeStage(DealCommand):
    name = "change_stage"
    details: StageChange


class WinDeal(DealCommand):
    name = "win_deal"
    details: WinDetails


class LoseDeal(DealCommand):
    name = "lose_deal"
    details: LossDetails


class SetNextAction(DealCommand):
    name = "set_next_action"
    details: NextActionDetails


class CompleteNextAction(DealCommand):
    name = "complete_next_action"
    details: NextActionOutcome


class SetTemperature(DealCommand):
    name = "set_temperature"
    details: TemperatureDetails


class RecordHearing(DealCommand):
    name = "record_hearing"
    details: HearingDetails


class ScheduleMeeting(DealCommand):
    name = "schedule_meeting"
    details: MeetingPlan


class HoldMeeting(DealCommand):
    name = "hold_meeting"
    meeting_id: UUID
    details: MeetingOutcome


class SendProposal(DealCommand):
    name = "send_proposal"
    details: ProposalDetails


class SubmitQuote(DealCommand):
    name = "submit_quote"
    details: QuoteDetails


class RecordProposalFeedback(DealCommand):
    name = "record_proposal_feedback"
    details: FeedbackDetails


class RequestRevision(DealCommand):
    name = "request_revision"
    details: RevisionRequest


class CompleteRevision(DealCommand):
    name = "complete_revision"
    revision_id: UUID
    details: RevisionResult


class UpdateApproval(DealCommand):
    name = "update_approval"
    details: ApprovalDetails


class UpdateContractTerms(DealCommand):
    name = "update_contract_terms"
    details: ContractTermsDetails


class SignContract(DealCommand):
    name = "sign_contract"
    details: ContractDetails


class HandOffToCS(DealCommand):
    name = "hand_off_to_cs"
    details: HandoffDetails


class MergeCustomer(Command):
    """Merge this customer (a duplicate) into ``details.into``: an event on both streams."""

    name = "merge_customer"
    details: MergeDetails


class UnmergeCustomer(Command):
    """Undo this customer's merge into its survivor."""

    name = "unmerge_customer"
    details: UnmergeDetails


Handler = Callable[[Customer, Any, CommandContext], "dict[str, UUID] | None"]
PairHandler = Callable[[Customer, Customer, Any, CommandContext], None]

class CorrectContact(Command):
    name = "correct_contact"
    contact_id: UUID
    details: ContactCorrection


class EraseContact(Command):
    name = "erase_contact"
    contact_id: UUID
    reason: ErasureReason = "request"
    note: str = Field(default="", max_length=1000)


class RecordDisclosure(Command):
    name = "record_disclosure"
    contact_id: UUID
    recipient: str = Field(default="data subject", max_length=200)
    format: Literal["json", "csv"] = "json"
    items: int = Field(default=0, ge=0)


# Which aggregate method answers each command; the dict it returns names what was created.
HANDLERS: dict[type[Command], Handler] = {
    AddContact: lambda c, m, x: {"contact_id": c.add_contact(m.details, x)},
    RecordTouchpoint: lambda c, m, x: {"touchpoint_id": c.record_touchpoint(m.details, x)},
    RecordLeadSource: lambda c, m, x: c.record_lead_source(m.details, x),
    OpenDeal: lambda c, m, x: {"deal_id": c.open_deal(m.details, x)},
    ImportDeal: lambda c, m, x: {"deal_id": c.import_deal(m.details.deal, m.details.imported, x)},
    RecordFeedback: lambda c, m, x: c.record_feedback(m.details, x),
    RecordOnboarding: lambda c, m, x: c.record_onboarding(m.details, x),
    RecordSatisfaction: lambda c, m, x: c.record_satisfaction(m.details, x),
    OpenTicket: lambda c, m, x: {"ticket_id": c.open_ticket(m.details, x)},
    UpdateTicket: lambda c, m, x: c.update_ticket(m.ticket_id, m.details, x),
    ResolveTicket: lambda c, m, x: c.resolve_ticket(m.ticket_id, m.details, x),
    ChangeStage: lambda c, m, x: c.change_stage(m.deal_id, m.details.to_stage, x, m.details.note),
    WinDeal: lambda c, m, x: c.win_deal(m.deal_id, m.details, x),
    LoseDeal: lambda c, m, x: c.lose_deal(m.deal_id, m.details, x),
    SetNextAction: lambda c, m, x: {"action_id": c.set_next_action(m.deal_id, m.details, x)},
    CompleteNextAction: lambda c, m, x: c.complete_next_action(m.deal_id, m.details, x),
    SetTemperature: lambda c, m, x: c.set_temperature(m.deal_id, m.details, x),
    RecordHearing: lambda c, m, x: c.record_hearing(m.deal_id, m.details, x),
    ScheduleMeeting: lambda c, m, x: {"meeting_id": c.schedule_meeting(m.deal_id, m.details, x)},
    HoldMeeting: lambda c, m, x: c.hold_meeting(m.deal_id, m.meeting_id, m.details, x),
    SendProposal: lambda c, m, x: {"proposal_id": c.send_proposal(m.deal_id, m.details, x)},
    SubmitQuote: lambda c, m, x: {"quote_id": c.submit_quote(m.deal_id, m.details, x)},
    RecordProposalFeedback: lambda c, m, x: c.record_proposal_feedback(m.deal_id, m.details, x),
    RequestRevision: lambda c, m, x: {"revision_id": c.request_revision(m.deal_id, m.details, x)},
    CompleteRevision: lambda c, m, x: c.complete_revision(m.deal_id, m.revision_id, m.details, x),
    UpdateApproval: lambda c, m, x: c.update_approval(m.deal_id, m.details, x),
    UpdateContractTerms: lambda c, m, x: c.update_contract_terms(m.deal_id, m.details, x),
    SignContract: lambda c, m, x: c.sign_contract(m.deal_id, m.details, x),
    HandOffToCS: lambda c, m, x: c.hand_off_to_cs(m.deal_id, m.details, x),
}

# A privacy officer's commands (only `customer-timeline personal-data` and the privacy role send them; never
# taken from the ingest topic, so not in COMMAND_TYPES).
PRIVACY_HANDLERS: dict[type[Command], Handler] = {
    CorrectContact: lambda c, m, x: c.correct_contact(m.contact_id, m.details, x),
    EraseContact: lambda c, m, x: c.erase_contact(m.contact_id, m.reason, m.note, x),
    RecordDisclosure: lambda c, m, x: c.record_disclosure(m.contact_id, m.recipient, m.format, m.items, x),
}

# Commands that change two streams at once (saved in one transaction): the other customer's id, from the
# command and the customer it is sent to, and the aggregate method given both.
OTHER_CUSTOMER: dict[type[Command], Callable[[Any, Customer], "UUID | str | None"]] = {
    MergeCustomer: lambda m, c: m.details.into,
    UnmergeCustomer: lambda m, c: c.state.merged_into,
}
PAIR_HANDLERS: dict[type[Command], PairHandler] = {
    MergeCustomer: lambda c, other, m, x: c.merge_into(other, m.details, x),
    UnmergeCustomer: lambda c, other, m, x: c.unmerge_from(other, m.details, x),
}

COMMAND_TYPES: dict[str, type[Command]] = {cls.name: cls for cls in (RegisterCustomer, *HANDLERS, *PAIR_HANDLERS)}
