"""Ingest refuses what HTTP refuses, per message and naming the field; idempotency keys belong to their sender."""

from __future__ import annotations

import hashlib
import uuid

import orjson
from kafka import KafkaProducer

from services.ingest.app import build_ingest
from tests.integration.test_ingest import SALES, produce, register
from tests.integration.test_ingest_faults import committed
from tests.streaming import eventually, read_topic, threads_running

CS = {"user": "suzuki", "department": "cs", "team": "CS課", "site": "東京本社"}


def answers(settings, until) -> list[dict]:
    return [orjson.loads(m.value) for m in read_topic(settings.kafka_bootstrap_servers,
                                                       settings.ingest_results_topic, until)]


def keyed(key: str, customer_id: uuid.UUID, **fields) -> dict:
    return {"command": "record_touchpoint", "idempotency_key": key, "customer_id": str(customer_id), "actor": SALES,
            **fields}


def details(**extra) -> dict:
    return {"details": {"channel": "phone", "direction": "outbound", "summary": "架電", **extra}}


def test_each_message_the_door_refuses_is_rejected_naming_its_field(isolated) -> None:
    settings = isolated()
    customer = uuid.uuid4()
    refused = {
        "nul-summary": (keyed("nul-summary", customer, **details(summary="架電\x00")), "details.summary"),
        "nul-actor": ({**keyed("nul-actor", customer, **details()), "actor": {**SALES, "user": "tana\x00ka"}},
                      "actor.user"),
        "c1-topic": (keyed("c1-topic", customer, **details(topics_of_interest=["営業\x85管理"])),
                     "details.topics_of_interest.0"),
        "long-note": (keyed("long-note", customer, **details(reaction={"choice": "positive", "note": "x" * 4001})),
                      "details.reaction.note"),
        "many-topics": (keyed("many-topics", customer, **details(topics_of_interest=[str(i) for i in range(21)])),
                        "details.topics_of_interest"),
        "year-one": (keyed("year-one", customer, occurred_at="0001-01-01T00:00:00+09:00", **details()), "occurred_at"),
        "year-9999": (keyed("year-9999", customer, occurred_at="9999-12-31T00:00:00Z", **details()), "occurred_at"),
        "no-offset": (keyed("no-offset", customer, occurred_at="2030-01-10T10:00:00", **details()), "occurred_at"),
        "amount-true": ({"command": "open_deal", "idempotency_key": "amount-true", "customer_id": str(customer),
                         "actor": SALES, "details": {"title": "案件", "owner": "tanaka", "amount": True}},
                        "details.amount"),
        "version-true": (keyed("version-true", customer, expected_version=True, **details()), "expected_version"),
        "long-key": (keyed("k" * 201, customer, **details()), "idempotency_key"),
    }
    unknown = keyed("unknown-keys", customer, details={"channel": "phone", "direction": "outbound", "summary": "s",
                                                       **{f"x{i}": i for i in range(5_000)}})
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(settings, [register(customer, "株式会社インジェスト境界"), keyed("fine", customer, **details(
            summary="一行目\r\n二行目\tタブ"))] + [message for message, _ in refused.values()] + [unknown])
        got = {a["idempotency_key"]: a for a in answers(settings, lambda m: len(m) >= len(refused) + 3)}
    ingest.close()
    assert got[f"reg-{customer}"]["status"] == got["fine"]["status"] == "accepted"
    for key, (_, field) in refused.items():
        answer = got["k" * 200 if key == "long-key" else key]  # a key over 200 characters: its first 200
        assert (answer["status"], answer["error"]["code"], answer["error"]["field"]) == (
            "rejected", "invalid_field", field), answer
    error = got["unknown-keys"]["error"]
    assert (error["count"], len(error["fields"]), error["field"]) == (5_000, 20, "details.x0")
    assert len(orjson.dumps(got["unknown-keys"])) < 4_000


