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

from kafka import KafkaConsumer, KafkaProducer

from services.ingest.messages import PoisonMessageError, Rejected, decode, outcome_message, rejection_message
from shared.application import Customers, Envelope
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
        envelopes: list[Envelope] = []
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
                envelopes.append(decoded)
        for envelope, result in zip(envelopes, self.customers.execute(envelopes), strict=True):
            key, value = outcome_message(envelope, result)
            self.producer.send(self.results_topic, key=key, value=value)
            if isinstance(result, Exception):
                self.rejected += 1
            else:
                self.accepted += 1
        self.producer.flush()
        commit_offsets(self.consumer)
        return len(messages)

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
