"""How a sales, support, CS or tech app sends what happened to customer-timeline.

Publish one JSON command per message to the ingest topic (key: the customer id), each
with an idempotency key of your own (a retry with the same key appends nothing), the
acting user, and when it happened. Read your answers from the results topic, keyed by
that idempotency key: "accepted" with the stream version, or "rejected" with the reason.

    python examples/producer.py --bootstrap 127.0.0.1:9092

Uses only kafka-python, as an external app would.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import datetime, timedelta, timezone

from kafka import KafkaConsumer, KafkaProducer

JST = timezone(timedelta(hours=9))
NAMESPACE = uuid.UUID("6f1d3c1e-0000-4000-8000-00000000c0de")  # your app's own namespace for customer ids


def command(name: str, customer_id: uuid.UUID, key: str, actor: dict, **fields) -> dict:
    return {"command": name, "idempotency_key": key, "customer_id": str(customer_id), "actor": actor,
            "occurred_at": datetime.now(JST).isoformat(), **fields}


def messages(crm_code: str) -> list[dict]:
    customer = uuid.uuid5(NAMESPACE, crm_code)  # a stable id derived from your own customer code
    sales = {"user": "tanaka", "department": "sales", "team": "本社営業1課", "site": "東京本社"}
    support = {"user": "kato", "department": "support", "team": "サポートデスク", "site": "大阪拠点"}
    cs = {"user": "suzuki", "department": "cs", "team": "カスタマーサクセス"}
    tech = {"user": "ito", "department": "tech", "team": "技術課"}
    return [
        command("register_customer", customer, f"sfa:{crm_code}:register", sales,
                details={"company_name": "株式会社サンプル物産", "industry": "卸売"}),
        # a sales app: a touchpoint with the customer's initial reaction (選択式 + フリーテキスト)
        command("record_touchpoint", customer, f"sfa:{crm_code}:call-0001", sales,
                details={"channel": "phone", "direction": "outbound", "summary": "初回架電、資料送付の約束",
                         "reaction": {"choice": "considering", "note": "年度末に予算化を検討"}}),
        # a support desk: a ticket
        command("open_ticket", customer, f"desk:{crm_code}:T-1042", support,
                details={"title": "CSV取込でエラー", "priority": "high", "category": "import"}),
        # a CS tool: onboarding progress and satisfaction
        command("record_onboarding", customer, f"cs:{crm_code}:onb-2", cs,
                details={"progress_percent": 60, "status": "拠点展開中", "support_contacts_communicated": True}),
        command("record_satisfaction", customer, f"cs:{crm_code}:nps-1", cs,
                details={"score": 4, "method": "survey", "comment": "操作が分かりやすい"}),
        # tech: feedback that sales can turn into an upsell
        command("record_feedback", customer, f"tech:{crm_code}:fb-7", tech,
                details={"kind": "upsell_hint", "summary": "API連携の要望が複数部署から"}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="customer-commands")
    parser.add_argument("--results-topic", default="customer-command-results")
    parser.add_argument("--crm-code", default="C-000123")
    args = parser.parse_args()

    sent = messages(args.crm_code)
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True)
    for message in sent:
        producer.send(args.topic, key=message["customer_id"].encode(),
                      value=json.dumps(message, ensure_ascii=False).encode())
    producer.flush()

    waiting = {m["idempotency_key"] for m in sent}
    results = KafkaConsumer(args.results_topic, bootstrap_servers=args.bootstrap, auto_offset_reset="earliest",
                            consumer_timeout_ms=30_000)
    for record in results:
        key = record.key.decode()
        if key in waiting:
            answer = json.loads(record.value)
            print(f"{key}: {answer['status']}", answer.get("stream_version") or answer.get("error"))
            waiting.discard(key)
        if not waiting:
            break
    results.close()
    if waiting:
        raise SystemExit(f"no answer yet for: {sorted(waiting)}")


if __name__ == "__main__":
    main()