def test_another_sender_reusing_a_key_gets_its_own_answer_and_the_same_sender_a_refusal(isolated) -> None:
    settings = isolated()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    key = "crm-0001"
    first = [{**register(ours, "株式会社センダーA"), "idempotency_key": key, "occurred_at": "2030-01-10T10:00:00+09:00"},
             {**register(theirs, "株式会社センダーB"), "idempotency_key": key, "actor": CS,
              "occurred_at": "2030-01-10T10:00:00+09:00"}]
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(settings, first)
        both = answers(settings, lambda m: len(m) >= 2)
        produce(settings, [first[0], {**first[0], "occurred_at": "2030-01-11T10:00:00+09:00"}])
        later = answers(settings, lambda m: len(m) >= 4)[2:]
    ingest.close()
    assert sorted((a["status"], a["customer_id"], a["replayed"]) for a in both) == sorted(
        [("accepted", str(ours), False), ("accepted", str(theirs), False)])
    retry, moved = sorted(later, key=lambda a: a["status"])
    assert (retry["status"], retry["customer_id"], retry["replayed"]) == ("accepted", str(ours), True)
    assert (moved["status"], moved["error"]["code"]) == ("rejected", "idempotency_key_reused")


def send_in_order(settings, key: bytes, values: list[bytes]) -> None:
    """Messages on one partition (one key), so the later ones come after the first."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for value in values:
        producer.send(settings.ingest_topic, key=key, value=value).get(timeout=10)
    producer.close()


def test_a_huge_garbage_message_gets_a_small_dead_letter_and_the_next_command_is_answered(isolated) -> None:
    settings = isolated()
    customer = uuid.uuid4()
    garbage = b"\x00" * 180_000  # its dead letter once copied it whole: 1,080,085 bytes, over the 1 MiB limit
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        send_in_order(settings, str(customer).encode(),
                      [garbage, orjson.dumps(register(customer, "株式会社ゴミの後"))])
        got = answers(settings, lambda m: len(m) >= 1)
        dead = read_topic(settings.kafka_bootstrap_servers, settings.ingest_dead_letter_topic, lambda m: len(m) >= 1)
        eventually(lambda: committed(settings) == 2, timeout=30)
    ingest.close()
    assert [(a["idempotency_key"], a["status"]) for a in got] == [(f"reg-{customer}", "accepted")]
    assert len(dead) == 1 and len(dead[0].value) <= 256 * 1024
    letter = orjson.loads(dead[0].value)
    assert letter["reason"].startswith("not JSON") and letter["value_truncated"] is True
    assert (letter["value_bytes"], letter["value_sha256"]) == (180_000, hashlib.sha256(garbage).hexdigest())
    assert 0 < len(letter["value"]) <= 64 * 1024 and set(letter["value"]) == {"\x00"}


def test_a_huge_idempotency_key_is_answered_by_its_sha256_and_the_next_command_is_answered(isolated) -> None:
    settings = isolated()
    customer = uuid.uuid4()
    key = "k" * 600_000  # its rejection once repeated it twice: 1,200,305 bytes, over the 1 MiB limit
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        send_in_order(settings, str(customer).encode(), [
            orjson.dumps(keyed(key, customer, **details())), orjson.dumps(register(customer, "株式会社長い鍵の後"))])
        got = read_topic(settings.kafka_bootstrap_servers, settings.ingest_results_topic, lambda m: len(m) >= 2)
        eventually(lambda: committed(settings) == 2, timeout=30)
    ingest.close()
    digest = hashlib.sha256(key.encode()).hexdigest()
    by_key = {m.key: orjson.loads(m.value) for m in got}  # answers are keyed: sha256:<hex> for a key too long
    huge, good = by_key[f"sha256:{digest}".encode()], by_key[f"reg-{customer}".encode()]
    assert (huge["status"], huge["error"]["field"]) == ("rejected", "idempotency_key")
    assert (huge["idempotency_key"], huge["idempotency_key_sha256"], huge["idempotency_key_chars"]) == (
        "k" * 200, digest, 600_000)
    assert len(orjson.dumps(huge)) < 4_000
    assert (good["idempotency_key"], good["status"]) == (f"reg-{customer}", "accepted")
