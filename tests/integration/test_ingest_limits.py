"""Ingest refuses what HTTP refuses, per message and naming the field; idempotency keys belong to their sender."""

from __future__ import annotations

import uuid

import orjson

from services.ingest.app import build_ingest
from tests.integration.test_ingest import SALES, produce, register
from tests.streaming import read_topic, threads_running

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
        answer = got["k" * 201 if key == "long-key" else key]
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
