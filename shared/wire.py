"""The customer-events topic's message format, written by the relay and read by projections.

Key: the customer id (so one customer's events stay in order on one partition).
Value (UTF-8 JSON): event type, schema version, stream version, notification position,
``occurred_at``, ``recorded_at``, actor, and the payload (the event as stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from pydantic import ValidationError

from shared.consuming import PoisonMessageError
from shared.events import EVENT_TYPES, CustomerEvent
from shared.events.base import upcast
from shared.events.targets import TARGET_EVENT_TYPES

STORED_EVENT_TYPES = {**EVENT_TYPES, **TARGET_EVENT_TYPES}  # customers' streams and the teams' targets streams


class Delivered(NamedTuple):  # a tuple: made for every event a projection reads (a frozen dataclass's init is slow)
    event: CustomerEvent
    position: int  # the event's notification id in the event store


# Room left for the key, the record's headers and the batch around it within the broker's limit.
MESSAGE_OVERHEAD = 1024


def encode(topic: str, position: int, state: bytes, max_bytes: int | None = None, *,
           customer_id: UUID | None = None, stream_version: int | None = None) -> tuple[bytes, bytes]:
    """Key and value of one stored event (its topic names the class; its stored JSON is the payload).

    A message that would not fit in ``max_bytes`` (less ``MESSAGE_OVERHEAD``) goes without its payload:
    ``"payload": null, "payload_omitted": "too_large"``; readers take the event from the event store by
    its position. So does a stored event whose payload cannot be read (``"unreadable"``: old data),
    named by the row's ``customer_id`` and ``stream_version``.
    """
    try:
        payload = orjson.loads(state)
        schema_version = payload.pop("class_version", 1)
        value = {
            "event_type": topic.rsplit(":", 1)[-1], "schema_version": schema_version,
            "customer_id": payload["originator_id"], "stream_version": payload["originator_version"],
            "position": position, "occurred_at": payload["occurred_at"], "recorded_at": payload["timestamp"],
            "actor": payload["actor"], "payload": payload,
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        if customer_id is None or stream_version is None:
            raise
        value = {"event_type": topic.rsplit(":", 1)[-1], "customer_id": str(customer_id),
                 "stream_version": stream_version, "position": position, "payload": None,
                 "payload_omitted": "unreadable"}
    key = str(value["customer_id"]).encode()
    encoded = orjson.dumps(value)
    if max_bytes is not None and len(key) + len(encoded) > max_bytes - MESSAGE_OVERHEAD:
        encoded = orjson.dumps({**value, "payload": None, "payload_omitted": "too_large"})
    return key, encoded


@dataclass(frozen=True)
class Identity:
    """Which stored event a message names; projections apply the stored event, never the message."""

    position: int
    customer_id: UUID
    stream_version: int
    event_type: str
    event_id: UUID | None  # None when the payload was left out (too large)


def identify(value: bytes | None) -> Identity:
    """The stored event a message names, or PoisonMessageError if it names none."""
    try:
        message: dict[str, Any] = orjson.loads(value or b"")
        event_type = message["event_type"]
        if event_type not in STORED_EVENT_TYPES:
            raise PoisonMessageError(f"unknown event type {event_type!r}")
        payload = message.get("payload")
        event_id = UUID(payload["event_id"]) if isinstance(payload, dict) else None
        return Identity(int(message["position"]), UUID(message["customer_id"]), int(message["stream_version"]),
                        event_type, event_id)
    except orjson.JSONDecodeError as error:
        raise PoisonMessageError(f"not JSON: {error}") from None
    except KeyError as error:
        raise PoisonMessageError(f"missing field: {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        if isinstance(error, PoisonMessageError):
            raise
        raise PoisonMessageError(f"invalid field: {error}") from None


def decode(value: bytes | None) -> Delivered:
    try:
        message: dict[str, Any] = orjson.loads(value or b"")
        cls = STORED_EVENT_TYPES[message["event_type"]]
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

