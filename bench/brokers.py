"""Apache Kafka beside tansu: end-to-end lag and ingest throughput, on each broker in the same run.

For each broker (Apache Kafka 4.x from infra/kafka, one KRaft node; tansu, in memory), started
here one after the other on a free port:

1. end-to-end lag, as `python -m bench.projections --only lag` measures it: touchpoints
   appended at a steady rate, commit -> relay -> broker -> timeline worker -> visible;
2. ingest throughput, as `python -m bench.ingest` measures it: commands produced to a fresh
   ingest topic, then `customer-timeline ingest` timed until each is an event.

Both on the same PostgreSQL (embedded unless --database-url / BENCH_DATABASE_URL). The table
gives each figure per broker and their ratio (Kafka ÷ tansu); the machine's speed varies from
day to day, the ratio of two brokers measured in one run much less.

Run: python -m bench.brokers [--seconds 30] [--rate 500] [--messages 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import signal
import sys

from bench._support import (
    default_database_url, describe_postgres, kafka_broker, percentile, postgres_server, wait_for_quiet_machine,
)
from bench.ingest import run_ingest
from bench.projections import bench_lag, print_lag

BROKERS = {"kafka": "Apache Kafka", "tansu": "tansu"}


def measure(kind: str, args: argparse.Namespace) -> dict[str, float]:
    print(f"\n== {BROKERS[kind]}", flush=True)
    if args.max_wait > 0:
        print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
    print("1. end-to-end lag: commit → relay → broker → timeline worker → visible in timeline_entries", flush=True)
    lag = bench_lag(args.database_url, None, args.rate, args.seconds, args.poll_interval, broker_kind=kind)
    print_lag(lag, args.rate, args.poll_interval)
    if not lag.lags or lag.unseen:
        raise SystemExit(f"{BROKERS[kind]}: {lag.unseen:,} events never became visible")
    print("2. ingest: ingest topic → event store", flush=True)
    with kafka_broker(None, kind) as broker:
        print(f"    broker: {broker.description}", flush=True)
        ingest = run_ingest(args.database_url, broker.bootstrap, args.messages, args.customers, args.processes)
    return {"lag p50 (ms)": 1000 * percentile(lag.lags, 0.5), "lag p99 (ms)": 1000 * percentile(lag.lags, 0.99),
            "lag max (ms)": 1000 * lag.lags[-1], "ingest sustained (events/s)": ingest["sustained"],
            "ingest whole run (events/s)": ingest["overall"]}


def print_table(figures: dict[str, dict[str, float]]) -> None:
    kafka, tansu = figures["kafka"], figures["tansu"]
    width = max(map(len, kafka))
    print(f"\n{'':{width}}  {'Apache Kafka':>12}  {'tansu':>10}  {'Kafka ÷ tansu':>13}")
    for name in kafka:
        print(f"{name:{width}}  {kafka[name]:>12,.0f}  {tansu[name]:>10,.0f}  {kafka[name] / tansu[name]:>13.2f}")


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.brokers", description=__doc__.split("\n")[0])
    cli.add_argument("--rate", type=float, default=500, help="events appended per second in the lag run (default 500)")
    cli.add_argument("--seconds", type=float, default=30, help="length of each lag run (default 30)")
    cli.add_argument("--poll-interval", type=float, default=0.01, help="visibility poll interval, s (default 0.01)")
    cli.add_argument("--messages", type=int, default=100_000, help="commands per ingest run (default 100,000)")
    cli.add_argument("--customers", type=int, default=5_000, help="companies they register (default 5,000)")
    cli.add_argument("--processes", type=int, default=2, help="ingest consumers in one group (default 2)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create fresh databases on (default: $BENCH_DATABASE_URL, else an embedded one)")
    cli.add_argument("--max-wait", type=float, default=600,
                     help="wait up to this long for a quiet machine before each broker (0: don't wait)")
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks

    from infra import kafka as local_kafka

    if not local_kafka.available():
        raise SystemExit("Apache Kafka needs Java and Maven (see infra/kafka); this benchmark compares it with tansu")
    print("command:   ", shlex.join(["python", "-m", "bench.brokers", *(sys.argv[1:] if argv is None else argv)]))
    print("machine:   ", f"{os.cpu_count()} cores (nproc), {platform.machine()}, {platform.platform(terse=True)}")
    print("python:    ", platform.python_version())
    args.database_url = postgres_server(args.database_url)
    print("postgresql:", describe_postgres(args.database_url))
    print(f"settings:   lag {args.rate:,.0f} events/s for {args.seconds:g} s; ingest {args.messages:,} commands "
          f"({args.customers:,} companies), {args.processes} consumers; brokers: Apache Kafka "
          f"{local_kafka.KAFKA_VERSION} (infra/kafka), tansu", flush=True)
    figures = {kind: measure(kind, args) for kind in BROKERS}
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
