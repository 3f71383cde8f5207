"""Projections: end-to-end lag from commit to the timeline read model, and rebuild rate.

1. End-to-end lag: the relay and the `timeline` projection worker run as subprocesses
   (`customer-timeline relay`, `customer-timeline project timeline`) against a fresh database,
   fresh topics and a fresh consumer group. Touchpoints are appended at a steady rate
   (every 20 ms, rate/50 events in ONE `Customers.execute` call); a poller looks up the
   appended event ids in `timeline_entries` and records when each becomes visible; a
   group-less consumer of the topic splits the lag at the relay's send().
2. Rebuild rate: a fresh database is filled with a realistic history (bench/_history.py);
   reading the whole notification log (raw, then also decoded into events) is measured
   beside `rebuild()` of each projection over the same events, with the time spent in the
   garbage collector. A projection below the target is rebuilt once more under py-spy, and
   the profile is summarised; --gc-variants adds rebuilds with other gc settings.

Run: python -m bench.projections [--rate 500] [--seconds 60] [--rebuild-events 200000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import platform
import queue
import random
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import orjson
import psycopg

from bench._history import register_customers, write_history
from services.projections.rebuild import PAGE_SIZE as REBUILD_PAGE, default_processes
from bench._support import (
    CpuBreakdown, CpuMeter, GcMeter, Profile, busy_processes, joined_children_cpu, default_database_url, describe_postgres,
    postgres_server, fresh_database, log_tail, percentile, py_spy, py_spy_executable, split_stacks, start_service,
    stop_service, wait_for_quiet_machine, broker_choice, kafka_broker,
)

CUSTOMERS = 2_000  # touchpoint targets of the lag run
TICK = 0.02  # the appender's pace: one execute() per tick
TARGET_P99 = 0.25  # seconds, end-to-end, at a steady 500 events/s (issue 15)
TARGET_REBUILD_RATIO = 0.25  # each rebuild ÷ the raw read of the notification log (issue 15)
SUMMARY = "定例連絡 {n}: 導入後の利用状況を確認。次回の定例打ち合わせを来月第2週で調整中"


# ---------------------------------------------------------------- 1. end-to-end lag

@dataclass
class LagReport:
    appended: int = 0
    seconds: float = 0.0
    lags: list[float] = field(default_factory=list)  # sorted, seconds
    unseen: int = 0
    refused: int = 0
    late_ticks: int = 0
    ticks: int = 0
    commit_times: list[float] = field(default_factory=list)  # sorted, seconds per execute()
    relay_part: list[float] = field(default_factory=list)  # sorted: commit -> relay's send() (CreateTime)
    rest_part: list[float] = field(default_factory=list)  # sorted: send() -> visible in timeline_entries
    fetch_part: list[float] = field(default_factory=list)  # sorted: send() -> received by the tap consumer
    poll_period: float = 0.0
    poll_max_gap: float = 0.0
    ready_after: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine: dict[str, float] = field(default_factory=dict)  # this benchmark / postgres / other processes
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.appended / self.seconds if self.seconds else 0.0


class VisibilityPoller(threading.Thread):
    """Looks up the appended events' ids in `timeline_entries` every `interval` s.

    An event counts as visible at the start of the first query that returns it: it committed
    after the previous query started and before this one, so the figure is an upper bound
    within one poll period. (`timeline_entries` has no column that grows with commit order,
    so the pending ids themselves are the query: a few hundred primary-key probes per poll.)
    """

    def __init__(self, db_url: str, interval: float) -> None:
        super().__init__(name="visibility-poller", daemon=True)
        self.db_url, self.interval = db_url, interval
        self.incoming: queue.SimpleQueue[tuple[list[UUID], float]] = queue.SimpleQueue()
        self.pending: dict[UUID, float] = {}
        self.lags: list[float] = []
        self.visible_wall: dict[UUID, float] = {}  # event id -> when first seen, epoch seconds
        self.finish, self.abort = threading.Event(), threading.Event()  # finish: once nothing is pending
        self.polls, self.first_poll, self.last_poll, self.max_gap = 0, 0.0, 0.0, 0.0
        self.error: BaseException | None = None

    def expect(self, event_ids: list[UUID], appended_at: float) -> None:
        self.incoming.put((event_ids, appended_at))

    def run(self) -> None:
        try:
            with psycopg.connect(self.db_url, autocommit=True) as conn:
                next_poll = time.monotonic()
                while not self.abort.is_set():
                    while not self.incoming.empty():
                        event_ids, appended_at = self.incoming.get()
                        self.pending.update(dict.fromkeys(event_ids, appended_at))
                    if not self.pending and self.finish.is_set():
                        return
                    if self.pending:
                        self._poll(conn)
                    next_poll = max(next_poll + self.interval, time.monotonic())
                    time.sleep(max(0.0, next_poll - time.monotonic()))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.error = error

    def _poll(self, conn: psycopg.Connection) -> None:
        started = time.monotonic()
        rows = conn.execute("SELECT event_id FROM timeline_entries WHERE event_id = ANY(%s)",
                            (list(self.pending),)).fetchall()
        for (event_id,) in rows:
            self.lags.append(started - self.pending.pop(event_id))
            self.visible_wall[event_id] = started - time.monotonic() + time.time()
        if self.polls:
            self.max_gap = max(self.max_gap, started - self.last_poll)
        else:
            self.first_poll = started
        self.polls, self.last_poll = self.polls + 1, started


class TopicTap(threading.Thread):
    """Reads the events topic outside any consumer group and keeps each event's CreateTime: the
    wall-clock moment the relay called send(). That splits the lag into the relay's part (commit →
    send) and the rest (broker → worker → commit of the read model). When the tap itself received
    the event shows what a plain consumer with kafka-python's default fetch settings (the worker's)
    waits for the broker."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name="topic-tap", daemon=True)
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      client_id="bench-tap")
        partitions = self.consumer.partitions_for_topic(topic) or set()
        self.consumer.assign([TopicPartition(topic, p) for p in partitions])
        self.consumer.seek_to_end()
        self.sent_at: dict[UUID, float] = {}  # event id -> relay's send() time, epoch seconds
        self.received_at: dict[UUID, float] = {}  # event id -> when this consumer got it, epoch seconds
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for messages in self.consumer.poll(timeout_ms=200).values():
                    now = time.time()
                    for message in messages:
                        event_id = UUID(orjson.loads(message.value)["payload"]["event_id"])
                        self.sent_at.setdefault(event_id, message.timestamp / 1000)
                        self.received_at.setdefault(event_id, now)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.error = error
        finally:
            self.consumer.close()


