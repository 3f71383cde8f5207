"""What every Kafka consumer loop here shares: polling a batch, poison messages and dead letters, committing."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError

log = logging.getLogger(__name__)


class PoisonMessageError(ValueError):
    """A message that can never be processed, whatever is retried: not JSON, an unknown event type or command,
    a missing or invalid field (``shared/wire.py`` for the events topic, ``services/ingest/messages.py`` for
    the ingest topic). It goes to the dead-letter topic with this error's text as the reason."""


def poll_batch(consumer: KafkaConsumer, max_records: int, timeout_ms: int = 500) -> list[Any]:
    """Up to max_records messages, across the assigned partitions, each partition in order."""
    batches = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
    return [message for partition in batches.values() for message in partition]


def dead_letter(producer: KafkaProducer, topic: str, message: Any, reason: str, **context: Any) -> Any:
    """Send a message that can never be processed to the dead-letter topic, with the reason; return the
    send's future (the caller waits for it before committing the message's offset)."""
    log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
    value = {"reason": reason, **context, "topic": message.topic, "partition": message.partition,
             "offset": message.offset, "value": (message.value or b"").decode("utf-8", errors="replace")}
    return producer.send(topic, key=message.key or b"", value=orjson.dumps(value))


def commit_offsets(consumer: KafkaConsumer) -> None:
    """Commit what was polled; after a rebalance the new owner re-processes it (idempotently)."""
    try:
        consumer.commit()
    except CommitFailedError:
        log.warning("offset commit failed after a rebalance; the batch will be re-delivered")
