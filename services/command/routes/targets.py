"""Sales targets (売上目標): a manager sets a team's (or one owner's) target for a month.

Each is a ``TargetSet`` event in the team's targets stream (``shared/targets.py``); setting it again for the
same team, owner and month replaces it (the latest wins) and keeps the earlier one in the stream. The same
safety as every command: ``Idempotency-Key``, ``If-Match`` / ``expected_version`` (the team stream's version).
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from services.command.dependencies import _expected_version
from services.command.errors import ERROR_RESPONSES
from services.command.schemas import EventRef, _request
from services.security import require
from shared.application import Outcome
from shared.auth import Permission as P
from shared.auth import Principal
from shared.events.targets import TargetDetails
from shared.targets import SalesTargets, set_target_envelope

router = APIRouter(prefix="/targets", tags=["targets"], responses=ERROR_RESPONSES)
SetTargetRequest = _request(TargetDetails, "SetTargetRequest")


class TargetResponse(BaseModel):
    stream_id: UUID = Field(description="the team's targets stream (one per team)")
    stream_version: int = Field(description="the stream's version after this command", examples=[3])
    events: list[EventRef]
    target: TargetDetails


@router.post("", status_code=201, response_model=TargetResponse,
             summary="Set a team's (or an owner's) sales target for a month (売上目標); the latest set wins")
async def set_target(
    body: SetTargetRequest, request: Request, response: Response,  # type: ignore[valid-type]
    principal: Annotated[Principal, Depends(require(P.WRITE_TARGETS))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=40)] = None,
) -> TargetResponse:
    details = body.details()
    envelope = set_target_envelope(details, actor=principal.actor, occurred_at=body.occurred_at,
                                   idempotency_key=idempotency_key,
                                   expected_version=_expected_version(if_match, body))
    targets: SalesTargets = request.app.state.targets
    result = await asyncio.to_thread(targets.set_target, envelope)
    if not isinstance(result, Outcome):
        raise result
    response.headers["ETag"] = f'"{result.stream_version}"'
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return TargetResponse(stream_id=result.customer_id, stream_version=result.stream_version, events=result.events,
                          target=details)
