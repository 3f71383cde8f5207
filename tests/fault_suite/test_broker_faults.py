"""Apache Kafka taken away under a steady write load: a node paused past the session timeout, a single node
killed and started again with its data.
(One node of a three-node cluster killed for good: test_three_node_cluster.py.)

Each case runs the load (tests/fault_suite/harness.py), injects its fault, lets the load go on, stops it
and checks that every acknowledged write is stored exactly once, every ingest message answered, and each
read model equals a fresh rebuild. One line of figures per case (pytest -s shows it; -rA too).
"""

from __future__ import annotations

import time

from tests.fault_suite.harness import LOAD_AFTER, LOAD_BEFORE, Load, Stack, check, eventually, progressing


def test_kafka_node_paused_longer_than_the_session_timeout(stack: Stack) -> None:
    """SIGSTOP for 10 s (the consumers' session timeout is 6 s), then SIGCONT."""
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        stack.node.pause()
        try:
            time.sleep(10)
        finally:
            stack.node.resume()
        eventually(progressing(stack, load, time.monotonic()), 120, "writes and read models moving after the pause")
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    check(stack, load, "kafka SIGSTOP 10 s", fault_at, recovered_at)


def test_kafka_node_killed_and_started_again_with_its_data(stack: Stack) -> None:
    """kill -9 of the only broker, 5 s away, started again on the same data directory (log recovery)."""
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        stack.node.kill()
        time.sleep(5)
        stack.kafka.start_node(stack.node.node_id, die_with_parent=True)
        eventually(progressing(stack, load, time.monotonic()), 120, "writes and read models moving after the restart")
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    check(stack, load, "kafka kill -9 and restart", fault_at, recovered_at)