def touchpoint(n: int):
    from shared.commands import RecordTouchpoint
    from shared.events.customer import TouchpointDetails

    details = TouchpointDetails(channel="phone", direction="outbound", summary=SUMMARY.format(n=n))
    return RecordTouchpoint(details=details)


def wait_for_log(service: subprocess.Popen, log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log_tail(log, 100_000):
        if service.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no '{text}' in the log (exit code {service.poll()}):\n{log_tail(log)}")
        time.sleep(0.05)


def wait_until_ready(customers, customer_id: UUID, db_url: str, services: dict[str, subprocess.Popen],
                     logs: dict[str, Path], timeout: float = 120) -> float:
    """Append one event and wait until the worker shows it: relay up, worker joined its group."""
    from shared.application import Envelope, Outcome
    from bench._history import SALES_HQ

    started = time.monotonic()
    [outcome] = customers.execute([Envelope(touchpoint(-1), customer_id, SALES_HQ)])
    assert isinstance(outcome, Outcome), outcome
    probe = UUID(outcome.events[0]["event_id"])
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            for name, service in services.items():
                if service.poll() is not None:
                    raise RuntimeError(f"{name} exited ({service.returncode}):\n{log_tail(logs[name])}")
            try:
                if conn.execute("SELECT 1 FROM timeline_entries WHERE event_id = %s", (probe,)).fetchone():
                    return time.monotonic() - started
            except psycopg.errors.UndefinedTable:
                pass  # the worker has not created its tables yet
            time.sleep(0.1)
    raise RuntimeError(f"the probe event was not visible within {timeout:.0f} s\n"
                       + "\n".join(f"--- {name} log:\n{log_tail(log)}" for name, log in logs.items()))


def append_steadily(customers, ids: list[UUID], rate: float, seconds: float, poller: VisibilityPoller,
                    report: LagReport, committed_wall: dict[UUID, float]) -> None:
    """Every TICK s, append the events due by the end of the tick in one execute() call."""
    from shared.application import Envelope, Outcome
    from bench._history import SALES_HQ

    rng = random.Random(7)
    commit_times: list[float] = []
    started = time.monotonic()
    tick, sent, calls = 0, 0, 0
    while tick * TICK < seconds - 1e-9:
        due = int(rate * min((tick + 1) * TICK, seconds)) - sent  # every event due by the end of this tick
        if due > 0:
            envelopes = [Envelope(touchpoint(sent + k), rng.choice(ids), SALES_HQ) for k in range(due)]
            before = time.monotonic()
            results = customers.execute(envelopes)
            committed, wall = time.monotonic(), time.time()  # execute() returns after the commit
            commit_times.append(committed - before)
            event_ids = [UUID(e["event_id"]) for r in results if isinstance(r, Outcome) for e in r.events]
            report.refused += sum(not isinstance(r, Outcome) for r in results)
            poller.expect(event_ids, committed)
            committed_wall.update(dict.fromkeys(event_ids, wall))
            report.appended += len(event_ids)
            sent += due
            calls += 1
        tick += 1
        now = int((time.monotonic() - started) / TICK)  # the tick the clock is in
        if now >= tick:  # late (a slow execute, a busy machine): the ticks missed go into the next call,
            report.late_ticks += 1  # so the rate holds and the run lasts --seconds
            tick = now
        else:
            time.sleep(max(0.0, started + tick * TICK - time.monotonic()))
    report.ticks = calls
    report.seconds = time.monotonic() - started
    report.commit_times = sorted(commit_times)


def bench_lag(server_url: str, bootstrap: str | None, rate: float, seconds: float, poll_interval: float,
              broker_kind: str | None = None) -> LagReport:
    """broker_kind: "kafka" or "tansu" started here, whatever is configured (see bench._support.start_broker)."""
    from shared.bootstrap import build_customers
    from shared.settings import Settings

    report = LagReport()
    with (fresh_database(server_url) as db_url, tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp,
          kafka_broker(bootstrap, broker_kind) as broker):
        servers, broker_pid = broker.bootstrap, broker.pid
        tag = secrets.token_hex(4)
        env = {**os.environ, "DATABASE_URL": db_url, "KAFKA_BOOTSTRAP_SERVERS": servers,
               "EVENTS_TOPIC": f"bench-{tag}.customer-events", "DEAD_LETTER_TOPIC": f"bench-{tag}.dead-letter",
               "CONSUMER_GROUP_PREFIX": f"bench-{tag}"}
        report.notes.append(f"broker: {broker.description}; topic {env['EVENTS_TOPIC']}, "
                            f"group {env['CONSUMER_GROUP_PREFIX']}-timeline")
        customers = build_customers(Settings(database_url=db_url))
        services: dict[str, subprocess.Popen] = {}
        logs = {"relay": Path(tmp) / "relay.log", "worker": Path(tmp) / "worker.log"}
        poller = VisibilityPoller(db_url, poll_interval)
        tap: TopicTap | None = None
        committed_wall: dict[UUID, float] = {}
        try:
            ids = register_customers(customers, CUSTOMERS)
            # One after the other: two services creating eventsourcing's tables and function at once
            # in a fresh database can fail with "tuple concurrently updated" (seen here).
            services["relay"] = start_service(["relay"], env, logs["relay"])
            wait_for_log(services["relay"], logs["relay"], "relay publishing to")
            services["worker"] = start_service(["project", "timeline"], env, logs["worker"])
            report.ready_after = wait_until_ready(customers, ids[0], db_url, services, logs)
            time.sleep(1.0)  # let the worker finish the registrations' backlog
            tap = TopicTap(servers, env["EVENTS_TOPIC"])
            tap.start()
            poller.start()
            pids = {"relay": services["relay"].pid, "worker": services["worker"].pid}
            if broker_pid:
                pids[f"broker ({broker.kind})"] = broker_pid
            pids["bench (appender + poller)"] = os.getpid()
            with CpuMeter(pids) as cpu, CpuBreakdown() as machine:
                append_steadily(customers, ids, rate, seconds, poller, report, committed_wall)
            report.cpu = cpu.percent
            report.machine = machine.percent
            if warning := outside_load(machine.percent):
                report.notes.append(warning)
            poller.finish.set()
            poller.join(60)  # the stragglers; what is still missing after this counts as not visible
            if poller.error:
                raise RuntimeError(f"poller failed: {poller.error!r}")
            for name, service in services.items():
                if service.poll() is not None:
                    report.notes.append(f"{name} EXITED ({service.returncode}) during the run:\n{log_tail(logs[name])}")
            report.lags = sorted(poller.lags)
            report.unseen = len(poller.pending) + poller.incoming.qsize()
            report.poll_period = (poller.last_poll - poller.first_poll) / max(poller.polls - 1, 1)
            report.poll_max_gap = poller.max_gap
            tap.stop.set()
            tap.join(10)
            if tap.error:
                report.notes.append(f"topic tap failed: {tap.error!r}")
            split = [(tap.sent_at[e] - committed_wall[e], poller.visible_wall[e] - tap.sent_at[e])
                     for e in poller.visible_wall if e in tap.sent_at and e in committed_wall]
            report.relay_part = sorted(relay for relay, _ in split)
            report.rest_part = sorted(rest for _, rest in split)
            report.fetch_part = sorted(tap.received_at[e] - tap.sent_at[e] for e in tap.received_at
                                       if e in committed_wall)
        finally:
            poller.abort.set()
            if poller.is_alive():
                poller.join(5)
            if tap is not None and tap.is_alive():
                tap.stop.set()
                tap.join(10)
            for service in services.values():
                stop_service(service)
            customers.close()
    return report


# ---------------------------------------------------------------- 2. rebuild rate

@dataclass
class RateRow:
    label: str
    events: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    gc_seconds: float = 0.0  # in CPython's cyclic garbage collector
    gc_full: int = 0  # full (generation 2) collections
    profile: list[str] = field(default_factory=list)  # summary lines, when profiled

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class RebuildReport:
    events: int = 0
    customers: int = 0
    fill_seconds: float = 0.0
    rows: list[RateRow] = field(default_factory=list)  # raw read, read + decode, then one per projection


def read_log(customers, decode: bool, select_notifications: bool = False) -> int:
    """Page through the whole notification log like rebuild() does (its query, page size and garbage-collector
    setting; or eventsourcing's ``select_notifications``); optionally decode each stored event as rebuild() does
    (``rebuild.decode_page``: the page's keys, then EventSource.decode per event)."""
    from services.projections.rebuild import decode_page, fewer_collections
    from services.projections.store import EventSource

    source = EventSource(customers.reader)
    position, count = 0, 0
    with fewer_collections():
        while True:
            if select_notifications:
                page = customers.recorder.select_notifications(position, limit=REBUILD_PAGE, inclusive_of_start=False)
                last = page[-1].id if page else 0
            else:
                page = customers.reader.notification_rows(position, None, REBUILD_PAGE)
                last = page[-1]["notification_id"] if page else 0
                if decode:
                    decode_page(source, page)  # the page's keys in one query, then each event (rebuild's own code)
            if not page:
                return count
            count += len(page)
            position = last


def timed_row(label: str, work) -> RateRow:
    """``work`` timed, with the CPU of this process and of the processes it forked and joined meanwhile (a
    rebuild's replaying processes) as "bench (python)"."""
    with CpuMeter({"bench (python)": os.getpid()}) as cpu, CpuBreakdown() as machine, GcMeter() as collector:
        started, children = time.perf_counter(), joined_children_cpu()
        events = work()
        seconds = time.perf_counter() - started
        forked = joined_children_cpu() - children
    cpu.percent["bench (python)"] += 100 * forked / seconds
    row = RateRow(label, events, seconds, {**cpu.percent, **machine.percent}, collector.seconds,
                  collector.collections[2])
    if warning := outside_load(machine.percent):
        row.label += " [!]"
        row.profile.append(warning)
    return row


def outside_load(machine: dict[str, float]) -> str | None:
    """A warning when other processes used more than 10% of a core meanwhile (a test run, another benchmark)."""
    if machine.get("other processes", 0) <= 10:
        return None
    return (f"[!] other processes used {machine['other processes']:,.0f}% of a core meanwhile; test runs and "
            f"benchmarks seen: {busy_processes()[:3]}")


# Where a rebuild's wall time goes, in this order (a sample counts for the first group on its stack).
REBUILD_PARTS = {
    "read the log (recorder.select_notifications)": ("eventsourcing/postgres.py:select_notifications",),
    "decode stored events (EventSource.decode)": ("services/projections/store.py:decode",),
    "wait for the next page (read + decoded in a thread meanwhile)": ("concurrent/futures/_base.py:result",),
    "lock + read applied versions (Projection.lock_versions)": ("services/projections/base.py:lock_versions",),
    "projection write (<Projection>.write)": ("services/projections/pipeline/projection.py:write",
                                              "services/projections/timeline/projection.py:write",
                                              "services/projections/duplicates/projection.py:write"),
    "update applied versions (Projection.apply, executemany)": ("services/projections/base.py:apply",),
    "commit (psycopg Transaction.__exit__)": ("psycopg/transaction.py:__exit__",),
}
REBUILD_ROOT = "services/projections/rebuild.py:rebuild"


def profile_rebuild(name: str, customers, db_url: str, output: Path) -> list[str]:
    """Rebuild once more under py-spy; summarise: parts of the wall time, then the heaviest functions."""
    from services.projections.rebuild import rebuild
    from services.projections.registry import PROJECTIONS

    with py_spy(output), GcMeter() as collector:
        report = rebuild(PROJECTIONS[name], customers.process, customers.reader, db_url, progress=False)
    total, parts = split_stacks(output, REBUILD_ROOT, REBUILD_PARTS)
    profile = Profile.read(output, REBUILD_ROOT)
    lines = [f"profile ({total:,} samples at 100/s, idle included, so shares are of wall time): {output}"]
    lines += [f"  {share:6.1%}  {part}" for part, share in sorted(parts.items(), key=lambda p: -p[1])]
    lines.append(f"  across these parts, {collector.seconds / report.seconds:.1%} of the wall time was CPython's "
                 f"garbage collector ({sum(collector.collections.values()):,} collections, "
                 f"{collector.collections[2]:,} full; measured with gc.callbacks): py-spy shows it inside "
                 "whichever function allocated, mostly pydantic's model_validate")
    skip = frozenset({REBUILD_ROOT, "services/projections/rebuild.py:_apply_page"})
    lines.append("  heaviest functions, inclusive (share of wall time):")
    lines += [f"    {share:6.1%}  {fn}" for fn, share in profile.top("inclusive", 18, skip)]
    lines.append("  heaviest leaves, self time (share of wall time):")
    lines += [f"    {share:6.1%}  {fn}" for fn, share in profile.top("own", 10)]
    return lines


@contextlib.contextmanager
def gc_variant(variant: str) -> Iterator[None]:
    """What-if settings of CPython's garbage collector for one rebuild, restored afterwards."""
    thresholds = gc.get_threshold()
    gc.collect()
    if variant == "freeze":  # what is alive now (modules, schemas, the app) is never scanned again
        gc.freeze()
    elif variant == "threshold":  # young collections 5× rarer than rebuild's own setting (rebuild only raises it)
        gc.set_threshold(5_000_000, 50, 100)
    elif variant == "off":
        gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


GC_VARIANTS = {"freeze": "gc.freeze() first", "threshold": "gc.set_threshold(5_000_000, 50, 100)",
               "off": "gc.disable()"}


def bench_rebuild(server_url: str, target_events: int, profile_dir: Path | None, profile_all: bool = False,
                  gc_variants: bool = False, processes: Sequence[int] = (1,)) -> RebuildReport:
    from services.projections.rebuild import rebuild
    from services.projections.registry import PROJECTIONS
    from shared.bootstrap import build_customers
    from shared.settings import Settings

    report = RebuildReport()
    with fresh_database(server_url) as db_url:
        writer = build_customers(Settings(database_url=db_url))
        try:
            started = time.perf_counter()
            progress = (lambda n: print(f"    … {n:,} events written", end="\r", flush=True)) \
                if sys.stdout.isatty() else None
            report.events, report.customers = write_history(writer, target_events, report=progress)
            report.fill_seconds = time.perf_counter() - started
            if progress:
                print(" " * 40, end="\r")
        finally:
            writer.close()
        # Read with a new application, as `customer-timeline projections rebuild` does: the writer's
        # cache of thousands of customers would make every garbage collection of the rebuild slower.
        del writer
        gc.collect()
        customers = build_customers(Settings(database_url=db_url))
        try:
            stored = customers.recorder.max_notification_id() or 0
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE customers_events")
                size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('customers_events')), "
                                    "avg(length(state))::int FROM customers_events").fetchone()
            print(f"    history: {report.events:,} events of {report.customers:,} customers "
                  f"({report.events / report.customers:,.1f} each), written in {report.fill_seconds:,.1f} s "
                  f"({report.events / report.fill_seconds:,.0f} events/s, ~1,000 commands per execute()); "
                  f"max notification id {stored:,}; table {size[0]}, state {size[1]:,} bytes on average", flush=True)
            read_log(customers, decode=False)  # warm-up: the table into PostgreSQL's and the OS's caches
            # The baseline is the faster of two plain reads: rebuild's own query (the columns it decodes, rows as
            # psycopg gives them) and eventsourcing's select_notifications (a Notification per row).
            raw = [timed_row(f"raw read: rebuild's query, pages of {REBUILD_PAGE:,}",
                             lambda: read_log(customers, decode=False)),
                   timed_row(f"raw read: select_notifications, pages of {REBUILD_PAGE:,}",
                             lambda: read_log(customers, decode=False, select_notifications=True))]
            report.rows += sorted(raw, key=lambda row: -row.rate)
            report.rows.append(timed_row("read + decode (EventSource.decode, as rebuild() does)",
                                         lambda: read_log(customers, decode=True)))
            for (name, cls), count in itertools.product(PROJECTIONS.items(), processes):
                row = timed_row(f"rebuild {name}, {count} process{'es' if count > 1 else ''}",
                                lambda cls=cls, count=count: rebuild(cls, customers.process, customers.reader, db_url,
                                                                     progress=False, processes=count).events)
                report.rows.append(row)
                print(f"    {row.label}: {row.rate:,.0f} events/s = {row.rate / report.rows[0].rate:.2f}× raw "
                      f"(goal ≥ {TARGET_REBUILD_RATIO:.2f}×)", flush=True)
                if count == 1 and profile_dir is not None and (
                        profile_all or row.rate < TARGET_REBUILD_RATIO * report.rows[0].rate):
                    print(f"    profiling a second rebuild of {name} with py-spy …", flush=True)
                    row.profile += profile_rebuild(name, customers, db_url, profile_dir / f"rebuild-{name}.txt")
            for variant, label in GC_VARIANTS.items() if gc_variants else ():
                for name, cls in PROJECTIONS.items():
                    def work(cls=cls, variant=variant) -> int:
                        with gc_variant(variant):
                            return rebuild(cls, customers.process, customers.reader, db_url, progress=False).events
                    row = timed_row(f"what-if: rebuild {name}, {label}", work)
                    report.rows.append(row)
                    print(f"    {row.label}: {row.rate:,.0f} events/s", flush=True)
        finally:
            customers.close()
    return report


