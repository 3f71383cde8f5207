"""The ingest topic's message format, and the outcome each message gets.

A message (UTF-8 JSON) is a command as the HTTP API takes it, plus its envelope::

    {"command": "record_touchpoint", "idempotency_key": "crm-8812-tp-1",
     "customer_id": "…", "actor": {"user": "tanaka", "department": "sales", …},
     "occurred_at": "2026-11-20T10:00:00+09:00", "expected_version": null,
     "deal_id": "…",                     # and other ids the command names
     "details": {"channel": "phone", …}}

Not JSON (orjson also refuses lone surrogates), an unknown command or no idempotency key:
the message is poison (dead-letter topic). Anything else is answered on the results topic,
keyed by its idempotency key: accepted (with the stream version) or rejected (invalid field,
unmet criteria, stale version …), through the same command models, limits
(``shared.events.limits``) and domain rules as the HTTP API. An invalid message's rejection
names the first 20 problems and counts them all.

The idempotency key belongs to the message's actor (its ``user``): another app or user
sending the same key gets an answer of its own; the same user sending it again with another
body or ``occurred_at`` is rejected with ``idempotency_key_reused``.

Answers stay small whatever a message holds: a key longer than KEY_CHARS (which is refused,
``invalid_field`` naming ``idempotency_key``) is answered under the Kafka key
``sha256:<hex of the key's UTF-8>``, with its first KEY_CHARS characters as ``idempotency_key``,
``idempotency_key_sha256`` (the same hex) and ``idempotency_key_chars`` (its length), so the
sender can still tell which message the answer is for; a field path is cut at FIELD_CHARS.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator

from shared.application import Envelope, Outcome, Result
from shared.commands import COMMAND_TYPES
from shared.consuming import PoisonMessageError
from shared.domain.errors import DomainError
from shared.events import Actor
from shared.events.limits import listed_problems, refuse_unfit

KEY_CHARS = 200  # the longest idempotency key accepted, and the most of one an answer repeats
FIELD_CHARS = 200  # the most of a field's path an answer repeats (an unknown key may be of any length)

ENVELOPE_FIELDS = {"command", "idempotency_key", "customer_id", "actor", "occurred_at", "expected_version"}


class EnvelopeFields(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=KEY_CHARS)
    customer_id: UUID | None = None
    actor: Actor
    occurred_at: AwareDatetime | None = None
    expected_version: int | None = Field(default=None, ge=0, le=2**62, strict=True)

    @model_validator(mode="after")
    def _fit_to_keep(self) -> EnvelopeFields:
        refuse_unfit(self)
        return self


@dataclass(frozen=True)
class Rejected:
    """A message understood well enough to answer, but invalid."""

    idempotency_key: str
    command: str
    error: dict[str, Any]


def decode(value: bytes | None) -> Envelope | Rejected:
    try:
        message = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:
        raise PoisonMessageError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise PoisonMessageError("not a JSON object")
    key = message.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise PoisonMessageError("idempotency_key is required (a non-empty string)")
    name = message.get("command")
    if name not in COMMAND_TYPES:
        raise PoisonMessageError(f"unknown command {name!r} (known: {', '.join(sorted(COMMAND_TYPES))})")
    try:
        fields = EnvelopeFields.model_validate({k: v for k, v in message.items() if k in ENVELOPE_FIELDS})
        command = COMMAND_TYPES[name].model_validate({k: v for k, v in message.items() if k not in ENVELOPE_FIELDS})
        envelope = Envelope(command=command, customer_id=fields.customer_id, actor=fields.actor,
                            occurred_at=fields.occurred_at,
                            idempotency_key=key, expected_version=fields.expected_version,
                            checked=True)  # EnvelopeFields checked actor, key and occurred_at as Envelope.unfit does
    except ValidationError as error:
        return Rejected(key, name, _invalid(error))
    if envelope.customer_id is None and name != "register_customer":
        return Rejected(key, name, {"code": "invalid_field", "field": "customer_id",
                                    "message": "customer_id: required for this command"})
    return envelope


def outcome_message(envelope: Envelope, result: Result) -> tuple[bytes, bytes]:
    """Key and value of the answer to one command."""
    base = {"idempotency_key": envelope.idempotency_key, "command": envelope.command.name}
    if isinstance(result, Outcome):
        value = {**base, "status": "accepted", **result.as_response(), "replayed": result.replayed}
    else:
        value = {**base, "status": "rejected",
                 "customer_id": str(envelope.customer_id) if envelope.customer_id else None,
                 "error": _error(result)}
    return envelope.idempotency_key.encode(), orjson.dumps(value)


def rejection_message(rejected: Rejected) -> tuple[bytes, bytes]:
    key, named = answer_key(rejected.idempotency_key)
    value = {**named, "command": rejected.command, "status": "rejected", "error": rejected.error}
    return key, orjson.dumps(value)


def answer_key(idempotency_key: str) -> tuple[bytes, dict[str, Any]]:
    """The Kafka key of an answer and the fields naming its idempotency key; a key over KEY_CHARS is named by
    its sha256 (and its first KEY_CHARS characters), so an answer never repeats a key of any length."""
    if len(idempotency_key) <= KEY_CHARS:
        return idempotency_key.encode(), {"idempotency_key": idempotency_key}
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"sha256:{digest}".encode(), {"idempotency_key": idempotency_key[:KEY_CHARS],
                                         "idempotency_key_sha256": digest,
                                         "idempotency_key_chars": len(idempotency_key)}


def _invalid(error: ValidationError) -> dict[str, Any]:
    problems = error.errors(include_url=False, include_input=False)
    fields, message = listed_problems(problems, lambda loc: ".".join(map(str, loc))[:FIELD_CHARS])
    return {"code": "invalid_field", "field": fields[0]["field"], "message": message, "fields": fields,
            "count": len(problems)}


def _error(error: DomainError) -> dict[str, Any]:
    return {k: v for k, v in error.detail().items() if v is not None}
