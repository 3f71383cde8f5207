"""Request and response bodies of the command API.

A request body is the event catalogue's detail model plus two optional fields every
command takes: ``occurred_at`` and ``expected_version``. Who acts comes from the token.
Each body is checked like every other command (``shared.events.limits``), so a refusal is
a 422 naming the field.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, create_model, model_validator

from shared.commands import DealImport, StageChange
from shared.events.limits import refuse_unfit
from shared.events.customer import CompanyProfile, ContactDetails, LeadSourceDetails, TouchpointDetails
from shared.events.merges import MergeDetails, UnmergeDetails
from shared.events.deal import DealDetails, LossDetails, NextActionDetails, NextActionOutcome, TemperatureDetails, WinDetails
from shared.events.sales_activity import (
    ApprovalDetails, ContractDetails, ContractTermsDetails, FeedbackDetails, HandoffDetails, HearingDetails,
    MeetingOutcome, MeetingPlan, ProposalDetails, QuoteDetails, RevisionRequest, RevisionResult,
)
from shared.events.support import FeedbackDetails as CustomerFeedbackDetails
from shared.events.support import OnboardingProgress, SatisfactionDetails, TicketDetails, TicketResolution, TicketUpdate


class CommandOptions(BaseModel):
    details_model: ClassVar[type[BaseModel]]

    occurred_at: AwareDatetime | None = Field(
        default=None, description="when it happened (defaults to when it is recorded), with its UTC offset, "
                                  "from 1900-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z",
        examples=["2026-11-20T15:30:00+09:00"])
    expected_version: int | None = Field(
        default=None, ge=0, le=2**62, strict=True,
        description="refuse (409) unless the stream is at this version; same as If-Match")

    @model_validator(mode="after")
    def _fit_to_keep(self) -> CommandOptions:
        refuse_unfit(self)
        return self

    def details(self) -> Any:
        model = self.details_model
        return model.model_construct(**{name: getattr(self, name) for name in model.model_fields})


def _request(details_model: type[BaseModel], name: str, **extra_fields: Any) -> type[CommandOptions]:
    model = create_model(name, __base__=(details_model, CommandOptions), **extra_fields)
    model.details_model = details_model
    return model


RegisterCustomerRequest = _request(
    CompanyProfile, "RegisterCustomerRequest",
    customer_id=(UUID | None, Field(default=None, description="choose the id yourself (else one is made)")))
AddContactRequest = _request(ContactDetails, "AddContactRequest")
RecordTouchpointRequest = _request(TouchpointDetails, "RecordTouchpointRequest")
RecordLeadSourceRequest = _request(LeadSourceDetails, "RecordLeadSourceRequest")
OpenDealRequest = _request(DealDetails, "OpenDealRequest")
RecordOnboardingRequest = _request(OnboardingProgress, "RecordOnboardingRequest")
RecordFeedbackRequest = _request(CustomerFeedbackDetails, "RecordFeedbackRequest")
ImportDealRequest = _request(DealImport, "ImportDealRequest")
MergeCustomerRequest = _request(MergeDetails, "MergeCustomerRequest")
UnmergeCustomerRequest = _request(UnmergeDetails, "UnmergeCustomerRequest")
RecordSatisfactionRequest = _request(SatisfactionDetails, "RecordSatisfactionRequest")
OpenTicketRequest = _request(TicketDetails, "OpenTicketRequest")
UpdateTicketRequest = _request(TicketUpdate, "UpdateTicketRequest")
ResolveTicketRequest = _request(TicketResolution, "ResolveTicketRequest")
ChangeStageRequest = _request(StageChange, "ChangeStageRequest")
WinDealRequest = _request(WinDetails, "WinDealRequest")
LoseDealRequest = _request(LossDetails, "LoseDealRequest")
SetNextActionRequest = _request(NextActionDetails, "SetNextActionRequest")
CompleteNextActionRequest = _request(NextActionOutcome, "CompleteNextActionRequest")
SetTemperatureRequest = _request(TemperatureDetails, "SetTemperatureRequest")
RecordHearingRequest = _request(HearingDetails, "RecordHearingRequest")
ScheduleMeetingRequest = _request(MeetingPlan, "ScheduleMeetingRequest")
HoldMeetingRequest = _request(MeetingOutcome, "HoldMeetingRequest")
SendProposalRequest = _request(ProposalDetails, "SendProposalRequest")
SubmitQuoteRequest = _request(QuoteDetails, "SubmitQuoteRequest")
RecordProposalFeedbackRequest = _request(FeedbackDetails, "RecordProposalFeedbackRequest")
RequestRevisionRequest = _request(RevisionRequest, "RequestRevisionRequest")
CompleteRevisionRequest = _request(RevisionResult, "CompleteRevisionRequest")
UpdateApprovalRequest = _request(ApprovalDetails, "UpdateApprovalRequest")
UpdateContractTermsRequest = _request(ContractTermsDetails, "UpdateContractTermsRequest")
SignContractRequest = _request(ContractDetails, "SignContractRequest")
HandOffRequest = _request(HandoffDetails, "HandOffRequest")


class EventRef(BaseModel):
    event_id: UUID
    type: str = Field(examples=["HearingRecorded"])
    stream_version: int = Field(examples=[7])
    customer_id: UUID | None = Field(default=None, description="another customer's stream, when the command "
                                                               "wrote to two (a merge: the survivor's)")


class CommandResponse(BaseModel):
    customer_id: UUID
    stream_version: int = Field(description="the stream's version after this command", examples=[7])
    events: list[EventRef]
    created: dict[str, UUID] = Field(default_factory=dict, description="ids of what the command created",
                                     examples=[{"deal_id": "5b6debe0-952a-4b5d-92b3-f90cbd549e0f"}])
