"""A contact person's requests under Japan's APPI, for the ``privacy`` and ``admin`` roles: disclosure (開示),
correction (訂正), erasure (消去). The same as ``customer-timeline personal-data export|correct|erase``: each is
a command on the contact's customer stream (an event auditors see), after which every read model of this
database has the customer's new events (``services/privacy/office.py``).

The office's commands go through the API's writer (one writer per process, group commit), not beside it."""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, model_validator

from services.command import schemas as s
from services.command.errors import ERROR_RESPONSES
from services.privacy.disclosure import disclose
from services.privacy.office import PrivacyOffice
from services.security import require
from shared.application import Customers, Envelope, Outcome
from shared.auth import Permission as P
from shared.auth import Principal
from shared.commands import Command, CorrectContact, EraseContact
from shared.domain.errors import DomainError
from shared.events import Actor
from shared.events.limits import refuse_unfit
from shared.events.personal import ContactCorrection

router = APIRouter(prefix="/personal-data", tags=["personal data"], responses=ERROR_RESPONSES)
MANAGE = require(P.MANAGE_PERSONAL_DATA)


class AtTheDoor(BaseModel):
    """A body checked as every command's is (text fit to store, lengths): refused with 422 naming the field."""

    @model_validator(mode="after")
    def _fit_to_keep(self) -> AtTheDoor:
        refuse_unfit(self)
        return self


class DisclosureRequest(AtTheDoor):
    format: Literal["json", "csv"] = Field(default="json", description="json, or csv (UTF-8 with a BOM, for Excel)")
    recipient: str = Field(default="data subject", min_length=1, max_length=200,
                           description="to whom the export is given (recorded on the event)")


class ErasureRequest(AtTheDoor):
    note: str = Field(default="", max_length=1000, examples=["本人からの利用停止・消去請求"])


class CorrectionRequest(ContactCorrection, AtTheDoor):
    pass


class WriterOffice(PrivacyOffice):
    """The privacy office of the command API: its commands join the API's writer queue (from a worker thread)."""

    def __init__(self, customers: Customers, database_url: str, writer: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(customers, database_url)
        self.writer, self.loop = writer, loop

    def append(self, envelope: Envelope) -> Outcome | DomainError:
        return asyncio.run_coroutine_threadsafe(self.writer.submit(envelope), self.loop).result()

    def close(self) -> None:
        pass  # the app owns its Customers


def office_of(request: Request) -> PrivacyOffice:
    state = request.app.state
    if getattr(state, "privacy_office", None) is None:
        state.privacy_office = WriterOffice(state.customers, state.database_url, state.writer,
                                            asyncio.get_running_loop())
    return state.privacy_office


@router.post("/contacts/{contact_id}/disclosure", summary="Everything held about a contact person, with where and "
             "when (開示): JSON, or CSV; the disclosure is recorded as an event (PersonalDataDisclosed)",
             responses={200: {"content": {"application/json": {}, "text/csv": {}},
                              "description": "the export (JSON object, or CSV rows)"}})
async def disclosure(contact_id: UUID, request: Request, principal: Principal = Depends(MANAGE),
                     body: DisclosureRequest | None = None) -> Response:
    body = body or DisclosureRequest()
    text = await asyncio.to_thread(disclose, office_of(request), contact_id, principal.actor, body.format,
                                   body.recipient)
    if body.format == "csv":
        return Response(text, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="personal-data-{contact_id}.csv"'})
    return Response(text, media_type="application/json")


@router.post("/contacts/{contact_id}/correction", status_code=201, response_model=s.CommandResponse,
             summary="Correct a contact's details everywhere (訂正); the earlier values stay in the history")
async def correction(contact_id: UUID, body: CorrectionRequest, request: Request, response: Response,
                     principal: Principal = Depends(MANAGE)) -> dict:
    return await _run(request, response, contact_id, CorrectContact(contact_id=contact_id, details=ContactCorrection(**body.__dict__)),
                      principal.actor)


@router.post("/contacts/{contact_id}/erasure", status_code=201, response_model=s.CommandResponse,
             summary="Erase a contact's personal data (消去): their key is deleted, every copy reads 削除済み; "
                     "deals, amounts and stages stay")
async def erasure(contact_id: UUID, request: Request, response: Response, principal: Principal = Depends(MANAGE),
                  body: ErasureRequest | None = None) -> dict:
    note = (body or ErasureRequest()).note
    return await _run(request, response, contact_id, EraseContact(contact_id=contact_id, note=note),
                      principal.actor)


async def _run(request: Request, response: Response, contact_id: UUID, command: Command, actor: Actor) -> dict:
    office = office_of(request)

    def run() -> Outcome:
        subject = office.subject(contact_id)
        return office.execute(subject.customer_id, command, actor)

    outcome = await asyncio.to_thread(run)
    response.headers["ETag"] = f'"{outcome.stream_version}"'
    return outcome.as_response()
