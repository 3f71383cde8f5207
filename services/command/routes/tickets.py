"""Support tickets: opened, updated, resolved."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from services.command import schemas as s
from services.command.dependencies import SendDep
from services.command.errors import ERROR_RESPONSES
from services.security import require
from shared.auth import Permission as P
from shared import commands as c

router = APIRouter(prefix="/customers/{customer_id}/tickets", tags=["support tickets"], responses=ERROR_RESPONSES)
CREATED = {"status_code": 201, "response_model": s.CommandResponse}


@router.post("", dependencies=[Depends(require(P.WRITE_TICKETS))],
             summary="Open a support ticket (問い合わせ)", **CREATED)
async def open_ticket(customer_id: UUID, body: s.OpenTicketRequest, send: SendDep):
    return await send(customer_id, c.OpenTicket(details=body.details()), body)


@router.post("/{ticket_id}/updates", dependencies=[Depends(require(P.WRITE_TICKETS))],
             summary="Update a ticket's status", **CREATED)
async def update_ticket(customer_id: UUID, ticket_id: UUID, body: s.UpdateTicketRequest, send: SendDep):
    return await send(customer_id, c.UpdateTicket(ticket_id=ticket_id, details=body.details()), body)


@router.post("/{ticket_id}/resolution", dependencies=[Depends(require(P.WRITE_TICKETS))],
             summary="Resolve a ticket", **CREATED)
async def resolve_ticket(customer_id: UUID, ticket_id: UUID, body: s.ResolveTicketRequest, send: SendDep):
    return await send(customer_id, c.ResolveTicket(ticket_id=ticket_id, details=body.details()), body)
