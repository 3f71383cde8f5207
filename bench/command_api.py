"""Write throughput through the HTTP command API, beside two baselines measured in the same run.

1. HTTP API: the real server (`customer-timeline serve command`) as a subprocess; N keep-alive
   clients POST touchpoints (1 event each) to random pre-registered customers.
2. raw psycopg: N threads, one connection each, single-row INSERT + COMMIT into a table shaped
   like the event table.
3. eventsourcing: the project's `Customers` application, N threads, one command per
   `execute()` call, so one save (one transaction) per event.

Each measurement gets a fresh database. Run: python -m bench.command_api [--clients 32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from uuid import UUID, uuid4

import psycopg

from bench._support import (
    CpuMeter, Result, child_pids, count_rows, issue_token, default_database_url, describe_postgres, drive, free_port,
    fresh_database, http_request, percentile, postgres_server, process_cpu_seconds, run_threads,
)

CUSTOMERS = 2_000
ACTOR = {"user": "bench", "department": "sales", "team": "本社営業1課", "site": "東京本社"}
SUMMARY = "定例連絡 {n}: 導入後の利用状況を確認。次回の定例打ち合わせを来月第2週で調整中"
EVENTS_TABLE = "customers_events"
GOAL_RATIO, GOAL_P99_MS = 0.5, 100  # issue 15: HTTP API ÷ raw INSERT + COMMIT in the same run, and its p99


# ---------------------------------------------------------------- 1. HTTP API

def touchpoint_body(n: int) -> dict:
    return {"channel": "phone", "direction": "outbound", "summary": SUMMARY.format(n=n)}


def start_server(db_url: str, port: int, log: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("customer-timeline")
    server = subprocess.Popen([str(exe), "serve", "command", "--port", str(port)],
                              env={**os.environ, "DATABASE_URL": db_url}, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)  # Ctrl-C reaches us only
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/process", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"server did not answer GET /process in 60 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def count_write_transactions(db_url: str) -> int:
    """Touchpoint events were appended by how many transactions (rows of one transaction share xmin)."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(f"SELECT count(DISTINCT xmin::text) FROM {EVENTS_TABLE} "  # noqa: S608
                            "WHERE topic LIKE '%TouchpointRecorded'").fetchone()[0]


def bench_http(server_url: str, clients: int, seconds: float) -> Result:
    result = Result(f"HTTP API: POST touchpoints, {clients} clients")
    with fresh_database(server_url) as db_url, tempfile.TemporaryDirectory() as tmp:
        port, log = free_port(), Path(tmp) / "server.log"
        server = start_server(db_url, port, log)
        try:
            token = issue_token(db_url)
            ids = [uuid4() for _ in range(CUSTOMERS)]
            todo = iter([http_request(port, "/customers", {"customer_id": str(i), "company_name": f"株式会社ベンチ{n}",
                                                           "industry": "製造業"}, token)
                         for n, i in enumerate(ids)])
            setup = Result("register")
            asyncio.run(drive(port, clients, lambda: next(todo, None), setup, []))
            if setup.errors or setup.count != CUSTOMERS:
                raise RuntimeError(f"registering customers failed: {dict(setup.errors)}")
            paths = [f"/customers/{i}/touchpoints" for i in ids]
            counter = iter(range(10**9))
            latencies: list[float] = []
            deadline = time.perf_counter() + seconds

            def next_touchpoint() -> bytes | None:
                if time.perf_counter() >= deadline:
                    return None
                return http_request(port, random.choice(paths), touchpoint_body(next(counter)), token)

            serving = [server.pid, *child_pids(server.pid)]  # COMMAND_WORKERS > 1: uvicorn's worker processes
            meter = {"server": server.pid, **{f"worker {n}": pid for n, pid in enumerate(serving[1:], 1)},
                     "load generator": os.getpid()}
            with CpuMeter(meter) as cpu:
                server_cpu = sum(map(process_cpu_seconds, serving))
                started = time.perf_counter()
                asyncio.run(drive(port, clients, next_touchpoint, result, latencies))
                result.seconds = time.perf_counter() - started
                server_cpu = sum(map(process_cpu_seconds, serving)) - server_cpu
            stored = count_rows(db_url, EVENTS_TABLE) - CUSTOMERS
            transactions = count_write_transactions(db_url)
            latencies.sort()
            result.p99 = percentile(latencies, 0.99)
            result.cpu_per_event = server_cpu / max(result.count, 1)
            result.notes += [
                f"201 responses: {result.count:,}; rows in {EVENTS_TABLE} (less {CUSTOMERS:,} registrations): "
                f"{stored:,}" + ("" if stored == result.count else "  <-- MISMATCH"),
                f"write transactions (group commits): {transactions:,}, "
                f"{stored / max(transactions, 1):,.1f} events each on average",
                f"latency p50 {percentile(latencies, 0.5) * 1000:,.1f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:,.1f} ms",
                f"CPU (% of one core; {os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%): {cpu.describe()}",
                f"server CPU per event: {result.cpu_per_event * 1000:.2f} ms ({len(serving)} process"
                f"{'es' if len(serving) > 1 else ''})",
            ]
        finally:
            stop_server(server)
    return result


