"""The customer-events topic's message format, written by the relay and read by projections.

Key: the customer id (so one customer's events stay in order on one partition).
Value (UTF-8 JSON): event type, schema version, stream version, notification position,
``occurred_at``, ``recorded_at``, actor, and the payload (the event as stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from pydantic import ValidationError

from shared.events import EVENT_TYPES, CustomerEvent
from shared.events.base import upcast


class PoisonMessageError(ValueError):
    """A message that can never be applied: not JSON, unknown event type, or an invalid payload."""


@dataclass(frozen=True)
class Delivered:
    event: CustomerEvent
    position: int  # the event's notification id in the event store


def encode(topic: str, position: int, state: bytes) -> tuple[bytes, bytes]:
    """Key and value of one stored event (its topic names the class; its stored JSON is the payload)."""
    payload = orjson.loads(state)
    schema_version = payload.pop("class_version", 1)
    value = {
        "event_type": topic.rsplit(":", 1)[-1], "schema_version": schema_version,
        "customer_id": payload["originator_id"], "stream_version": payload["originator_version"],
        "position": position, "occurred_at": payload["occurred_at"], "recorded_at": payload["timestamp"],
        "actor": payload["actor"], "payload": payload,
    }
    return payload["originator_id"].encode(), orjson.dumps(value)


def decode(value: bytes | None) -> Delivered:
    try:
        message: dict[str, Any] = orjson.loads(value or b"")
        cls = EVENT_TYPES[message["event_type"]]
        data = dict(message["payload"])
        upcast(cls, data, message["schema_version"])
        event = cls.model_validate(data)
        return Delivered(event, int(message["position"]))
    except orjson.JSONDecodeError as error:
        raise PoisonMessageError(f"not JSON: {error}") from None
    except KeyError as error:
        raise PoisonMessageError(f"unknown event type or missing field: {error}") from None
    except (ValidationError, TypeError, ValueError, AttributeError) as error:
        raise PoisonMessageError(f"invalid payload: {error}") from None


def customer_key(customer_id: UUID) -> bytes:
    return str(customer_id).encode()
