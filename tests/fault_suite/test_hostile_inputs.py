"""The hardening issue's hostile inputs, sent during a steady write load.

Each case runs the load (tests/fault_suite/harness.py), injects its fault, lets the load go on, stops it
and checks that every acknowledged write is stored exactly once, every ingest message answered, and each
read model equals a fresh rebuild. One line of figures per case (pytest -s shows it; -rA too).
"""

from __future__ import annotations

import time

from tests.fault_suite.harness import LOAD_AFTER, LOAD_BEFORE, Load, Stack, check


def test_hostile_inputs_during_the_load_are_refused_and_nothing_stops(stack: Stack) -> None:
    """The hardening issue's inputs, over HTTP and ingest: each refused (4xx / a rejected answer), the load goes on."""
    import httpx
    import orjson
    from kafka import KafkaProducer

    from tests.fault_suite.harness import INGEST_ACTOR, answers

    url = f"http://127.0.0.1:{stack.command_port}"
    headers = {"Authorization": f"Bearer {stack.token}"}
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        made = httpx.post(f"{url}/customers", headers=headers, json={"company_name": "株式会社標的"}, timeout=10)
        assert made.status_code == 201, made.text
        cid = made.json()["customer_id"]
        touch = {"channel": "email", "direction": "outbound"}
        hostile = [
            (f"/customers/{cid}/touchpoints", {**touch, "summary": "NUL \u0000 here"}, 422),
            (f"/customers/{cid}/touchpoints", {**touch, "summary": "x", "note": "長" * (2 * 1024 * 1024)}, 413),
            (f"/customers/{cid}/touchpoints", {**touch, "summary": "x", "occurred_at": "0001-01-01T00:00:00+09:00"},
             422),
            (f"/customers/{cid}/deals", {"title": "案件", "owner": "loader", "amount": True}, 422),
        ]
        for path, body, status in hostile:
            response = httpx.post(f"{url}{path}", headers=headers, json=body, timeout=30)
            assert response.status_code == status, (path, response.status_code, response.text[:300])
        producer = KafkaProducer(bootstrap_servers=stack.kafka.bootstrap, acks="all")
        bad = [{"command": "record_touchpoint", "idempotency_key": f"hostile-{n}", "customer_id": cid,
                "actor": INGEST_ACTOR, **extra, "details": {**touch, "summary": summary}}
               for n, (summary, extra) in enumerate([("NUL \u0000", {}),
                                                     ("year one", {"occurred_at": "0001-01-01T00:00:00Z"})])]
        for message in bad:
            producer.send(stack.ingest_topic, key=cid.encode(), value=orjson.dumps(message)).get(timeout=10)
        producer.close()
        found = answers(stack, {m["idempotency_key"] for m in bad}, timeout=60)
        for message in bad:
            answer = found[message["idempotency_key"]][0]
            assert answer["status"] == "rejected" and answer["error"]["code"] == "invalid_field", answer
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    assert len(load.http_acked) > 0
    check(stack, load, "hostile inputs", fault_at, recovered_at)
