"""The Customers application: executes commands against customer streams, in batches.

A batch of commands (from concurrent HTTP requests, or one Kafka poll) is applied to
the aggregates it touches and saved in ONE transaction, together with the answers
to idempotent commands and the new stream heads. If another writer got there first
(a version conflict or a duplicate idempotency key), every command of the batch is
retried on its own, so one conflict never loses or doubles another command.

An idempotency key belongs to its sender, the actor's user: the answer is kept under sender
and key (``Envelope.scoped_key``), so another user sending the same key gets an answer of its
own, never this one; the events keep the client's own key. A retry matches the first request
only if command, customer, actor and ``occurred_at`` are all the same. The importer is one
sender whoever runs it (its keys come from the file's codes, so a re-run by anyone appends nothing).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from psycopg.types.json import Jsonb

from shared.commands import (
    HANDLERS, OTHER_CUSTOMER, PAIR_HANDLERS, PRIVACY_HANDLERS, Command, RegisterCustomer, UnmergeCustomer,
)
from shared.domain.customer import CommandContext, Customer
from shared.domain.errors import (
    AlreadyExistsError, CustomerMergedError, DomainError, IdempotencyKeyReusedError, InvalidFieldError,
    InvalidStateError, NotFoundError, VersionConflictError, WriteContentionError,
)
from shared.events import Actor, ContactErased
from shared.events.limits import Limit, message, problems
from shared.events.targets import TargetEvent
from shared.cache import CustomerCache
from shared.event_store import EventStoreReader
from shared.key_store import KeyRing, PostgresKeyStore
from shared.persistence import STORE_NAME, CustomerEventRecorder, PydanticMapper, select_latest_snapshots
from shared.process import ProcessDefinition

MAX_ATTEMPTS = 200  # with backoff, about 10 s of losing every race before giving up
SCOPE_SEPARATOR = "\x1f"  # between sender and key: the door refuses control characters in both
KEY_LIMIT = Limit(max_length=500)  # HTTP and ingest allow 200, import keys hold codes; scoped, within a btree entry


@dataclass(frozen=True)
class Envelope:
    """A command plus who sent it, when it happened, and how to make it safe to retry."""

    command: Command
    customer_id: UUID | None  # None only to register a customer under a new id
    actor: Actor
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None
    idempotency_scope: str | None = None  # whose keys: None for the actor's user's own; the importer has its own
    checked: bool = field(default=False, compare=False)  # its own fields were checked at the door (``unfit`` is None)

    def __post_init__(self) -> None:
        if isinstance(self.customer_id, str):
            object.__setattr__(self, "customer_id", UUID(self.customer_id))

    @property
    def scoped_key(self) -> str | None:
        """Where the answer is kept: the client's key among its sender's keys (``user:<user>`` or the scope given)."""
        if self.idempotency_key is None:
            return None
        return f"{self.idempotency_scope or 'user:' + self.actor.user}{SCOPE_SEPARATOR}{self.idempotency_key}"

    def request_hash(self) -> str:
        """What a retry must repeat: command, customer, who (the actor, or the scope given) and occurred_at as sent
        (computed once per envelope: the answer stored and the replays of a batch compare the same hash)."""
        if (known := self.__dict__.get("_request_hash")) is None:
            known = self.__dict__["_request_hash"] = self._hash_request()
        return known

    def _hash_request(self) -> str:
        who = self.idempotency_scope or _actor_json(self.actor)
        occurred_at = self.occurred_at.isoformat() if self.occurred_at is not None else ""
        text = f"{self.command.name}|{self.customer_id}|{who}|{occurred_at}|{self.command.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def unfit(self) -> InvalidFieldError | None:
        """The envelope's own fields checked as the door checks a command's: the actor (from a token, a message
        or the importer's command line), occurred_at and the key."""
        if self.occurred_at is not None and self.occurred_at.utcoffset() is None:
            return InvalidFieldError("occurred_at", "needs its UTC offset, e.g. 2030-01-10T10:00:00+09:00")
        found = [*problems(self.actor, ("actor",)), *problems(self.occurred_at, ("occurred_at",)),
                 *problems(self.idempotency_key, ("idempotency_key",), KEY_LIMIT)]
        if not found:
            return None
        return InvalidFieldError(".".join(map(str, found[0]["loc"])), message(found[0]))


@dataclass
class Outcome:
    """What a successful command appended, as answered to the client (and replayed on retry)."""

    customer_id: str
    stream_version: int
    events: list[dict[str, Any]]
    created: dict[str, str] = field(default_factory=dict)
    replayed: bool = False

    def as_response(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "stream_version": self.stream_version,
                "events": self.events, "created": self.created}


Result = Outcome | DomainError


class Customers(Application[UUID]):
    name = STORE_NAME
    snapshotting_projectors = {Customer: Customer.project}  # noqa: RUF012

    def __init__(self, process: ProcessDefinition, env: dict[str, str] | None = None,
                 snapshot_interval: int = 100, cache_size: int = 10_000, key_cache_seconds: float = 10.0) -> None:
        self.process = process
        self.cache = CustomerCache(cache_size)
        self.snapshotting_intervals = {Customer: snapshot_interval} if snapshot_interval else {}
        self.key_ring = KeyRing(ttl=key_cache_seconds)  # the data subjects' keys (crypto-shredding), read from the event store's database
        env = {"IS_SNAPSHOTTING_ENABLED": "y" if snapshot_interval else "n",
               "APPLICATION_RECORDER_TOPIC": get_topic(CustomerEventRecorder), **(env or {})}
        super().__init__(env)
        self.key_ring.store = PostgresKeyStore(self.event_recorder)

    def construct_mapper(self) -> PydanticMapper:
        return PydanticMapper(self.key_ring)

    @property
    def event_recorder(self) -> CustomerEventRecorder:
        assert isinstance(self.recorder, CustomerEventRecorder)
        return self.recorder

    @property
    def reader(self) -> EventStoreReader:
        """The same store read without this application (its pool, mapper and snapshots)."""
        return EventStoreReader(self.event_recorder, self.snapshots.recorder if self.snapshots else None, self.mapper)

    def get_customer(self, customer_id: UUID, version: int | None = None) -> Customer:
        """A customer now, or at a past stream version."""
        if version is None and (customer := self.load_many([customer_id]).get(customer_id)) is not None:
            return customer  # not put back: the caller may hold on to it
        try:
            return self.repository.get(customer_id, version=version, projector_func=Customer.project)
        except AggregateNotFoundError:
            raise NotFoundError("customer", customer_id) from None

    def load_many(self, ids: Sequence[UUID]) -> dict[UUID, Customer]:
        """Current state of many customers in two queries: cache or latest snapshot, then newer events."""
        customers = self.cache.take(ids)
        if self.snapshots is not None:
            uncached = [i for i in ids if i not in customers]
            for stored in select_latest_snapshots(self.snapshots.recorder, uncached):
                customers[stored.originator_id] = Customer.project(None, [self.mapper.to_domain_event(stored)])
        after = {i: customers[i].version if i in customers else 0 for i in ids}
        newer: dict[UUID, list[Any]] = {}
        for stored in self.event_recorder.select_streams_after(after):
            newer.setdefault(stored.originator_id, []).append(self.mapper.to_domain_event(stored))
        for customer_id, events in newer.items():
            if isinstance(events[0], TargetEvent):
                continue  # a team's targets stream, not a customer: unknown here (404)
            customers[customer_id] = Customer.project(customers.get(customer_id), events)
        return customers

    def execute(self, envelopes: Sequence[Envelope], dry_run: bool = False) -> list[Result]:
        """Execute a batch in one transaction; fall back to one by one on a write conflict.

        A dry run answers every command as it would be answered, and writes nothing.
        """
        if dry_run:
            return self._execute_batch(envelopes, dry_run=True)
        try:
            return self._execute_batch(envelopes)
        except IntegrityError:
            return [self._execute_alone(envelope) for envelope in envelopes]

    def _execute_alone(self, envelope: Envelope) -> Result:
        """Reload and retry one command until it is saved or refused, backing off between races."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._execute_batch([envelope])[0]
            except IntegrityError:
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        return WriteContentionError(f"gave up after losing {MAX_ATTEMPTS} write races on one stream")

    def _execute_batch(self, envelopes: Sequence[Envelope], dry_run: bool = False) -> list[Result]:
        self.key_ring.begin()  # keys made for this batch are saved with it, or forgotten with it
        with self.event_recorder.batch():  # one pooled connection (one check) for the batch's reads and write
            return self._execute_batch_on_one_connection(envelopes, dry_run)

    def _execute_batch_on_one_connection(self, envelopes: Sequence[Envelope], dry_run: bool) -> list[Result]:
        results: list[Result | None] = [None] * len(envelopes)
        keys = [e.scoped_key for e in envelopes]
        earlier = self.event_recorder.command_results([k for k in keys if k])
        customers: dict[UUID, Customer | None] = dict.fromkeys(  # replayed answers need no customer
            {e.customer_id for e, k in zip(envelopes, keys) if e.customer_id is not None and k not in earlier})
        customers.update(self.load_many(list(customers)))
        first_with_key: dict[str, int] = {}
        answers: list[tuple[str, UUID, str, Jsonb]] = []
        for i, envelope in enumerate(envelopes):
            key = keys[i]
            if key in earlier or key in first_with_key:
                continue  # answered below, from the first answer
            if key:
                first_with_key[key] = i
            results[i] = outcome = self._apply(envelope, customers)
            if key and isinstance(outcome, Outcome):
                answers.append((key, UUID(outcome.customer_id), envelope.request_hash(),
                                Jsonb(outcome.as_response())))
        touched = [c for c in customers.values() if c is not None and c._pending_events]
        if dry_run:
            touched = []  # and nothing goes back to the cache: those customers hold unsaved events
        elif touched:
            erased = [e.contact_id for c in touched for e in c._pending_events if isinstance(e, ContactErased)]
            self._save_customers(touched, command_results=answers,
                                 stream_heads=[(c.id, c.version, c.state.head_hash) for c in touched],
                                 personal_keys=[(s, c, k) for s, (c, k) in self.key_ring.pending().items()],
                                 erased_subjects=erased)  # keys made and deleted in the events' transaction
            self.key_ring.saved()
            self.key_ring.forget(erased)
        if not dry_run:
            self.cache.put(c for c in customers.values() if c is not None)  # saved, or unchanged
        fresh = {k: (envelopes[i].request_hash(), results[i]) for k, i in first_with_key.items()}
        for i, envelope in enumerate(envelopes):
            if results[i] is None:
                results[i] = _replay(envelope, *(earlier.get(keys[i]) or fresh[keys[i]]))
        return results  # type: ignore[return-value]

    def _save_customers(self, touched: list[Customer], **kwargs: Any) -> None:
        """``Application.save(*touched, **kwargs)`` without its per-object checks against runtime protocols
        (isinstance of a Protocol walks its attributes: ~5% of a 1,000-command batch); the rest as the library."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for customer in touched:
            processing_event.events.extend(customer.collect_events())
            processing_event.aggregates[customer.id] = customer
        processing_event.saved_kwargs.update(kwargs)
        if self.repository.cache is None and type(self)._notify is Application._notify:
            # nobody reads the recordings (the library's put builds a Recording and a Notification per event)
            self.recorder.insert_events([self.mapper.to_stored_event(e) for e in processing_event.events], **kwargs)
            self._take_snapshots(processing_event)
            return
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)

    def _apply(self, envelope: Envelope, customers: dict[UUID, Customer | None]) -> Result:
        ctx = CommandContext(self.process, envelope.actor, envelope.occurred_at, envelope.idempotency_key,
                             self.key_ring)
        try:
            if not envelope.checked and (unfit := envelope.unfit()) is not None:
                raise unfit
            if isinstance(envelope.command, RegisterCustomer):
                customer_id = envelope.customer_id or uuid4()
                if self._load(customer_id, customers, must_exist=False) is not None:
                    raise AlreadyExistsError(f"customer {customer_id} is already registered")
                customer = customers[customer_id] = Customer.register(customer_id, envelope.command.details, ctx)
                created: dict[str, Any] | None = {"customer_id": customer_id}
                before = 0
            else:
                customer = self._load(envelope.customer_id, customers, must_exist=True)
                if envelope.expected_version is not None and envelope.expected_version != customer.version:
                    raise VersionConflictError(envelope.expected_version, customer.version)
                command = envelope.command
                if customer.state.merged_into is not None and not isinstance(command, UnmergeCustomer) \
                        and type(command) not in PRIVACY_HANDLERS:  # a person's rights hold on a merged record too
                    raise CustomerMergedError(customer.id, customer.state.merged_into)
                before = len(customer._pending_events)
                if type(command) in PAIR_HANDLERS:
                    return self._apply_pair(customer, command, ctx, customers)
                created = (HANDLERS.get(type(command)) or PRIVACY_HANDLERS[type(command)])(customer, command, ctx)
        except DomainError as error:
            return error
        return _outcome(customer, customer._pending_events[before:], created)

    def _apply_pair(self, customer: Customer, command: Command, ctx: CommandContext,
                    customers: dict[UUID, Customer | None]) -> Result:
        """A command on two streams (a merge): the other customer is loaded here, both saved together."""
        other_id = OTHER_CUSTOMER[type(command)](command, customer)
        if other_id is None:
            raise InvalidStateError(f"customer {customer.id} is not merged into another")
        other_id = UUID(str(other_id))
        if other_id not in customers:
            customers.update(self.load_many([other_id]))
        other = self._load(other_id, customers, must_exist=True)  # the rules are the aggregate's
        before, other_before = len(customer._pending_events), len(other._pending_events)
        PAIR_HANDLERS[type(command)](customer, other, command, ctx)
        outcome = _outcome(customer, customer._pending_events[before:], {})
        outcome.events += [{**_event_ref(e), "customer_id": str(other.id)} for e in other._pending_events[other_before:]]
        return outcome

    @staticmethod
    def _load(customer_id: UUID, customers: dict[UUID, Customer | None], must_exist: bool) -> Customer | None:
        customer = customers.setdefault(customer_id, None)  # a new id registered in this batch
        if customer is None and must_exist:
            raise NotFoundError("customer", customer_id)
        return customer


@lru_cache(maxsize=1024)
def _actor_json(actor: Actor) -> str:
    """An actor's JSON for request hashes: a batch's commands mostly come from a few actors (frozen, hashable)."""
    return actor.model_dump_json()


def _event_ref(event: Any) -> dict[str, Any]:
    return {"event_id": str(event.event_id), "type": type(event).__name__, "stream_version": event.originator_version}


def _outcome(customer: Customer, new_events: list[Any], created: dict[str, Any] | None) -> Outcome:
    return Outcome(customer_id=str(customer.id), stream_version=customer.version,
                   events=[_event_ref(e) for e in new_events],
                   created={k: str(v) for k, v in (created or {}).items()})


def _replay(envelope: Envelope, request_hash: str, answer: Any) -> Result:
    """The first answer given under this idempotency key, or an error if the request differs."""
    if request_hash != envelope.request_hash():
        return IdempotencyKeyReusedError(
            f"idempotency key '{envelope.idempotency_key}' was used before for a different request (another "
            "command, customer, body, actor or occurred_at)")
    if isinstance(answer, DomainError):
        return answer
    if isinstance(answer, Outcome):
        return Outcome(**{**answer.__dict__, "replayed": True})
    return Outcome(**answer, replayed=True)
