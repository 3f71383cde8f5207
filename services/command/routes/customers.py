"""Customer-level commands: register, contacts, touchpoints, lead source, CS records."""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter, Depends

from services.command import schemas as s
from services.command.dependencies import CustomersDep, SendDep
from services.command.errors import ERROR_RESPONSES
from services.security import require
from shared.auth import Permission as P
from services.command.views import CustomerView, customer_view
from shared import commands as c

router = APIRouter(prefix="/customers", tags=["customers"], responses=ERROR_RESPONSES)
CREATED = {"status_code": 201, "response_model": s.CommandResponse}


@router.post("", dependencies=[Depends(require(P.WRITE_CUSTOMERS))],
             summary="Register a customer company (顧客登録)", **CREATED)
async def register_customer(body: s.RegisterCustomerRequest, send: SendDep):
    return await send(body.customer_id, c.RegisterCustomer(details=body.details()), body)


@router.get("/{customer_id}", dependencies=[Depends(require(P.READ_CUSTOMERS))],
            response_model=CustomerView,
            summary="The writer's current state of a customer, with each deal's missing information")
async def get_customer(customer_id: UUID, customers: CustomersDep):
    customer = await asyncio.to_thread(customers.get_customer, customer_id)
    return customer_view(customer, customers.process)


@router.post("/{customer_id}/contacts", dependencies=[Depends(require(P.WRITE_CUSTOMERS))],
             summary="Add a contact person (担当者)", **CREATED)
async def add_contact(customer_id: UUID, body: s.AddContactRequest, send: SendDep):
    return await send(customer_id, c.AddContact(details=body.details()), body)


@router.post("/{customer_id}/touchpoints", dependencies=[Depends(require(P.WRITE_CUSTOMERS))],
             summary="Record a touchpoint (接点: mail, call, visit ...)", **CREATED)
async def record_touchpoint(customer_id: UUID, body: s.RecordTouchpointRequest, send: SendDep):
    return await send(customer_id, c.RecordTouchpoint(details=body.details()), body)


@router.post("/{customer_id}/lead-sources", dependencies=[Depends(require(P.WRITE_CUSTOMERS))],
             summary="Record the lead source (リード獲得経路)", **CREATED)
async def record_lead_source(customer_id: UUID, body: s.RecordLeadSourceRequest, send: SendDep):
    return await send(customer_id, c.RecordLeadSource(details=body.details()), body)


@router.post("/{customer_id}/feedback", dependencies=[Depends(require(P.WRITE_FEEDBACK))],
             summary="Record feedback from CS, tech or support (usage, trouble, "
             "requests, upsell hints)", **CREATED)
async def record_feedback(customer_id: UUID, body: s.RecordFeedbackRequest, send: SendDep):
    return await send(customer_id, c.RecordFeedback(details=body.details()), body)


@router.post("/{customer_id}/onboarding-progress", dependencies=[Depends(require(P.WRITE_SUCCESS))],
             summary="Record onboarding progress (導入進捗, CS)", **CREATED)
async def record_onboarding(customer_id: UUID, body: s.RecordOnboardingRequest, send: SendDep):
    return await send(customer_id, c.RecordOnboarding(details=body.details()), body)


@router.post("/{customer_id}/satisfaction", dependencies=[Depends(require(P.WRITE_SUCCESS))],
             summary="Record customer satisfaction (満足度, CS)", **CREATED)
async def record_satisfaction(customer_id: UUID, body: s.RecordSatisfactionRequest, send: SendDep):
    return await send(customer_id, c.RecordSatisfaction(details=body.details()), body)


@router.post("/{customer_id}/merge", dependencies=[Depends(require(P.MERGE_CUSTOMERS))],
             summary="Merge this customer (a duplicate record) into another (名寄せ): both streams get an event, "
                     "nothing is rewritten; this customer's views then point to the survivor", **CREATED)
async def merge_customer(customer_id: UUID, body: s.MergeCustomerRequest, send: SendDep):
    return await send(customer_id, c.MergeCustomer(details=body.details()), body)


@router.post("/{customer_id}/unmerge", dependencies=[Depends(require(P.MERGE_CUSTOMERS))],
             summary="Undo this customer's merge (名寄せ解除): again an event on both streams", **CREATED)
async def unmerge_customer(customer_id: UUID, body: s.UnmergeCustomerRequest, send: SendDep):
    return await send(customer_id, c.UnmergeCustomer(details=body.details()), body)
