"""A deal imported as it happened: its known stages, then won or lost, each event at its own time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from shared import events as ev
from shared.domain.customer import CommandContext, Customer
from shared.domain.errors import InvalidFieldError
from shared.events import Actor, Selection
from shared.events.customer import CompanyProfile
from shared.events.deal import DealDetails, ImportedClose, ImportedStage, ImportedStep
from shared.process import load_process_definition

PROCESS = load_process_definition()
JST = timezone(timedelta(hours=9))
ENGAGED = datetime(2024, 4, 1, tzinfo=JST)
CLOSED = datetime(2024, 6, 30, tzinfo=JST)
CTX = CommandContext(PROCESS, Actor(user="moss", department="sales", team="Dustin Bennett", site="Central"))


def imported(stage: str, close: ImportedClose | None = None, earlier=(), entered=None) -> tuple[Customer, object]:
    customer = Customer.register(uuid4(), CompanyProfile(company_name="Acme"), CTX)
    before = customer.version
    deal = customer.import_deal(DealDetails(title="GTX Pro", owner="moss"),
                                ImportedStage(stage=stage, stage_entered_at=entered, source="sales_pipeline.csv",
                                              earlier_stages=earlier, close=close, imported_by="importer"), CTX)
    return customer, deal, customer._pending_events[before:]


def test_a_won_deal_enters_each_known_stage_then_the_won_phase_at_its_close() -> None:
    customer, deal, events = imported("hearing_done", ImportedClose(outcome="won", closed_at=CLOSED,
                                                                    reason=Selection(choice="price", note="安い")),
                                      entered=ENGAGED)
    assert [type(e) for e in events] == [ev.DealImported, ev.StageChanged, ev.DealWon]
    assert [e.occurred_at for e in events] == [ENGAGED, CLOSED, CLOSED]
    assert (events[0].stage, events[0].stage_entered_at, events[0].imported_by) == ("hearing_done", ENGAGED, "importer")
    assert (events[1].to_stage, events[1].satisfied_criteria) == ("contract_signed", ())
    assert events[1].note == "imported from sales_pipeline.csv"
    assert [r.choice for r in events[2].win_reasons] == ["price"] and events[2].win_reasons[0].note == "安い"
    state = customer.deal(deal)
    assert (state.status, state.stage, state.closed_at, state.opened_at) == ("won", "contract_signed", CLOSED, ENGAGED)
    assert all(e.actor == CTX.actor for e in events)


def test_earlier_stages_come_first_in_the_order_they_were_entered() -> None:
    steps = (ImportedStep(stage="lead_acquired", entered_at=ENGAGED - timedelta(days=30)),
             ImportedStep(stage="hearing_done", entered_at=ENGAGED))
    _, _, events = imported("preparing_materials", entered=ENGAGED + timedelta(days=5), earlier=steps)
    assert [(type(e).__name__, getattr(e, "stage", None) or e.to_stage) for e in events] == [
        ("DealImported", "lead_acquired"), ("StageChanged", "hearing_done"), ("StageChanged", "preparing_materials")]
    assert [e.occurred_at for e in events] == [ENGAGED - timedelta(days=30), ENGAGED, ENGAGED + timedelta(days=5)]


def test_a_lost_deal_is_lost_at_its_stage_with_the_default_reason() -> None:
    customer, deal, events = imported("hearing_done", ImportedClose(outcome="lost", closed_at=CLOSED), entered=ENGAGED)
    assert [type(e) for e in events] == [ev.DealImported, ev.DealLost]
    assert (events[1].stage, events[1].reason.choice, events[1].occurred_at) == ("hearing_done", "other", CLOSED)
    assert (customer.deal(deal).status, customer.deal(deal).closed_at) == ("lost", CLOSED)


def test_a_won_deal_already_in_the_won_phase_entered_it_at_its_close_unless_told() -> None:
    _, _, events = imported("contract_signed", ImportedClose(outcome="won", closed_at=CLOSED))
    assert [type(e) for e in events] == [ev.DealImported, ev.DealWon]
    assert events[0].stage_entered_at == CLOSED and [r.choice for r in events[1].win_reasons] == ["other"]


@pytest.mark.parametrize(("stage", "close", "earlier", "entered", "field"), [
    ("hearing_done", ImportedClose(outcome="won", closed_at=ENGAGED - timedelta(days=1)), (), ENGAGED,
     "close.closed_at"),
    ("hearing_done", None, (ImportedStep(stage="preparing_materials", entered_at=ENGAGED),), ENGAGED, "stage"),
    ("preparing_materials", None, (ImportedStep(stage="hearing_done", entered_at=CLOSED),), ENGAGED, "stage"),
    ("contract_signed", ImportedClose(outcome="lost", closed_at=CLOSED), (), None, "close.outcome"),
    ("hearing_done", ImportedClose(outcome="lost", closed_at=CLOSED, reason=Selection(choice="functionality")), (),
     ENGAGED, "close.reason.choice"),
    ("hearing_done", None, (ImportedStep(stage="nowhere", entered_at=ENGAGED),), CLOSED, "earlier_stages.0"),
])
def test_a_history_that_cannot_have_happened_is_refused_naming_the_field(stage, close, earlier, entered,
                                                                       field) -> None:
    customer = Customer.register(uuid4(), CompanyProfile(company_name="Acme"), CTX)
    version = customer.version
    with pytest.raises(InvalidFieldError) as caught:
        customer.import_deal(DealDetails(title="GTX", owner="moss"),
                             ImportedStage(stage=stage, stage_entered_at=entered, earlier_stages=earlier, close=close),
                             CTX)
    assert caught.value.field == field
    assert customer.version == version, "a refused import must not append anything"
