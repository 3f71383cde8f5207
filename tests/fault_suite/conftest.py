"""The deployment (tests/fault_suite/harness.py) the fault cases share: one on a single Apache Kafka node for
most cases, one on a three-node cluster for the cluster case. Only one runs at a time (two would share two
cores): asking for the other closes the one running."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fault_suite.harness import Stack


class Deployments:
    def __init__(self) -> None:
        self.current: Stack | None = None

    def get(self, kafka_nodes: int) -> Stack:
        if self.current is not None and self.current.kafka_nodes != kafka_nodes:
            self.close()
        if self.current is None:
            self.current = Stack(kafka_nodes)
        return self.current

    def close(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            current.close()


@pytest.fixture(scope="package")
def deployments() -> Iterator[Deployments]:
    from infra.kafka import available

    if not available():
        reason = "the fault suite needs Apache Kafka (java and mvn, see infra/kafka)"
        if os.environ.get("CI") or os.environ.get("TEST_BROKER") == "kafka":
            pytest.fail(reason)  # CI has Java and Maven: a missing broker there is a failure, never a skip
        pytest.skip(reason)
    made = Deployments()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def stack(deployments: Deployments) -> Stack:
    return deployments.get(kafka_nodes=1)


@pytest.fixture
def cluster_stack(deployments: Deployments) -> Stack:
    return deployments.get(kafka_nodes=3)