# ---------------------------------------------------------------- report

def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def print_lag(report: LagReport, rate: float, poll_interval: float) -> None:
    lags = report.lags
    print(f"- appended {report.appended:,} events in {report.seconds:,.1f} s = {report.rate:,.1f} events/s "
          f"(asked {rate:,.0f}); {report.ticks:,} execute() calls on ticks of {TICK * 1000:.0f} ms, "
          f"{report.late_ticks:,} late (their missed ticks' events went into the next call); "
          f"refused commands: {report.refused:,}")
    for note in report.notes:
        print(f"    {note}")
    print(f"    relay + worker ready (probe event visible) after {report.ready_after:,.1f} s")
    commits = report.commit_times
    print(f"    execute() per batch (append + commit): p50 {ms(percentile(commits, 0.5))}, "
          f"p99 {ms(percentile(commits, 0.99))}, max {ms(commits[-1] if commits else 0)}")
    print(f"    lag from commit to visible in timeline_entries ({len(lags):,} events): "
          f"p50 {ms(percentile(lags, 0.5))}, p90 {ms(percentile(lags, 0.9))}, p99 {ms(percentile(lags, 0.99))}, "
          f"max {ms(lags[-1] if lags else float('nan'))}, mean {ms(sum(lags) / len(lags) if lags else float('nan'))}")
    if report.relay_part:
        print(f"    split ({len(report.relay_part):,} events, from the relay's CreateTime on the topic): "
              f"commit → relay send() p50 {ms(percentile(report.relay_part, 0.5))}, "
              f"p99 {ms(percentile(report.relay_part, 0.99))}; send() → visible p50 "
              f"{ms(percentile(report.rest_part, 0.5))}, p99 {ms(percentile(report.rest_part, 0.99))}")
        print(f"    for comparison, a group-less consumer in the bench (default fetch settings, like the worker) "
              f"received them send() + p50 {ms(percentile(report.fetch_part, 0.5))}, "
              f"p99 {ms(percentile(report.fetch_part, 0.99))}")
    print(f"    resolution: polled every {report.poll_period * 1000:,.1f} ms on average "
          f"(asked {poll_interval * 1000:g} ms; longest gap {ms(report.poll_max_gap)}); "
          "figures are upper bounds within one poll")
    print(f"    not visible at the end: {report.unseen:,}" + ("" if report.unseen == 0 else "  <-- LOST OR STUCK"))
    cores = os.cpu_count() or 1
    print(f"    CPU (% of one core; {cores} cores = {100 * cores}%): "
          + ", ".join(f"{name} {value:,.0f}%" for name, value in report.cpu.items()))
    print("    the machine's CPU by owner: "
          + ", ".join(f"{name} {value:,.0f}%" for name, value in report.machine.items()), flush=True)


