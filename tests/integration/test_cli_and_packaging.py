"""The command line, the embedded PostgreSQL of a bare machine, and the compose file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import yaml

from shared.embedded_postgres import EmbeddedPostgres
from tests.faults import free_port
from tests.support import run_cli


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_postgres_starts_on_a_bare_machine() -> None:
    with tempfile.TemporaryDirectory(prefix="ct-bare-") as data_dir:
        server = EmbeddedPostgres(Path(data_dir))
        url, started = server.start()
        try:
            assert started
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
        finally:
            server.stop()
        assert server.pid() is None


def test_the_embedded_postgres_is_stopped_by_whoever_started_it_unless_others_use_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DATA_DIR": str(data), "DATABASE_URL": ""}
    server = EmbeddedPostgres(data)
    # a short command on a bare machine starts the server, quietly, and stops it at exit: no one else uses it
    first = run_cli("tokens", "list", env=env)
    assert first.returncode == 0, first.stderr
    assert server.pid() is None
    assert "initdb" not in first.stderr and "XDG_RUNTIME_DIR" not in first.stderr, first.stderr
    # a server someone else started: a short command uses it and never stops it
    url, started = server.start()
    try:
        pid = server.pid()
        assert run_cli("tokens", "list", env=env).returncode == 0
        assert server.pid() == pid
    finally:
        server.stop()
    # a service that started it leaves it running for a client still connected, and says so
    port = free_port()
    service = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "command", "--port", str(port)],
                               env={**os.environ, **env}, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while (url := server.running_url()) is None or not listening(port):
            assert service.poll() is None and time.monotonic() < deadline, service.stderr.read()
            time.sleep(0.2)
        with psycopg.connect(url) as client:
            service.send_signal(signal.SIGTERM)
            _, stderr = service.communicate(timeout=30)
            assert client.execute("SELECT 1").fetchone() == (1,)
        assert "leaving the embedded PostgreSQL" in stderr and "running: 1 other" in stderr, stderr
        assert server.pid() is not None
    finally:
        service.kill()
        server.stop()


def test_check_process_names_the_line_of_a_malformed_file(tmp_path: Path) -> None:
    text = (ROOT / "shared/process/default.yaml").read_text(encoding="utf-8")
    broken = text.replace("all_of: [meeting_held]", "all_of: [meeting_hold]", 1)
    assert broken != text
    path = tmp_path / "process.yaml"
    path.write_text(broken, encoding="utf-8")
    line = next(i for i, row in enumerate(broken.splitlines(), start=1) if "meeting_hold]" in row)
    result = run_cli("check-process", str(path))
    assert result.returncode == 2
    assert f"{path}:{line}: unknown fact 'meeting_hold'" in result.stderr


def test_a_malformed_process_file_stops_the_api_at_start_up(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "process.yaml"
    path.write_text("phases: [\n", encoding="utf-8")
    result = run_cli("serve", "command", "--port", "0", env={"PROCESS_DEFINITION": str(path),
                                                              "DATABASE_URL": database_url})
    assert result.returncode == 2 and f"{path}:" in result.stderr


def test_verify_exits_0_for_an_intact_chain_and_1_for_a_broken_one(customers, actor, database_url, db) -> None:
    from tests.integration.test_event_store import new_customer

    cid = new_customer(customers, actor)
    assert run_cli("verify", str(cid), env={"DATABASE_URL": database_url}).returncode == 0
    db.execute("DELETE FROM customers_events WHERE originator_id = %s AND originator_version = 4", (cid,))
    result = run_cli("verify", str(cid), env={"DATABASE_URL": database_url})
    assert result.returncode == 1 and '"intact": false' in result.stdout


def test_docker_compose_runs_the_services_from_one_image_against_postgres_and_kafka() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "kafka", "command", "relay", "project-pipeline", "project-timeline",
            "project-duplicates"} <= set(services)
    assert services["project-timeline"]["command"] == ["project", "timeline"]
    assert services["timeline"]["command"][:2] == ["serve", "timeline"]
    assert services["relay"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert services["command"]["build"] == "."
    assert services["command"]["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert services["command"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (ROOT / "Dockerfile").read_text().count("ENTRYPOINT") == 1


def test_docker_compose_restarts_every_service_and_checks_its_health() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"ingest", "timeline"} <= set(services)
    assert all(service.get("restart") == "unless-stopped" for service in services.values()), \
        [name for name, service in services.items() if service.get("restart") != "unless-stopped"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    from infra.kafka import KAFKA_VERSION

    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"  # production runs what CI tested
    for api, port in (("command", 8000), ("timeline", 8001)):
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(services[api]["healthcheck"]["test"])
        assert services[api]["command"][-1] == str(port)
        assert services[api]["depends_on"]["postgres"]["condition"] == "service_healthy"
    unchecked = [name for name, service in services.items() if not service.get("healthcheck", {}).get("test")]
    assert not unchecked, f"long-running services without a healthcheck: {unchecked}"
    for name in ("relay", "ingest", "project-pipeline", "project-timeline", "project-duplicates"):
        service = services[name]
        assert service["environment"]["METRICS_PORT"] and service["environment"]["METRICS_HOST"] == "0.0.0.0"
        port = service["environment"]["METRICS_PORT"]
        assert f"http://127.0.0.1:{port}/metrics" in " ".join(service["healthcheck"]["test"]), name
        assert {dependency: c["condition"] for dependency, c in service["depends_on"].items()} == {
            "postgres": "service_healthy", "kafka": "service_healthy"}, name


def test_console_script_is_installed() -> None:
    result = subprocess.run([sys.executable, "-m", "services.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "serve" in result.stdout


def test_a_service_that_started_the_local_broker_leaves_it_to_the_processes_still_using_it(database_url: str) -> None:
    """Stopping the relay no longer takes tansu away from the others: it stays, and the relay says so."""
    from kafka import KafkaAdminClient

    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LOCAL_BROKER_PORT": str(port), "EVENTS_TOPIC": "owner-events"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    relay = subprocess.Popen([sys.executable, "-m", "services.cli", "relay"], env=env, cwd=ROOT,
                             stderr=subprocess.PIPE, text=True)
    broker_pid = None
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert relay.poll() is None and time.monotonic() < deadline, relay.stderr.read()
            time.sleep(0.2)
        broker_pid = next(c.pid for c in psutil.Process(relay.pid).children() if "broker" in c.cmdline())
        other = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")  # another process using the broker
        try:
            other.list_topics()
            relay.send_signal(signal.SIGTERM)
            _, stderr = relay.communicate(timeout=30)
            assert "leaving the local broker" in stderr, stderr
            assert other.list_topics() is not None and psutil.pid_exists(broker_pid)
        finally:
            other.close()
    finally:
        relay.kill()
        if broker_pid is not None and psutil.pid_exists(broker_pid):
            psutil.Process(broker_pid).terminate()
