"""The work recorded on a deal: hearing, meetings, proposals, quotes, closing, hand-off to CS."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from services.command import schemas as s
from services.command.dependencies import SendDep
from services.command.errors import ERROR_RESPONSES
from services.security import require
from shared.auth import Permission as P
from shared import commands as c

router = APIRouter(prefix="/customers/{customer_id}/deals/{deal_id}", tags=["sales activity"],
                   responses=ERROR_RESPONSES)
CREATED = {"status_code": 201, "response_model": s.CommandResponse}


@router.post("/hearings", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record a hearing: 課題, 導入理由, 決裁者, 予算, 導入時期 and BANT", **CREATED)
async def record_hearing(customer_id: UUID, deal_id: UUID, body: s.RecordHearingRequest, send: SendDep):
    return await send(customer_id, c.RecordHearing(deal_id=deal_id, details=body.details()), body)


@router.post("/meetings", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Schedule a meeting (アポ獲得)", **CREATED)
async def schedule_meeting(customer_id: UUID, deal_id: UUID, body: s.ScheduleMeetingRequest, send: SendDep):
    return await send(customer_id, c.ScheduleMeeting(deal_id=deal_id, details=body.details()), body)


@router.post("/meetings/{meeting_id}/held", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record that a scheduled meeting was held", **CREATED)
async def hold_meeting(customer_id: UUID, deal_id: UUID, meeting_id: UUID, body: s.HoldMeetingRequest,
                       send: SendDep):
    return await send(customer_id, c.HoldMeeting(deal_id=deal_id, meeting_id=meeting_id, details=body.details()),
                      body)


@router.post("/proposals", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record a proposal sent (提案書送付)", **CREATED)
async def send_proposal(customer_id: UUID, deal_id: UUID, body: s.SendProposalRequest, send: SendDep):
    return await send(customer_id, c.SendProposal(deal_id=deal_id, details=body.details()), body)


@router.post("/quotes", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record a quote submitted (見積提出)", **CREATED)
async def submit_quote(customer_id: UUID, deal_id: UUID, body: s.SubmitQuoteRequest, send: SendDep):
    return await send(customer_id, c.SubmitQuote(deal_id=deal_id, details=body.details()), body)


@router.post("/proposal-feedback", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record the customer's feedback on a proposal", **CREATED)
async def record_proposal_feedback(customer_id: UUID, deal_id: UUID, body: s.RecordProposalFeedbackRequest,
                                   send: SendDep):
    return await send(customer_id, c.RecordProposalFeedback(deal_id=deal_id, details=body.details()), body)


@router.post("/revisions", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record a revision request (修正依頼)", **CREATED)
async def request_revision(customer_id: UUID, deal_id: UUID, body: s.RequestRevisionRequest, send: SendDep):
    return await send(customer_id, c.RequestRevision(deal_id=deal_id, details=body.details()), body)


@router.post("/revisions/{revision_id}/done", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record how a revision request was handled", **CREATED)
async def complete_revision(customer_id: UUID, deal_id: UUID, revision_id: UUID, body: s.CompleteRevisionRequest,
                            send: SendDep):
    command = c.CompleteRevision(deal_id=deal_id, revision_id=revision_id, details=body.details())
    return await send(customer_id, command, body)


@router.post("/approval", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Update the customer's internal approval status (稟議)", **CREATED)
async def update_approval(customer_id: UUID, deal_id: UUID, body: s.UpdateApprovalRequest, send: SendDep):
    return await send(customer_id, c.UpdateApproval(deal_id=deal_id, details=body.details()), body)


@router.post("/contract-terms", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record contract terms under negotiation (条件調整)", **CREATED)
async def update_contract_terms(customer_id: UUID, deal_id: UUID, body: s.UpdateContractTermsRequest,
                                send: SendDep):
    return await send(customer_id, c.UpdateContractTerms(deal_id=deal_id, details=body.details()), body)


@router.post("/contract", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Record the signed contract (契約締結)", **CREATED)
async def sign_contract(customer_id: UUID, deal_id: UUID, body: s.SignContractRequest, send: SendDep):
    return await send(customer_id, c.SignContract(deal_id=deal_id, details=body.details()), body)


@router.post("/handoff", dependencies=[Depends(require(P.WRITE_DEALS))],
             summary="Hand the customer off to CS (引き継ぎ: goal, cautions, owner, first response)",
             **CREATED)
async def hand_off_to_cs(customer_id: UUID, deal_id: UUID, body: s.HandOffRequest, send: SendDep):
    return await send(customer_id, c.HandOffToCS(deal_id=deal_id, details=body.details()), body)
