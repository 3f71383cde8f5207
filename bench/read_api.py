"""Read-path latency of the timeline API on a realistic history, beside the bare SQL that reads the same rows.

1. A fresh database gets `bench/_history.read_history`: --customers customers (two deals each through the
   phases, tickets, CS / support / tech touchpoints, five sales teams at four sites), ONE customer with
   --big-events events, and touchpoints up to --events; written with `Customers.execute` in batches of
   ~1,000 commands. The read models (pipeline, timeline, duplicates) are built with `rebuild()`, then
   VACUUM ANALYZE.
2. `customer-timeline serve timeline --port P` runs as a subprocess on that database (waited for if the
   timeline API is not there yet), with an auditor token from `customer-timeline tokens issue`.
3. For each read, after a warm-up: --requests sequential requests on one keep-alive connection (p50 / p99 /
   max), then the bare SQL reading the same rows with psycopg on one connection, the same number of times.
   The reads: (a)-(d) with their statements spelled here; then every manager read of the pipeline read model
   (list, summaries, funnel, stage durations, win rates, KPIs, the lists needing attention, win and loss
   reasons, duplicates, CS's follow-up list), whose bare SQL is the statements the endpoint's query functions
   run, recorded by calling them once (so the baseline is never a copy that drifts from the code).
   A read over its target is measured again under py-spy (the server process) and the profile summarised.

Run: python -m bench.read_api [--events 1000000] [--customers 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench._support import (
    CpuMeter, Profile, _frame_name, default_database_url, describe_postgres, postgres_server, frame_matches,
    free_port, fresh_database, issue_token, log_tail, percentile, py_spy, py_spy_executable, split_stacks,
    start_service, stop_service, wait_for_quiet_machine, with_dbname,
)

REPO = Path(__file__).resolve().parents[1]
TIMELINE_APP = REPO / "services" / "timeline_api" / "app.py"
PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "psycopg", "eventsourcing", "orjson")


# ---------------------------------------------------------------- 1. the data

@dataclass
class Data:
    events: int
    customers: int
    big_customer: str
    big_events: int
    generate_seconds: float
    rebuild_seconds: dict[str, float]
    sizes: dict[str, str] = field(default_factory=dict)


def build_data(db_url: str, customers_count: int, events: int, big_events: int) -> Data:
    from bench._history import read_history
    from services.cli import tune_gc
    from services.projections.rebuild import rebuild
    from services.projections.registry import PROJECTIONS
    from shared.bootstrap import build_customers
    from shared.settings import Settings

    customers = build_customers(Settings(database_url=db_url))
    tune_gc()  # as `customer-timeline projections rebuild` does
    try:
        started = time.perf_counter()
        last = [started]

        def progress(written: int) -> None:
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                elapsed = last[0] - started
                print(f"    … {written:,} events in {elapsed:,.0f} s ({written / elapsed:,.0f}/s)", flush=True)

        history = read_history(customers, customers_count, events, big_events, report=progress)
        generated = time.perf_counter() - started
        print(f"    generated {history.events:,} events for {history.customers:,} customers in {generated:,.0f} s "
              f"({history.events / generated:,.0f} events/s)", flush=True)
        rebuilt = {}
        for name in ("pipeline", "timeline", "duplicates"):
            report = rebuild(PROJECTIONS[name], customers.process, customers.reader, db_url, progress=False)
            rebuilt[name] = report.seconds
            print(f"    rebuilt {name}: {report.events:,} events in {report.seconds:,.0f} s "
                  f"({report.rate:,.0f}/s)", flush=True)
    finally:
        customers.close()
    with psycopg.connect(db_url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        print(f"    VACUUM ANALYZE: {time.perf_counter() - started:,.0f} s", flush=True)
        sizes = sizes_of(conn)
        stored = conn.execute("SELECT count(*) FROM customers_events WHERE originator_id = %s",
                              (history.big_customer,)).fetchone()[0]
    return Data(history.events, history.customers, str(history.big_customer), stored, generated, rebuilt, sizes)


def sizes_of(conn: psycopg.Connection) -> dict[str, str]:
    sizes = {}
    for table in ("customers_events", "timeline_entries", "pipeline_deals", "pipeline_stage_history", "pipeline_outcomes"):
        rows, size = conn.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size(%s::regclass)) "
                                  f"FROM {table}", (table,)).fetchone()  # noqa: S608 - fixed names
        sizes[table] = f"{rows:,} rows, {size}"
    sizes["database"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return sizes


def existing_data(db_url: str) -> Data:
    """What a database kept by an earlier run (--keep-database) holds; the big customer: the longest stream."""
    with psycopg.connect(db_url) as conn:
        events = conn.execute("SELECT count(*) FROM customers_events").fetchone()[0]
        customers = conn.execute("SELECT count(*) FROM stream_heads").fetchone()[0]
        big, big_events = conn.execute("SELECT customer_id, version FROM stream_heads "
                                       "ORDER BY version DESC LIMIT 1").fetchone()
        return Data(events, customers, str(big), big_events, float("nan"), {}, sizes_of(conn))


# ---------------------------------------------------------------- 2. the server

def timeline_api_present() -> bool:
    if not TIMELINE_APP.exists():
        return False
    exe = Path(sys.executable).with_name("customer-timeline")
    out = subprocess.run([str(exe), "serve", "--help"], capture_output=True, text=True, timeout=60)
    return "timeline" in out.stdout + out.stderr


def wait_for_timeline_api(max_wait: float) -> None:
    started = time.monotonic()
    while not timeline_api_present():
        if time.monotonic() - started > max_wait:
            raise RuntimeError(f"no timeline API after {max_wait:,.0f} s ({TIMELINE_APP}, `serve timeline`)")
        print("    waiting for the timeline API (services/timeline_api/app.py, `serve timeline`) …", flush=True)
        time.sleep(60)


class Client:
    """Sequential GETs on one keep-alive HTTP/1.1 connection (opened again if the server closed it while idle:
    uvicorn closes keep-alive connections after 5 s without a request)."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request("GET", path, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def reconnect(self) -> None:
        """A fresh connection, so no measured request pays for reconnecting."""
        self.connection.close()
        self.connection.connect()

    def close(self) -> None:
        self.connection.close()


def start_timeline(db_url: str, port: int, log: Path) -> subprocess.Popen:
    server = start_service(["serve", "timeline", "--port", str(port)], {**os.environ, "DATABASE_URL": db_url}, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"serve timeline exited ({server.returncode}):\n{log_tail(log)}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/openapi.json")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.2)
    stop_service(server)
    raise RuntimeError(f"serve timeline did not answer GET /openapi.json in 120 s:\n{log_tail(log)}")


# ---------------------------------------------------------------- 3. the reads

@dataclass
class Read:
    key: str
    label: str
    path: str
    target_ms: float
    sql: list[Any]  # the statements the endpoint runs for its rows, in order (text or psycopg.sql)
    params: Callable[[], Any]  # fresh parameters per run (stagnation: now); one per statement when `each`
    check: Callable[[dict], str]  # what the answer holds, for the report
    each: bool = False  # params() gives one parameter set per statement
    api: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    profile: list[str] = field(default_factory=list)

    @property
    def p99_ms(self) -> float:
        return percentile(sorted(self.api), 0.99) * 1000

    @property
    def met(self) -> bool:
        return not self.errors and self.p99_ms < self.target_ms


def reads(customer_id: str, middle_version: int, as_of: str) -> list[Read]:
    from services.projections.pipeline import stagnation
    from shared.process import load_process_definition

    process = load_process_definition()
    quoted = urllib.parse.quote(as_of, safe="")
    return [
        Read("a", "(a) timeline, first page, 5,000-event customer", f"/customers/{customer_id}/timeline", 50,
             ["SELECT event_id, customer_id, stream_version, occurred_at, recorded_at, actor_user, department, team, "
              "site, kind, summary_ja, summary_en, deal_id, ticket_id, company_name FROM timeline_entries "
              "WHERE customer_id = %s ORDER BY occurred_at DESC, stream_version DESC LIMIT 51"],
             lambda: (customer_id,), lambda body: f"{len(body['entries'])} entries"),
        Read("b", "(b) pipeline summary", "/pipeline/summary", 50,
             ["SELECT NULL::text AS grp, d.phase, d.stage, count(*), coalesce(sum(d.amount), 0) "
              "FROM pipeline_deals d WHERE d.status = 'open' GROUP BY 1, 2, 3"],
             lambda: (), lambda body: f"{sum(g['deals'] for g in body['groups']):,} open deals"),
        Read("c", "(c) stagnation, first page (as of now)", "/pipeline/stagnation", 50,
             [stagnation.STUCK_COUNT, stagnation.STUCK_PAGE],  # the statements the API runs
             lambda: stagnation.stuck_parameters(process, datetime.now(timezone.utc), limit=100),
             lambda body: f"{len(body['deals']):,} of {body['count']:,} stuck deals"),
        Read("d", f"(d) audit state as of the middle (v{middle_version:,})",
             f"/audit/customers/{customer_id}/state?as_of={quoted}", 200,
             ["SELECT originator_id, notification_id, originator_version, topic, state FROM customers_events "
              "WHERE originator_id = %s AND originator_version <= %s ORDER BY originator_version"],
             lambda: (customer_id, middle_version),
             lambda body: f"state at version {body['version']:,} of {body['current_version']:,}"),
    ]


