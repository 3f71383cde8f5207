"""Who may do what: roles, permissions, and bearer tokens stored hashed in PostgreSQL.

A token carries a user, team, department and site (the actor recorded on every event it
writes) and one role. Tokens are issued and revoked with ``customer-timeline tokens``;
only their SHA-256 is stored. Lookups are cached for a few seconds per process, so a
revoked token stops working within ``TOKEN_CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from psycopg.sql import SQL, Identifier

from shared.database import SCHEMA_LOCK
from shared.events import Actor

Role = Literal["sales", "cs", "support", "manager", "auditor", "admin"]


class Permission(StrEnum):
    WRITE_CUSTOMERS = "customers:write"  # register, contacts, touchpoints, lead sources
    WRITE_DEALS = "deals:write"  # deals and their sales activity, stage changes included
    WRITE_TICKETS = "tickets:write"
    WRITE_SUCCESS = "success:write"  # onboarding progress, satisfaction
    WRITE_FEEDBACK = "feedback:write"  # usage, trouble, requests, upsell hints
    READ_CUSTOMERS = "customers:read"  # one customer's timeline, summary, state; search
    READ_PIPELINE = "pipeline:read"  # manager views
    READ_AUDIT = "audit:read"  # raw events, state as of a time, hash chains
    MANAGE_TOKENS = "tokens:manage"


P = Permission
ROLES: dict[str, frozenset[Permission]] = {
    "sales": frozenset({P.WRITE_CUSTOMERS, P.WRITE_DEALS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS}),
    "cs": frozenset({P.WRITE_TICKETS, P.WRITE_SUCCESS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS}),
    "support": frozenset({P.WRITE_TICKETS, P.WRITE_SUCCESS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS}),
    "manager": frozenset({P.READ_CUSTOMERS, P.READ_PIPELINE}),
    "auditor": frozenset({P.READ_CUSTOMERS, P.READ_PIPELINE, P.READ_AUDIT}),
    "admin": frozenset({P.MANAGE_TOKENS}),
}


@dataclass(frozen=True)
class Principal:
    token_id: UUID
    role: str
    actor: Actor

    def may(self, permission: Permission) -> bool:
        return permission in ROLES[self.role]


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    principal: Principal


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, datastore: Any, cache_seconds: float = 5.0) -> None:
        self.datastore = datastore
        self.table = SQL("{0}.api_tokens").format(Identifier(datastore.schema))
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            curs.execute(SQL("CREATE TABLE IF NOT EXISTS {0} (token_id uuid PRIMARY KEY, token_hash text UNIQUE "
                             "NOT NULL, role text NOT NULL, actor jsonb NOT NULL, issued_at timestamptz NOT NULL "
                             "DEFAULT now(), revoked_at timestamptz)").format(self.table))

    def issue(self, role: str, actor: Actor) -> IssuedToken:
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
        token, token_id = f"ct_{secrets.token_urlsafe(32)}", uuid4()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {0} (token_id, token_hash, role, actor) VALUES (%s, %s, %s, %s)").format(
                self.table), (token_id, token_hash(token), role, actor.model_dump_json()))
        return IssuedToken(token, Principal(token_id, role, actor))

    def revoke(self, token_id: UUID) -> bool:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("UPDATE {0} SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL").format(
                self.table), (token_id,))
            revoked = curs.rowcount == 1
        with self._lock:
            self._cache.clear()
        return revoked

    def list(self) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT token_id, role, actor, issued_at, revoked_at FROM {0} ORDER BY issued_at").format(
                self.table))
            return [dict(row) for row in curs.fetchall()]

    def principal(self, token: str) -> Principal | None:
        """The principal of a valid token, or None for an unknown or revoked one."""
        digest, now = token_hash(token), time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT token_id, role, actor FROM {0} WHERE token_hash = %s AND revoked_at IS NULL")
                         .format(self.table), (digest,))
            row = curs.fetchone()
        principal = Principal(row["token_id"], row["role"], Actor.model_validate(row["actor"])) if row else None
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal


def issued_at_text(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"
