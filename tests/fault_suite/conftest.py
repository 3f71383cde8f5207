"""One deployment (tests/fault_suite/harness.py) for every fault case of the package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fault_suite.harness import Stack


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    from infra.kafka import available

    if not available():
        reason = "the fault suite needs Apache Kafka (java and mvn, see infra/kafka)"
        if os.environ.get("CI") or os.environ.get("TEST_BROKER") == "kafka":
            pytest.fail(reason)  # CI has Java and Maven: a missing broker there is a failure, never a skip
        pytest.skip(reason)
    made = Stack()
    try:
        yield made
    finally:
        made.close()
