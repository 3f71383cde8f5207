"""Projection catch-up: how fast a worker applies a backlog from the events topic.

A worker reads every event it applies from the event store (by the message's position,
checked against the message), never from the message itself. This measures what that
costs: a history (bench/_history.py) is published by the relay, then each projection's
worker (in this process, the same code as `customer-timeline project NAME`) applies the
whole backlog from the topic. Beside it, from the same run: a plain group-less consumer
reading the same messages (the broker's ceiling), and `rebuild()` of the projection over
the same events (reading the store page by page, no Kafka).

Run: python -m bench.catch_up [--events 100000] [--projections timeline,pipeline,duplicates]
Without --database-url / BENCH_DATABASE_URL it starts an embedded PostgreSQL of its own; without
KAFKA_BOOTSTRAP_SERVERS, Apache Kafka (infra/kafka) where Java is installed, else tansu (BENCH_BROKER=kafka|tansu).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tempfile
import uuid
from pathlib import Path

import psycopg

from kafka import KafkaConsumer

from bench._history import write_history
from bench._support import (
    default_database_url, describe_postgres, fresh_database, log_tail, postgres_server, start_broker, start_service,
    stop_service,
)
from services.cli import tune_gc
from services.projections.app import build_worker
from services.projections.rebuild import rebuild
from services.projections.registry import PROJECTIONS
from services.relay.app import build_relay
from shared.bootstrap import build_customers
from shared.process import load_process_definition
from shared.settings import Settings


def _raw_consume(bootstrap: str, topic: str, total: int) -> float:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, max_poll_records=2000)
    started, seen = time.perf_counter(), 0
    while seen < total:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=500, max_records=2000).values())
    elapsed = time.perf_counter() - started
    consumer.close()
    return total / elapsed


def _catch_up(settings: Settings, name: str, total: int) -> float:
    worker = build_worker(settings, name)
    while not worker.consumer.assignment():  # join the group before the clock starts
        worker.step(timeout_ms=200)
    started = time.perf_counter()
    while worker.applied < total:
        worker.step(timeout_ms=500)
    elapsed = time.perf_counter() - started
    worker.close()
    return total / elapsed


def _processes(settings: Settings, name: str, total: int, count: int, tmp: Path) -> tuple[float, float]:
    """`count` worker processes (`customer-timeline project NAME`) of one consumer group share the topic's
    partitions; the read model is emptied first. Timed from the first event applied to the last (joining the
    group excluded, a rebalance while the second joins included), from the versions table. Returns the rate
    and the CPU the workers used meanwhile (% of one core, all of them)."""
    from psycopg.sql import SQL, Identifier

    projection = PROJECTIONS[name](load_process_definition(settings.process_definition))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for table in projection.all_tables():
            conn.execute(SQL("TRUNCATE {0}").format(Identifier(table)))
        group = f"{settings.consumer_group_prefix}-{count}p"
        env = {**os.environ, "DATABASE_URL": settings.database_url,
               "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
               "EVENTS_TOPIC": settings.events_topic, "DEAD_LETTER_TOPIC": settings.dead_letter_topic,
               "CONSUMER_GROUP_PREFIX": group}
        services = [start_service(["project", name], env, tmp / f"{name}-{count}-{i}.log") for i in range(count)]
        applied = SQL("SELECT coalesce(sum(version), 0) FROM {0}").format(Identifier(projection.versions_table))
        try:
            first = last = None
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                done = conn.execute(applied).fetchone()[0]
                now = time.perf_counter()
                if done and first is None:
                    first, cpu = now, _cpu_seconds(services)
                if done >= total:
                    last = now
                    break
                for service in services:
                    if service.poll() is not None:
                        raise RuntimeError(f"a worker exited:\n{log_tail(tmp / f'{name}-{count}-0.log')}")
                time.sleep(0.05)
            if first is None or last is None:
                raise RuntimeError(f"{count} workers did not apply the backlog in time")
            used = _cpu_seconds(services) - cpu
        finally:
            for service in services:
                stop_service(service)
    return total / (last - first), 100 * used / (last - first)


def _cpu_seconds(services: list) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for service in services:
        with open(f"/proc/{service.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--projections", default=",".join(PROJECTIONS))
    parser.add_argument("--processes", default="",
                        help="also run these many worker processes of one consumer group, e.g. 1,2 "
                             "(the topic's partitions shared among them)")
    parser.add_argument("--database-url", default=default_database_url(),
                        help="server for a fresh database (default: $BENCH_DATABASE_URL, else an embedded one)")
    args = parser.parse_args()
    server, broker = postgres_server(args.database_url), start_broker()
    bootstrap = broker.bootstrap
    tune_gc()
    print(f"# {' '.join(sys.argv)}\n# {os.cpu_count()} cores, Python {platform.python_version()}\n"
          f"# {describe_postgres(server)}\n# broker: {broker.description}")
    with fresh_database(server) as url:
        tag = uuid.uuid4().hex[:8]
        settings = Settings(database_url=url, kafka_bootstrap_servers=bootstrap, events_topic=f"bench-events-{tag}",
                            dead_letter_topic=f"bench-dead-{tag}", consumer_group_prefix=f"bench-{tag}")
        customers = build_customers(settings)
        total, _ = write_history(customers, args.events)
        relay = build_relay(settings)
        started = time.perf_counter()
        while relay.publish_next():
            pass
        relay_rate = total / (time.perf_counter() - started)
        raw = _raw_consume(bootstrap, settings.events_topic, total)
        print(f"{total:,} events; relay published {relay_rate:,.0f}/s; a plain consumer reads {raw:,.0f} messages/s")
        print(f"{'projection':<12} {'worker catch-up':>16} {'rebuild':>10} {'worker / rebuild':>17} {'worker / raw':>13}")
        for name in args.projections.split(","):
            worker_rate = _catch_up(settings, name, total)
            report = rebuild(PROJECTIONS[name], customers.process, customers.reader, url, progress=False)
            print(f"{name:<12} {worker_rate:>14,.0f}/s {report.rate:>8,.0f}/s {worker_rate / report.rate:>16.2f}× "
                  f"{worker_rate / raw:>12.2f}×", flush=True)
        counts = [int(c) for c in args.processes.split(",") if c]
        if counts:
            print(f"worker processes of one consumer group ({settings.events_topic_partitions} partitions), "
                  "the read model emptied before each run; first event applied to last:")
            with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
                for name in args.projections.split(","):
                    rates = {}
                    for count in counts:
                        rates[count], cpu = _processes(settings, name, total, count, Path(tmp))
                        print(f"  {name:<12} {count} process{'es' if count > 1 else '  '} {rates[count]:>9,.0f} events/s "
                              f"({rates[count] / rates[counts[0]]:.2f}× {counts[0]}; workers' CPU {cpu:,.0f}% of a "
                              f"core)", flush=True)
        customers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