def print_rebuild(report: RebuildReport) -> None:
    raw = report.rows[0].rate
    width = max(len(r.label) for r in report.rows)
    print(f"    {'':{width}}  {'events':>9}  {'seconds':>7}  {'events/s':>9}  {'÷ raw':>6}  {'goal':>7}  "
          f"{'CPU: python':>11}  {'postgres':>8}  {'others':>6}  {'in gc (full gcs)':>16}")
    for r in report.rows:
        print(f"    {r.label:{width}}  {r.events:>9,}  {r.seconds:>7,.1f}  {r.rate:>9,.0f}  {r.rate / raw:>5.2f}×  {('≥ %.2f×' % TARGET_REBUILD_RATIO) if r.label.startswith('rebuild') else '':>7}  "
              f"{r.cpu.get('bench (python)', 0):>10,.0f}%  {r.cpu.get('postgres', 0):>7,.0f}%  "
              f"{r.cpu.get('other processes', 0):>5,.0f}%  {r.gc_seconds / r.seconds:>10.0%} ({r.gc_full:>3})")
    print("    (CPU in % of one core: the benchmark process, every postgres process, all other processes)")
    for r in report.rows:
        if r.profile:
            print(f"\n    {r.label}:")
            for line in r.profile:
                print(f"    {line}")
    print(flush=True)


