"""The customer summary for CS and support, composed from the pipeline read model.

Everything comes from the pipeline read model's customer (``ProjectedCustomer``: its state and
deal rows; for a customer the projection has not reached yet, the same built from replaying the
stream) except the hand-off notes:
the customer state records only *that* a deal was handed off, and the timeline keeps a
one-line summary. So the notes (goal, cautions, expectations, CS owner, first response)
are read from this customer's ``HandedOffToCS`` events in the event store - one indexed
read of one stream, for this page only.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import Connection

from services.projections.pipeline.customers import ProjectedCustomer
from services.timeline_api import labels as lb
from services.timeline_api import schemas as s
from shared.domain.state import CustomerState
from shared.event_store import EventStoreReader
from shared.events import HandedOffToCS
from shared.process import ProcessDefinition
from shared.stored_rows import StoreTables, events_of_types

STATUS_ORDER = {"open": 0, "won": 1, "lost": 2}


def handoff_notes(conn: Connection, store: StoreTables, reader: EventStoreReader, customer_ids: list[UUID]
                  ) -> dict[str, s.HandoffOut]:
    """The latest hand-off of each deal of the customers (one, or a survivor and those merged into it); an
    unreadable stored row is left out."""
    found: dict[str, s.HandoffOut] = {}
    for row in events_of_types(conn, store, customer_ids, [get_topic(HandedOffToCS)]):
        if (e := row.event(reader.mapper)) is None:
            continue
        found[str(e.deal_id)] = s.HandoffOut(goal=e.goal, cautions=e.cautions, expectations=e.expectations,
                                             cs_owner=e.cs_owner, first_response_at=e.first_response_at,
                                             handed_off_at=e.occurred_at, recorded_by=e.actor.user)
    return found


def _option(process: ProcessDefinition, field: str, choice: str | None) -> s.Label | None:
    return None if choice is None else s.Label(**lb.labelled(lb.of_option(process, field, choice), choice))


def _deal(state: CustomerState, deal_id: str, row: dict, handoff: s.HandoffOut | None,
          process: ProcessDefinition) -> s.DealSummary:
    deal = state.deals[deal_id]
    action = deal.next_action
    return s.DealSummary(
        **lb.phase_stage(process, deal.phase, deal.stage), deal_id=UUID(deal_id), title=deal.title,
        status=deal.status, owner=deal.owner, team=deal.team, amount=deal.amount,
        expected_close=deal.expected_close, temperature=_option(process, "temperature", deal.temperature),
        decision_status=_option(process, "decision_status", deal.decision_status),
        bucket=row["bucket"],
        stage_entered_at=deal.stage_entered_at,
        next_action=s.NextActionOut(choice=_option(process, "next_action", action.choice), note=action.note,
                                    due_at=action.due_at) if action else None,
        missing_information=[s.Label(**lb.labelled(lb.of_required(process, i), i))
                             for i in row["missing_information"]],
        hearing=s.HearingOut(**{item: deal.hearing.get(item) for item in
                                ("issue", "reason", "decision_maker", "budget", "timeline")},
                             bant=deal.bant, bant_complete=deal.bant.confirmed(),
                             competitor=_option(process, "competitor", deal.competitor),
                             hurdle=_option(process, "hurdle", deal.hurdle)),
        win_reasons=[_option(process, "win_reason", r) for r in deal.win_reasons],
        lost_reason=_option(process, "lost_reason", deal.lost_reason), handoff=handoff,
    )


def customer_summary(customer_id: UUID, projected: ProjectedCustomer, handoffs: dict[str, s.HandoffOut],
                     process: ProcessDefinition, merged: list[tuple[UUID, str]] = ()) -> s.CustomerSummary:
    state = projected.state
    deals = [_deal(state, d, projected.deals[d], handoffs.get(d), process) for d in state.deals]
    deals.sort(key=lambda d: (STATUS_ORDER.get(d.status, 3), -d.stage_entered_at.timestamp()))
    tickets = [s.TicketOut(ticket_id=UUID(t), **ticket.model_dump()) for t, ticket in state.tickets.items()]
    tickets.sort(key=lambda t: (t.status == "resolved", -t.opened_at.timestamp()))
    return s.CustomerSummary(
        customer_id=customer_id, version=projected.version, source=projected.source,
        company=s.Company(name=state.company_name, key=state.company_key, industry=state.industry,
                          address=state.address, website=state.website),
        contacts=[s.ContactOut(contact_id=UUID(c), **contact.model_dump()) for c, contact in state.contacts.items()],
        deals=deals, tickets=tickets, last_touch=state.last_touch,
        onboarding_progress=state.onboarding_progress, satisfaction=state.satisfaction,
        merged_customers=[s.MergedCustomer(customer_id=c, company_name=name) for c, name in merged],
    )
