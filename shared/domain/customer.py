"""The Customer aggregate: one stream per customer, every rule of the sales process.

Each command method checks its rules first and only then triggers events, so a
refused command leaves the aggregate untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from shared import events as ev
from shared.company_key import company_key
from shared.domain.errors import (
    InvalidFieldError, InvalidStateError, NotFoundError, StageOrderError, TransitionRefusedError, UnmetCriterion,
)
from shared.domain.facts import deal_facts, missing_information
from shared.domain.snapshot import CustomerSnapshot
from shared.domain.stream import EventStream
from shared.domain.state import CustomerState, Deal, evolve, registered
from shared.events.targets import TargetEvent
from shared.ids import uuid4  # buffered: uuid.uuid4() asks the kernel for every id
from shared.key_store import KeyRing
from shared.process import ProcessDefinition
from shared.sealing import seal

WON_PHASE = "won"  # the phase a won deal enters; its id is fixed, its label is the company's
IMPORT_DEFAULT_REASON = "other"  # the win / loss reason of an imported closed deal whose file gives none


@dataclass(frozen=True)
class CommandContext:
    """Who issues a command, when it happened, and under which process."""

    process: ProcessDefinition
    actor: ev.Actor
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    key_ring: KeyRing | None = None  # seals personal fields (shared/sealing.py); needed by events that hold any


class Customer(EventStream):
    Snapshot = CustomerSnapshot

    def __init__(self, customer_id: UUID) -> None:
        super().__init__(customer_id)
        self.state: CustomerState | None = None
        self.created_on: datetime | None = None
        self.modified_on: datetime | None = None

    # --- what eventsourcing needs of an aggregate (the rest: EventStream) ------------
    @staticmethod
    def project(customer: Customer | None, events: Any) -> Customer | None:
        """Rebuild a customer from a snapshot and/or its events."""
        for event in events:
            if isinstance(event, CustomerSnapshot):
                customer = event.restore(Customer)
            elif isinstance(event, TargetEvent):  # a team's targets stream (shared/events/targets.py): no customer
                raise NotFoundError("customer", event.originator_id)
            else:
                customer = customer or Customer(event.originator_id)
                customer.mutate(event)
        return customer

    def mutate(self, event: ev.CustomerEvent) -> None:
        if event.originator_version != self._version + 1:
            raise ValueError(f"event version {event.originator_version} does not follow {self._version}")
        if isinstance(event, ev.CustomerRegistered):
            self.state, self.created_on = registered(event), event.timestamp
        else:
            evolve(self.state, event)
        self.state.head_hash = event.hash()
        self._version, self.modified_on = event.originator_version, event.timestamp

    def _trigger(self, event_class: type[ev.CustomerEvent], ctx: CommandContext, payload: BaseModel | None = None,
                 at: datetime | None = None, **fields: Any) -> ev.CustomerEvent:
        """Record one event; ``at`` is when it happened when that is not the command's own time (imports)."""
        now = datetime.now(timezone.utc)
        event = event_class(
            originator_id=self._id, originator_version=self._version + 1, timestamp=now,
            occurred_at=at or ctx.occurred_at or now, actor=ctx.actor, idempotency_key=ctx.idempotency_key,
            prev_hash=self.state.head_hash if self.state else ev.GENESIS_HASH,
            **{**(payload.__dict__ if payload is not None else {}), **fields},  # dict(payload) asks for .keys()
        )
        if event_class.personal is not None and ctx.key_ring is not None:
            seal(event, ctx.key_ring)  # before its hash is taken: the chain covers the sealed bytes
        self._record(event)
        return event

    # --- customer commands -------------------------------------------------------
    @classmethod
    def register(cls, customer_id: UUID, profile: ev.CustomerRegistered | BaseModel, ctx: CommandContext) -> Customer:
        customer = cls(customer_id)
        customer._trigger(ev.CustomerRegistered, ctx, profile, company_key=company_key(profile.company_name))
        return customer

    def add_contact(self, details: BaseModel, ctx: CommandContext) -> UUID:
        contact_id = uuid4()
        self._trigger(ev.ContactAdded, ctx, details, contact_id=contact_id)
        return contact_id

    def record_touchpoint(self, details: Any, ctx: CommandContext) -> UUID:
        self._known_deal(details.deal_id)
        self._known_contact(details.contact_id)
        _check_selection(ctx, "reaction", "initial_reaction", details.reaction)
        touchpoint_id = uuid4()
        self._trigger(ev.TouchpointRecorded, ctx, details, touchpoint_id=touchpoint_id)
        return touchpoint_id

    def record_lead_source(self, details: Any, ctx: CommandContext) -> None:
        self._known_deal(details.deal_id)
        self._trigger(ev.LeadSourceRecorded, ctx, details)

    def open_deal(self, details: Any, ctx: CommandContext) -> UUID:
        """Open a deal at the process's first stage; team and site default to the actor's."""
        first = ctx.process.first_stage()
        deal_id = uuid4()
        self._trigger(ev.DealOpened, ctx, details, deal_id=deal_id, phase=ctx.process.phase_of(first.id).id,
                      stage=first.id, team=details.team or ctx.actor.team, site=details.site or ctx.actor.site)
        return deal_id

    def import_deal(self, details: Any, imported: Any, ctx: CommandContext) -> UUID:
        """Bring in an existing deal as it happened, saying so (no criteria are claimed).

        The deal is imported at the first stage known of it, then enters each later known stage at
        the time it did (``StageChanged`` with no satisfied criteria), then is won or lost at its close
        (a won deal not yet in the won phase enters its first stage then). Each event occurs when it
        happened; the times must follow the process's order.
        """
        process = ctx.process
        steps = [*((s.stage, s.entered_at, f"earlier_stages.{i}") for i, s in enumerate(imported.earlier_stages)),
                 (imported.stage, imported.stage_entered_at, "stage")]
        for stage, _, field in steps:
            if not process.has_stage(stage):
                raise InvalidFieldError(field, f"unknown stage '{stage}'", [s.id for s in process.stages()])
        close = imported.close
        if close is not None:
            _check_import_close(ctx, close, imported.stage)
        closed_at = close.closed_at if close is not None else None
        if steps[-1][1] is None:  # the current stage's date: given, else the close (won in it), else the import's
            won_here = close is not None and close.outcome == "won" and \
                process.phase_index(process.phase_of(imported.stage).id) >= process.phase_index(WON_PHASE)
            steps[-1] = (imported.stage, (closed_at if won_here else None) or ctx.occurred_at
                         or datetime.now(timezone.utc), "stage")
        closed_at = closed_at or steps[-1][1]
        _check_import_order(process, steps, closed_at)
        deal_id = uuid4()
        (first, entered, _), later = steps[0], steps[1:]
        self._trigger(ev.DealImported, ctx, details, at=ctx.occurred_at or entered, deal_id=deal_id,
                      phase=process.phase_of(first).id, stage=first, source=imported.source,
                      imported_by=imported.imported_by, stage_entered_at=entered,
                      team=details.team or ctx.actor.team, site=details.site or ctx.actor.site)
        note = f"imported from {imported.source}"
        for stage, entered, _ in later:
            self._imported_move(deal_id, stage, entered, note, ctx)
        if close is not None and close.outcome == "won":
            if process.phase_index(self.deal(deal_id).phase) < process.phase_index(WON_PHASE):
                self._imported_move(deal_id, process.phase(WON_PHASE).stages[0].id, closed_at, note, ctx)
            self._trigger(ev.DealWon, ctx, at=closed_at, deal_id=deal_id,
                          win_reasons=(close.reason or ev.Selection(choice=IMPORT_DEFAULT_REASON),))
        elif close is not None:
            deal = self.deal(deal_id)
            self._trigger(ev.DealLost, ctx, at=closed_at, deal_id=deal_id, phase=deal.phase, stage=deal.stage,
                          reason=close.reason or ev.Selection(choice=IMPORT_DEFAULT_REASON))
        return deal_id

    def _imported_move(self, deal_id: UUID, stage: str, at: datetime, note: str, ctx: CommandContext) -> None:
        deal = self.deal(deal_id)
        self._trigger(ev.StageChanged, ctx, at=at, deal_id=deal_id, from_phase=deal.phase, from_stage=deal.stage,
                      to_phase=ctx.process.phase_of(stage).id, to_stage=stage, note=note)

    def merge_into(self, survivor: Customer, details: Any, ctx: CommandContext) -> None:
        """This customer is the survivor's duplicate: one event on each stream, nothing rewritten."""
        if survivor.id == self.id:
            raise InvalidFieldError("into", "a customer cannot be merged into itself")
        if self.state.absorbed:
            raise InvalidStateError(f"customer {self.id} holds merged customers ({', '.join(self.state.absorbed)}); "
                                    "undo those merges first")
        if survivor.state.merged_into is not None:
            raise InvalidFieldError("into", f"customer {survivor.id} is itself merged into "
                                    f"{survivor.state.merged_into}; merge into that one")
        self._trigger(ev.CustomerMerged, ctx, survivor_id=survivor.id, survivor_name=survivor.state.company_name,
                      note=details.note)
        survivor._trigger(ev.CustomerAbsorbed, ctx, merged_id=self.id, merged_name=self.state.company_name,
                          note=details.note)

    def unmerge_from(self, survivor: Customer, details: Any, ctx: CommandContext) -> None:
        """Undo this customer's merge: again one event on each stream."""
        if self.state.merged_into != str(survivor.id):
            raise InvalidStateError(f"customer {self.id} is not merged into {survivor.id}")
        self._trigger(ev.CustomerUnmerged, ctx, survivor_id=survivor.id, survivor_name=survivor.state.company_name,
                      note=details.note)
        survivor._trigger(ev.CustomerReleased, ctx, merged_id=self.id, merged_name=self.state.company_name,
                          note=details.note)

    # --- personal data (APPI): correction, erasure, disclosure -----------------------
    def correct_contact(self, contact_id: UUID, correction: Any, ctx: CommandContext) -> None:
        """Supersede a contact's details (訂正); the earlier values stay in the history for auditors."""
        self._known_contact(contact_id)
        if not correction.corrected_fields():
            raise InvalidFieldError("details", "give at least one of name, title, email, phone to correct")
        self._trigger(ev.ContactCorrected, ctx, correction, contact_id=contact_id)

    def erase_contact(self, contact_id: UUID, reason: str, note: str, ctx: CommandContext) -> None:
        """Erase a contact's personal data (消去): the application deletes their key with this event."""
        self._known_contact(contact_id)
        self._trigger(ev.ContactErased, ctx, contact_id=contact_id, reason=reason, note=note)

    def record_disclosure(self, contact_id: UUID, recipient: str, form: str, items: int, ctx: CommandContext) -> None:
        """Say that what is held about a contact was given out (開示), erased or not."""
        self._known_contact(contact_id, erased_too=True)
        self._trigger(ev.PersonalDataDisclosed, ctx, contact_id=contact_id, recipient=recipient, format=form,
                      items=items)

    def record_feedback(self, details: Any, ctx: CommandContext) -> None:
        self._known_deal(details.deal_id)
        self._trigger(ev.CustomerFeedbackRecorded, ctx, details)

    def record_onboarding(self, details: Any, ctx: CommandContext) -> None:
        self._known_deal(details.deal_id)
        self._trigger(ev.OnboardingProgressRecorded, ctx, details)

    def record_satisfaction(self, details: Any, ctx: CommandContext) -> None:
        self._known_deal(details.deal_id)
        self._trigger(ev.SatisfactionRecorded, ctx, details)

    def open_ticket(self, details: Any, ctx: CommandContext) -> UUID:
        self._known_deal(details.deal_id)
        self._known_contact(details.contact_id)
        ticket_id = uuid4()
        self._trigger(ev.TicketOpened, ctx, details, ticket_id=ticket_id)
        return ticket_id

    def update_ticket(self, ticket_id: UUID, update: BaseModel, ctx: CommandContext) -> None:
        self._open_ticket(ticket_id)
        self._trigger(ev.TicketUpdated, ctx, update, ticket_id=ticket_id)

    def resolve_ticket(self, ticket_id: UUID, resolution: BaseModel, ctx: CommandContext) -> None:
        self._open_ticket(ticket_id)
        self._trigger(ev.TicketResolved, ctx, resolution, ticket_id=ticket_id)

    # --- deal commands -----------------------------------------------------------
    def change_stage(self, deal_id: UUID, to_stage: str, ctx: CommandContext, note: str = "") -> None:
        deal = self._writable_deal(deal_id)
        satisfied = self._check_stage_change(deal, to_stage, ctx.process)
        self._trigger(ev.StageChanged, ctx, deal_id=deal_id, from_phase=deal.phase, from_stage=deal.stage,
                      to_phase=ctx.process.phase_of(to_stage).id, to_stage=to_stage,
                      satisfied_criteria=satisfied, note=note)

    def win_deal(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        """Record why the deal was won, moving it into the won phase if it is not there yet."""
        deal = self._writable_deal(deal_id)
        for i, reason in enumerate(details.win_reasons):
            _check_selection(ctx, f"win_reasons.{i}", "win_reason", reason)
        process = ctx.process
        if process.phase_index(deal.phase) < process.phase_index(WON_PHASE):
            self.change_stage(deal_id, process.phase(WON_PHASE).stages[0].id, ctx)
        self._trigger(ev.DealWon, ctx, details, deal_id=deal_id)

    def lose_deal(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if deal.status != "open":
            raise InvalidStateError(f"deal {deal_id} is {deal.status}; only an open deal can be lost")
        _check_selection(ctx, "reason", "lost_reason", details.reason)
        self._trigger(ev.DealLost, ctx, details, deal_id=deal_id, phase=deal.phase, stage=deal.stage)

    def set_next_action(self, deal_id: UUID, details: Any, ctx: CommandContext) -> UUID:
        self._writable_deal(deal_id)
        _check_selection(ctx, "plan", "next_action", details.plan)
        action_id = uuid4()
        self._trigger(ev.NextActionSet, ctx, details, deal_id=deal_id, action_id=action_id)
        return action_id

    def complete_next_action(self, deal_id: UUID, outcome: BaseModel, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if deal.next_action is None:
            raise InvalidStateError(f"deal {deal_id} has no open next action")
        self._trigger(ev.NextActionCompleted, ctx, outcome, deal_id=deal_id, action_id=deal.next_action.action_id)

    def set_temperature(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        self._writable_deal(deal_id)
        _check_selection(ctx, "temperature", "temperature", details.temperature)
        _check_selection(ctx, "decision_status", "decision_status", details.decision_status)
        self._trigger(ev.TemperatureSet, ctx, details, deal_id=deal_id)

    def record_hearing(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        self._writable_deal(deal_id)
        _check_selection(ctx, "competitor", "competitor", details.competitor)
        _check_selection(ctx, "hurdle", "hurdle", details.hurdle)
        self._trigger(ev.HearingRecorded, ctx, details, deal_id=deal_id)

    def schedule_meeting(self, deal_id: UUID, plan: BaseModel, ctx: CommandContext) -> UUID:
        self._writable_deal(deal_id)
        meeting_id = uuid4()
        self._trigger(ev.MeetingScheduled, ctx, plan, deal_id=deal_id, meeting_id=meeting_id)
        return meeting_id

    def hold_meeting(self, deal_id: UUID, meeting_id: UUID, outcome: BaseModel, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if str(meeting_id) not in deal.meetings:
            raise NotFoundError("meeting", meeting_id)
        if deal.meetings[str(meeting_id)]:
            raise InvalidStateError(f"meeting {meeting_id} is already recorded as held")
        self._trigger(ev.MeetingHeld, ctx, outcome, deal_id=deal_id, meeting_id=meeting_id)

    def send_proposal(self, deal_id: UUID, details: BaseModel, ctx: CommandContext) -> UUID:
        self._writable_deal(deal_id)
        proposal_id = uuid4()
        self._trigger(ev.ProposalSent, ctx, details, deal_id=deal_id, proposal_id=proposal_id)
        return proposal_id

    def submit_quote(self, deal_id: UUID, details: BaseModel, ctx: CommandContext) -> UUID:
        self._writable_deal(deal_id)
        quote_id = uuid4()
        self._trigger(ev.QuoteSubmitted, ctx, details, deal_id=deal_id, quote_id=quote_id)
        return quote_id

    def record_proposal_feedback(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if details.proposal_id is not None and str(details.proposal_id) not in deal.proposals:
            raise NotFoundError("proposal", details.proposal_id)
        _check_selection(ctx, "reaction", "initial_reaction", details.reaction)
        self._trigger(ev.ProposalFeedbackRecorded, ctx, details, deal_id=deal_id)

    def request_revision(self, deal_id: UUID, request: Any, ctx: CommandContext) -> UUID:
        deal = self._writable_deal(deal_id)
        if request.proposal_id is not None and str(request.proposal_id) not in deal.proposals:
            raise NotFoundError("proposal", request.proposal_id)
        revision_id = uuid4()
        self._trigger(ev.RevisionRequested, ctx, request, deal_id=deal_id, revision_id=revision_id)
        return revision_id

    def complete_revision(self, deal_id: UUID, revision_id: UUID, result: BaseModel, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if str(revision_id) not in deal.open_revisions:
            raise NotFoundError("open revision request", revision_id)
        self._trigger(ev.RevisionDone, ctx, result, deal_id=deal_id, revision_id=revision_id)

    def update_approval(self, deal_id: UUID, details: Any, ctx: CommandContext) -> None:
        self._writable_deal(deal_id)
        _check_selection(ctx, "status", "approval_status", details.status)
        self._trigger(ev.ApprovalStatusUpdated, ctx, details, deal_id=deal_id)

    def update_contract_terms(self, deal_id: UUID, details: BaseModel, ctx: CommandContext) -> None:
        self._writable_deal(deal_id)
        self._trigger(ev.ContractTermsUpdated, ctx, details, deal_id=deal_id)

    def sign_contract(self, deal_id: UUID, details: BaseModel, ctx: CommandContext) -> None:
        deal = self._writable_deal(deal_id)
        if deal.contract_signed:
            raise InvalidStateError(f"deal {deal_id} already has a signed contract")
        self._trigger(ev.ContractSigned, ctx, details, deal_id=deal_id)

    def hand_off_to_cs(self, deal_id: UUID, details: BaseModel, ctx: CommandContext) -> None:
        self._writable_deal(deal_id)
        self._trigger(ev.HandedOffToCS, ctx, details, deal_id=deal_id)

    # --- queries -----------------------------------------------------------------
    def deal(self, deal_id: UUID | str) -> Deal:
        deal = self.state.deals.get(str(deal_id))
        if deal is None:
            raise NotFoundError("deal", deal_id)
        return deal

    def facts(self, deal_id: UUID | str) -> frozenset[str]:
        return deal_facts(self.state, self.deal(deal_id))

    def missing_information(self, deal_id: UUID | str, process: ProcessDefinition) -> list[Any]:
        """Required information of the deal's current stage that is not recorded yet."""
        return missing_information(process, self.state, self.deal(deal_id))

    # --- rules -------------------------------------------------------------------
    def _check_stage_change(self, deal: Deal, to_stage: str, process: ProcessDefinition) -> list[ev.SatisfiedCriterion]:
        if not process.has_stage(to_stage):
            raise InvalidFieldError("to_stage", f"unknown stage '{to_stage}'",
                                    [s.id for s in process.stages()])
        if to_stage == deal.stage:
            raise StageOrderError(f"the deal is already at stage '{to_stage}'")
        from_index, to_index = process.phase_index(deal.phase), process.phase_index(process.phase_of(to_stage).id)
        if to_index < from_index:
            raise StageOrderError(f"a deal does not move back from phase '{deal.phase}' to "
                                  f"'{process.phase_of(to_stage).id}'; record what changed instead")
        if to_index > from_index + 1:
            skipped = [p.id for p in process.phases[from_index + 1:to_index]]
            raise StageOrderError(f"stages advance in order: phase(s) {', '.join(skipped)} come first")
        if to_index == from_index:
            return []
        transition = process.transition(deal.phase, process.phases[to_index].id)
        if transition is None:
            return []
        facts = deal_facts(self.state, deal)
        unmet = [_unmet(c, facts) for c in transition.criteria if not c.holds(facts)]
        if unmet:
            raise TransitionRefusedError(deal.phase, transition.to_phase, unmet)
        return [ev.SatisfiedCriterion(id=c.id, facts=tuple(f for f in c.all_of + c.any_of if f in facts))
                for c in transition.criteria]

    def _writable_deal(self, deal_id: UUID) -> Deal:
        deal = self.deal(deal_id)
        if deal.status == "lost":
            raise InvalidStateError(f"deal {deal_id} is lost; record a new deal instead")
        return deal

    def _known_deal(self, deal_id: UUID | None) -> None:
        if deal_id is not None:
            self.deal(deal_id)

    def _known_contact(self, contact_id: UUID | None, erased_too: bool = False) -> None:
        if contact_id is None:
            return
        contact = self.state.contacts.get(str(contact_id))
        if contact is None:
            raise NotFoundError("contact", contact_id)
        if contact.erased and not erased_too:
            raise InvalidStateError(f"contact {contact_id} was erased: nothing more is recorded about them")

    def _open_ticket(self, ticket_id: UUID) -> None:
        ticket = self.state.tickets.get(str(ticket_id))
        if ticket is None:
            raise NotFoundError("ticket", ticket_id)
        if ticket.status == "resolved":
            raise InvalidStateError(f"ticket {ticket_id} is already resolved")


def _unmet(criterion: Any, facts: frozenset[str]) -> UnmetCriterion:
    rule, wanted = ("all_of", criterion.all_of) if criterion.all_of else ("any_of", criterion.any_of)
    return UnmetCriterion(id=criterion.id, label=criterion.label, label_en=criterion.label_en, rule=rule,
                          missing_facts=tuple(f for f in wanted if f not in facts))


def _check_import_close(ctx: CommandContext, close: Any, stage: str) -> None:
    process = ctx.process
    if close.outcome == "won":
        _check_selection(ctx, "close.reason", "win_reason", close.reason)
    else:
        if process.phase_index(process.phase_of(stage).id) >= process.phase_index(WON_PHASE):
            raise InvalidFieldError("close.outcome", f"a deal at '{stage}' (won) cannot have been lost; give the "
                                    "stage it was lost at")
        _check_selection(ctx, "close.reason", "lost_reason", close.reason)
    if close.reason is None and not process.select_field(
            "win_reason" if close.outcome == "won" else "lost_reason").has(IMPORT_DEFAULT_REASON):
        raise InvalidFieldError("close.reason", f"required: the process has no '{IMPORT_DEFAULT_REASON}' option")


def _check_import_order(process: ProcessDefinition, steps: list[tuple[str, datetime, str]], closed_at: datetime) -> None:
    """Stages in the process's order, each entered no earlier than the one before, closed after the last
    (every step has its date by now: an earlier stage's is required, the current one's defaulted)."""
    for (stage, entered, _), (next_stage, next_entered, field) in zip(steps, steps[1:]):
        if process.stage_index(next_stage) <= process.stage_index(stage):
            raise InvalidFieldError(field, f"'{next_stage}' does not come after '{stage}' in the process")
        if next_entered < entered:
            raise InvalidFieldError(field, f"entered {next_entered.date()}, before '{stage}' ({entered.date()})")
    if closed_at < steps[-1][1]:
        raise InvalidFieldError("close.closed_at", f"{closed_at.date()} is before the deal entered "
                                f"'{steps[-1][0]}' ({steps[-1][1].date()})")


def _check_selection(ctx: CommandContext, field: str, select_field: str, selection: ev.Selection | None) -> None:
    if selection is None:
        return
    options = ctx.process.select_field(select_field)
    if not options.has(selection.choice):
        raise InvalidFieldError(f"{field}.choice", f"'{selection.choice}' is not an option of {select_field}",
                                [o.id for o in options.options])
