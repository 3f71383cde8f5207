"""The fact vocabulary and the code that checks each fact are two tables that must agree."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

from shared.domain.facts import FACT_CHECKS, missing_information
from shared.domain.state import CustomerState, Deal
from shared.process import load_process_definition
from shared.process.facts import FACTS

PROCESS = load_process_definition()
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)


def test_every_fact_of_the_vocabulary_has_a_check_and_every_check_a_description() -> None:
    assert set(FACTS) - set(FACT_CHECKS) == set(), "facts described but never checked"
    assert set(FACT_CHECKS) - set(FACTS) == set(), "facts checked but not in the vocabulary"


def _deal(stage: str) -> tuple[CustomerState, Deal]:
    phase = PROCESS.phase_of(stage).id if PROCESS.has_stage(stage) else "gone"
    deal = Deal(title="SFA導入", owner="tanaka", team=None, site=None, amount=None, expected_close=None,
                phase=phase, stage=stage, stage_entered_at=NOW, opened_at=NOW)
    state = CustomerState(company_name="株式会社テスト", company_key="テスト", deals={str(uuid4()): deal})
    return state, deal


def test_missing_information_is_the_stages_required_information_whose_fact_does_not_hold() -> None:
    stage = "first_contact_done"
    state, deal = _deal(stage)
    missing = missing_information(PROCESS, state, deal)
    assert [i.id for i in missing] == [i.id for i in PROCESS.required_for(stage)]
    deal.lead_source, deal.touchpoints = True, 1  # lead_source_recorded and first_contact_recorded now hold
    assert [i.fact for i in missing_information(PROCESS, state, deal)] == \
        ["contact_person_captured", "initial_reaction_recorded"]


def test_a_stage_the_process_no_longer_has_misses_nothing() -> None:
    state, deal = _deal("retired_stage")
    assert missing_information(PROCESS, state, deal) == []
