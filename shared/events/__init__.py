"""The event catalogue: every event a customer's stream can hold, defined once."""

from shared.events.base import GENESIS_HASH, Actor, CustomerEvent, Department, Selection, canonical_json, stored_hash
from shared.events.customer import ContactAdded, CustomerRegistered, LeadSourceRecorded, TouchpointRecorded
from shared.events.deal import (
    DealEvent, DealImported, DealLost, DealOpened, DealWon, NextActionCompleted, NextActionSet, SatisfiedCriterion, StageChanged,
    TemperatureSet,
)
from shared.events.merges import MERGE_EVENTS, CustomerAbsorbed, CustomerMerged, CustomerReleased, CustomerUnmerged
from shared.events.personal import PRIVACY_EVENTS, ContactCorrected, ContactErased, PersonalDataDisclosed
from shared.events.sales_activity import (
    ApprovalStatusUpdated, ContractSigned, ContractTermsUpdated, HandedOffToCS, HearingRecorded, MeetingHeld,
    MeetingScheduled, ProposalFeedbackRecorded, ProposalSent, QuoteSubmitted, RevisionDone, RevisionRequested,
)
from shared.events.support import (
    CustomerFeedbackRecorded, OnboardingProgressRecorded, SatisfactionRecorded, TicketOpened, TicketResolved,
    TicketUpdated,
)

EVENT_TYPES: dict[str, type[CustomerEvent]] = {
    cls.__name__: cls
    for cls in (
        CustomerRegistered, ContactAdded, TouchpointRecorded, LeadSourceRecorded,
        DealOpened, DealImported, StageChanged, DealWon, DealLost, NextActionSet, NextActionCompleted, TemperatureSet,
        HearingRecorded, MeetingScheduled, MeetingHeld, ProposalSent, QuoteSubmitted, ProposalFeedbackRecorded,
        RevisionRequested, RevisionDone, ApprovalStatusUpdated, ContractTermsUpdated, ContractSigned, HandedOffToCS,
        OnboardingProgressRecorded, SatisfactionRecorded, CustomerFeedbackRecorded, TicketOpened, TicketUpdated, TicketResolved,
        CustomerMerged, CustomerAbsorbed, CustomerUnmerged, CustomerReleased,
        ContactCorrected, ContactErased, PersonalDataDisclosed,
    )
}

# Events about the records (merges, privacy requests), not a touch of the customer: no department's last touch,
# no approach.
RECORD_KEEPING = MERGE_EVENTS | PRIVACY_EVENTS

__all__ = [
    "GENESIS_HASH", "Actor", "CustomerEvent", "DealEvent", "Department", "Selection", "EVENT_TYPES",
    "SatisfiedCriterion", "RECORD_KEEPING", "canonical_json", "stored_hash", *EVENT_TYPES,
]
