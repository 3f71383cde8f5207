"""infra/kafka: Apache Kafka started, stopped and restarted with its data, from the command line and from Python;
the three-node cluster keeps taking writes (acks=all, min.insync.replicas 2) with one node killed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from infra import kafka as local_kafka

# Skipped only on a developer machine without Java; in CI (or with TEST_BROKER=kafka) Apache Kafka is
# required, so a missing Java or Maven fails these tests instead of hiding them.
REQUIRED = bool(os.environ.get("CI")) or os.environ.get("TEST_BROKER") == "kafka"
pytestmark = pytest.mark.skipif(not REQUIRED and not local_kafka.available(),
                                reason="no Java (or no Maven and no cached jars)")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A directory of its own, not under pytest's tmp_path: a concurrent pytest session on the same machine
    prunes old tmp_path trees, and a broker's data must outlive a stop."""
    path = Path(tempfile.mkdtemp(prefix="ct-infra-kafka-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "infra.kafka", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, f"infra.kafka {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}"
    return done


def eventually(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)
    return found


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[bytes]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2_000)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            values.extend(m.value for m in consumer)
    finally:
        consumer.close()
    return values


def test_the_command_line_starts_a_broker_that_keeps_its_data_across_a_restart(data_dir: Path) -> None:
    port, data = local_kafka.free_port(), data_dir / "kafka"
    started = cli("start", "--port", str(port), "--data-dir", str(data))
    bootstrap = started.stdout.strip()
    try:
        assert bootstrap == f"127.0.0.1:{port}"
        assert "ready in" in started.stderr
        assert started.stdout.count("\n") == 1  # Kafka's own log goes to its file, not the console
        assert (data / "node-1" / "server.log").stat().st_size > 0
        assert cli("status", "--data-dir", str(data)).stdout.startswith(f"node 1 127.0.0.1:{port}: running")
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic("kept", 2, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for n in range(5):
            producer.send("kept", key=b"k", value=str(n).encode()).get(timeout=10)
        producer.close()

        cli("stop", "--data-dir", str(data))
        assert cli("status", "--data-dir", str(data), check=False).returncode == 3
        assert not local_kafka.listening(port)

        assert cli("start", "--data-dir", str(data)).stdout.strip() == bootstrap  # same port, same cluster
        assert read_all(bootstrap, "kept", 5) == [b"0", b"1", b"2", b"3", b"4"]
    finally:
        cli("stop", "--data-dir", str(data), check=False)


def test_a_three_node_cluster_takes_acknowledged_writes_with_one_node_killed(data_dir: Path) -> None:
    cluster = local_kafka.start_cluster(data_dir / "cluster")
    try:
        assert len(cluster.bootstrap.split(",")) == 3
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        admin.create_topics([NewTopic("replicated", 3, -1)])  # the brokers' default replication factor
        # the metadata of a new topic reaches every node a moment after the controller made it
        described = eventually(lambda: admin.describe_topics(["replicated"])[0]["partitions"], 30,
                               "the new topic's partitions in the metadata")
        wanted = {"min.insync.replicas": None, "default.replication.factor": None}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1", wanted)], config_filter="all")
        admin.close()
        assert {len(p["replica_nodes"]) for p in described} == {3}
        broker_configs = next(iter(next(iter(configs.values())).values()))
        assert broker_configs["min.insync.replicas"]["value"] == "2"
        assert broker_configs["default.replication.factor"]["value"] == "3"

        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
        for n in range(10):
            producer.send("replicated", key=str(n).encode(), value=b"before").get(timeout=10)
        cluster.kill_node(2)
        assert cluster.running_nodes() == [1, 3]
        for n in range(10):  # two in-sync replicas of three: still acknowledged
            producer.send("replicated", key=str(n).encode(), value=b"during").get(timeout=60)
        producer.close()
        cluster.start_node(2)
        assert cluster.running_nodes() == [1, 2, 3]
        assert sorted(read_all(cluster.bootstrap, "replicated", 20)) == [b"before"] * 10 + [b"during"] * 10
    finally:
        cluster.stop()
    assert cluster.running_nodes() == []
