"""What every Kafka consumer loop here shares: polling a batch, poison messages and dead letters, committing."""

from __future__ import annotations

import hashlib
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


# What a dead letter keeps of the message it sets aside: enough to see what it was, never so much that the dead
# letter itself is too large to send (the original may be as large as the broker takes).
DEAD_LETTER_VALUE_BYTES = 64 * 1024  # the first 64 KiB of the value, with its size and sha256 ...
DEAD_LETTER_BYTES = 256 * 1024  # ... or less, so that the dead letter (control characters escaped) fits in this
DEAD_LETTER_KEY_BYTES = 256  # a longer key is replaced by "sha256:<hex>" of it
REASON_CHARS = 2000  # a reason is for people: the first lines of the error are enough
DEFAULT_MAX_BYTES = 1024 * 1024  # a producer's max_request_size when it does not say


def dead_letter(producer: KafkaProducer, topic: str, message: Any, reason: str, **context: Any) -> Any:
    """Send a message that can never be processed to the dead-letter topic, with the reason; return the
    send's future (the caller waits for it before committing the message's offset).

    The dead letter (JSON) holds ``reason`` (at most REASON_CHARS), the context, where the message was
    (``topic``, ``partition``, ``offset``), ``value``: its first DEAD_LETTER_VALUE_BYTES decoded as UTF-8
    (undecodable bytes replaced; fewer where escaping would make the dead letter larger than
    DEAD_LETTER_BYTES or half the producer's ``max_request_size``), ``value_bytes`` and ``value_sha256``
    of the whole value, and ``value_truncated``; a key longer than DEAD_LETTER_KEY_BYTES becomes
    ``sha256:<hex>``. However large or strange the message, its dead letter fits what the producer sends,
    so one message can never stop the loop that sets it aside."""
    log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset,
                reason[:REASON_CHARS])
    raw = message.value or b""
    key = message.key or b""
    if len(key) > DEAD_LETTER_KEY_BYTES:
        key = b"sha256:" + hashlib.sha256(key).hexdigest().encode()
    limit = int(getattr(producer, "config", {}).get("max_request_size") or DEFAULT_MAX_BYTES)
    budget = min(DEAD_LETTER_BYTES, limit // 2) - len(key)
    kept = DEAD_LETTER_VALUE_BYTES
    while True:
        value = orjson.dumps({
            "reason": reason[:REASON_CHARS], **context, "topic": message.topic, "partition": message.partition,
            "offset": message.offset, "value": raw[:kept].decode("utf-8", errors="replace"),
            "value_bytes": len(raw), "value_sha256": hashlib.sha256(raw).hexdigest(),
            "value_truncated": len(raw) > kept})
        if len(value) <= budget or kept == 0:
            break
        kept //= 2  # escaped control characters take six bytes each: keep less until it fits
    return producer.send(topic, key=key, value=value)


def commit_offsets(consumer: KafkaConsumer) -> None:
    """Commit what was polled; after a rebalance the new owner re-processes it (idempotently)."""
    try:
        consumer.commit()
    except CommitFailedError:
        log.warning("offset commit failed after a rebalance; the batch will be re-delivered")
