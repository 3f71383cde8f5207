"""``customer-timeline dev``: the whole product on one machine, supervised (the composition root).

In order, each once the one before is ready: PostgreSQL (``DATABASE_URL``, else the embedded
server in ``DATA_DIR/postgres``), the broker (``KAFKA_BOOTSTRAP_SERVERS``, else a process of
its own: Apache Kafka from infra/kafka where Java is installed, else tansu; ``LOCAL_BROKER``
chooses), the migrations, one token per person of ``services/dev/users.py``, then the relay,
the three projection workers, ingest, the command API and the timeline API, each a
``customer-timeline`` child process logging to ``DATA_DIR/logs/<name>.log``. With ``--demo``
the demo history is written through the command API. It prints the URLs, the tokens and how to
stop, and writes them to ``DATA_DIR/dev.env``; then it restarts whatever dies, until Ctrl-C or
SIGTERM stops everything it started, the embedded PostgreSQL and the broker included.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.dev.supervisor import Part, ServiceProcess, Supervisor
from services.dev.users import DEV_USERS
from shared.embedded_postgres import EmbeddedPostgres
from shared.settings import Settings

PROJECTIONS = ("pipeline", "timeline", "duplicates")


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the servers under the services

@dataclass
class Postgres(Part):
    """The embedded server; stopped at the end only if this stack started it."""

    data_dir: Path
    name: str = "postgresql"
    url: str = ""
    owned: bool = False

    def __post_init__(self) -> None:
        self.server = EmbeddedPostgres(self.data_dir)

    def start(self) -> None:
        self.url, started = self.server.start()
        self.owned = self.owned or started

    def ready(self) -> bool:
        return self.server.running_url() is not None

    def alive(self) -> bool:
        return self.server.pid() is not None

    def stop(self) -> None:
        if self.owned:
            self.server.stop()

    def stopped(self) -> str:
        return f"{self.name} stopped" if self.owned else f"{self.name} left running (it was running before)"

    def pids(self) -> list[int]:
        pid = self.server.pid()
        return [pid] if pid else []


@dataclass
class ApacheKafka(Part):
    """One KRaft node from infra/kafka, its data in DATA_DIR/kafka (kept across runs)."""

    data_dir: Path
    port: int
    name: str = "kafka"

    def __post_init__(self) -> None:
        from infra.kafka import KafkaCluster

        self.cluster = KafkaCluster(self.data_dir / "kafka", ports=[self.port], size=1)
        self.node = self.cluster.nodes[0]

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def start(self) -> None:
        from infra.kafka import fetched

        if not fetched():
            say("fetching Apache Kafka's jars with Maven (the first start only; about 55 MB)")
        self.cluster.start(die_with_parent=True)

    def ready(self) -> bool:
        return self.node.running

    def alive(self) -> bool:
        return self.node.running

    def stop(self) -> None:
        self.cluster.stop()

    def pids(self) -> list[int]:
        pid = self.node.pid
        return [pid] if pid and self.node.running else []

    def exit_reason(self) -> str:
        return f"exited (see {self.node.log_file})"


@dataclass
class Tansu(Part):
    """tansu, in memory: a restart forgets every topic (the relay then publishes everything again)."""

    port: int
    name: str = "broker (tansu)"
    process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from shared.broker import launch_tansu

        self.process = launch_tansu(self.port)

    def ready(self) -> bool:
        return self.alive()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            self.process.wait(timeout=15)

    def pids(self) -> list[int]:
        return [self.process.pid] if self.alive() else []

    def exit_reason(self) -> str:
        return f"exited with code {self.process.returncode if self.process else None}"


def local_broker(settings: Settings) -> Part:
    from infra import kafka as local_kafka

    wanted = settings.local_broker
    if wanted == "kafka" or (wanted == "auto" and local_kafka.available()):
        return ApacheKafka(settings.data_dir, settings.local_broker_port)
    return Tansu(settings.local_broker_port)


# ---------------------------------------------------------------- the stack

@dataclass
class DevStack:
    settings: Settings
    verbose: bool = False
    supervisor: Supervisor = field(default_factory=lambda: Supervisor(say))
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    bootstrap: str = ""
    metrics: dict[str, str] = field(default_factory=dict)  # component -> its /metrics URL

    @property
    def logs(self) -> Path:
        return self.settings.data_dir / "logs"

    @property
    def command_url(self) -> str:
        return f"http://{self.settings.command_host}:{self.settings.command_port}"

    @property
    def timeline_url(self) -> str:
        return f"http://{self.settings.timeline_host}:{self.settings.timeline_port}"

    def start(self) -> None:
        s = self.settings
        self.database_url = s.database_url or self._start_postgres()
        self.bootstrap = s.kafka_bootstrap_servers or self._start_broker()
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                    "DATA_DIR": str(s.data_dir), "PYTHONUNBUFFERED": "1"}
        self._migrate()
        self.tokens = self._tokens()
        for name, args in [("relay", ["relay"]), *((f"project {p}", ["project", p]) for p in PROJECTIONS),
                           ("ingest", ["ingest"])]:
            port = free_port()
            self.metrics[name] = f"http://127.0.0.1:{port}/metrics"
            self._service(name, [*args, "--metrics-port", str(port)], self.metrics[name])
        self._service("command API", ["serve", "command"], f"{self.command_url}/readyz")
        self._service("timeline API", ["serve", "timeline"], f"{self.timeline_url}/readyz")

    def _start_postgres(self) -> str:
        started = time.monotonic()
        part = Postgres(self.settings.data_dir)
        self.supervisor.start(part)
        say(f"postgresql ready ({'started' if part.owned else 'already running'}, data in {part.server.pgdata}; "
            f"{time.monotonic() - started:.1f} s)")
        return part.url

    def _start_broker(self) -> str:
        started = time.monotonic()
        part = local_broker(self.settings)
        self.supervisor.start(part, timeout=300)  # the first Apache Kafka start may fetch its jars
        say(f"{part.name} ready at {part.bootstrap} ({time.monotonic() - started:.1f} s)")
        return part.bootstrap

    def _migrate(self) -> None:
        from services.projections.migrations import read_models
        from shared.migrations import migrate
        from shared.process import load_process_definition

        process = load_process_definition(self.settings.process_definition)
        applied = migrate(self.database_url, self.settings, read_models(process))
        say(f"database migrated ({len(applied)} steps applied)" if applied else "database up to date")

    def _tokens(self) -> dict[str, str]:
        """The tokens of dev.env when they still work, else new ones."""
        from shared.auth import TokenStore

        known = read_env(self.settings.data_dir / "dev.env")
        store = TokenStore.open(self.database_url)
        try:
            tokens = {}
            for user in DEV_USERS:
                token = known.get(f"TOKEN_{user.key.upper()}")
                principal = store.principal(token) if token else None
                if principal is None or principal.role != user.role or principal.actor != user.actor:
                    token = store.issue(user.role, user.actor).token
                tokens[user.key] = token
            return tokens
        finally:
            store.close()

    def _service(self, name: str, args: list[str], probe: str) -> None:
        started = time.monotonic()
        log = self.logs / f"{name.replace(' ', '-').lower()}.log"
        self.supervisor.start(ServiceProcess(name, args, self.env, log, probe), timeout=120)
        say(f"{name} ready ({time.monotonic() - started:.1f} s; log {log})")

    def wait_caught_up(self, timeout: float = 120) -> bool:
        from services.projections.registry import PROJECTIONS as NAMES
        from services.projections.status import projection_status

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.lag_events == 0 for s in projection_status(self.database_url, list(NAMES))):
                return True
            time.sleep(0.5)
        return False

    def environment(self) -> dict[str, str]:
        values = {"COMMAND_URL": self.command_url, "TIMELINE_URL": self.timeline_url,
                  "DASHBOARD_URL": f"{self.timeline_url}/ui",
                  "DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                  "DATA_DIR": str(self.settings.data_dir)}
        values.update({f"TOKEN_{key.upper()}": token for key, token in self.tokens.items()})
        values.update({f"METRICS_{name.replace('project ', '').upper()}": url for name, url in self.metrics.items()})
        return values

    def stop(self) -> None:
        self.supervisor.stop()


def write_demo(command_url: str, tokens: dict[str, str]) -> None:
    """The demo history (services/dev/demo.py) through the command API; a second run adds nothing."""
    import httpx

    from services.dev import demo

    started = time.monotonic()
    with httpx.Client(base_url=command_url, timeout=60) as client:
        summary = demo.write_demo(client, tokens)
    say(f"demo: {summary.companies} companies, {summary.deals} deals; {summary.events} events written, "
        f"{summary.replayed} of {summary.requests} requests already done before ({time.monotonic() - started:.1f} s)")


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def write_env(path: Path, values: dict[str, str]) -> None:
    lines = ["# written by customer-timeline dev; `source` it in a shell (set -a; . ./.data/dev.env; set +a)"]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # tokens


def banner(stack: DevStack, env_file: Path) -> str:
    labels = {user.key: user for user in DEV_USERS}
    lines = ["", "customer-timeline is up:",
             f"  command API   {stack.command_url}   (OpenAPI: {stack.command_url}/docs)",
             f"  timeline API  {stack.timeline_url}   (OpenAPI: {stack.timeline_url}/docs)",
             f"  dashboard     {stack.timeline_url}/ui   (sign in with a token below)",
             "  tokens (Authorization: Bearer …):"]
    for key, token in stack.tokens.items():
        user = labels[key]
        lines.append(f"    TOKEN_{key.upper():<13} {token}  {user.role:<8} {user.actor.user} {user.actor.team} "
                     f"({user.label})")
    lines += [f"  the same in {env_file}: set -a; . {env_file}; set +a",
              f"  logs in {stack.logs}/", "  stop: Ctrl-C (or SIGTERM); everything started here stops", ""]
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    if not args.verbose:  # the stack's own lines (say) are enough; the services log to their files
        for name in ("httpx", "shared.embedded_postgres"):
            logging.getLogger(name).setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = DevStack(settings, verbose=args.verbose)
    started = time.monotonic()
    try:
        stack.start()
        if args.demo and not stop.is_set():
            write_demo(stack.command_url, stack.tokens)
        caught_up = stack.wait_caught_up()
        say(f"every component ready in {time.monotonic() - started:.1f} s"
            + ("" if caught_up else "; the read models are still catching up"))
        env_file = settings.data_dir / "dev.env"
        write_env(env_file, stack.environment())
        print(banner(stack, env_file), flush=True)
        stack.supervisor.watch(stop)
    except KeyboardInterrupt:
        pass
    except Exception as error:  # noqa: BLE001 - one line, then everything started is stopped
        say(f"dev stack failed: {type(error).__name__}: {error}")
        return 1
    finally:
        say("stopping")
        stack.stop()
        say("every component stopped")
    return 0
