"""Request-scoped dependencies: idempotency, expected version, and sending a command to the writer.

The actor recorded on the events is the token's, never something the request body says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request, Response

from services.command.schemas import CommandOptions
from services.command.writer import BatchingWriter
from shared.application import Customers, Envelope, Outcome
from shared.commands import Command
from services.security import PrincipalDep
from shared.domain.errors import InvalidFieldError


def _expected_version(if_match: str | None, options: CommandOptions) -> int | None:
    if if_match is None:
        return options.expected_version
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise InvalidFieldError("header.If-Match", f"'{if_match}' is not a stream version") from None


Send = Callable[[UUID | None, Command, CommandOptions], Awaitable[dict]]


async def sender(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=200,
        description="a retry with the same key appends nothing and returns the first answer; keys belong to "
                    "the token's user, so another user's key never replays this user's answer")] = None,
    if_match: Annotated[str | None, Header(
        alias="If-Match", max_length=40,
        description="expected stream version, e.g. \"7\"; stale gives 409")] = None,
) -> Send:
    writer: BatchingWriter = request.app.state.writer

    async def send(customer_id: UUID | None, command: Command, options: CommandOptions) -> dict:
        envelope = Envelope(command=command, customer_id=customer_id, actor=principal.actor, occurred_at=options.occurred_at,
                            idempotency_key=idempotency_key,
                            expected_version=_expected_version(if_match, options))
        result = await writer.submit(envelope)
        if not isinstance(result, Outcome):
            raise result
        response.headers["ETag"] = f'"{result.stream_version}"'
        if result.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return result.as_response()

    return send


def customers_of(request: Request) -> Customers:
    return request.app.state.customers


SendDep = Annotated[Send, Depends(sender)]
CustomersDep = Annotated[Customers, Depends(customers_of)]
