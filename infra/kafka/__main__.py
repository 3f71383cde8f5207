"""Apache Kafka on this machine: python -m infra.kafka {fetch,start,stop,kill,status} ...

  python -m infra.kafka start                        # one node on 127.0.0.1:9092, data in .data/kafka
  python -m infra.kafka start --port 9192 --data-dir /tmp/k
  python -m infra.kafka stop --data-dir /tmp/k
  python -m infra.kafka start --nodes 3 --ports 9192,9193,9194 --data-dir /tmp/k3   # a cluster of three
  python -m infra.kafka stop --node 2 --data-dir /tmp/k3    # one node (kill: SIGKILL; start --node 2: again)

`start` returns once the broker answers and prints its bootstrap address; the JVMs run on in the background
until `stop`. A data directory keeps its cluster (topics, messages, offsets, ports) from one start to the next.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from infra.kafka import DEFAULT_DATA_DIR, KAFKA_VERSION, KafkaCluster, KafkaUnavailable, fetch


def _ports(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m infra.kafka", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = cli.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help=f"resolve Apache Kafka {KAFKA_VERSION}'s jars with Maven; "
                                      "print where the class path is")
    for name, text in (("start", "start the cluster (or one node of it) and wait until it answers"),
                       ("stop", "stop the cluster (or one node): SIGTERM, wait"),
                       ("kill", "SIGKILL the cluster (or one node); its data stays"),
                       ("status", "which nodes run")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                             help=f"the cluster's directory (default {DEFAULT_DATA_DIR})")
        command.add_argument("--node", type=int, help="only this node (by id, 1..3)")
        if name == "start":
            command.add_argument("--port", type=int, help="client port of a single node (default 9092)")
            command.add_argument("--nodes", type=int, choices=[1, 3], help="cluster size (default 1)")
            command.add_argument("--ports", type=_ports, help="client ports of the nodes, comma-separated")
            command.add_argument("--timeout", type=float, default=180, help="seconds to wait for readiness")
    args = cli.parse_args(argv)

    try:
        if args.command == "fetch":
            started = time.monotonic()
            entries = fetch()
            from infra.kafka import _classpath_file

            print(f"Apache Kafka {KAFKA_VERSION}: {len(entries)} jars in {time.monotonic() - started:.1f} s; "
                  f"class path in {_classpath_file()}")
            return 0
        if args.command == "start":
            ports = args.ports or ([args.port] if args.port else None)
            layout_exists = (args.data_dir / "cluster.json").exists()
            if ports is None and not layout_exists:
                ports = [9092] if (args.nodes or 1) == 1 else [9092, 9093, 9094]
            cluster = KafkaCluster(args.data_dir, ports=ports, size=args.nodes or (len(ports) if ports else None))
            started = time.monotonic()
            if args.node:
                cluster.start_node(args.node, timeout=args.timeout)
            else:
                cluster.start(timeout=args.timeout)
            print(cluster.bootstrap)
            what = f"node {args.node}" if args.node else f"{len(cluster.nodes)} node(s)"
            print(f"# Apache Kafka {KAFKA_VERSION}, {what} ready in "
                  f"{time.monotonic() - started:.1f} s; logs: {cluster.directory}/node-*/server.log", file=sys.stderr)
            return 0
        if not (args.data_dir / "cluster.json").exists():
            print(f"no cluster in {args.data_dir}", file=sys.stderr)
            return 1 if args.command == "status" else 0
        cluster = KafkaCluster(args.data_dir)
        targets = [cluster.node(args.node)] if args.node else cluster.nodes
        if args.command == "stop":
            if args.node:
                cluster.stop_node(args.node)
            else:
                cluster.stop()
        elif args.command == "kill":
            for node in targets:
                node.kill()
        elif args.command == "status":
            for node in targets:
                state = f"running (pid {node.pid})" if node.running else "stopped"
                print(f"node {node.node_id} {node.address}: {state}")
            return 0 if any(node.running for node in targets) else 3
        return 0
    except KafkaUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
