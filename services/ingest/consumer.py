"""The ingest consumer: commands from apps, appended a whole poll at a time.

Per poll: decode every message; append all valid commands in ONE transaction
(``Customers.execute``; a conflict falls back to one by one inside it); publish each
message's outcome (results topic) or the poison message (dead-letter topic); wait until
the broker acknowledged every one of those sends; only then commit the Kafka offsets.

Answers are at-least-once, keyed by idempotency key. When the database is away or a
send fails, nothing is committed: the producer is replaced, the consumer goes back to
the batch's first offsets (or is made again after a broker failure, resuming from the
committed offsets), and the batch is handled again; the idempotency keys make the
second pass append nothing and answer as the first did. Kafka transactions
(``send_offsets_to_transaction``) would add nothing here: the append to PostgreSQL
cannot join them, so a batch may be appended twice either way, and the idempotency keys
already make that harmless; this scheme needs no transactional state on the broker
(which a replaced broker loses) and no ``read_committed`` readers of the results topic.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from services.ingest.clients import IngestClients
from services.ingest.messages import Rejected, decode, outcome_message, rejection_message
from shared.application import Customers, Envelope, Result
from shared.consuming import PoisonMessageError, commit_offsets, dead_letter, poll_batch
from shared.metrics import Metrics
from shared.resilience import keep_running

log = logging.getLogger(__name__)

SEND_TIMEOUT = 30.0  # seconds to wait for the broker to acknowledge a batch's answers
LAG_EVERY = 5.0  # seconds between two readings of the lag while no batch comes


class IngestConsumer:
    def __init__(self, customers: Customers, clients: IngestClients, results_topic: str, dead_letter_topic: str,
                 batch_size: int, metrics: Metrics | None = None, retry_cap: float = 5.0) -> None:
        self.customers, self.clients = customers, clients
        self.results_topic, self.dead_letter_topic, self.batch_size = results_topic, dead_letter_topic, batch_size
        self.metrics, self.retry_cap = metrics, retry_cap
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self.batch_start: dict[TopicPartition, int] = {}  # the first offset of the batch in hand, per partition
        self.broker_failed = False
        self.lag_read_at = 0.0
        self.accepted = self.rejected = self.dead_lettered = 0

    def run(self, stop: threading.Event) -> None:
        """Consume until stopped, riding out database and broker outages."""
        log.info("ingest consuming")
        try:
            keep_running("ingest", stop, self.step, self.recover, self.metrics, cap=self.retry_cap)
        finally:
            self.disconnect()

    def connect(self) -> None:
        if self.producer is None:
            self.clients.prepare()
            self.producer = self.clients.producer()
        if self.consumer is None:
            self.consumer = self.clients.consumer()

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once, append, answer, wait for the answers' acknowledgements, commit; return how many messages."""
        try:
            return self._step(timeout_ms)
        except KafkaError:
            self.broker_failed = True
            raise

    def _step(self, timeout_ms: int) -> int:
        self.connect()
        assert self.consumer is not None and self.producer is not None
        messages = poll_batch(self.consumer, self.batch_size, timeout_ms)
        if not messages:
            if time.monotonic() - self.lag_read_at >= LAG_EVERY:
                self._read_lag()
            return 0
        started = time.perf_counter()
        self.batch_start = {}
        for message in messages:
            self.batch_start.setdefault(TopicPartition(message.topic, message.partition), message.offset)
        sends = self._answer(messages)
        self.producer.flush(timeout=SEND_TIMEOUT)
        for future in sends:
            future.get(timeout=SEND_TIMEOUT)  # raises if the broker did not take an answer: nothing is committed
        commit_offsets(self.consumer)
        self.batch_start = {}
        self._measure(len(messages), time.perf_counter() - started)
        self._read_lag()
        return len(messages)

    def _answer(self, messages: list[Any]) -> list[Any]:
        """Append the batch's commands and send every answer; return the sends' futures."""
        assert self.producer is not None
        sends: list[Any] = []
        pending: list[tuple[Any, Envelope]] = []  # (message, its command)
        for message in messages:
            try:
                decoded = decode(message.value)
            except PoisonMessageError as error:
                self._dead_letter(sends, message, str(error))
                continue
            if isinstance(decoded, Rejected):
                key, value = rejection_message(decoded)
                sends.append(self.producer.send(self.results_topic, key=key, value=value))
                self.rejected += 1
            else:
                pending.append((message, decoded))
        for (_, envelope), result in zip(pending, self._execute(pending, sends), strict=True):
            if result is None:
                continue  # dead-lettered
            key, value = outcome_message(envelope, result)
            sends.append(self.producer.send(self.results_topic, key=key, value=value))
            if isinstance(result, Exception):
                self.rejected += 1
            else:
                self.accepted += 1
        return sends

    def _execute(self, pending: list[tuple[Any, Envelope]], sends: list[Any]) -> list[Result | None]:
        """The batch in one transaction; if it fails for a reason no answer covers, each command alone,
        and a command that still fails goes to the dead-letter topic with the error (the loop goes on)."""
        if not pending:
            return []
        try:
            return self.customers.execute([envelope for _, envelope in pending])
        except (InterfaceError, OperationalError):
            raise  # the database is away: stop without committing; the batch comes again
        except Exception:  # noqa: BLE001 - isolate the culprit below rather than stop on it
            log.exception("a batch of %d commands failed; executing them one by one", len(pending))
        results: list[Result | None] = []
        for message, envelope in pending:
            try:
                results.extend(self.customers.execute([envelope]))
            except (InterfaceError, OperationalError):
                raise
            except Exception as error:  # noqa: BLE001 - this command can never be appended: dead letter
                self._dead_letter(sends, message, f"failed: {type(error).__name__}: {error}")
                results.append(None)
        return results

    def _dead_letter(self, sends: list[Any], message: Any, reason: str) -> None:
        sends.append(dead_letter(self.producer, self.dead_letter_topic, message, reason))
        self.dead_lettered += 1
        if self.metrics is not None:
            self.metrics.dead_letters.labels("ingest").inc()

    def _measure(self, handled: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.events.labels("ingest").inc(handled)
            self.metrics.batches.labels("ingest").inc()
            self.metrics.batch_seconds.labels("ingest").observe(seconds)

    def _read_lag(self) -> None:
        """ct_lag_events{component="ingest"}: messages of the ingest topic not yet handled, over the partitions
        this consumer holds (their end offsets less its positions, which after a batch are its committed
        offsets)."""
        self.lag_read_at = time.monotonic()
        if self.metrics is None or self.consumer is None or not (partitions := self.consumer.assignment()):
            return
        try:
            ends = self.consumer.end_offsets(list(partitions))
            positions = {tp: self.consumer.position(tp, timeout_ms=2_000) for tp in ends}
            lag = sum(max(0, end - (positions[tp] or 0)) for tp, end in ends.items())
        except (KafkaError, ValueError) as error:  # a broker away is the next poll's business, not the metric's
            log.debug("ingest lag not read: %s", error)
            return
        self.metrics.lag.labels("ingest").set(lag)

    def recover(self) -> None:
        """After a failure: a new producer; the consumer back at the batch's first offsets, or made again after
        a broker failure (it then resumes from the committed offsets, which the batch never reached)."""
        producer, self.producer = self.producer, None
        if producer is not None:
            with suppress(KafkaError, OSError):
                producer.close(timeout=1)
        if self.consumer is not None and not self.broker_failed:
            try:
                for partition, offset in self.batch_start.items():
                    self.consumer.seek(partition, offset)
            except (KafkaError, ValueError):  # the partition went to another member meanwhile
                self.broker_failed = True
        if self.broker_failed:
            consumer, self.consumer = self.consumer, None
            if consumer is not None:
                with suppress(KafkaError, OSError):
                    consumer.close(autocommit=False)
        self.batch_start, self.broker_failed = {}, False

    def disconnect(self) -> None:
        self.broker_failed = True
        self.recover()

    def close(self) -> None:
        self.disconnect()
        self.customers.close()
