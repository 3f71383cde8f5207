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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from psycopg import Cursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from shared.database import open_pool
from shared.events import Actor

class Permission(StrEnum):
    WRITE_CUSTOMERS = "customers:write"  # register, contacts, touchpoints, lead sources
    WRITE_DEALS = "deals:write"  # deals and their sales activity, stage changes included
    WRITE_TICKETS = "tickets:write"
    WRITE_SUCCESS = "success:write"  # onboarding progress, satisfaction
    WRITE_FEEDBACK = "feedback:write"  # usage, trouble, requests, upsell hints
    READ_CUSTOMERS = "customers:read"  # one customer's timeline, summary, state; search
    MERGE_CUSTOMERS = "customers:merge"  # merge two records of one company, and undo it
    READ_PIPELINE = "pipeline:read"  # manager views
    WRITE_TARGETS = "targets:write"  # teams' (and owners') monthly sales targets
    READ_AUDIT = "audit:read"  # raw events, state as of a time, hash chains
    MANAGE_PERSONAL_DATA = "personal_data:manage"  # a contact's disclosure, correction, erasure (APPI)


P = Permission
ROLES: dict[str, frozenset[Permission]] = {
    "sales": frozenset({P.WRITE_CUSTOMERS, P.WRITE_DEALS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS, P.MERGE_CUSTOMERS}),
    "cs": frozenset({P.WRITE_TICKETS, P.WRITE_SUCCESS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS}),
    "support": frozenset({P.WRITE_TICKETS, P.WRITE_SUCCESS, P.WRITE_FEEDBACK, P.READ_CUSTOMERS}),
    "manager": frozenset({P.READ_CUSTOMERS, P.READ_PIPELINE, P.WRITE_TARGETS, P.MERGE_CUSTOMERS}),
    "auditor": frozenset({P.READ_CUSTOMERS, P.READ_PIPELINE, P.READ_AUDIT}),
    "privacy": frozenset({P.MANAGE_PERSONAL_DATA, P.READ_CUSTOMERS}),  # a privacy officer (APPI requests)
    # tokens are managed with the command line (customer-timeline tokens), not over HTTP; an admin may answer
    # a person's requests about their personal data
    "admin": frozenset({P.MANAGE_PERSONAL_DATA}),
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
    """Tokens in ``api_tokens`` (made by the migrations), on a small pool of its own."""

    def __init__(self, pool: ConnectionPool, cache_seconds: float = 5.0) -> None:
        self.pool = pool
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, url: str, cache_seconds: float = 5.0) -> TokenStore:
        pool = open_pool(url, "tokens", max_size=4, kwargs={"autocommit": True, "row_factory": dict_row})
        pool.open(wait=False)
        return cls(pool, cache_seconds)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _transaction(self) -> Iterator[Cursor[DictRow]]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as curs:
            yield curs

    def issue(self, role: str, actor: Actor) -> IssuedToken:
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
        token, token_id = f"ct_{secrets.token_urlsafe(32)}", uuid4()
        with self._transaction() as curs:
            curs.execute("INSERT INTO api_tokens (token_id, token_hash, role, actor) VALUES (%s, %s, %s, %s)",
                         (token_id, token_hash(token), role, actor.model_dump_json()))
        return IssuedToken(token, Principal(token_id, role, actor))

    def revoke(self, token_id: UUID) -> bool:
        with self._transaction() as curs:
            curs.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL",
                         (token_id,))
            revoked = curs.rowcount == 1
        with self._lock:
            self._cache.clear()
        return revoked

    def list(self) -> list[dict[str, Any]]:
        with self._transaction() as curs:
            curs.execute("SELECT token_id, role, actor, issued_at, revoked_at FROM api_tokens ORDER BY issued_at")
            return [dict(row) for row in curs.fetchall()]

    def cached_principal(self, token: str) -> Principal | None | Literal[False]:
        """What ``principal`` answers, from the cache without a query; False when the cache cannot say."""
        with self._lock:
            cached = self._cache.get(token_hash(token))
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        return False

    def principal(self, token: str) -> Principal | None:
        """The principal of a valid token, or None for an unknown or revoked one."""
        digest, now = token_hash(token), time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        with self._transaction() as curs:
            curs.execute("SELECT token_id, role, actor FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL",
                         (digest,))
            row = curs.fetchone()
        principal = Principal(row["token_id"], row["role"], Actor.model_validate(row["actor"])) if row else None
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal

