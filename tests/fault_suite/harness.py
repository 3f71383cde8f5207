"""A whole deployment on this machine, for fault injection: a private PostgreSQL, a private Apache Kafka node
(its own port and data directory, so it can be killed and started again with its data), and the product's
processes (relay, the three projection workers, ingest, the command API) started with
``python -m services.cli ...``, each logging to a file of its own.

``Load`` writes steadily through the command API (registrations and touchpoints, each with an
Idempotency-Key, retried with the same key until answered) and through the ingest topic (a registration
and touchpoints per customer, each message re-sent until the broker acknowledged it). ``Stack.check``
then proves: every acknowledged HTTP write is stored exactly once, every ingest message is stored once and
answered (answers are at-least-once: a repeated answer must equal the first), and each read model is
caught up (lag 0, nothing parked, no dead letter) and equal to a fresh rebuild from the event store.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer

from services.projections.registry import PROJECTIONS
from services.projections.status import projection_status
from tests.faults import RestartablePostgres, free_port
from tests.streaming import checksum

REPO = Path(__file__).resolve().parents[2]
SERVICES = {
    "relay": ["relay"],
    "pipeline": ["project", "pipeline"],
    "timeline": ["project", "timeline"],
    "duplicates": ["project", "duplicates"],
    "ingest": ["ingest"],
    "command": ["serve", "command"],
}
LOAD_BEFORE = 3.0   # seconds of load before the fault
LOAD_AFTER = 4.0    # seconds of load after recovery
INGEST_ACTOR = {"user": "ingest-app", "department": "support", "team": "サポート1課"}


def eventually(check: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # a server still coming back: try again
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s: {what}")
        time.sleep(interval)


class Stack:
    """PostgreSQL, Apache Kafka (one node, or a cluster of three) and every service process of the product."""

    def __init__(self, kafka_nodes: int = 1) -> None:
        from infra.kafka import start_broker, start_cluster

        self.kafka_nodes = kafka_nodes
        self.root = Path(tempfile.mkdtemp(prefix="ct-fault-suite-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.postgres = RestartablePostgres()
        self.postgres.start()
        self.kafka = start_cluster(self.root / "kafka", die_with_parent=True) if kafka_nodes == 3 else \
            start_broker(free_port(), self.root / "kafka", die_with_parent=True)
        self.node = self.kafka.nodes[0]
        self.command_port = free_port()
        tag = uuid.uuid4().hex[:8]
        self.group_prefix = f"group-{tag}"
        self.results_topic = f"results-{tag}"
        self.ingest_topic = f"commands-{tag}"
        self.env = {**os.environ, "DATABASE_URL": self.postgres.url(), "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
                    "EVENTS_TOPIC": f"events-{tag}", "DEAD_LETTER_TOPIC": f"dead-{tag}",
                    "INGEST_TOPIC": self.ingest_topic, "INGEST_RESULTS_TOPIC": self.results_topic,
                    "INGEST_DEAD_LETTER_TOPIC": f"commands-dead-{tag}", "CONSUMER_GROUP_PREFIX": self.group_prefix,
                    "RETRY_CAP_SECONDS": "1", "PROJECTION_BATCH_SIZE": "200", "INGEST_BATCH_SIZE": "200",
                    "COMMAND_HOST": "127.0.0.1", "COMMAND_PORT": str(self.command_port),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("DATA_DIR", None)
        self.cli("migrate")
        issued = self.cli("tokens", "issue", "--user", "loader", "--role", "sales", "--department", "sales",
                          "--team", "本社営業1課", "--site", "東京本社")
        self.token = issued.split("token:")[1].split()[0]
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts = itertools.count()
        for name in SERVICES:
            self.start(name)
        self.wait_command_api()

    @property
    def database_url(self) -> str:
        return self.postgres.url()

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "services.cli", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"customer-timeline {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        log.write(f"---- start {next(self.starts)} at {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "services.cli", *SERVICES[name]], env=self.env,
                                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)
        log.close()

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)

    def alive(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def wait_command_api(self, timeout: float = 60) -> None:
        eventually(lambda: httpx.get(f"http://127.0.0.1:{self.command_port}/healthz", timeout=1).status_code == 200,
                   timeout, "the command API answers")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.kafka.stop()
        self.postgres.close()

    # ------------------------------------------------------------ what is stored

    def stored_per_key(self) -> dict[str, int]:
        """Events per idempotency key, as stored."""
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT convert_from(state, 'UTF8')::jsonb ->> 'idempotency_key' AS k, count(*) "
                                "FROM customers_events GROUP BY k").fetchall()
        return {key: n for key, n in rows if key is not None}

    def statuses(self):
        return projection_status(self.database_url, list(PROJECTIONS))

    def ingest_idle(self) -> bool:
        """Ingest has handled every message on its topic (its group's committed offsets are at the end), so
        nothing more will be appended to the event store."""
        from kafka import TopicPartition

        # committed() reads the group's offsets without joining it
        consumer = KafkaConsumer(bootstrap_servers=self.kafka.bootstrap, group_id=f"{self.group_prefix}-ingest",
                                 enable_auto_commit=False)
        try:
            partitions = [TopicPartition(self.ingest_topic, p) for p in consumer.partitions_for_topic(self.ingest_topic)]
            ends = consumer.end_offsets(partitions)
            return all(consumer.committed(tp) == end for tp, end in ends.items())
        finally:
            consumer.close()

    def caught_up(self) -> bool:
        return all(s.lag_events == 0 and s.applied_events == s.store_events for s in self.statuses())

    def applied(self) -> dict[str, int]:
        return {s.projection: s.applied_events for s in self.statuses()}


def progressing(stack: Stack, load: Load, since: float) -> Callable[[], bool]:
    """After a fault: the command API acknowledges again and every read model advances."""
    before = stack.applied()

    def moving() -> bool:
        now = stack.applied()
        return load.last_ack > since and all(now[name] > before[name] for name in now)
    return moving


@dataclass
class Load:
    """Steady writes through the command API and the ingest topic, with counters."""

    stack: Stack
    http_sent: set[str] = field(default_factory=set)      # keys sent at least once
    http_acked: set[str] = field(default_factory=set)     # keys answered 201
    http_refused: list[tuple[str, int, str]] = field(default_factory=list)  # unexpected 4xx
    ingest_sent: set[str] = field(default_factory=set)    # keys the broker acknowledged
    last_ack: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.failures: list[BaseException] = []
        self.threads = [threading.Thread(target=self._guarded, args=(writer,), daemon=True)
                        for writer in (self._http, self._ingest)]

    def _guarded(self, writer: Callable[[], None]) -> None:
        try:
            writer()
        except BaseException as error:  # a writer that died would stop the load unseen
            self.failures.append(error)
            raise

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)
        # a writer still running could store events after the checks began (a rebuild would then hold more)
        assert not any(thread.is_alive() for thread in self.threads), "the load did not stop within 90 s"
        assert not self.failures, f"a writer of the load died: {self.failures!r}"

    def _post(self, client: httpx.Client, path: str, key: str, body: dict) -> dict | None:
        """POST until answered (same Idempotency-Key every time); None if refused or the load stops."""
        self.http_sent.add(key)
        headers = {"Authorization": f"Bearer {self.stack.token}", "Idempotency-Key": key}
        give_up = None
        while True:
            try:
                response = client.post(f"http://127.0.0.1:{self.stack.command_port}{path}", json=body,
                                       headers=headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 201:
                self.http_acked.add(key)
                self.last_ack = time.monotonic()
                return response.json()
            if response is not None and 400 <= response.status_code < 500:
                self.http_refused.append((key, response.status_code, response.text[:300]))
                return None
            if self.stop.is_set():  # a stopped load still finishes what it started, within a limit
                give_up = give_up or time.monotonic() + 60
                if time.monotonic() > give_up:
                    return None
            time.sleep(0.2)

    def _http(self) -> None:
        with httpx.Client(timeout=10) as client:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                made = self._post(client, "/customers", f"http-{self.tag}-reg-{n}",
                                  {"company_name": f"株式会社負荷{self.tag}{n}", "industry": "製造業"})
                if made is None:
                    continue
                for k in range(3):
                    self._post(client, f"/customers/{made['customer_id']}/touchpoints", f"http-{self.tag}-tp-{n}-{k}",
                               {"channel": "email", "direction": "outbound", "summary": f"連絡 {n}-{k}"})
                time.sleep(0.02)

    def _producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.stack.kafka.bootstrap, acks="all", request_timeout_ms=5000,
                             max_block_ms=5000, retries=3)

    def _ingest(self) -> None:
        producer = None
        for n in itertools.count():
            if self.stop.is_set():
                break
            customer = str(uuid.uuid4())
            messages = [{"command": "register_customer", "idempotency_key": f"ing-{self.tag}-reg-{n}",
                         "customer_id": customer, "actor": INGEST_ACTOR,
                         "details": {"company_name": f"株式会社取込{self.tag}{n}", "industry": "小売業"}}]
            messages += [{"command": "record_touchpoint", "idempotency_key": f"ing-{self.tag}-tp-{n}-{k}",
                          "customer_id": customer, "actor": INGEST_ACTOR,
                          "details": {"channel": "phone", "direction": "inbound", "summary": f"入電 {n}-{k}"}}
                         for k in range(3)]
            for message in messages:
                give_up = None
                while True:
                    try:
                        producer = producer or self._producer()
                        producer.send(self.stack.ingest_topic, key=customer.encode(),
                                      value=orjson.dumps(message)).get(timeout=10)
                        self.ingest_sent.add(message["idempotency_key"])
                        break
                    except Exception:  # broker away: a new producer, the same message again
                        if producer is not None:
                            with suppress(Exception):  # a producer of a broker that is gone may fail to close
                                producer.close(timeout=1)
                        producer = None
                        if self.stop.is_set():
                            give_up = give_up or time.monotonic() + 60
                            if time.monotonic() > give_up:
                                return
                        time.sleep(0.5)
            time.sleep(0.05)
        if producer is not None:
            producer.close(timeout=5)


def answers(stack: Stack, keys: set[str], timeout: float = 120) -> dict[str, list[dict]]:
    """Every answer on the results topic per idempotency key, read until each of keys has one."""
    consumer = KafkaConsumer(stack.results_topic, bootstrap_servers=stack.kafka.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    found: dict[str, list[dict]] = {}
    deadline = time.monotonic() + timeout
    try:
        while not keys <= found.keys():
            if time.monotonic() > deadline:
                missing = sorted(keys - found.keys())
                raise AssertionError(f"{len(missing)} ingest messages unanswered after {timeout} s: {missing[:5]}\n"
                                     + stack.log_tail("ingest"))
            for message in consumer:  # the load may still run: the topic never idles, so check as we go
                found.setdefault(message.key.decode(), []).append(orjson.loads(message.value))
                if keys <= found.keys() or time.monotonic() > deadline:
                    break
    finally:
        consumer.close()
    return found


def same(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "replayed"}


def check(stack: Stack, load: Load, case: str, fault_at: float, recovered_at: float | None) -> None:
    """Everything acknowledged is stored exactly once and answered; every read model equals a rebuild.
    Prints one line of figures for the case."""
    assert not load.http_refused, load.http_refused[:3]
    assert sorted(stack.alive()) == sorted(SERVICES), f"processes that died: {set(SERVICES) - set(stack.alive())}"
    stored = eventually(lambda: (lambda s: s if load.ingest_sent <= s.keys() else None)(stack.stored_per_key()),
                        120, "every ingest message stored")
    http_stored = {k: stored.get(k, 0) for k in load.http_acked}
    ingest_stored = {k: stored.get(k, 0) for k in load.ingest_sent}
    doubled = sorted(k for k, n in {**http_stored, **ingest_stored}.items() if n > 1)
    lost = sorted(k for k, n in {**http_stored, **ingest_stored}.items() if n == 0)
    # a write sent but never acknowledged may be stored (its answer was lost) but at most once
    unacked_doubled = sorted(k for k in load.http_sent - load.http_acked if stored.get(k, 0) > 1)
    found = answers(stack, load.ingest_sent)
    unanswered = sorted(load.ingest_sent - found.keys())
    # A message handled again (re-delivered, or re-sent by the app) is answered again: the same answer but for
    # "replayed": true (README "During an outage": at-least-once answers, keyed by idempotency key).
    differing = sorted(k for k in load.ingest_sent if any(same(a) != same(found[k][0]) for a in found[k][1:]))
    rejected = sorted(k for k in load.ingest_sent if found[k][0]["status"] != "accepted")
    repeated = sum(len(found[k]) - 1 for k in load.ingest_sent)
    eventually(stack.ingest_idle, 120, "ingest has handled every message of its topic")
    eventually(stack.caught_up, 120, "every read model caught up (lag 0)")
    catch_up = time.monotonic()
    recover = (recovered_at or catch_up) - fault_at
    print(f"\nFAULT {case}: http sent {len(load.http_sent)} acknowledged {len(load.http_acked)}; "
          f"ingest sent {len(load.ingest_sent)} answered {len(load.ingest_sent & found.keys())} "
          f"(answered again {repeated}); "
          f"stored {sum(http_stored.values()) + sum(ingest_stored.values())}, doubled {len(doubled)}, "
          f"lost {len(lost)}; time to recover {recover:.1f} s, read models caught up "
          f"{catch_up - fault_at:.1f} s after the fault")
    assert not doubled and not lost and not unacked_doubled, (doubled[:5], lost[:5], unacked_doubled[:5])
    assert not unanswered and not differing and not rejected, (unanswered[:5], [found[k] for k in differing[:3]],
                                                               [found[k] for k in rejected[:3]])
    for status in stack.statuses():
        assert (status.parked_customers, status.dead_letters) == (0, 0), status
    equal_to_rebuild(stack)


def equal_to_rebuild(stack: Stack) -> None:
    """Each read model's checksum equals that of a fresh rebuild from the event store (the load is stopped)."""
    def store_end() -> int:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            return conn.execute("SELECT coalesce(max(notification_id), 0) FROM customers_events").fetchone()[0]

    end = store_end()
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        live = {name: checksum(conn, cls.tables) for name, cls in PROJECTIONS.items()}
        unapplied = {name: conn.execute(
            f"SELECT e.originator_id, e.originator_version, e.notification_id FROM customers_events e "
            f"LEFT JOIN {name}_versions v ON v.customer_id = e.originator_id "
            f"WHERE e.notification_id <= %s AND (v.version IS NULL OR v.version < e.originator_version) "
            f"LIMIT 5", (end,)).fetchall() for name in PROJECTIONS}
    assert not any(unapplied.values()), f"stored events no read model applied (customer, version, position): " \
                                        f"{unapplied}"
    for name in PROJECTIONS:
        stack.cli("projections", "rebuild", name)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        rebuilt = {name: checksum(conn, cls.tables) for name, cls in PROJECTIONS.items()}
    late = store_end()
    if late != end:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            rows = conn.execute("SELECT notification_id, originator_id, originator_version, topic, "
                                "convert_from(state, 'UTF8') FROM customers_events WHERE notification_id > %s "
                                "LIMIT 3", (end,)).fetchall()
        raise AssertionError(f"events stored after the checks began (a writer still running): {rows}")
    differ = {name: {t: (live[name][t], rebuilt[name][t]) for t in live[name] if live[name][t] != rebuilt[name][t]}
              for name in live if live[name] != rebuilt[name]}
    assert not differ, f"read models differ from a rebuild (table: live, rebuilt): {differ}"
