"""Ingest throughput: commands durably appended from the Kafka ingest topic, beside the raw limit.

1. Produce `--messages` JSON commands (registrations of `--customers` companies, then
   touchpoints to random customers) to a fresh ingest topic.
2. Start `customer-timeline ingest` (a subprocess) and time it until every command is
   an event in a fresh database. The sustained rate is taken between 5 % and 95 % of
   the events (group join and start-up excluded); the whole run is printed too.
3. Baseline in the same run: raw psycopg `executemany` of the same number of rows of the
   same size, 1,000 per transaction, into a plain table.

Run: python -m bench.ingest [--messages 1000000] [--customers 20000]
Without --database-url / BENCH_DATABASE_URL it starts an embedded PostgreSQL of its own; without
KAFKA_BOOTSTRAP_SERVERS, Apache Kafka (infra/kafka) where Java is installed, else tansu (BENCH_BROKER=kafka|tansu).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg
from kafka import KafkaProducer

from bench._support import (
    CpuBreakdown, CpuMeter, default_database_url, describe_postgres, postgres_server, fresh_database, log_tail,
    start_service, stop_service, wait_for_quiet_machine, start_broker,
)
from shared.broker import ensure_topics

GOAL_RATIO = 0.35  # issue 15: sustained ingest ÷ raw executemany, in the same run
SALES = {"user": "bench", "department": "sales", "team": "本社営業1課", "site": "東京本社"}


def commands(count: int, customers: int, rng: random.Random):
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(customers)]
    for i, customer in enumerate(ids):
        yield customer, {"command": "register_customer", "idempotency_key": f"reg-{customer}",
                         "customer_id": str(customer), "actor": SALES,
                         "details": {"company_name": f"株式会社ベンチ{i:05d}", "industry": "製造業"}}
    for n in range(count - customers):
        customer = rng.choice(ids)
        yield customer, {"command": "record_touchpoint", "idempotency_key": f"tp-{n}", "customer_id": str(customer),
                         "actor": SALES, "details": {"channel": "phone", "direction": "outbound",
                                                     "summary": f"定例連絡 {n}: 導入状況の確認と次回提案の日程調整"}}


def produce(bootstrap: str, topic: str, count: int, customers: int) -> tuple[float, int]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    started, size = time.perf_counter(), 0
    for customer, message in commands(count, customers, random.Random(7)):
        value = orjson.dumps(message)
        size += len(value)
        producer.send(topic, key=str(customer).encode(), value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - started, size // count


def _progress(conn: psycopg.Connection, count: int) -> int:
    """Events stored so far, from the notification ids' index rather than count(*): a scan of the growing table ten
    times a second took a tenth of a core from PostgreSQL on a 2-core machine. The highest id is an upper bound of
    the count (a rolled-back batch skips ids), so count(*) confirms the end."""
    if conn.execute("SELECT to_regclass('customers_events')").fetchone()[0] is None:
        return 0
    done = conn.execute("SELECT coalesce(max(notification_id), 0) FROM customers_events").fetchone()[0]
    return conn.execute("SELECT count(*) FROM customers_events").fetchone()[0] if done >= count else done


def measure_ingest(url: str, bootstrap: str, tag: str, count: int, log: Path, processes: int) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INGEST_TOPIC": f"cmd-{tag}",
           "INGEST_RESULTS_TOPIC": f"res-{tag}", "INGEST_DEAD_LETTER_TOPIC": f"dead-{tag}",
           "CONSUMER_GROUP_PREFIX": f"bench-{tag}"}
    services = [start_service(["ingest"], env, log.with_suffix(f".{i}.log")) for i in range(processes)]
    samples: list[tuple[float, int]] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            with CpuBreakdown() as owners, CpuMeter({f"ingest {i}": s.pid for i, s in enumerate(services)}) as cpu:
                started = time.perf_counter()
                while not samples or samples[-1][1] < count:
                    for i, service in enumerate(services):
                        if service.poll() is not None:
                            raise RuntimeError(f"ingest exited ({service.returncode}):\n"
                                               f"{log_tail(log.with_suffix(f'.{i}.log'))}")
                    samples.append((time.perf_counter() - started, _progress(conn, count)))
                    if samples[-1][1] < count:
                        time.sleep(0.1)
            transactions = conn.execute("SELECT count(DISTINCT xmin::text) FROM customers_events").fetchone()[0]
    finally:
        for service in services:
            stop_service(service)
    first = next(t for t, n in samples if n >= 0.05 * count)
    last = next(t for t, n in samples if n >= 0.95 * count)
    overall = count / samples[-1][0]
    # a short run may pass 5 % and 95 % within one sample: then the whole run is the only rate there is
    sustained = 0.9 * count / (last - first) if last > first else overall
    # CPU per event over the whole run (start-up included): the consumers, PostgreSQL (every postgres process on
    # the machine) and the rest of this benchmark's process tree (the broker, when the benchmark started it)
    seconds = samples[-1][0]
    consumers = sum(v for k, v in cpu.percent.items() if k.startswith("ingest"))
    rest = owners.percent["this benchmark + its services"] - consumers
    per_event = {"consumers": consumers, "postgres": owners.percent["postgres"], "broker + bench": rest,
                 "whole machine": cpu.percent["whole machine"]}
    per_event = {k: v / 100 * seconds / count * 1e6 for k, v in per_event.items()}
    return {"sustained": sustained, "overall": overall, "per_event": per_event, "others": owners.percent["other processes"],
            "seconds": seconds, "transactions": transactions, "cpu": cpu.describe()}


def run_ingest(server_url: str, bootstrap: str, messages: int, customers: int, processes: int) -> dict:
    """Produce the commands to fresh topics, then time ingest into a fresh database (`measure_ingest`)."""
    tag = uuid.uuid4().hex[:8]
    ensure_topics(bootstrap, {f"cmd-{tag}": 6, f"res-{tag}": 6, f"dead-{tag}": 1})
    seconds, size = produce(bootstrap, f"cmd-{tag}", messages, customers)
    print(f"- produced {messages:,} commands ({size} bytes each on average) in {seconds:,.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(server_url) as url:
        ingest = measure_ingest(url, bootstrap, tag, messages, Path(tmp) / "ingest.log", processes)
        with psycopg.connect(url) as conn:
            ingest["stored_bytes"] = conn.execute("SELECT avg(length(state))::int FROM customers_events").fetchone()[0]
    print(f"- ingest ({processes} consumer processes in one group): {messages:,} events in "
          f"{ingest['seconds']:,.1f} s, "
          f"{ingest['transactions']:,} transactions ({messages / ingest['transactions']:,.0f} events each), "
          f"CPU (% of a core): {ingest['cpu']}; stored state {ingest['stored_bytes']} bytes on average", flush=True)
    print("- CPU per event (µs, whole run): " + ", ".join(f"{k} {v:,.0f}" for k, v in ingest["per_event"].items())
          + f"; other processes meanwhile {ingest['others']:,.0f}% of a core", flush=True)
    return ingest


def measure_raw(url: str, count: int, size: int) -> float:
    payload = b"x" * size
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_events (originator_id uuid, originator_version bigint, topic text, "
                     "state bytea, PRIMARY KEY (originator_id, originator_version))")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            for offset in range(0, count, 1000):
                cur.executemany("INSERT INTO raw_events VALUES (%s, %s, %s, %s)",
                                [(uuid.uuid4(), 1, "shared.events.customer:TouchpointRecorded", payload)
                                 for _ in range(min(1000, count - offset))])
                conn.commit()
        return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    cli.add_argument("--messages", type=int, default=1_000_000)
    cli.add_argument("--customers", type=int, default=20_000)
    cli.add_argument("--processes", type=int, default=2, help="ingest consumers in one group (default: one per core)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create fresh databases on (default: $BENCH_DATABASE_URL, else an embedded one)")
    cli.add_argument("--max-wait", type=float, default=600, help="seconds to wait for a quiet machine")
    args = cli.parse_args(argv)
    print("command:   ", shlex.join(["python", "-m", "bench.ingest", *(sys.argv[1:] if argv is None else argv)]))
    print(f"machine:    {os.cpu_count()} cores (nproc), {platform.machine()}")
    print(f"python:     {platform.python_version()}")
    args.database_url = postgres_server(args.database_url)  # else an embedded server of its own
    print("postgresql:", describe_postgres(args.database_url))
    broker = start_broker()  # $KAFKA_BOOTSTRAP_SERVERS, else Apache Kafka (infra/kafka) or tansu
    bootstrap = broker.bootstrap
    print("broker:    ", broker.description)
    print(wait_for_quiet_machine(args.max_wait))
    ingest = run_ingest(args.database_url, bootstrap, args.messages, args.customers, args.processes)
    stored = ingest["stored_bytes"]
    with fresh_database(args.database_url) as url:
        raw = measure_raw(url, args.messages, stored)
    print()
    print(f"{'':46}{'events/s':>12}")
    print(f"{'ingest topic -> event store (sustained)':46}{ingest['sustained']:>12,.0f}")
    print(f"{'ingest topic -> event store (whole run)':46}{ingest['overall']:>12,.0f}")
    print(f"{'raw psycopg executemany, 1,000 rows/tx':46}{raw:>12,.0f}")
    ratio = ingest["sustained"] / raw
    print(f"{'ingest ÷ raw':46}{ratio:>11.2f}×  (goal ≥ {GOAL_RATIO}×: {'met' if ratio >= GOAL_RATIO else 'not met'})")


if __name__ == "__main__":
    main()
