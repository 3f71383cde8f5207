"""``customer-timeline serve timeline``: listens where TIMELINE_PORT says, refuses a bad process file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from shared.settings import Settings
from tests.streaming import eventually
from tests.support import run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_timeline_api_listens_on_8001_by_default() -> None:
    assert Settings(_env_file=None).timeline_port == 8001


def test_serve_timeline_answers_on_timeline_port_and_wants_a_token(database_url: str, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "timeline"],
                                  env={**os.environ, "DATABASE_URL": database_url, "TIMELINE_PORT": str(port)},
                                  stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answers() -> httpx.Response | None:
        assert server.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/openapi.json", timeout=2)
        except httpx.TransportError:
            return None

    try:
        spec = eventually(answers, timeout=30, interval=0.2).json()
        assert spec["info"]["title"] == "customer-timeline timeline API"
        response = httpx.get(f"{base}/kpis", timeout=5)
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_a_malformed_process_file_stops_the_timeline_api_at_start_up(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "process.yaml"
    path.write_text("phases: [\n", encoding="utf-8")
    result = run_cli("serve", "timeline", "--port", "0", env={"PROCESS_DEFINITION": str(path),
                                                               "DATABASE_URL": database_url})
    assert result.returncode == 2 and f"{path}:" in result.stderr
