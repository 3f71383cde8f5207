"""Riding out outages: capped backoff with jitter, one log line per outage, a loop that never gives up.

The relay, the projection workers and ingest run their steps through ``keep_running``:
a step that fails because PostgreSQL or the broker is away is retried after a growing,
jittered pause (capped), with the component's connections and clients rebuilt first.
The outage is logged once when it starts and once when it ends, not per attempt.
Only a stop (a human decision: SIGTERM, Ctrl-C) ends the loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from kafka.errors import KafkaError

from shared.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

# A database or broker that is away, restarting or replaced: wait, rebuild, retry.
TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError, KafkaError,
    ConnectionError, TimeoutError,
)


class Backoff:
    """Exponential pauses with full jitter, capped: 0.1 s, 0.2 s, 0.4 s ... up to ``cap``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class Outage:
    """Says once that a component lost a dependency, and once that it is back."""

    def __init__(self, component: str, metrics: Metrics | None = None) -> None:
        self.component, self.metrics = component, metrics
        self.since: float | None = None
        self.attempts = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> None:
        self.attempts += 1
        if self.metrics is not None:
            self.metrics.retries.labels(self.component, type(error).__name__).inc()
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: %s: %s; retrying with backoff until it is back", self.component,
                        type(error).__name__, str(error).strip().splitlines()[0] if str(error).strip() else "")

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("%s: recovered after %.1f s (%d attempts)", self.component, time.monotonic() - self.since,
                        self.attempts)
            self.since, self.attempts = None, 0


def keep_running(component: str, stop: threading.Event, step: Callable[[], object],
                 reconnect: Callable[[], None], metrics: Metrics | None = None,
                 transient: tuple[type[BaseException], ...] = TRANSIENT, cap: float = 5.0) -> None:
    """Call step() until stopped; after a transient failure wait, call reconnect(), and go on."""
    backoff, outage = Backoff(cap=cap), Outage(component, metrics)
    broken = False
    while not stop.is_set():
        try:
            if broken:
                reconnect()
                broken = False
            step()
        except transient as error:
            broken = True
            outage.failed(error)
            stop.wait(backoff.next_delay())
            continue
        if outage.ongoing:
            outage.recovered()
            backoff.reset()


def patiently(component: str, connect: Callable[[], T], stop: threading.Event | None = None,
              metrics: Metrics | None = None, transient: tuple[type[BaseException], ...] = TRANSIENT,
              cap: float = 5.0) -> T | None:
    """connect() once the database and broker answer (a service started before them waits); None if stopped."""
    backoff, outage = Backoff(cap=cap), Outage(component, metrics)
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            result = connect()
        except transient as error:
            outage.failed(error)
            stop.wait(backoff.next_delay())
            continue
        outage.recovered()
        return result
    return None
