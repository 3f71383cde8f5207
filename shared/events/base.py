"""What every customer event carries, whatever happened.

Each event is a frozen pydantic model stored in its customer's stream (the stream id
is the customer id, the stream version is the event's position in it). The event
knows how to hash itself: its canonical JSON is exactly the bytes the event store
keeps, and the next event in the stream records that hash as ``prev_hash``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.events.limits import Limit
from shared.ids import uuid4  # buffered: uuid.uuid4() asks the kernel for every id

Department = Literal["sales", "cs", "support", "tech"]

GENESIS_HASH = "0" * 64
MAX_YEN = 10**15  # amounts in JPY stay far inside 64 bits (stored JSON, bigint columns)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(Frozen):
    """Who did it: the user, their team, department and site."""

    user: Annotated[str, Limit(max_length=100)] = Field(min_length=1, examples=["tanaka"])
    team: Annotated[str | None, Limit(max_length=100)] = Field(default=None, examples=["本社営業1課"])
    department: Department = Field(examples=["sales"])
    site: Annotated[str | None, Limit(max_length=100)] = Field(default=None, examples=["東京本社"])


class Selection(Frozen):
    """A select field's chosen option id plus a free-text note for nuance."""

    choice: Annotated[str, Limit(max_length=100)] = Field(min_length=1, examples=["considering"])
    note: Annotated[str, Limit(max_length=4000)] = Field(default="", examples=["価格よりも導入支援を重視"])


def canonical_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


def stored_hash(topic: str, state: bytes) -> str:
    """The chain hash of one stored event: its type and its exact stored bytes."""
    return hashlib.sha256(topic.encode() + b"\n" + state).hexdigest()


class CustomerEvent(Frozen):
    """Base of every event in a customer's stream."""

    schema_version: ClassVar[int] = 1
    class_version: ClassVar[int] = 1  # the name eventsourcing's upcasting reads
    personal: ClassVar[Any] = None  # where the event holds personal data (shared/events/personal.py), if it can

    originator_id: UUID
    originator_version: int
    timestamp: datetime  # when the event store recorded it
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime  # when it happened, as the emitting app says
    actor: Actor
    idempotency_key: str | None = None
    prev_hash: str

    # What an event knows beyond its fields lives in pydantic's private dict, read with defaults: "_stored" (the
    # bytes the event store keeps), "_sealed" (its personal fields are encrypted in them), "_erased" (personal
    # fields read as erased: their key is gone). Not declared as PrivateAttr: pydantic would then fill each
    # event's dict with copies of the defaults, two thirds of the time it takes to validate a stored event.
    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "__pydantic_private__", {})

    # eventsourcing reads the schema version from ``class_version``.
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.class_version = cls.schema_version

    @property
    def customer_id(self) -> UUID:
        return self.originator_id

    @property
    def stream_version(self) -> int:
        return self.originator_version

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    @classmethod
    def topic(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def stored_state(self) -> bytes:
        """The bytes the event store keeps for this event (computed once: the hash and the insert reuse them)."""
        private = self.__pydantic_private__  # not self._stored: pydantic's __getattr__ is slow on a hot path
        if (stored := private.get("_stored")) is None:
            state = self.model_dump(mode="json")
            if self.schema_version > 1:
                state["class_version"] = self.schema_version
            stored = private["_stored"] = canonical_json(state)
        return stored

    def remember_stored_state(self, state: bytes, sealed: bool = False) -> None:
        """Keep the bytes this event was read from (or sealed into), so its hash is of what is stored."""
        private = self.__pydantic_private__
        private["_stored"], private["_sealed"] = state, sealed

    @property
    def sealed(self) -> bool:
        return self.__pydantic_private__.get("_sealed", False)

    @property
    def erased_fields(self) -> tuple[str, ...]:
        """Personal fields whose key was deleted: they read as placeholders (「削除済み」 or none)."""
        return self.__pydantic_private__.get("_erased", ())

    def personal_subject(self) -> Any:
        """The data subject (contact id) of this event's personal fields; None when it holds none."""
        return None if self.personal is None else self.__dict__.get(self.personal.subject)

    def hash(self) -> str:
        return stored_hash(self.topic(), self.stored_state())


def upcast(cls: type, data: dict[str, Any], from_version: int) -> None:
    """Bring a stored event's data from ``from_version`` up to the class's schema version, in place."""
    while from_version < getattr(cls, "class_version", 1):
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(data)
        from_version += 1
