"""Two customer records that are one company: merged, and the merge undone. Nothing is rewritten.

A merge is one event on each stream, in one transaction: ``CustomerMerged`` on the duplicate (it
now points to the survivor) and ``CustomerAbsorbed`` on the survivor (its views include the
duplicate's history). Undoing it is two more: ``CustomerUnmerged`` and ``CustomerReleased``. Both
streams stay whole and verifiable; readers follow the pointer.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from shared.events.base import CustomerEvent, Frozen


class MergeDetails(Frozen):
    into: UUID = Field(description="the customer that stays (the survivor)")
    note: str = Field(default="", max_length=4000, examples=["同一企業（旧社名で重複登録）"])


class UnmergeDetails(Frozen):
    note: str = Field(default="", max_length=4000, examples=["別会社と判明"])


class CustomerMerged(CustomerEvent):
    """This customer is a duplicate of the survivor; its views answer with a pointer there."""

    survivor_id: UUID
    survivor_name: str  # as registered then, for the timeline
    note: str = ""


class CustomerAbsorbed(CustomerEvent):
    """The merged customer's history now shows in this customer's views."""

    merged_id: UUID
    merged_name: str
    note: str = ""


class CustomerUnmerged(CustomerEvent):
    survivor_id: UUID
    survivor_name: str
    note: str = ""


class CustomerReleased(CustomerEvent):
    merged_id: UUID
    merged_name: str
    note: str = ""


MERGE_EVENTS = frozenset({CustomerMerged, CustomerAbsorbed, CustomerUnmerged, CustomerReleased})  # about the
# records, not the customer: no touch, no sales activity
