"""Faults under a steady write load, on the product's real processes, PostgreSQL and Apache Kafka.

Each case runs the load (tests/fault_suite/harness.py), injects its fault, lets the load go on, stops it
and checks that every acknowledged write is stored exactly once, every ingest message answered, and each
read model equals a fresh rebuild. One line of figures per case (pytest -s shows it; -rA too).
"""

from __future__ import annotations

import time

import pytest

from tests.fault_suite.harness import LOAD_AFTER, LOAD_BEFORE, Load, Stack, check, eventually, progressing


@pytest.mark.parametrize("process", ["relay", "pipeline", "timeline", "duplicates", "ingest", "command"])
def test_kill_9_of_a_process_under_load(stack: Stack, process: str) -> None:
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        stack.kill(process)
        time.sleep(0.5)
        stack.start(process)
        if process == "command":
            stack.wait_command_api()
        eventually(progressing(stack, load, time.monotonic()), 90, f"writes and read models moving after {process}")
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    check(stack, load, f"kill -9 {process}", fault_at, recovered_at)


@pytest.mark.parametrize("mode", ["stop", "kill"])
def test_postgres_away_with_every_process_left_running(stack: Stack, mode: str) -> None:
    """Fast shutdown (pg_ctl -m fast) or SIGKILL of the postmaster (crash recovery on start), 5 s away."""
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        stack.postgres.stop() if mode == "stop" else stack.postgres.kill()
        time.sleep(5)
        stack.postgres.start()
        eventually(progressing(stack, load, time.monotonic()), 90, f"writes and read models moving after {mode}")
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    check(stack, load, f"postgres {mode}", fault_at, recovered_at)
