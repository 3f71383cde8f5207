"""Apache Kafka on this machine, for tests, CI, benchmarks and development: no Docker, no download of a tarball.

Maven resolves Apache Kafka's own jars (pinned in ``infra/kafka/pom.xml``) into the usual Maven cache
(``~/.m2``) and writes their class path to ``.cache/kafka/`` in the repository; Java runs them. A node is
one JVM in KRaft mode that is broker and controller at once (``process.roles=broker,controller``):

- one node (``start_broker``): a single-node cluster, replication factor 1;
- three nodes (``start_cluster``): one controller quorum of three voters, default replication factor 3,
  ``min.insync.replicas=2``; one node may be stopped, killed, paused or started again by its id.

Each cluster keeps everything in its data directory: ``cluster.json`` (cluster id, nodes, ports), and per
node ``node-N/server.properties``, ``node-N/data/`` (the log directory, formatted once), ``node-N/kafka.pid``,
``node-N/server.log`` (Kafka's log; nothing goes to the console) and ``node-N/stdout.log`` (what the JVM
itself prints, e.g. a crash). A cluster started again on the same directory keeps its topics, messages and
committed offsets, and its ports.

Python::

    from infra.kafka import start_broker
    cluster = start_broker(9092, Path(".data/kafka"))   # returns when the broker answers
    cluster.bootstrap                                    # '127.0.0.1:9092'
    cluster.stop()                                       # SIGTERM, wait (SIGKILL after a timeout)

Command line: ``python -m infra.kafka --help``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.4.0"  # keep in step with infra/kafka/pom.xml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
CACHE_DIR = Path(os.environ.get("LOCAL_KAFKA_CACHE", REPO / ".cache" / "kafka"))
DEFAULT_DATA_DIR = REPO / ".data" / "kafka"
HOST = "127.0.0.1"

# A small JVM: the suite and a benchmark share 2 cores with PostgreSQL and the services.
JVM_OPTIONS = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError",
               "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8")

SERVER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot be fetched or started here (no Java, no Maven, resolution failed, node died)."""


# ---------------------------------------------------------------- fetching the jars

def java_executable() -> str | None:
    if home := os.environ.get("JAVA_HOME"):
        candidate = Path(home) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    return shutil.which("java")


def _classpath_file() -> Path:
    key = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    return CACHE_DIR / f"classpath-{KAFKA_VERSION}-{key}.txt"


def _cached_classpath() -> list[str] | None:
    path = _classpath_file()
    if not path.exists():
        return None
    entries = [entry for entry in path.read_text().strip().split(os.pathsep) if entry]
    return entries if entries and all(Path(entry).exists() for entry in entries) else None


def fetched() -> bool:
    """The jars are in the cache already (a start needs no Maven run)."""
    return _cached_classpath() is not None


def available() -> bool:
    """Java is installed, and the jars are fetched already or Maven can fetch them."""
    return java_executable() is not None and (_cached_classpath() is not None or shutil.which("mvn") is not None)


def fetch(timeout: float = 900) -> list[str]:
    """The class path of Apache Kafka's jars, resolved by Maven on first use (into ~/.m2) and cached in
    .cache/kafka/ (keyed by the pom's contents). Safe to call from several processes at once."""
    if (entries := _cached_classpath()) is not None:
        return entries
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable("Maven (mvn) is not installed: it fetches Apache Kafka's jars (apt-get install maven)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching right now
        if (entries := _cached_classpath()) is not None:
            return entries
        target = _classpath_file()
        partial = target.with_suffix(".partial")
        # -B: batch mode (no prompts, no colours); -q: errors only. Resolution only: nothing is built.
        command = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), "dependency:build-classpath",
                   f"-Dmdep.outputFile={partial}", "-Dmdep.pathSeparator=" + os.pathsep]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise KafkaUnavailable(f"Maven did not resolve Apache Kafka {KAFKA_VERSION} within {timeout:.0f} s") \
                from error
        if done.returncode != 0 or not partial.exists():
            raise KafkaUnavailable(f"Maven could not resolve Apache Kafka {KAFKA_VERSION} ({' '.join(command)}):\n"
                                   f"{(done.stdout + done.stderr)[-3000:]}")
        partial.replace(target)
    entries = _cached_classpath()
    if entries is None:
        raise KafkaUnavailable(f"Maven wrote a class path naming missing jars: {target}")
    return entries


