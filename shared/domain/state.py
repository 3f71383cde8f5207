"""The Customer aggregate's state, and how each event evolves it.

State is a plain pydantic model so a snapshot is just its JSON. Evolving never
checks rules (rules are checked before an event is triggered); it only records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from shared import events as ev
from shared.events.personal import CONTACT_PERSONAL
from shared.events.sales_activity import BantStatus


class Contact(BaseModel):
    name: str
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    is_decision_maker: bool = False
    erased: bool = False  # its details were erased (crypto-shredded); it was captured all the same


class Ticket(BaseModel):
    title: str
    priority: str
    category: str
    status: str = "open"
    opened_at: datetime
    resolved_at: datetime | None = None
    deal_id: str | None = None


class NextAction(BaseModel):
    action_id: str
    choice: str
    note: str
    due_at: datetime | None


class Deal(BaseModel):
    title: str
    owner: str
    team: str | None
    site: str | None
    amount: int | None
    expected_close: date | None
    phase: str
    stage: str
    stage_entered_at: datetime
    opened_at: datetime | None = None
    closed_at: datetime | None = None  # when won or lost
    status: str = "open"  # open / won / lost
    lead_source: bool = False
    touchpoints: int = 0
    reaction_recorded: bool = False
    hearings: int = 0
    hearing: dict[str, str] = Field(default_factory=dict)  # the five items, latest non-empty
    bant: BantStatus = BantStatus()
    competitor: str | None = None
    hurdle: str | None = None
    meetings: dict[str, bool] = Field(default_factory=dict)  # meeting id -> held
    proposals: list[str] = Field(default_factory=list)
    quotes: int = 0
    feedback: int = 0
    open_revisions: list[str] = Field(default_factory=list)
    approval_status: str | None = None
    terms_started: bool = False
    terms_agreed: bool = False
    contract_signed: bool = False
    win_reasons: list[str] = Field(default_factory=list)
    lost_reason: str | None = None
    handed_off: bool = False
    next_action: NextAction | None = None
    temperature: str | None = None
    decision_status: str | None = None
    onboarding_progress: int | None = None
    satisfaction: int | None = None


class CustomerState(BaseModel):
    company_name: str
    company_key: str
    industry: str | None = None
    address: str | None = None
    website: str | None = None
    contacts: dict[str, Contact] = Field(default_factory=dict)
    lead_source: bool = False
    touchpoints: int = 0  # not tied to a deal
    reaction_recorded: bool = False
    last_touch: dict[str, datetime] = Field(default_factory=dict)  # department -> occurred_at
    deals: dict[str, Deal] = Field(default_factory=dict)
    tickets: dict[str, Ticket] = Field(default_factory=dict)
    onboarding_progress: int | None = None
    satisfaction: int | None = None
    merged_into: str | None = None  # the survivor this customer was merged into (its views point there)
    absorbed: list[str] = Field(default_factory=list)  # customers merged into this one, in merge order
    head_hash: str = ev.GENESIS_HASH


def registered(e: ev.CustomerRegistered) -> CustomerState:
    return CustomerState(company_name=e.company_name, company_key=e.company_key, industry=e.industry,
                         address=e.address, website=e.website)


def _deal(s: CustomerState, deal_id: Any) -> Deal | None:
    return s.deals.get(str(deal_id)) if deal_id is not None else None


def _contact_added(s: CustomerState, e: ev.ContactAdded) -> None:
    s.contacts[str(e.contact_id)] = Contact(name=e.name, title=e.title, email=e.email, phone=e.phone,
                                            is_decision_maker=e.is_decision_maker)


def _contact_corrected(s: CustomerState, e: ev.ContactCorrected) -> None:
    contact = s.contacts[str(e.contact_id)]
    for name, value in e.corrected_fields().items():
        setattr(contact, name, value)


def _contact_erased(s: CustomerState, e: ev.ContactErased) -> None:
    contact = s.contacts[str(e.contact_id)]
    for name in CONTACT_PERSONAL.fields:
        setattr(contact, name, CONTACT_PERSONAL.placeholder(name))
    contact.erased = True


def _touchpoint(s: CustomerState, e: ev.TouchpointRecorded) -> None:
    target = _deal(s, e.deal_id) or s
    target.touchpoints += 1
    target.reaction_recorded = target.reaction_recorded or e.reaction is not None


def _lead_source(s: CustomerState, e: ev.LeadSourceRecorded) -> None:
    (_deal(s, e.deal_id) or s).lead_source = True


def _deal_opened(s: CustomerState, e: ev.DealOpened) -> None:
    s.deals[str(e.deal_id)] = Deal(title=e.title, owner=e.owner, team=e.team, site=e.site, amount=e.amount,
                                   expected_close=e.expected_close, phase=e.phase, stage=e.stage,
                                   stage_entered_at=e.occurred_at, opened_at=e.occurred_at)


def _deal_imported(s: CustomerState, e: ev.DealImported) -> None:
    s.deals[str(e.deal_id)] = Deal(title=e.title, owner=e.owner, team=e.team, site=e.site, amount=e.amount,
                                   expected_close=e.expected_close, phase=e.phase, stage=e.stage,
                                   stage_entered_at=e.stage_entered_at, opened_at=e.stage_entered_at)


def _stage_changed(d: Deal, e: ev.StageChanged) -> None:
    d.phase, d.stage, d.stage_entered_at = e.to_phase, e.to_stage, e.occurred_at


def _won(d: Deal, e: ev.DealWon) -> None:
    d.status, d.closed_at = "won", d.closed_at or e.occurred_at
    d.win_reasons = [r.choice for r in e.win_reasons]


def _lost(d: Deal, e: ev.DealLost) -> None:
    d.status, d.lost_reason, d.closed_at = "lost", e.reason.choice, e.occurred_at


def _hearing(d: Deal, e: ev.HearingRecorded) -> None:
    d.hearings += 1
    for item in ("issue", "reason", "decision_maker", "budget", "timeline"):
        if value := getattr(e, item):
            d.hearing[item] = value
    d.bant = e.bant
    d.competitor = e.competitor.choice if e.competitor else d.competitor
    d.hurdle = e.hurdle.choice if e.hurdle else d.hurdle


def _next_action_set(d: Deal, e: ev.NextActionSet) -> None:
    d.next_action = NextAction(action_id=str(e.action_id), choice=e.plan.choice, note=e.plan.note, due_at=e.due_at)


def _temperature(d: Deal, e: ev.TemperatureSet) -> None:
    d.temperature = e.temperature.choice
    d.decision_status = e.decision_status.choice if e.decision_status else d.decision_status


def _revision_done(d: Deal, e: ev.RevisionDone) -> None:
    d.open_revisions.remove(str(e.revision_id))


def _terms(d: Deal, e: ev.ContractTermsUpdated) -> None:
    d.terms_started, d.terms_agreed = True, e.agreed


def _onboarding(s: CustomerState, e: ev.OnboardingProgressRecorded) -> None:
    s.onboarding_progress = e.progress_percent
    if deal := _deal(s, e.deal_id):
        deal.onboarding_progress = e.progress_percent


def _satisfaction(s: CustomerState, e: ev.SatisfactionRecorded) -> None:
    s.satisfaction = e.score
    if deal := _deal(s, e.deal_id):
        deal.satisfaction = e.score


def _ticket_opened(s: CustomerState, e: ev.TicketOpened) -> None:
    s.tickets[str(e.ticket_id)] = Ticket(title=e.title, priority=e.priority, category=e.category,
                                         opened_at=e.occurred_at, deal_id=str(e.deal_id) if e.deal_id else None)


def _ticket_updated(s: CustomerState, e: ev.TicketUpdated) -> None:
    s.tickets[str(e.ticket_id)].status = e.status


def _ticket_resolved(s: CustomerState, e: ev.TicketResolved) -> None:
    ticket = s.tickets[str(e.ticket_id)]
    ticket.status, ticket.resolved_at = "resolved", e.occurred_at


def _set(attr: str, value: Callable[[Any], Any]) -> Callable[[Deal, Any], None]:
    return lambda d, e: setattr(d, attr, value(e))


def _count(attr: str) -> Callable[[Deal, Any], None]:
    return lambda d, e: setattr(d, attr, getattr(d, attr) + 1)


def _absorbed(s: CustomerState, e: ev.CustomerAbsorbed) -> None:
    s.absorbed.append(str(e.merged_id))


def _released(s: CustomerState, e: ev.CustomerReleased) -> None:
    s.absorbed.remove(str(e.merged_id))


CUSTOMER_EVOLVERS: dict[type, Callable[[CustomerState, Any], None]] = {
    ev.CustomerMerged: lambda s, e: setattr(s, "merged_into", str(e.survivor_id)),
    ev.CustomerUnmerged: lambda s, e: setattr(s, "merged_into", None),
    ev.CustomerAbsorbed: _absorbed,
    ev.CustomerReleased: _released,
    ev.ContactAdded: _contact_added,
    ev.ContactCorrected: _contact_corrected,
    ev.ContactErased: _contact_erased,
    ev.PersonalDataDisclosed: lambda s, e: None,  # for auditors
    ev.TouchpointRecorded: _touchpoint,
    ev.LeadSourceRecorded: _lead_source,
    ev.DealOpened: _deal_opened,
    ev.DealImported: _deal_imported,
    ev.CustomerFeedbackRecorded: lambda s, e: None,  # on the timeline only
    ev.OnboardingProgressRecorded: _onboarding,
    ev.SatisfactionRecorded: _satisfaction,
    ev.TicketOpened: _ticket_opened,
    ev.TicketUpdated: _ticket_updated,
    ev.TicketResolved: _ticket_resolved,
}

DEAL_EVOLVERS: dict[type, Callable[[Deal, Any], None]] = {
    ev.StageChanged: _stage_changed,
    ev.DealWon: _won,
    ev.DealLost: _lost,
    ev.NextActionSet: _next_action_set,
    ev.NextActionCompleted: _set("next_action", lambda e: None),
    ev.TemperatureSet: _temperature,
    ev.HearingRecorded: _hearing,
    ev.MeetingScheduled: lambda d, e: d.meetings.__setitem__(str(e.meeting_id), False),
    ev.MeetingHeld: lambda d, e: d.meetings.__setitem__(str(e.meeting_id), True),
    ev.ProposalSent: lambda d, e: d.proposals.append(str(e.proposal_id)),
    ev.QuoteSubmitted: _count("quotes"),
    ev.ProposalFeedbackRecorded: _count("feedback"),
    ev.RevisionRequested: lambda d, e: d.open_revisions.append(str(e.revision_id)),
    ev.RevisionDone: _revision_done,
    ev.ApprovalStatusUpdated: _set("approval_status", lambda e: e.status.choice),
    ev.ContractTermsUpdated: _terms,
    ev.ContractSigned: _set("contract_signed", lambda e: True),
    ev.HandedOffToCS: _set("handed_off", lambda e: True),
}


def evolve(state: CustomerState, event: ev.CustomerEvent) -> None:
    """Record one event (other than registration) in the state."""
    department = event.actor.department
    if type(event) in ev.RECORD_KEEPING:
        pass  # a merge or a privacy request is about the records, not a touch of the customer
    elif department not in state.last_touch or state.last_touch[department] < event.occurred_at:
        state.last_touch[department] = event.occurred_at
    if (deal_evolver := DEAL_EVOLVERS.get(type(event))) is not None:
        deal_evolver(state.deals[str(event.deal_id)], event)  # type: ignore[attr-defined]
    else:
        CUSTOMER_EVOLVERS[type(event)](state, event)
