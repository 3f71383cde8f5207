"""The ingest consumer: commands from apps, appended a whole poll at a time.

Per poll: decode every message; append all valid commands in ONE transaction
(``Customers.execute``; a conflict falls back to one by one inside it); publish each
message's outcome (results topic) or the poison message (dead-letter topic); only then
commit the Kafka offsets. A crash before the commit re-delivers the batch, and the
idempotency keys make the second pass append nothing and answer as the first did.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from kafka import KafkaConsumer, KafkaProducer

from services.ingest.messages import PoisonMessageError, Rejected, decode, outcome_message, rejection_message
from shared.application import Customers, Envelope, Result
from shared.consuming import commit_offsets, dead_letter, poll_batch

log = logging.getLogger(__name__)


class IngestConsumer:
    def __init__(self, customers: Customers, consumer: KafkaConsumer, producer: KafkaProducer,
                 results_topic: str, dead_letter_topic: str, batch_size: int) -> None:
        self.customers, self.consumer, self.producer = customers, consumer, producer
        self.results_topic, self.dead_letter_topic, self.batch_size = results_topic, dead_letter_topic, batch_size
        self.accepted = self.rejected = self.dead_lettered = 0

    def run(self, stop: threading.Event) -> None:
        log.info("ingest consuming")
        while not stop.is_set():
            self.step()

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once, append, answer, commit; return how many messages were handled."""
        messages = poll_batch(self.consumer, self.batch_size, timeout_ms)
        if not messages:
            return 0
        pending: list[tuple[Any, Envelope]] = []  # (message, its command)
        for message in messages:
            try:
                decoded = decode(message.value)
            except PoisonMessageError as error:
                dead_letter(self.producer, self.dead_letter_topic, message, str(error))
                self.dead_lettered += 1
                continue
            if isinstance(decoded, Rejected):
                key, value = rejection_message(decoded)
                self.producer.send(self.results_topic, key=key, value=value)
                self.rejected += 1
            else:
                pending.append((message, decoded))
        for (_, envelope), result in zip(pending, self._execute(pending), strict=True):
            if result is None:
                continue  # dead-lettered
            key, value = outcome_message(envelope, result)
            self.producer.send(self.results_topic, key=key, value=value)
            if isinstance(result, Exception):
                self.rejected += 1
            else:
                self.accepted += 1
        self.producer.flush()
        commit_offsets(self.consumer)
        return len(messages)

    def _execute(self, pending: list[tuple[Any, Envelope]]) -> list[Result | None]:
        """The batch in one transaction; if it fails for a reason no answer covers, each command alone,
        and a command that still fails goes to the dead-letter topic with the error (the loop goes on)."""
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
                dead_letter(self.producer, self.dead_letter_topic, message,
                            f"failed: {type(error).__name__}: {error}")
                self.dead_lettered += 1
                results.append(None)
        return results

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