# ---------------------------------------------------------------- 2. raw psycopg

def bench_raw(server_url: str, clients: int, seconds: float) -> Result:
    result = Result(f"raw psycopg INSERT + COMMIT, {clients} threads")
    state = json.dumps({**touchpoint_body(0), "event_id": str(uuid4()), "touchpoint_id": str(uuid4()),
                        "occurred_at": "2026-11-20T06:30:00.123456Z", "prev_hash": "0" * 64, "deal_id": None,
                        "contact_id": None, "reaction": None, "topics_of_interest": []},
                       ensure_ascii=False).encode()  # about the size of a stored TouchpointRecorded
    with fresh_database(server_url) as db_url:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE events (originator_id uuid, originator_version bigint, topic text, "
                         "state bytea, PRIMARY KEY (originator_id, originator_version))")
        connections: list[psycopg.Connection] = []
        try:
            connections += [psycopg.connect(db_url) for _ in range(clients)]
            streams = [[uuid4(), 0] for _ in range(clients)]  # each thread appends to its own stream

            def insert(index: int) -> bool:
                stream, conn = streams[index], connections[index]
                stream[1] += 1
                conn.execute("INSERT INTO events VALUES (%s, %s, %s, %s)",
                             (stream[0], stream[1], "shared.events.customer:TouchpointRecorded", state))
                conn.commit()
                return True

            run_threads(clients, seconds, insert, result)
        finally:
            for conn in connections:
                conn.close()
        result.notes.append(f"state payload {len(state):,} bytes; rows in table: {count_rows(db_url, 'events'):,}")
    return result


# ---------------------------------------------------------------- 3. eventsourcing, one save per transaction

