"""One deployment (tests/fault_suite/harness.py) for every fault case of the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault_suite.harness import Stack


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    from infra.kafka import available

    if not available():
        pytest.skip("the fault suite needs Apache Kafka (java and mvn, see infra/kafka)")
    made = Stack()
    try:
        yield made
    finally:
        made.close()
