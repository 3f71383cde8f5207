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

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError

from services.ingest.messages import PoisonMessageError, Rejected, decode, outcome_message, rejection_message
from shared.application import Customers, Envelope

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
        batches = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        messages = [m for partition in batches.values() for m in partition]
        if not messages:
            return 0
        envelopes: list[Envelope] = []
        for message in messages:
            try:
                decoded = decode(message.value)
            except PoisonMessageError as error:
                self._dead_letter(message, str(error))
                continue
            if isinstance(decoded, Rejected):
                self._send(self.results_topic, *rejection_message(decoded))
                self.rejected += 1
            else:
                envelopes.append(decoded)
        for envelope, result in zip(envelopes, self.customers.execute(envelopes), strict=True):
            self._send(self.results_topic, *outcome_message(envelope, result))
            if isinstance(result, Exception):
                self.rejected += 1
            else:
                self.accepted += 1
        self.producer.flush()
        try:
            self.consumer.commit()
        except CommitFailedError:  # partitions moved meanwhile: the next owner replays, appending nothing
            log.warning("offset commit failed after a rebalance; the batch will be re-delivered")
        return len(messages)

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        self.producer.send(topic, key=key, value=value)

    def _dead_letter(self, message, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
        self.dead_lettered += 1
        value = {"reason": reason, "topic": message.topic, "partition": message.partition, "offset": message.offset,
                 "value": (message.value or b"").decode("utf-8", errors="replace")}
        self._send(self.dead_letter_topic, message.key or b"", orjson.dumps(value))

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
