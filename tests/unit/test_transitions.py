"""Every phase transition of the default process: refused with the exact unmet list, then allowed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from shared.domain.customer import CommandContext, Customer
from shared.domain.errors import InvalidFieldError, InvalidStateError, StageOrderError, TransitionRefusedError
from shared.events import Actor, Selection
from shared.events.customer import CompanyProfile, ContactDetails, TouchpointDetails
from shared.events.deal import DealDetails, LossDetails, WinDetails
from shared.events.sales_activity import (
    ApprovalDetails, ContractDetails, ContractTermsDetails, FeedbackDetails, HandoffDetails, HearingDetails,
    MeetingOutcome, MeetingPlan, ProposalDetails, QuoteDetails,
)
from shared.process import load_process_definition

PROCESS = load_process_definition()
SOON = datetime.now(timezone.utc) + timedelta(days=3)


@pytest.fixture
def ctx() -> CommandContext:
    return CommandContext(PROCESS, Actor(user="tanaka", department="sales", team="本社営業1課"))


@pytest.fixture
def customer(ctx: CommandContext) -> Customer:
    return Customer.register(uuid4(), CompanyProfile(company_name="株式会社テスト"), ctx)


@pytest.fixture
def deal(customer: Customer, ctx: CommandContext):
    return customer.open_deal(DealDetails(title="SFA導入", owner="tanaka"), ctx)


def refused(customer: Customer, deal, to_stage: str, ctx: CommandContext) -> dict[str, list[str]]:
    version = customer.version
    with pytest.raises(TransitionRefusedError) as caught:
        customer.change_stage(deal, to_stage, ctx)
    assert customer.version == version, "a refused change must not append anything"
    return {c.id: list(c.missing_facts) for c in caught.value.unmet}


def test_new_deal_starts_at_the_first_stage(customer: Customer, deal) -> None:
    assert (customer.deal(deal).phase, customer.deal(deal).stage) == ("approach", "lead_acquired")


def test_approach_to_hearing(customer: Customer, deal, ctx: CommandContext) -> None:
    assert refused(customer, deal, "hearing_done", ctx) == {
        "first_contact_completed": ["first_contact_recorded"],
        "contact_person_captured": ["contact_person_captured"],
        "company_info_captured": ["company_info_captured"],
        "hearing_started": ["hearing_started"],
    }
    customer.add_contact(ContactDetails(name="佐藤 花子", email="sato@example.jp"), ctx)
    customer.record_touchpoint(TouchpointDetails(deal_id=deal, channel="phone", direction="outbound",
                                                 summary="初回架電"), ctx)
    assert refused(customer, deal, "hearing_done", ctx) == {
        "company_info_captured": ["company_info_captured"], "hearing_started": ["hearing_started"]}
    customer.record_hearing(deal, HearingDetails(issue="情報の分断"), ctx)
    assert refused(customer, deal, "hearing_done", ctx) == {"company_info_captured": ["company_info_captured"]}


def test_contact_without_contact_details_does_not_count(customer: Customer, deal, ctx: CommandContext) -> None:
    customer.add_contact(ContactDetails(name="名前だけ"), ctx)
    assert "contact_person_captured" in refused(customer, deal, "hearing_done", ctx)


def advance_to_hearing(ctx: CommandContext):
    customer = Customer.register(uuid4(), CompanyProfile(company_name="㈱テスト", industry="製造業"), ctx)
    deal = customer.open_deal(DealDetails(title="SFA導入", owner="tanaka"), ctx)
    customer.add_contact(ContactDetails(name="佐藤 花子", phone="03-1234-5678"), ctx)
    customer.record_touchpoint(TouchpointDetails(channel="email", direction="outbound", summary="ご挨拶"), ctx)
    customer.record_hearing(deal, HearingDetails(issue="情報の分断"), ctx)
    customer.change_stage(deal, "hearing_done", ctx)
    return customer, deal


def test_approach_to_hearing_allowed_records_the_satisfied_criteria(ctx: CommandContext) -> None:
    customer, deal = advance_to_hearing(ctx)
    event = customer.collect_events()[-1]
    assert (event.from_phase, event.to_phase, event.to_stage) == ("approach", "hearing", "hearing_done")
    assert [c.id for c in event.satisfied_criteria] == [
        "first_contact_completed", "contact_person_captured", "company_info_captured", "hearing_started"]


def test_hearing_to_proposal(ctx: CommandContext) -> None:
    customer, deal = advance_to_hearing(ctx)
    assert refused(customer, deal, "preparing_materials", ctx) == {
        "first_meeting_held": ["meeting_held"], "proposal_or_quote_sent": ["proposal_sent", "quote_submitted"]}
    meeting = customer.schedule_meeting(deal, MeetingPlan(scheduled_at=SOON, place="visit", purpose="デモ"), ctx)
    assert refused(customer, deal, "preparing_materials", ctx) == {
        "first_meeting_held": ["meeting_held"], "proposal_or_quote_sent": ["proposal_sent", "quote_submitted"]}
    customer.hold_meeting(deal, meeting, MeetingOutcome(minutes="課題を確認"), ctx)
    assert refused(customer, deal, "preparing_materials", ctx) == {
        "proposal_or_quote_sent": ["proposal_sent", "quote_submitted"]}
    customer.submit_quote(deal, QuoteDetails(amount=4_800_000), ctx)  # a quote alone is enough (any_of)
    customer.change_stage(deal, "proposal_sent_waiting", ctx)
    assert customer.deal(deal).phase == "proposal"


def advance_to_proposal(ctx: CommandContext):
    customer, deal = advance_to_hearing(ctx)
    meeting = customer.schedule_meeting(deal, MeetingPlan(scheduled_at=SOON, place="online", purpose="提案"), ctx)
    customer.hold_meeting(deal, meeting, MeetingOutcome(), ctx)
    customer.send_proposal(deal, ProposalDetails(title="提案書"), ctx)
    customer.change_stage(deal, "proposal_sent_waiting", ctx)
    return customer, deal


def test_proposal_to_closing(ctx: CommandContext) -> None:
    customer, deal = advance_to_proposal(ctx)
    assert refused(customer, deal, "negotiating_terms", ctx) == {
        "negotiation_started": ["terms_negotiation_started"],
        "concrete_consideration": ["proposal_feedback_recorded", "approval_status_recorded"],
    }
    customer.update_contract_terms(deal, ContractTermsDetails(open_points=("amount",)), ctx)
    assert refused(customer, deal, "negotiating_terms", ctx) == {
        "concrete_consideration": ["proposal_feedback_recorded", "approval_status_recorded"]}
    customer.update_approval(deal, ApprovalDetails(status=Selection(choice="preparing")), ctx)
    customer.change_stage(deal, "negotiating_terms", ctx)
    assert customer.deal(deal).phase == "closing"


def advance_to_closing(ctx: CommandContext):
    customer, deal = advance_to_proposal(ctx)
    customer.record_proposal_feedback(deal, FeedbackDetails(reaction=Selection(choice="positive")), ctx)
    customer.update_contract_terms(deal, ContractTermsDetails(open_points=("payment_terms",)), ctx)
    customer.change_stage(deal, "negotiating_terms", ctx)
    return customer, deal


def test_closing_to_won(ctx: CommandContext) -> None:
    customer, deal = advance_to_closing(ctx)
    assert refused(customer, deal, "contract_signed", ctx) == {
        "terms_agreed": ["terms_agreed"], "contract_signed": ["contract_signed"]}
    customer.update_contract_terms(deal, ContractTermsDetails(agreed=True), ctx)
    assert refused(customer, deal, "contract_signed", ctx) == {"contract_signed": ["contract_signed"]}
    customer.sign_contract(deal, ContractDetails(price=4_560_000, scope="全拠点"), ctx)
    customer.win_deal(deal, WinDetails(win_reasons=(Selection(choice="support", note="導入支援"),)), ctx)
    assert (customer.deal(deal).phase, customer.deal(deal).stage, customer.deal(deal).status) == (
        "won", "contract_signed", "won")
    assert [type(e).__name__ for e in customer.collect_events()[-2:]] == ["StageChanged", "DealWon"]


def test_won_to_follow(ctx: CommandContext) -> None:
    customer, deal = advance_to_closing(ctx)
    customer.update_contract_terms(deal, ContractTermsDetails(agreed=True), ctx)
    customer.sign_contract(deal, ContractDetails(price=1, scope="本社"), ctx)
    customer.change_stage(deal, "contract_signed", ctx)
    assert refused(customer, deal, "onboarding", ctx) == {"handed_off_to_cs": ["handed_off_to_cs"]}
    customer.hand_off_to_cs(deal, HandoffDetails(goal="定着", cs_owner="suzuki", first_response_at=SOON), ctx)
    customer.change_stage(deal, "onboarding", ctx)
    assert customer.deal(deal).phase == "follow"


def test_win_without_criteria_is_refused_with_the_list(ctx: CommandContext) -> None:
    customer, deal = advance_to_closing(ctx)
    with pytest.raises(TransitionRefusedError) as caught:
        customer.win_deal(deal, WinDetails(win_reasons=(Selection(choice="price"),)), ctx)
    assert [c.id for c in caught.value.unmet] == ["terms_agreed", "contract_signed"]


def test_phases_cannot_be_skipped_or_reversed(ctx: CommandContext) -> None:
    customer, deal = advance_to_hearing(ctx)
    with pytest.raises(StageOrderError, match="proposal"):
        customer.change_stage(deal, "negotiating_terms", ctx)
    with pytest.raises(StageOrderError):
        customer.change_stage(deal, "lead_acquired", ctx)
    with pytest.raises(StageOrderError):
        customer.change_stage(deal, "hearing_done", ctx)
    customer.change_stage(deal, "bant_checking", ctx)  # within a phase needs no criteria
    customer.change_stage(deal, "hearing_done", ctx)  # and may step back for rework


def test_unknown_stage_names_the_field(customer: Customer, deal, ctx: CommandContext) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        customer.change_stage(deal, "almost_won", ctx)
    assert caught.value.field == "to_stage"


def test_lost_from_any_open_phase_with_a_reason_then_closed(customer: Customer, deal, ctx: CommandContext) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        customer.lose_deal(deal, LossDetails(reason=Selection(choice="bored")), ctx)
    assert caught.value.field == "reason.choice"
    customer.lose_deal(deal, LossDetails(reason=Selection(choice="competitor", note="A社に決定")), ctx)
    assert customer.deal(deal).status == "lost"
    with pytest.raises(InvalidStateError):
        customer.record_hearing(deal, HearingDetails(issue="x"), ctx)


def test_missing_required_information_per_stage(ctx: CommandContext) -> None:
    customer, deal = advance_to_hearing(ctx)
    missing = {info.id for info in customer.missing_information(deal, PROCESS)}
    assert missing == {"hearing_reason", "hearing_decision_maker", "hearing_budget", "hearing_timeline"}
    customer.change_stage(deal, "bant_checking", ctx)
    assert "bant" in {info.id for info in customer.missing_information(deal, PROCESS)}
    customer.record_hearing(deal, HearingDetails(reason="工数削減", decision_maker="山田取締役", budget="500万円",
                                                 timeline="2027年4月", bant={"budget": "confirmed",
                                                 "authority": "confirmed", "need": "confirmed",
                                                 "timeline": "confirmed"}), ctx)
    assert customer.missing_information(deal, PROCESS) == []


def test_each_event_chains_to_the_previous_hash(ctx: CommandContext) -> None:
    customer, _ = advance_to_hearing(ctx)
    events = customer.collect_events()
    assert events[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash() for earlier, later in zip(events, events[1:]))