class Recording:
    """A connection that records each statement run through it (and its parameters), for the bare SQL."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn, self.statements = conn, []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.statements.append((query, params))
        return self.conn.execute(query, params, **kwargs)

    @contextlib.contextmanager
    def cursor(self, **kwargs: Any) -> Any:
        recording = self

        class Cursor:
            def __init__(self, cursor: Any) -> None:
                self.cursor = cursor

            def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                recording.statements.append((query, params))
                self.cursor.execute(query, params, **kw)
                return self.cursor

        with self.conn.cursor(**kwargs) as cursor:
            yield Cursor(cursor)


def recorded(db_url: str, key: str, label: str, path: str, run: Callable[[Any], Any],
             check: Callable[[dict], str], target_ms: float = 50) -> Read:
    """A read whose bare SQL is what ``run`` (the endpoint's query functions) executes."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        recording = Recording(conn)
        run(recording)
    statements = recording.statements
    return Read(key, label, path, target_ms, [q for q, _ in statements], lambda: [p for _, p in statements], check,
                each=True)


def manager_reads(db_url: str) -> list[Read]:
    """Every manager read of the pipeline read model (and CS's follow-up list), whole history unless said."""
    from services.projections.duplicates.queries import duplicate_approaches
    from services.projections.pipeline import analytics, deals, outcomes, stagnation
    from shared.process import load_process_definition

    process = load_process_definition()
    phases = [p.id for p in process.phases]
    now = datetime.now(timezone.utc)
    every = {k: None for k in deals.FILTERS}
    groups = lambda body: f"{len(body['groups'])} group(s)"  # noqa: E731
    alerts = lambda body: f"{len(body['deals']):,} of {body['count']:,} deals"  # noqa: E731
    reasons = lambda body: (f"{body['matching_deals']:,} deals, {len(body['reasons'])} reasons, "  # noqa: E731
                            f"{len(body['deals'])} on the page")
    quarter = (datetime(2025, 7, 1, tzinfo=timezone.utc), datetime(2025, 10, 1, tzinfo=timezone.utc))
    return [
        recorded(db_url, "e", "(e) pipeline, first page of open deals", "/pipeline?status=open",
                 lambda c: deals.list_deals(c, {**every, "status": "open"}, 51), lambda b: f"{len(b['deals'])} deals"),
        recorded(db_url, "f", "(f) pipeline summary per team", "/pipeline/summary?group_by=team",
                 lambda c: deals.counts_by_stage(c, "open", "team"), groups),
        recorded(db_url, "g", "(g) funnel, whole history", "/pipeline/funnel",
                 lambda c: analytics.funnel(c, phases, None, None, None), groups),
        recorded(db_url, "h", "(h) funnel per owner, one quarter", "/pipeline/funnel?group_by=owner&since=2025-07-01"
                 "&until=2025-10-01", lambda c: analytics.funnel(c, phases, *quarter, "owner"), groups),
        recorded(db_url, "i", "(i) stage durations, whole history", "/pipeline/stage-durations",
                 lambda c: analytics.stage_durations(c, None, None, None), groups),
        recorded(db_url, "j", "(j) win rates per owner, whole history", "/pipeline/win-rates?group_by=owner",
                 lambda c: deals.closed_counts(c, None, None, "owner"), groups),
        recorded(db_url, "k", "(k) KPIs", "/kpis", lambda c: analytics.open_deal_counts(c, phases[0]),
                 lambda b: f"{b['open_deals']:,} open deals"),
        recorded(db_url, "l", "(l) no next action, first page", "/pipeline/no-next-action",
                 lambda c: (stagnation.count_alerts(c, now, stagnation.NO_NEXT_ACTION),
                            stagnation.deals_without_next_action(c, now, 100, 0)), alerts),
        recorded(db_url, "m", "(m) overdue next actions, first page", "/pipeline/overdue-next-actions",
                 lambda c: (stagnation.count_alerts(c, now, stagnation.OVERDUE),
                            stagnation.overdue_next_actions(c, now, 100, 0)), alerts),
        recorded(db_url, "n", "(n) follow-up stagnation (CS), first page", "/follow-up/stagnation",
                 lambda c: (stagnation.count_stuck_in_follow_up(c, process, now),
                            stagnation.stuck_in_follow_up(c, process, now, 100, 0)), alerts),
        recorded(db_url, "o", "(o) loss reasons with notes, whole history", "/outcomes/reasons?outcome=lost",
                 lambda c: (outcomes.reason_counts(c, "lost", None, None, None),
                            outcomes.closed_deals(c, "lost", None, None, None, 50)), reasons),
        recorded(db_url, "p", "(p) win reasons, searched in titles and notes", "/outcomes/reasons?outcome=won&q=%E5%B0%8E%E5%85%A5",
                 lambda c: (outcomes.reason_counts(c, "won", None, None, "導入"),
                            outcomes.closed_deals(c, "won", None, None, "導入", 50)), reasons),
        recorded(db_url, "q", "(q) duplicate approaches (90 days to now)", "/alerts/duplicates",
                 lambda c: duplicate_approaches(c, as_of=now, window_days=90),
                 lambda b: f"{len(b['companies']):,} companies"),
    ]


def middle_of(db_url: str, customer_id: str) -> tuple[int, str]:
    """The big customer's middle version and the time the event store recorded it."""
    with psycopg.connect(db_url) as conn:
        head = conn.execute("SELECT max(originator_version) FROM customers_events WHERE originator_id = %s",
                            (customer_id,)).fetchone()[0]
        version = head // 2
        state = conn.execute("SELECT state FROM customers_events WHERE originator_id = %s AND "
                             "originator_version = %s", (customer_id, version)).fetchone()[0]
    return version, orjson.loads(state)["timestamp"]


def measure_api(client: Client, read: Read, warmup: int, requests: int) -> None:
    client.reconnect()
    for _ in range(warmup):
        status, body = client.get(read.path)
        if status != 200:
            read.errors[f"{status} {body[:300].decode(errors='replace')}"] += 1
            return
    sizes = []
    for _ in range(requests):
        started = time.perf_counter()
        status, body = client.get(read.path)
        read.api.append(time.perf_counter() - started)
        sizes.append(len(body))
        if status != 200:
            read.errors[f"{status} {body[:300].decode(errors='replace')}"] += 1
    read.notes.append(f"answer: {read.check(json.loads(body))}, {sum(sizes) / len(sizes) / 1024:,.1f} KiB")


def measure_bare(db_url: str, read: Read, warmup: int, requests: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows: list[int] = []
        for i in range(warmup + requests):
            params = read.params()
            each = params if read.each else [params] * len(read.sql)
            started = time.perf_counter()
            rows = [len(conn.execute(statement, p).fetchall()) for statement, p in zip(read.sql, each)]
            if i >= warmup:
                read.bare.append(time.perf_counter() - started)
    read.notes.append(f"bare SQL ({len(read.sql)} statement{'s' * (len(read.sql) > 1)}) returns "
                      + " + ".join(f"{n:,}" for n in rows) + " rows")


# ---------------------------------------------------------------- profiles

IDLE_LEAVES = ("threading.py:wait", "queue.py:get", "selectors.py:select", "threading.py:_wait_for_tstate_lock",
               "asyncio/base_events.py:_run_once", "asyncio/runners.py:run", "concurrent/futures/thread.py:_worker")
GROUPS = {  # first match wins, in this order
    "SQL: psycopg execute / fetch (waiting on PostgreSQL included)": ("psycopg/cursor.py:execute",
                                                                      "psycopg/cursor.py:fetchall",
                                                                      "psycopg/connection.py:execute",
                                                                      "psycopg/connection.py:wait"),
    "connection pool (get / return, transaction begin / commit)": ("psycopg_pool/pool.py:connection",
                                                                   "psycopg_pool/pool.py:getconn",
                                                                   "psycopg_pool/pool.py:putconn",
                                                                   "psycopg/connection.py:commit"),
    "event replay (eventsourcing repository, mapper, aggregate)": ("eventsourcing/application.py:get",
                                                                   "shared/persistence.py:to_domain_event"),
    "response: validation + serialisation (FastAPI / pydantic / JSON)": ("fastapi/routing.py:serialize_response",
                                                                          "fastapi/encoders.py:jsonable_encoder",
                                                                          "starlette/responses.py:render",
                                                                          "fastapi/routing.py:_prepare_response_content"),
}


def profile_read(server: subprocess.Popen, client: Client, read: Read, requests: int, output: Path) -> None:
    client.reconnect()
    with py_spy(output, rate=250, pid=server.pid, idle=True):
        for _ in range(requests):
            client.get(read.path)
    kept = output.with_suffix(".busy.txt")
    lines = []
    for line in output.read_text(errors="replace").splitlines():
        stack, _, _ = line.rpartition(" ")
        leaf = _frame_name(stack.rsplit(";", 1)[-1])
        if not any(frame_matches(leaf, idle) for idle in IDLE_LEAVES):
            lines.append(line)
    kept.write_text("\n".join(lines) + "\n")
    profile = Profile.read(kept, "")
    total = profile.samples
    if not total:
        read.profile.append("py-spy: no busy samples")
        return
    _, parts = split_stacks(kept, "", dict(GROUPS))
    read.profile.append(f"py-spy of the server over {requests} requests ({output.name}; {total:,} busy samples "
                        "at 250/s, threads waiting for work left out): where a request's time goes")
    read.profile += [f"  {share:6.1%}  {group}" for group, share in parts.items()]
    read.profile.append("  heaviest functions (inclusive):")
    skip = frozenset(name for name, _ in profile.top("inclusive", 40) if _is_frame_plumbing(name))
    read.profile += [f"  {share:6.1%}  {name}" for name, share in profile.top("inclusive", 14, skip)]
    read.profile.append("  leaves (self time):")
    read.profile += [f"  {share:6.1%}  {name}" for name, share in profile.top("own", 10)]


def explain(db_url: str, read: Read) -> list[str]:
    """Each statement's plan as PostgreSQL ran it: scan nodes with their rows and times, buffers, total."""
    lines = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        params = read.params()
        each = params if read.each else [params] * len(read.sql)
        for n, (statement, p) in enumerate(zip(read.sql, each), 1):
            text = statement if isinstance(statement, str) else statement.as_string(conn)
            plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + text, p)]
            total = next((line.strip() for line in plan if line.startswith("Execution Time")), "?")
            lines.append(f"statement {n}/{len(read.sql)} ({' '.join(text.split())[:60]}…): {total}")
            buffers = next((line.strip() for line in plan if "Buffers:" in line), "")
            lines.append(f"  {buffers}")
            lines += [f"  {line.strip().removeprefix('->  ')[:150]}" for line in plan
                      if any(node in line for node in ("Scan on", "Scan using", "Sort Method", "Join Filter"))][:5]
    return lines


