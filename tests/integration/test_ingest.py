"""Commands from apps through the ingest topic: order, answers, poison, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import orjson
import psycopg
from kafka import KafkaProducer

from services.ingest.app import build_ingest
from tests.streaming import eventually, read_topic, threads_running

SALES = {"user": "tanaka", "department": "sales", "team": "本社営業1課", "site": "東京本社"}


def register(customer_id: uuid.UUID, name: str) -> dict:
    return {"command": "register_customer", "idempotency_key": f"reg-{customer_id}", "customer_id": str(customer_id),
            "actor": SALES, "details": {"company_name": name, "industry": "製造業"}}


def touch(customer_id: uuid.UUID, n: int) -> dict:
    return {"command": "record_touchpoint", "idempotency_key": f"tp-{customer_id}-{n}",
            "customer_id": str(customer_id), "actor": SALES,
            "details": {"channel": "phone", "direction": "outbound", "summary": f"call {n}"}}


def produce(settings, messages: list[dict | bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for message in messages:
        value = message if isinstance(message, bytes) else orjson.dumps(message)
        key = message.get("customer_id", "").encode() if isinstance(message, dict) else b"?"
        producer.send(settings.ingest_topic, key=key, value=value)
    producer.flush()
    producer.close()


def outcomes(settings, count: int) -> dict[str, dict]:
    """The latest outcome per idempotency key, once `count` distinct keys are answered."""
    def answered(messages) -> bool:
        return len({m.key for m in messages}) >= count
    return {m.key.decode(): orjson.loads(m.value)
            for m in read_topic(settings.kafka_bootstrap_servers, settings.ingest_results_topic, answered)}


def summaries(db_url: str, customer_id: uuid.UUID) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT state FROM customers_events WHERE originator_id = %s ORDER BY originator_version",
                            (customer_id,)).fetchall()
    return [orjson.loads(state).get("summary") for (state,) in rows][1:]


def test_messages_land_in_their_streams_in_per_customer_order(isolated) -> None:
    settings = isolated()
    ids = [uuid.uuid4() for _ in range(4)]
    messages = [register(c, f"株式会社インジェスト{i}") for i, c in enumerate(ids)]
    messages += [touch(c, n) for n in range(25) for c in ids]
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(settings, messages)
        answers = outcomes(settings, len(messages))
    ingest.close()
    assert {a["status"] for a in answers.values()} == {"accepted"}
    for customer_id in ids:
        assert summaries(settings.database_url, customer_id) == [f"call {n}" for n in range(25)]
    assert answers[f"tp-{ids[0]}-24"]["stream_version"] == 26


def test_a_batch_with_poison_and_a_criteria_violation_answers_each_message(isolated) -> None:
    settings = isolated()
    customer, deal_key = uuid.uuid4(), f"deal-{uuid.uuid4()}"
    setup = [register(customer, "株式会社バッチ"),
             {"command": "open_deal", "idempotency_key": deal_key, "customer_id": str(customer), "actor": SALES,
              "details": {"title": "案件", "owner": "tanaka"}}]
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(settings, setup)
        deal_id = outcomes(settings, 2)[deal_key]["created"]["deal_id"]
        produce(settings, [
            touch(customer, 1),
            b"{this is not json",
            {"command": "change_stage", "idempotency_key": "too-early", "customer_id": str(customer),
             "actor": SALES, "deal_id": deal_id, "details": {"to_stage": "preparing_materials"}},
            {**touch(customer, 2), "idempotency_key": "bad-channel", "details": {"channel": "fax",
                                                                                  "direction": "outbound",
                                                                                  "summary": "x"}},
            {"command": "teleport_customer", "idempotency_key": "what", "actor": SALES},
            {"command": "open_ticket", "idempotency_key": "ticket-1", "customer_id": str(customer),
             "actor": {"user": "kato", "department": "support"}, "details": {"title": "ログインできない"}},
            {"command": "record_feedback", "idempotency_key": "tech-1", "customer_id": str(customer),
             "actor": {"user": "ito", "department": "tech"}, "details": {"kind": "usage", "summary": "毎日利用"}},
        ])
        answers = outcomes(settings, 7)
        dead = read_topic(settings.kafka_bootstrap_servers, settings.ingest_dead_letter_topic,
                          lambda m: len(m) >= 2)
    ingest.close()
    assert answers[f"tp-{customer}-1"]["status"] == "accepted"
    assert answers["ticket-1"]["status"] == answers["tech-1"]["status"] == "accepted"
    refused = answers["too-early"]
    assert (refused["status"], refused["error"]["code"]) == ("rejected", "stage_order")
    invalid = answers["bad-channel"]
    assert (invalid["status"], invalid["error"]["field"]) == ("rejected", "details.channel")
    reasons = sorted(orjson.loads(m.value)["reason"] for m in dead)
    assert reasons[0].startswith("not JSON") and reasons[1].startswith("unknown command 'teleport_customer'")
    assert summaries(settings.database_url, customer) == [None, "call 1", None, "毎日利用"]  # deal, touch, ticket, fb


def test_criteria_violation_names_the_unmet_criteria(isolated) -> None:
    settings = isolated()
    customer = uuid.uuid4()
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        produce(settings, [register(customer, "株式会社基準"),
                           {"command": "open_deal", "idempotency_key": f"d-{customer}", "customer_id": str(customer),
                            "actor": SALES, "details": {"title": "案件", "owner": "tanaka"}}])
        deal_id = outcomes(settings, 2)[f"d-{customer}"]["created"]["deal_id"]
        produce(settings, [{"command": "change_stage", "idempotency_key": "criteria", "customer_id": str(customer),
                            "actor": SALES, "deal_id": deal_id, "details": {"to_stage": "hearing_done"}}])
        answer = outcomes(settings, 3)["criteria"]
    ingest.close()
    assert answer["error"]["code"] == "transition_criteria_unmet"
    assert [c["id"] for c in answer["error"]["unmet_criteria"]] == [
        "first_contact_completed", "contact_person_captured", "hearing_started"]


def test_the_consumer_killed_mid_batch_loses_nothing_and_doubles_nothing(isolated) -> None:
    settings = isolated(ingest_batch_size=100)
    ids = [uuid.uuid4() for _ in range(50)]
    messages = [register(c, f"株式会社クラッシュ{i}") for i, c in enumerate(ids)]
    messages += [touch(c, n) for n in range(40) for c in ids]
    produce(settings, messages)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "INGEST_TOPIC": settings.ingest_topic, "INGEST_RESULTS_TOPIC": settings.ingest_results_topic,
           "INGEST_DEAD_LETTER_TOPIC": settings.ingest_dead_letter_topic,
           "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix, "INGEST_BATCH_SIZE": "100"}

    def stored() -> int:
        with psycopg.connect(settings.database_url) as conn:
            if conn.execute("SELECT to_regclass('customers_events')").fetchone()[0] is None:
                return 0
            return conn.execute("SELECT count(*) FROM customers_events").fetchone()[0]

    command = [sys.executable, "-m", "services.cli", "ingest"]
    consumer = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    eventually(lambda: stored() > 0, timeout=60)
    consumer.send_signal(signal.SIGKILL)
    consumer.wait()
    assert 0 < stored() < len(messages), "killed part way"
    consumer = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: stored() == len(messages), timeout=120)
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)
    assert stored() == len(messages), "nothing doubled after the restart caught up"
    with psycopg.connect(settings.database_url) as conn:
        versions = conn.execute("SELECT originator_id, array_agg(originator_version ORDER BY originator_version) "
                                "FROM customers_events GROUP BY originator_id").fetchall()
    assert len(versions) == len(ids)
    assert all(v == list(range(1, 42)) for _, v in versions)
    for customer_id in ids[:5]:
        assert summaries(settings.database_url, customer_id) == [f"call {n}" for n in range(40)]


def test_the_example_producer_gets_every_command_accepted(isolated) -> None:
    settings = isolated()
    ingest = build_ingest(settings)
    with threads_running(ingest.run):
        result = subprocess.run(
            [sys.executable, "examples/producer.py", "--bootstrap", settings.kafka_bootstrap_servers,
             "--topic", settings.ingest_topic, "--results-topic", settings.ingest_results_topic],
            capture_output=True, text=True, timeout=90)
    ingest.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and all(": accepted" in line for line in lines), result.stdout


def test_a_command_that_fails_unexpectedly_is_dead_lettered_and_its_batch_mates_append(isolated, monkeypatch) -> None:
    settings = isolated()
    good, bad = uuid.uuid4(), uuid.uuid4()
    ingest = build_ingest(settings)
    real_execute = ingest.customers.execute

    def execute(envelopes, dry_run=False):  # a bug that only one customer's command triggers
        if any(e.customer_id == bad for e in envelopes):
            raise TypeError("simulated bug")
        return real_execute(envelopes, dry_run)

    monkeypatch.setattr(ingest.customers, "execute", execute)
    produce(settings, [register(good, "株式会社グッド"), register(bad, "株式会社バグ"), touch(good, 1)])
    with threads_running(ingest.run):
        answers = outcomes(settings, 2)
        dead = read_topic(settings.kafka_bootstrap_servers, settings.ingest_dead_letter_topic, lambda m: len(m) >= 1)
    ingest.close()
    assert answers[f"reg-{good}"]["status"] == answers[f"tp-{good}-1"]["status"] == "accepted"
    assert f"reg-{bad}" not in answers
    reason = orjson.loads(dead[0].value)["reason"]
    assert reason == "failed: TypeError: simulated bug"
