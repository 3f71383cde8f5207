"""The fixed vocabulary of facts about a deal.

The domain computes these facts from a customer's recorded events; a process
definition only composes them (into required information and transition
criteria). Adding a fact therefore needs code; using one only needs YAML.
"""

FACTS: dict[str, str] = {
    # Approach
    "company_info_captured": "The company name is recorded with its industry, address or website.",
    "contact_person_captured": "A contact person is recorded with a name and an email or phone number.",
    "lead_source_recorded": "The lead source (trade show, web, referral, ...) is recorded.",
    "first_contact_recorded": "A first touchpoint with the customer is recorded.",
    "initial_reaction_recorded": "A touchpoint records the customer's initial reaction.",
    # Hearing
    "hearing_started": "A hearing is recorded on the deal.",
    "hearing_issue": "The hearing item 'issue' (the customer's problem) is filled.",
    "hearing_reason": "The hearing item 'reason for adoption' is filled.",
    "hearing_decision_maker": "The hearing item 'decision maker' is filled.",
    "hearing_budget": "The hearing item 'budget' is filled.",
    "hearing_timeline": "The hearing item 'adoption timeline' is filled.",
    "bant_confirmed": "All four BANT items (budget, authority, need, timeline) are confirmed.",
    "competitor_recorded": "Whether competitors are being compared is recorded.",
    "hurdle_recorded": "The expected hurdle is recorded.",
    "meeting_scheduled": "A meeting with the customer is scheduled.",
    "meeting_held": "A meeting with the customer has been held.",
    # Proposal
    "proposal_sent": "A proposal has been sent to the customer.",
    "quote_submitted": "A quote has been submitted to the customer.",
    "proposal_feedback_recorded": "The customer's feedback on a proposal is recorded.",
    "revisions_resolved": "No revision request from the customer is left open.",
    # Closing
    "approval_status_recorded": "The status of the customer's internal approval (稟議) is recorded.",
    "terms_negotiation_started": "Negotiation of price or contract terms has started.",
    "terms_agreed": "Both sides have agreed on the contract terms.",
    # Won
    "contract_signed": "The contract has been formally signed.",
    "win_reasons_recorded": "The reasons the deal was won are recorded.",
    "handed_off_to_cs": "The deal has been handed off to customer success.",
    # Any time
    "next_action_set": "An open next action is scheduled.",
    "temperature_set": "The customer's temperature is recorded.",
    # Follow
    "onboarding_progress_recorded": "Progress of delivery or onboarding is recorded.",
    "satisfaction_recorded": "The customer's early satisfaction is recorded.",
}
