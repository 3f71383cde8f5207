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
import uuid

from kafka import KafkaConsumer

from bench._history import write_history
from bench._support import default_database_url, describe_postgres, fresh_database, postgres_server, start_broker
from services.cli import tune_gc
from services.projections.app import build_worker
from services.projections.rebuild import rebuild
from services.projections.registry import PROJECTIONS
from services.relay.app import build_relay
from shared.bootstrap import build_customers
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--projections", default=",".join(PROJECTIONS))
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
                  f"{worker_rate / raw:>12.2f}×")
        customers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