def new_cluster_id() -> str:
    """A cluster id as Kafka makes them: 16 random bytes, URL-safe base64 without padding, never starting
    with '-' (a command line would read it as an option)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def listening(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    """The process exists and has not finished exiting. A JVM's main thread may be a zombie ("Z") while its
    other threads still run (and hold its ports and files), so a zombie counts as gone only once it is the
    last thread of its process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state != "Z":
            return True
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (a test run killed hard leaves no broker)."""
    import ctypes

    PR_SET_PDEATHSIG = 1  # noqa: N806 - the constant's name in <sys/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# ---------------------------------------------------------------- one node

@dataclass
class KafkaNode:
    """One Apache Kafka JVM: broker and controller of its cluster."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    cluster: KafkaCluster

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.directory / "stdout.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "kafka.pid"

    def properties(self) -> dict[str, str]:
        size = len(self.cluster.nodes)
        replicas = min(size, 3)
        min_isr = 2 if replicas >= 3 else 1
        return {
            "node.id": str(self.node_id),
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            # a static quorum: every node is a voter (kraft.version 0, as docker-compose.yml sets it up)
            "controller.quorum.voters": ",".join(f"{n.node_id}@{HOST}:{n.controller_port}"
                                                 for n in self.cluster.nodes),
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(min_isr),
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            # a group forms at once (the default waits 3 s for more members)
            "group.initial.rebalance.delay.ms": "0",
            # small internal topics and thread pools: a test run makes many topics on 2 shared cores
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.index.size.max.bytes": str(1024 * 1024),
        }

    def write_properties(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [f"# written by infra/kafka for node {self.node_id} of {self.cluster.directory}"]
        lines += [f"{key}={value}" for key, value in {**self.properties(), **self.cluster.overrides}.items()]
        self.properties_file.write_text("\n".join(lines) + "\n")

    @property
    def formatted(self) -> bool:
        return (self.log_dir / "meta.properties").exists()

    def _java(self, main: str, *args: str) -> list[str]:
        java = java_executable()
        if java is None:
            raise KafkaUnavailable("Java is not installed: Apache Kafka needs it "
                                   "(apt-get install openjdk-17-jre-headless)")
        self.directory.mkdir(parents=True, exist_ok=True)
        argfile = self.directory / "classpath.args"  # a java @argfile: a short command line in ps
        argfile.write_text(f'-cp "{os.pathsep.join(fetch())}"\n')
        return [java, *self.cluster.jvm_options, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                f"-Dkafka.logs.dir={self.directory}", f"@{argfile}", main, *args]

    def format(self) -> None:
        """Format the node's log directory for its cluster (once; a formatted directory is left alone)."""
        self.write_properties()
        if self.formatted:
            return
        done = subprocess.run(self._java(STORAGE_TOOL_MAIN, "format", "--cluster-id", self.cluster.cluster_id,
                                         "--config", str(self.properties_file), "--ignore-formatted"),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode != 0:
            raise KafkaUnavailable(f"formatting node {self.node_id}'s storage failed:\n"
                                   f"{(done.stdout + done.stderr)[-3000:]}")

    @property
    def pid(self) -> int | None:
        """The node's JVM, if it runs: the process this object started, else the one in its pid file (checked
        against /proc: the JVM of this node's properties, not a zombie)."""
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:  # poll() also reaps it once it exited
            return process.pid
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and SERVER_MAIN in _cmdline(pid) and str(self.properties_file) in _cmdline(pid):
            return pid
        return None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def launch(self, die_with_parent: bool = False) -> None:
        """Start the JVM and return at once (see KafkaCluster.wait_ready)."""
        if self.running:
            return
        for port in (self.port, self.controller_port):
            if listening(port):
                raise KafkaUnavailable(f"port {port} of node {self.node_id} is taken by another process")
        self.format()
        with self.stdout_file.open("ab") as out:
            process = subprocess.Popen(self._java(SERVER_MAIN, str(self.properties_file)), stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=_die_with_parent if die_with_parent else None)
        self._process = process  # reaped by wait(): no zombie while the starter lives
        self.pid_file.write_text(f"{process.pid}\n")

    def exited(self) -> bool:
        """The JVM started by this object has exited; for one started elsewhere, no JVM runs (checked twice,
        half a second apart, so that a process read from /proc at a bad moment is not taken for dead)."""
        process = getattr(self, "_process", None)
        if process is not None:
            return process.poll() is not None
        if self.running:
            return False
        time.sleep(0.5)
        return not self.running

    def _signal(self, signum: int) -> int | None:
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        return pid

    def wait_exited(self, timeout: float, pid: int | None = None) -> bool:
        """Until the JVM (`pid`, else the running one) is gone and its ports are closed."""
        pid = pid if pid is not None else self.pid
        process = getattr(self, "_process", None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.pid == pid:
                gone = process.poll() is not None  # our child: gone once reaped
            else:  # a dying process loses its command line before its sockets: wait on the pid itself
                gone = pid is None or not _alive(pid)
            if gone and not listening(self.port) and not listening(self.controller_port):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (Kafka shuts down cleanly), wait; SIGKILL if it takes longer than `timeout`."""
        self._signal(signal.SIGCONT)  # a paused node cannot act on SIGTERM
        pid = self._signal(signal.SIGTERM)
        if pid is not None and not self.wait_exited(timeout, pid):
            self.kill()

    def kill(self) -> None:
        """SIGKILL: gone at once, as in a crash; its data stays for a restart."""
        pid = self._signal(signal.SIGKILL)
        if pid is not None:
            self.wait_exited(10, pid)

    def pause(self) -> None:
        """SIGSTOP: the node stops answering (a network pause) without losing any connection."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def failure(self) -> str:
        """What the node said before it died, for an error message."""
        process = getattr(self, "_process", None)
        lines = [f"exit status {process.returncode}" if process is not None and process.returncode is not None
                 else "exit status unknown"]
        if self.stdout_file.exists():
            lines.append(self.stdout_file.read_text(errors="replace")[-2000:].strip())
        if self.log_file.exists():
            logged = self.log_file.read_text(errors="replace").splitlines()
            errors = [line for line in logged if " ERROR " in line or " FATAL " in line][-10:]
            lines += ["last errors in server.log:", *errors] if errors else ["end of server.log:", *logged[-15:]]
        return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- a cluster of one or three nodes

class KafkaCluster:
    """One to three nodes, each broker and controller, kept in one data directory (see the module's doc)."""

    def __init__(self, directory: Path, ports: Iterable[int] | None = None, size: int | None = None,
                 overrides: dict[str, str] | None = None, jvm_options: Iterable[str] = JVM_OPTIONS) -> None:
        self.directory = Path(directory).resolve()
        self.overrides = dict(overrides or {})
        self.jvm_options = tuple(jvm_options)
        layout_file = self.directory / "cluster.json"
        layout = json.loads(layout_file.read_text()) if layout_file.exists() else None
        ports = list(ports) if ports is not None else None
        if size is None:
            size = len(ports) if ports else len(layout["nodes"]) if layout else 1
        if ports is not None and len(ports) != size:
            raise ValueError(f"{size} nodes need {size} ports, not {ports}")
        if layout is not None and len(layout["nodes"]) != size:
            raise ValueError(f"{self.directory} holds a cluster of {len(layout['nodes'])} nodes, not {size}")
        if layout is None:
            ports = ports or [free_port() for _ in range(size)]
            layout = {"kafka_version": KAFKA_VERSION, "cluster_id": new_cluster_id(),
                      "nodes": [{"id": i + 1, "port": port, "controller_port": free_port()}
                                for i, port in enumerate(ports)]}
        elif ports is not None:  # the same cluster, other client ports
            for node, port in zip(layout["nodes"], ports):
                node["port"] = port
        self.cluster_id: str = layout["cluster_id"]
        self.nodes = [KafkaNode(n["id"], n["port"], n["controller_port"], self.directory / f"node-{n['id']}", self)
                      for n in layout["nodes"]]
        self.directory.mkdir(parents=True, exist_ok=True)
        layout_file.write_text(json.dumps(layout, indent=2) + "\n")

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} in {self.directory} (nodes {[n.node_id for n in self.nodes]})")

    def start(self, timeout: float = 120, die_with_parent: bool = False) -> str:
        """Fetch the jars if needed, format and start every node not running; return the bootstrap address once
        every node is a registered, unfenced broker."""
        fetch()
        self._format_all()
        for node in self.nodes:
            node.launch(die_with_parent)
        self.wait_ready(timeout)
        return self.bootstrap

    def _format_all(self) -> None:
        todo = [node for node in self.nodes if not node.formatted]
        for node in self.nodes:
            node.write_properties()
        if len(todo) > 1:  # one JVM each: in parallel
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(todo)) as pool:
                list(pool.map(KafkaNode.format, todo))
        for node in todo:
            node.format()

    def start_node(self, node_id: int, timeout: float = 120, die_with_parent: bool = False) -> None:
        """Start one node again (with its data) and wait until it is back in the cluster."""
        self.node(node_id).launch(die_with_parent)
        self.wait_ready(timeout, nodes=[node_id])

    def stop_node(self, node_id: int, timeout: float = 30) -> None:
        self.node(node_id).stop(timeout)

    def kill_node(self, node_id: int) -> None:
        self.node(node_id).kill()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to every node at once, wait for all; SIGKILL whatever takes longer than `timeout`."""
        pids = {}
        for node in self.nodes:
            node._signal(signal.SIGCONT)
            pids[node.node_id] = node._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            pid = pids[node.node_id]
            if pid is not None and not node.wait_exited(max(0.0, deadline - time.monotonic()), pid):
                node.kill()

    def wait_ready(self, timeout: float = 120, nodes: Iterable[int] | None = None) -> None:
        """Until every wanted node (default: all) listens, and answers as a registered broker that is not
        fenced; raise KafkaUnavailable if a node dies or time runs out."""
        wanted = [self.node(i) for i in nodes] if nodes is not None else list(self.nodes)
        deadline = time.monotonic() + timeout
        while True:
            for node in wanted:
                if node.exited():
                    raise KafkaUnavailable(f"Apache Kafka node {node.node_id} ({node.address}) exited while "
                                           f"starting:\n{node.failure()}")
            if all(listening(node.port) for node in wanted) and self._brokers_ready(wanted):
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"Apache Kafka at {self.bootstrap} not ready after {timeout:.0f} s; see "
                                       f"{', '.join(str(n.log_file) for n in wanted)}")
            time.sleep(0.2)

    def _brokers_ready(self, wanted: list[KafkaNode]) -> bool:
        from kafka import KafkaAdminClient

        try:
            for node in wanted:  # each node's own view, so a restarted node has caught up
                admin = KafkaAdminClient(bootstrap_servers=node.address, client_id="infra-kafka-ready",
                                         request_timeout_ms=3_000, bootstrap_timeout_ms=3_000)
                try:
                    brokers = admin.describe_cluster()["brokers"]
                finally:
                    admin.close()
                ready = {b["broker_id"] for b in brokers if not b.get("is_fenced")}
                if not {n.node_id for n in wanted} <= ready:
                    return False
            return True
        except Exception:  # noqa: BLE001 - not answering yet, whatever the error
            return False

    def replace(self, timeout: float = 120) -> str:
        """A new, empty cluster on the same ports (as a broker replaced by one without its disk): every node
        killed, its data removed, a new cluster id, started again; every topic, message and offset is gone."""
        for node in self.nodes:
            node.kill()
            shutil.rmtree(node.log_dir, ignore_errors=True)
        self.cluster_id = new_cluster_id()
        layout_file = self.directory / "cluster.json"
        layout = json.loads(layout_file.read_text())
        layout["cluster_id"] = self.cluster_id
        layout_file.write_text(json.dumps(layout, indent=2) + "\n")
        return self.start(timeout)

    def running_nodes(self) -> list[int]:
        return [node.node_id for node in self.nodes if node.running]

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_broker(port: int | None, data_dir: Path, timeout: float = 120, die_with_parent: bool = False,
                 overrides: dict[str, str] | None = None) -> KafkaCluster:
    """A single-node Apache Kafka (broker + controller) on 127.0.0.1:port (a free port if None), its data in
    data_dir; returns once it answers (`.bootstrap`), to be stopped with `.stop()`."""
    cluster = KafkaCluster(data_dir, ports=[port] if port else None, size=1, overrides=overrides)
    cluster.start(timeout, die_with_parent)
    return cluster


def start_cluster(data_dir: Path, ports: Iterable[int] | None = None, timeout: float = 180,
                  die_with_parent: bool = False, overrides: dict[str, str] | None = None) -> KafkaCluster:
    """Three nodes (each broker + controller; replication factor 3, min.insync.replicas 2) on the given
    ports (free ones if None); returns once all three answer."""
    cluster = KafkaCluster(data_dir, ports=ports, size=3, overrides=overrides)
    cluster.start(timeout, die_with_parent)
    return cluster
