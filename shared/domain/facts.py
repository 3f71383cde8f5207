"""Which facts hold for a deal, computed from what has been recorded.

The process definition composes these fact ids into transition criteria and
required information; this module is the only place that knows what each means.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.domain.state import CustomerState, Deal
from shared.process import ProcessDefinition, RequiredInfo

Check = Callable[[CustomerState, Deal], bool]

_HEARING_ITEMS = ("issue", "reason", "decision_maker", "budget", "timeline")

FACT_CHECKS: dict[str, Check] = {
    "company_info_captured": lambda c, d: bool(c.company_name and (c.industry or c.address or c.website)),
    "contact_person_captured": lambda c, d: any(
        p.erased or (p.name and (p.email or p.phone)) for p in c.contacts.values()),  # an erased one was captured
    "lead_source_recorded": lambda c, d: c.lead_source or d.lead_source,
    "first_contact_recorded": lambda c, d: c.touchpoints + d.touchpoints > 0,
    "initial_reaction_recorded": lambda c, d: c.reaction_recorded or d.reaction_recorded,
    "hearing_started": lambda c, d: d.hearings > 0,
    **{f"hearing_{item}": (lambda item: lambda c, d: item in d.hearing)(item) for item in _HEARING_ITEMS},
    "bant_confirmed": lambda c, d: d.bant.confirmed(),
    "competitor_recorded": lambda c, d: d.competitor is not None,
    "hurdle_recorded": lambda c, d: d.hurdle is not None,
    "meeting_scheduled": lambda c, d: bool(d.meetings),
    "meeting_held": lambda c, d: any(d.meetings.values()),
    "proposal_sent": lambda c, d: bool(d.proposals),
    "quote_submitted": lambda c, d: d.quotes > 0,
    "proposal_feedback_recorded": lambda c, d: d.feedback > 0,
    "revisions_resolved": lambda c, d: not d.open_revisions,
    "approval_status_recorded": lambda c, d: d.approval_status is not None,
    "terms_negotiation_started": lambda c, d: d.terms_started,
    "terms_agreed": lambda c, d: d.terms_agreed,
    "contract_signed": lambda c, d: d.contract_signed,
    "win_reasons_recorded": lambda c, d: bool(d.win_reasons),
    "handed_off_to_cs": lambda c, d: d.handed_off,
    "next_action_set": lambda c, d: d.next_action is not None and d.next_action.choice == "scheduled",
    "temperature_set": lambda c, d: d.temperature is not None,
    "onboarding_progress_recorded": lambda c, d: c.onboarding_progress is not None or d.onboarding_progress is not None,
    "satisfaction_recorded": lambda c, d: c.satisfaction is not None or d.satisfaction is not None,
}


def deal_facts(customer: CustomerState, deal: Deal) -> frozenset[str]:
    return frozenset(fact for fact, holds in FACT_CHECKS.items() if holds(customer, deal))


def missing_information(process: ProcessDefinition, customer: CustomerState, deal: Deal) -> list[RequiredInfo]:
    """Required information of the deal's current stage not recorded yet; none for a stage the process no
    longer has (a deal recorded under an older process)."""
    if not process.has_stage(deal.stage):
        return []
    facts = deal_facts(customer, deal)
    return [info for info in process.required_for(deal.stage) if info.fact not in facts]