def print_summary(lag: LagReport | None, rebuilt: RebuildReport | None) -> None:
    rows: list[tuple[str, str, str, str]] = []
    if lag:
        p99 = percentile(lag.lags, 0.99)
        rows += [
            ("append rate achieved", f"{lag.rate:,.1f} events/s", "", ""),
            ("lag p50 / p90", f"{ms(percentile(lag.lags, 0.5))} / {ms(percentile(lag.lags, 0.9))}", "", ""),
            ("lag p99", ms(p99), f"goal ≤ {TARGET_P99 * 1000:,.0f} ms at 500 events/s",
             "met" if p99 <= TARGET_P99 and lag.lags and lag.rate >= 0.98 * 500 else "NOT MET"),
            ("lag max", ms(lag.lags[-1] if lag.lags else float("nan")), "", ""),
            ("events not visible at the end", f"{lag.unseen:,}", "0", "ok" if lag.unseen == 0 else "MISSED"),
            ("relay / worker CPU", f"{lag.cpu.get('relay', 0):,.0f}% / {lag.cpu.get('worker', 0):,.0f}% of a core",
             "", ""),
        ]
    if rebuilt and rebuilt.rows:
        raw = rebuilt.rows[0].rate
        for r in rebuilt.rows:
            is_projection = r.label.startswith("rebuild")
            rows.append((r.label, f"{r.rate:,.0f} events/s ({r.rate / raw:.2f}× raw)",
                         f"goal ≥ {TARGET_REBUILD_RATIO:.2f}× raw" if is_projection else "",
                         ("met" if r.rate >= TARGET_REBUILD_RATIO * raw else "NOT MET") if is_projection else ""))
    if not rows:
        return
    widths = [max(len(row[i]) for row in [("measurement", "figure", "target", ""), *rows]) for i in range(4)]
    print("summary")
    for row in [("measurement", "figure", "target", ""), *rows]:
        print("  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.projections", description=__doc__.split("\n")[0])
    cli.add_argument("--rate", type=float, default=500, help="events appended per second (default 500)")
    cli.add_argument("--seconds", type=float, default=60, help="length of the lag measurement (default 60)")
    cli.add_argument("--rebuild-events", type=int, default=200_000, help="at least this many events (default 200,000)")
    cli.add_argument("--poll-interval", type=float, default=0.01, help="visibility poll interval, s (default 0.01)")
    cli.add_argument("--rebuild-processes", type=lambda text: [int(n) for n in text.split(",")],
                     default=[1, default_processes()],
                     help=f"rebuild each projection with each of these numbers of processes (default 1,"
                          f"{default_processes()}: one, and one per core as `projections rebuild` does)")
    cli.add_argument("--only", choices=["lag", "rebuild"], help="run one of the two measurements")
    cli.add_argument("--profile", choices=["below-target", "all", "off"], default="below-target",
                     help="which rebuilds to repeat under py-spy (default: those below the target)")
    cli.add_argument("--gc-variants", action="store_true",
                     help="also rebuild each projection with gc.freeze() / a higher gc threshold / gc off")
    cli.add_argument("--profile-dir", type=Path, help="where py-spy profiles go (default: a new /tmp directory)")
    cli.add_argument("--max-wait", type=float, default=1800,
                     help="wait up to this long for no pytest / other benchmark and an idle CPU "
                          "(default 1800 s; 0: don't wait)")
    cli.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                     help="Kafka brokers (default: $KAFKA_BOOTSTRAP_SERVERS, else Apache Kafka from infra/kafka "
                          "where Java is installed, else tansu; BENCH_BROKER=kafka|tansu chooses)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create fresh databases on (default: $BENCH_DATABASE_URL, else an embedded one)")
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks

    profile_dir = None
    if args.profile != "off" and args.only != "lag" and py_spy_executable():
        profile_dir = args.profile_dir or Path(tempfile.mkdtemp(prefix="ct-bench-profiles-"))
        profile_dir.mkdir(parents=True, exist_ok=True)

    print("command:   ", shlex.join(["python", "-m", "bench.projections", *(sys.argv[1:] if argv is None else argv)]))
    print("machine:   ", f"{os.cpu_count()} cores (nproc), {platform.machine()}, {platform.platform(terse=True)}")
    print("python:    ", platform.python_version())
    args.database_url = postgres_server(args.database_url)  # else an embedded server of its own
    print("postgresql:", describe_postgres(args.database_url))
    if args.only != "rebuild":
        print("broker:    ", broker_choice(args.bootstrap_servers), "(for the lag run)")
    print(f"settings:   {args.rate:,.0f} events/s for {args.seconds:g} s to {CUSTOMERS:,} customers; rebuild over "
          f"≥ {args.rebuild_events:,} events; py-spy profiles ({args.profile}): {profile_dir or 'none'}\n", flush=True)

    lag = rebuilt = None
    try:
        if args.only != "rebuild":
            print("1. end-to-end lag: commit → relay → Kafka → timeline worker → visible in timeline_entries",
                  flush=True)
            if args.max_wait > 0:
                print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
            lag = bench_lag(args.database_url, args.bootstrap_servers, args.rate, args.seconds, args.poll_interval)
            print_lag(lag, args.rate, args.poll_interval)
            print()
        if args.only != "lag":
            print("2. rebuild rate: the whole notification log, raw and through each projection's rebuild()",
                  flush=True)
            if args.max_wait > 0:
                print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
            rebuilt = bench_rebuild(args.database_url, args.rebuild_events, profile_dir,
                                    profile_all=args.profile == "all", gc_variants=args.gc_variants,
                                    processes=args.rebuild_processes)
            print_rebuild(rebuilt)
    except KeyboardInterrupt:
        print("\ninterrupted (services stopped, databases dropped)", file=sys.stderr)
        return 130
    finally:
        if profile_dir is not None and args.profile_dir is None and not any(profile_dir.iterdir()):
            profile_dir.rmdir()  # nothing was below the target
    print_summary(lag, rebuilt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
