"""One node of a three-node Apache Kafka cluster (replication factor 3, min.insync.replicas 2) killed for good
under a steady write load; checked as every case of tests/fault_suite (see harness.py)."""

from __future__ import annotations

import time

from tests.fault_suite.harness import LOAD_AFTER, LOAD_BEFORE, Load, Stack, check, eventually, progressing


def test_one_node_of_three_killed_for_good(cluster_stack: Stack) -> None:
    """kill -9 of the first node of the bootstrap list, never started again: two in-sync replicas of three
    and two controllers of three keep the cluster writable."""
    stack = cluster_stack
    with Load(stack) as load:
        time.sleep(LOAD_BEFORE)
        fault_at = time.monotonic()
        stack.node.kill()
        eventually(progressing(stack, load, time.monotonic()), 120, "writes and read models moving on two nodes")
        recovered_at = time.monotonic()
        time.sleep(LOAD_AFTER)
    assert stack.kafka.running_nodes() == [2, 3]
    check(stack, load, "one kafka node of three killed for good", fault_at, recovered_at)