def _is_frame_plumbing(name: str) -> bool:
    return any(part in name for part in ("threading.py", "asyncio/", "anyio/", "uvicorn/", "starlette/middleware",
                                         "starlette/_exception_handler", "starlette/routing", "contextlib.py",
                                         "concurrent/futures", "services/cli.py", "<module>", "runpy.py"))


# ---------------------------------------------------------------- report

def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def versions() -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def print_summary(data: Data, results: list[Read]) -> None:
    print(f"\nsummary ({data.events:,} events, {data.customers:,} customers, one of {data.big_events:,} events; "
          f"latency of {len(results[0].api) if results else 0} sequential requests each):")
    rows = [("read", "API p50", "API p99", "API max", "bare SQL p50", "bare SQL p99", "target p99", "")]
    for r in results:
        api, bare = sorted(r.api), sorted(r.bare)
        rows.append((r.label, ms(percentile(api, 0.5)), ms(percentile(api, 0.99)), ms(api[-1]) if api else "-",
                     ms(percentile(bare, 0.5)), ms(percentile(bare, 0.99)), f"< {r.target_ms:g} ms",
                     "met" if r.met else "MISSED"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip())


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.read_api", description=__doc__.split("\n")[0])
    cli.add_argument("--events", type=int, default=1_000_000, help="at least this many events (default 1,000,000)")
    cli.add_argument("--customers", type=int, default=20_000, help="customers besides the big one (default 20,000)")
    cli.add_argument("--big-events", type=int, default=5_000, help="events of the one big customer (default 5,000)")
    cli.add_argument("--requests", type=int, default=200, help="measured requests per read (default 200)")
    cli.add_argument("--warmup", type=int, default=20, help="requests before measuring (default 20)")
    cli.add_argument("--profile", choices=["below-target", "all", "off"], default="below-target",
                     help="which reads to measure again under py-spy (default: those over their target)")
    cli.add_argument("--profile-dir", type=Path, help="where py-spy profiles go (default: a new /tmp directory)")
    cli.add_argument("--max-wait", type=float, default=1800,
                     help="wait up to this long for no pytest / other benchmark and an idle CPU, and for the "
                          "timeline API to exist (default 1800 s; 0: don't wait for a quiet machine)")
    cli.add_argument("--keep-database", action="store_true",
                     help="keep the generated database (its name is printed) for --reuse-database")
    cli.add_argument("--reuse-database", metavar="NAME",
                     help="measure on a database kept by an earlier run instead of generating one (not dropped)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create a fresh database on (default: $BENCH_DATABASE_URL, else an embedded one)")
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks

    print("command:   ", shlex.join(["python", "-m", "bench.read_api", *(sys.argv[1:] if argv is None else argv)]))
    print("machine:   ", f"{os.cpu_count()} cores (nproc), {cpu_model()}, {platform.machine()}, "
                         f"{platform.platform(terse=True)}")
    print("python:    ", platform.python_version())
    args.database_url = postgres_server(args.database_url)  # else an embedded server of its own
    print("postgresql:", describe_postgres(args.database_url))
    print("packages:  ", versions())
    print(f"settings:   ≥ {args.events:,} events, {args.customers:,} customers + one of {args.big_events:,} events; "
          f"{args.warmup} warm-up + {args.requests} measured requests per read\n", flush=True)

    results: list[Read] = []
    data: Data | None = None
    try:
        database = (contextlib.nullcontext(with_dbname(args.database_url, args.reuse_database))
                    if args.reuse_database else fresh_database(args.database_url, keep=args.keep_database))
        with database as db_url, tempfile.TemporaryDirectory() as tmp:
            print("1. data", flush=True)
            if args.reuse_database:
                data = existing_data(db_url)
                print(f"    reused database {args.reuse_database} (generated by an earlier run)")
            else:
                if args.keep_database:
                    print(f"    database {urllib.parse.urlsplit(db_url).path.strip('/') or db_url} is kept "
                          "(--reuse-database NAME measures on it again; drop it when done)")
                if args.max_wait > 0:
                    print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
                data = build_data(db_url, args.customers, args.events, args.big_events)
            timing = (f"; generation {data.generate_seconds:,.0f} s, rebuilds "
                      + ", ".join(f"{k} {v:,.0f} s" for k, v in data.rebuild_seconds.items())
                      if data.rebuild_seconds else "")
            print(f"    data: {data.events:,} events, {data.customers:,} customers, big customer {data.big_customer} "
                  f"with {data.big_events:,} events{timing}")
            for name, size in data.sizes.items():
                print(f"    {name}: {size}")

            print("\n2. the timeline API", flush=True)
            wait_for_timeline_api(max(args.max_wait, 60))
            port, log = free_port(), Path(tmp) / "timeline.log"
            server = start_timeline(db_url, port, log)
            client = None
            try:
                token = issue_token(db_url, role="auditor")
                client = Client(port, token)
                version, as_of = middle_of(db_url, data.big_customer)
                print(f"    serve timeline on port {port} (pid {server.pid}); auditor token; (d) as_of = {as_of} "
                      f"(recorded time of version {version:,})", flush=True)
                results = reads(data.big_customer, version, as_of) + manager_reads(db_url)

                print("\n3. latency", flush=True)
                if args.max_wait > 0:
                    print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
                for read in results:
                    with CpuMeter({"server": server.pid}) as cpu:
                        started = time.perf_counter()
                        try:
                            measure_api(client, read, args.warmup, args.requests)
                        except OSError as error:  # the server died or hung up: report it, go on with the next
                            read.errors[f"{type(error).__name__}: {error}"] += 1
                        wall = time.perf_counter() - started
                    if read.api:
                        per_request = cpu.percent["server"] / 100 * wall / (args.warmup + args.requests)
                        read.notes.append(f"server CPU {per_request * 1000:,.1f} ms per request; "
                                          f"machine {cpu.percent['whole machine']:,.0f}% of one core")
                    measure_bare(db_url, read, args.warmup, args.requests)
                    api, bare = sorted(read.api), sorted(read.bare)
                    print(f"- {read.label}: GET {read.path}", flush=True)
                    if api:
                        print(f"    API      p50 {ms(percentile(api, 0.5))}, p99 {ms(percentile(api, 0.99))}, "
                              f"max {ms(api[-1])}  (target p99 < {read.target_ms:g} ms: "
                              f"{'met' if read.met else 'MISSED'})")
                    print(f"    bare SQL p50 {ms(percentile(bare, 0.5))}, p99 {ms(percentile(bare, 0.99))}, "
                          f"max {ms(bare[-1])}")
                    for note in read.notes:
                        print(f"    {note}")
                    for error, count in read.errors.most_common(5):
                        print(f"    ERROR x{count}: {error}")

                wanted = [r for r in results if args.profile == "all" or (args.profile == "below-target" and not r.met)]
                if wanted and py_spy_executable():
                    profile_dir = args.profile_dir or Path(tempfile.mkdtemp(prefix="ct-bench-read-profiles-"))
                    profile_dir.mkdir(parents=True, exist_ok=True)
                    print(f"\n4. profiles (py-spy, {profile_dir})", flush=True)
                    for read in wanted:
                        profile_read(server, client, read, args.requests, profile_dir / f"read_{read.key}.txt")
                        print(f"- {read.label}")
                        for line in [*read.profile, "EXPLAIN (ANALYZE, BUFFERS) of the bare SQL:",
                                     *explain(db_url, read)]:
                            print(f"    {line}")
                elif wanted:
                    print("\n4. profiles: py-spy not found (pip install py-spy)")
            finally:
                if client is not None:
                    client.close()
                stop_service(server)
    except KeyboardInterrupt:
        print("\ninterrupted (server stopped, database dropped)", file=sys.stderr)
        return 130
    if data is not None and results:
        print_summary(data, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
