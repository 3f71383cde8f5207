"""Named domain errors. Each maps to one HTTP status, once, in the command API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""

    code = "domain_error"

    def detail(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self)}


class NotFoundError(DomainError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind, self.ident = kind, str(ident)

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "kind": self.kind, "id": self.ident}


class InvalidFieldError(DomainError):
    """A value the process definition does not allow (422, naming the field)."""

    code = "invalid_field"

    def __init__(self, field: str, message: str, allowed: list[str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.allowed = field, allowed

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "field": self.field, "allowed": self.allowed}


class InvalidStateError(DomainError):
    """The command does not fit the current state (a closed deal, a resolved ticket ...)."""

    code = "invalid_state"


class StageOrderError(InvalidStateError):
    code = "stage_order"


class CustomerMergedError(InvalidStateError):
    """The customer was merged into another: write to the survivor (or undo the merge)."""

    code = "customer_merged"

    def __init__(self, customer_id: object, survivor_id: object) -> None:
        super().__init__(f"customer {customer_id} is merged into {survivor_id}; write to that customer, or undo "
                         "the merge")
        self.customer_id, self.survivor_id = str(customer_id), str(survivor_id)

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "survivor_id": self.survivor_id}


@dataclass(frozen=True)
class UnmetCriterion:
    id: str
    label: str
    label_en: str
    missing_facts: tuple[str, ...]
    rule: str  # "all_of" or "any_of"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "label_en": self.label_en,
                "rule": self.rule, "missing_facts": list(self.missing_facts)}


@dataclass
class TransitionRefusedError(DomainError):
    """A phase transition whose criteria do not hold over the recorded facts."""

    from_phase: str
    to_phase: str
    unmet: list[UnmetCriterion] = field(default_factory=list)
    code = "transition_criteria_unmet"

    def __str__(self) -> str:
        ids = ", ".join(c.id for c in self.unmet)
        return f"{self.from_phase} -> {self.to_phase} refused; unmet criteria: {ids}"

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "from_phase": self.from_phase, "to_phase": self.to_phase,
                "unmet_criteria": [c.as_dict() for c in self.unmet]}


class VersionConflictError(DomainError):
    """The writer expected another stream version (optimistic concurrency)."""

    code = "version_conflict"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"expected stream version {expected}, current version is {current}")
        self.expected, self.current = expected, current

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "expected_version": self.expected, "current_version": self.current}


class AlreadyExistsError(InvalidStateError):
    code = "already_exists"


class IdempotencyKeyReusedError(DomainError):
    """The same idempotency key was sent before with a different request."""

    code = "idempotency_key_reused"


class WriteContentionError(DomainError):
    """Other writers kept winning the race for the same stream; the client may retry later."""

    code = "write_contention"
