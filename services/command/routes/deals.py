"""A deal's lifecycle: opened, stage changes (criteria enforced), won, lost, next action, temperature."""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter, Depends

from services.command import schemas as s
from services.command.dependencies import CustomersDep, SendDep
from services.command.errors import ERROR_RESPONSES
from services.security import require
from shared.auth import Permission as P
from services.command.views import DealView, deal_view
from shared import commands as c

router = APIRouter(prefix="/customers/{customer_id}/deals", tags=["deals"], responses=ERROR_RESPONSES)
CREATED = {"status_code": 201, "response_model": s.CommandResponse}


@router.post("", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Open a deal (案件) at the first stage of the process", **CREATED)
async def open_deal(customer_id: UUID, body: s.OpenDealRequest, send: SendDep):
    return await send(customer_id, c.OpenDeal(details=body.details()), body)


@router.post("/imported", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Bring in an existing deal at its current stage (取り込み; no criteria claimed)",
             **CREATED)
async def import_deal(customer_id: UUID, body: s.ImportDealRequest, send: SendDep):
    return await send(customer_id, c.ImportDeal(details=body.details()), body)


@router.get("/{deal_id}", dependencies=[Depends(require(P.READ_CUSTOMERS))],
            response_model=DealView,
            summary="A deal's phase, stage, facts and the required information still missing")
async def get_deal(customer_id: UUID, deal_id: UUID, customers: CustomersDep):
    customer = await asyncio.to_thread(customers.get_customer, customer_id)
    return deal_view(customer, str(deal_id), customers.process)


@router.post("/{deal_id}/stage", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Change the deal's stage; a phase change must meet its criteria",
             description="Refused with 409 `transition_criteria_unmet` listing every unmet criterion "
                         "(id, Japanese and English label, missing facts) when the facts recorded so far "
                         "do not satisfy the transition criteria.", **CREATED)
async def change_stage(customer_id: UUID, deal_id: UUID, body: s.ChangeStageRequest, send: SendDep):
    return await send(customer_id, c.ChangeStage(deal_id=deal_id, details=body.details()), body)


@router.post("/{deal_id}/win", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record the win (成約) with its reasons; enters the won phase if needed",
             **CREATED)
async def win_deal(customer_id: UUID, deal_id: UUID, body: s.WinDealRequest, send: SendDep):
    return await send(customer_id, c.WinDeal(deal_id=deal_id, details=body.details()), body)


@router.post("/{deal_id}/loss", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record the loss (失注) with its reason, from any open phase", **CREATED)
async def lose_deal(customer_id: UUID, deal_id: UUID, body: s.LoseDealRequest, send: SendDep):
    return await send(customer_id, c.LoseDeal(deal_id=deal_id, details=body.details()), body)


@router.post("/{deal_id}/next-action", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Set the next action (次のアクション)", **CREATED)
async def set_next_action(customer_id: UUID, deal_id: UUID, body: s.SetNextActionRequest, send: SendDep):
    return await send(customer_id, c.SetNextAction(deal_id=deal_id, details=body.details()), body)


@router.post("/{deal_id}/next-action/completion", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Complete the open next action", **CREATED)
async def complete_next_action(customer_id: UUID, deal_id: UUID, body: s.CompleteNextActionRequest,
                               send: SendDep):
    return await send(customer_id, c.CompleteNextAction(deal_id=deal_id, details=body.details()), body)


@router.post("/{deal_id}/temperature", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Set temperature and decision status (温度感・検討状況)", **CREATED)
async def set_temperature(customer_id: UUID, deal_id: UUID, body: s.SetTemperatureRequest, send: SendDep):
    return await send(customer_id, c.SetTemperature(deal_id=deal_id, details=body.details()), body)
