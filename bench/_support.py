"""Shared bits of the benchmarks: fresh databases, CPU accounting, a keep-alive HTTP client, thread runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def default_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def with_dbname(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URL or key=value conninfo)."""
    if "://" not in url:
        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """CREATE DATABASE ct_bench_<random>, yield its URL, and drop it (even on Ctrl-C or error)."""
    name = f"ct_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(server_url, name)
    finally:
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

def http_request(port: int, path: str, body: dict) -> bytes:
    payload = json.dumps(body, ensure_ascii=False).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
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
