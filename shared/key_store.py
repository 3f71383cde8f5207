"""Keys of data subjects (contact persons): one AES-256 key each, kept apart from the events they open.

``PostgresKeyStore`` keeps them in ``personal_data_keys`` beside the event store (a KMS can take its
place: anything with ``fetch`` and ``erase``). A new key is written in the same transaction as the
first event it seals, and a key is deleted (erased) in the same transaction as the ``ContactErased``
event; the row stays, with no key, so an erased subject never gets a key again.

``KeyRing`` is one process's view: keys it made for the batch in hand (pending until saved), and
keys it read, cached for ``ttl`` seconds (so an erasure by another process is honoured within that
time; ``forget`` drops a key at once, as a reader of a ``ContactErased`` event does).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from psycopg.sql import SQL, Identifier

KEYS_TABLE = "personal_data_keys"
KEY_BYTES = 32  # AES-256-GCM


class KeyStore(Protocol):
    def fetch(self, subjects: Sequence[UUID]) -> dict[UUID, bytes | None]:
        """Each known subject's key (None once erased); unknown subjects are left out."""

    def fetch_of_customers(self, customers: Sequence[UUID]) -> dict[UUID, bytes | None]:
        """The keys of every subject of these customers (None once erased)."""


class PostgresKeyStore:
    """The keys in the event store's database (schema of the event recorder)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.table = SQL("{0}.{1}").format(Identifier(recorder.datastore.schema), Identifier(KEYS_TABLE))

    def fetch(self, subjects: Sequence[UUID]) -> dict[UUID, bytes | None]:
        return self._keys("subject_id", subjects)

    def fetch_of_customers(self, customers: Sequence[UUID]) -> dict[UUID, bytes | None]:
        return self._keys("customer_id", customers)

    def _keys(self, column: str, ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        if not ids:
            return {}
        with self.recorder._connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT subject_id, key FROM {0} WHERE {1} = ANY(%s)").format(
                self.table, Identifier(column)), (list(ids),))
            return {row["subject_id"]: bytes(row["key"]) if row["key"] is not None else None for row in curs.fetchall()}


def create_statements(table: Any) -> list[Any]:
    return [SQL("CREATE TABLE IF NOT EXISTS {0} (subject_id uuid PRIMARY KEY, customer_id uuid NOT NULL, "
                "key bytea, created_at timestamptz NOT NULL DEFAULT now(), erased_at timestamptz, "
                "CHECK ((key IS NULL) = (erased_at IS NOT NULL)))").format(table),
            SQL("CREATE INDEX IF NOT EXISTS personal_data_keys_customer ON {0} (customer_id)").format(table)]


class ErasedSubjectError(ValueError):
    """Personal data for a subject whose key was erased: refused, never sealed under a new key."""


class KeyRing:
    def __init__(self, store: KeyStore | None = None, ttl: float = 10.0) -> None:
        self.store, self.ttl = store, ttl
        self._cache: dict[UUID, tuple[float, bytes | None]] = {}
        self._local = threading.local()  # pending keys of the batch on this thread
        self._lock = threading.Lock()

    # --- writing: keys made for a batch, saved with its events -----------------------
    def begin(self) -> None:
        self._local.pending = {}

    def pending(self) -> dict[UUID, tuple[UUID, bytes]]:
        """subject -> (customer, key) made in the batch on this thread and not saved yet."""
        return getattr(self._local, "pending", None) or {}

    def saved(self) -> None:
        """The batch committed: its new keys are known from now on."""
        now = time.monotonic()
        with self._lock:
            for subject, (_, key) in self.pending().items():
                self._cache[subject] = (now, key)
        self._local.pending = {}

    def key_for_sealing(self, subject: UUID, customer_id: UUID) -> bytes:
        """The subject's key, made now (pending until saved) if the subject has none yet."""
        pending = self._local.__dict__.setdefault("pending", {})
        if subject in pending:
            return pending[subject][1]
        found = self._lookup([subject])
        if subject in found:
            if (key := found[subject]) is None:
                raise ErasedSubjectError(f"the personal data of {subject} was erased")
            return key
        key = os.urandom(KEY_BYTES)
        pending[subject] = (customer_id, key)
        return key

    # --- reading --------------------------------------------------------------------
    def key(self, subject: UUID) -> bytes | None:
        """The subject's key, or None (erased, or never saved)."""
        pending = self.pending()
        if subject in pending:
            return pending[subject][1]
        return self._lookup([subject]).get(subject)

    def prefetch_customers(self, customers: Iterable[UUID]) -> None:
        """Read the keys of these customers' subjects in one query (a page of events about to be opened)."""
        if self.store is None:
            return
        customers = list(customers)
        if not customers:
            return
        self._remember(self.store.fetch_of_customers(customers))

    def forget(self, subjects: Iterable[UUID]) -> None:
        with self._lock:
            for subject in subjects:
                self._cache.pop(subject, None)

    def _lookup(self, subjects: Sequence[UUID]) -> dict[UUID, bytes | None]:
        now = time.monotonic()
        found: dict[UUID, bytes | None] = {}
        missing = []
        with self._lock:
            for subject in subjects:
                cached = self._cache.get(subject)
                if cached is not None and now - cached[0] < self.ttl:
                    found[subject] = cached[1]
                else:
                    missing.append(subject)
        if missing and self.store is not None:
            fetched = self.store.fetch(missing)
            self._remember(fetched)
            found.update(fetched)
        return found

    def _remember(self, fetched: dict[UUID, bytes | None]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._cache) + len(fetched) > 100_000:
                self._cache.clear()
            for subject, key in fetched.items():
                self._cache[subject] = (now, key)