def bench_eventsourcing(server_url: str, clients: int, seconds: float) -> Result:
    from shared.application import Envelope, Outcome
    from shared.bootstrap import build_customers
    from shared.commands import RecordTouchpoint, RegisterCustomer
    from shared.events import Actor
    from shared.events.customer import CompanyProfile, TouchpointDetails
    from shared.settings import Settings

    result = Result(f"eventsourcing, 1 command per execute(), {clients} threads")
    actor = Actor(**ACTOR)
    with fresh_database(server_url) as db_url:
        customers = build_customers(Settings(database_url=db_url))
        try:
            ids = [uuid4() for _ in range(CUSTOMERS)]
            for n in range(0, CUSTOMERS, 500):
                customers.execute([Envelope(RegisterCustomer(details=CompanyProfile(company_name=f"株式会社ベンチ{n + k}")),
                                            customer_id, actor) for k, customer_id in enumerate(ids[n:n + 500])])
            counter = iter(range(10**9))

            def record(_: int) -> bool:
                customer_id: UUID = random.choice(ids)
                details = TouchpointDetails(channel="phone", direction="outbound", summary=SUMMARY.format(n=next(counter)))
                [outcome] = customers.execute([Envelope(RecordTouchpoint(details=details), customer_id, actor)])
                if not isinstance(outcome, Outcome):
                    raise outcome
                return True

            run_threads(clients, seconds, record, result)
            with psycopg.connect(db_url) as conn:
                avg = conn.execute(f"SELECT avg(length(state)) FROM {EVENTS_TABLE} "  # noqa: S608
                                   "WHERE topic LIKE '%TouchpointRecorded'").fetchone()[0]
                sizes = f"; TouchpointRecorded state averages {float(avg or 0):,.0f} bytes"
            stored = count_rows(db_url, EVENTS_TABLE) - CUSTOMERS
            result.notes.append(f"rows in {EVENTS_TABLE} (less {CUSTOMERS:,} registrations): {stored:,}{sizes}")
        finally:
            customers.close()
    return result


# ---------------------------------------------------------------- report

def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.command_api", description=__doc__.split("\n")[0])
    cli.add_argument("--clients", type=int, default=32, help="concurrent clients / threads (default 32)")
    cli.add_argument("--seconds", type=float, default=20, help="length of each measurement (default 20)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create fresh databases on (default: $BENCH_DATABASE_URL, else an embedded one)")
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks

    print("command:   ", shlex.join(["python", "-m", "bench.command_api", *(sys.argv[1:] if argv is None else argv)]))
    print("machine:   ", f"{os.cpu_count()} cores (nproc), {platform.machine()}, {platform.platform(terse=True)}")
    print("python:    ", platform.python_version())
    args.database_url = postgres_server(args.database_url)  # else an embedded server of its own
    print("postgresql:", describe_postgres(args.database_url))
    print(f"settings:   {args.clients} clients, {args.seconds:g} s per measurement, {CUSTOMERS:,} customers\n",
          flush=True)

    results = []
    try:
        for bench in (bench_http, bench_raw, bench_eventsourcing):
            try:
                result = bench(args.database_url, args.clients, args.seconds)
            except Exception as error:  # noqa: BLE001 - e.g. more clients than max_connections: go on
                result = Result(bench.__name__.removeprefix("bench_"), errors=Counter({f"FAILED: {error}": 1}))
            results.append(result)
            print(f"- {result.label}: {result.count:,} in {result.seconds:,.1f} s", flush=True)
            for note in result.notes:
                print(f"    {note}")
            for error, count in result.errors.most_common(10):
                print(f"    ERROR x{count:,}: {error}")
    except KeyboardInterrupt:
        print("interrupted (server stopped, databases dropped)", file=sys.stderr)
        return 130

    api = results[0].rate
    width = max(len(r.label) for r in results)
    print(f"\n{'':{width}}  {'events/s':>10}  {'errors':>7}  {'API ÷ this':>10}")
    for r in results:
        ratio = "—" if r is results[0] else (f"{api / r.rate:,.2f}×" if r.rate and api else "n/a")
        print(f"{r.label:{width}}  {r.rate:>10,.0f}  {sum(r.errors.values()):>7,}  {ratio:>10}")
    raw = results[1].rate
    if api and raw:
        p99 = results[0].p99 * 1000
        print(f"\nAPI = {api / raw:.2f}× raw (goal ≥ {GOAL_RATIO}×: {'met' if api / raw >= GOAL_RATIO else 'not met'}); "
              f"p99 {p99:,.0f} ms (goal < {GOAL_P99_MS} ms: {'met' if p99 < GOAL_P99_MS else 'not met'}); "
              f"server CPU {results[0].cpu_per_event * 1000:.2f} ms per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
