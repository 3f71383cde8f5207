"""Personal data in the event catalogue: which fields of which events hold it, and whose it is.

An event class that can carry personal data names its data subject (the field holding the
contact person's id) and its personal fields (dotted paths into the event) in ``personal``.
Those fields are stored encrypted with the subject's own key (``shared/sealing.py``); deleting
the key erases them everywhere (crypto-shredding). An event whose subject field is empty (a
touchpoint with no contact) keeps its text readable: only a person's data has a key.

The documented list (README, "Personal data"):
- contact person (``ContactAdded``, ``ContactCorrected``): name, title, e-mail, phone;
- touchpoint with a contact (``TouchpointRecorded``): its summary and the reaction's note;
- ticket opened by a contact (``TicketOpened``): its description.
Company-level data (company name, address, deals, amounts, stages) is not personal.

The three privacy events say what a privacy officer did; they hold no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import EmailStr, Field

from shared.events.base import CustomerEvent, Frozen
from shared.events.limits import Limit

ERASED = "削除済み"  # what readers show where erased personal data was


@dataclass(frozen=True)
class PersonalData:
    """Where an event class holds personal data: its subject's id field and its personal fields."""

    subject: str  # the field naming the person (a contact id); None in an event: nothing is personal
    fields: tuple[str, ...]  # dotted paths: "summary", "reaction.note"
    erased: dict[str, Any] = field(default_factory=dict)  # what a field reads after erasure (else ERASED)

    def placeholder(self, path: str) -> Any:
        return self.erased.get(path, ERASED)


CONTACT_FIELDS = ("name", "title", "email", "phone")
CONTACT_PERSONAL = PersonalData("contact_id", CONTACT_FIELDS, {"title": None, "email": None, "phone": None})

ErasureReason = Literal["request", "retention"]


class ContactCorrection(Frozen):
    """New values for a contact's details (訂正): each field given replaces the earlier value."""

    name: str | None = Field(default=None, min_length=1, max_length=100, examples=["佐藤 華子"])
    title: str | None = Field(default=None, max_length=100, examples=["情報システム部 部長"])
    email: Annotated[EmailStr | None, Limit(max_length=254)] = Field(default=None, examples=["hanako.sato@abc.example.jp"])
    phone: str | None = Field(default=None, max_length=40, examples=["03-1234-5678"])
    reason: str = Field(default="", max_length=1000, examples=["本人からの訂正請求（氏名の誤記）"])

    def corrected_fields(self) -> dict[str, str]:
        return {name: value for name in CONTACT_FIELDS if (value := getattr(self, name)) is not None}


class ContactCorrected(CustomerEvent, ContactCorrection):
    personal = CONTACT_PERSONAL
    contact_id: UUID


class ContactErased(CustomerEvent):
    """A contact's key was deleted in the same transaction: every copy of their data is unreadable from now on."""

    contact_id: UUID
    reason: ErasureReason = "request"
    note: str = Field(default="", max_length=1000)


class PersonalDataDisclosed(CustomerEvent):
    """What was held about a contact was given out (開示): to whom, in which format."""

    contact_id: UUID
    recipient: str = Field(default="data subject", max_length=200)
    format: Literal["json", "csv"] = "json"
    items: int = Field(default=0, ge=0)


PRIVACY_EVENTS = frozenset({ContactCorrected, ContactErased, PersonalDataDisclosed})  # about the records, not a touch
