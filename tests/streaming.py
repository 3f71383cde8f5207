"""Running the relay and projection workers inside the test process, and waiting for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from services.command.app import create_app as create_command_app
from services.projections.app import build_worker
from services.projections.worker import ProjectionWorker
from services.relay.app import build_relay
from services.timeline_api.app import create_app as create_timeline_app
from shared.application import Customers
from shared.bootstrap import build_customers
from shared.settings import Settings

EVERY_PROJECTION = ("pipeline", "timeline", "duplicates")


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Wait until check() returns something truthy (and return it), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


@contextmanager
def threads_running(*loops: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run each loop(stop) in a thread until the block ends."""
    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


@contextmanager
def running(settings: Settings, projections: tuple[str, ...] = (), relay: bool = True
            ) -> Iterator[dict[str, ProjectionWorker]]:
    """Run the relay and the named projection workers in threads until the block ends."""
    workers = {name: build_worker(settings, name) for name in projections}
    loops = [build_relay(settings).run] if relay else []
    try:
        with threads_running(*loops, *(w.run for w in workers.values())):
            yield workers
    finally:
        for worker in workers.values():
            worker.close()


@dataclass(frozen=True)
class Served:
    settings: Settings
    customers: Customers
    client: TestClient  # the command API
    api: TestClient  # the timeline API
    conn: psycopg.Connection  # autocommit, for the tests' own reads


@contextmanager
def serving(settings: Settings, projections: tuple[str, ...] = EVERY_PROJECTION) -> Iterator[Served]:
    """Both APIs in process, the relay and the named projection workers in threads, until the block ends."""
    customers = build_customers(settings)
    try:
        with TestClient(create_command_app(settings, customers)) as client, \
                TestClient(create_timeline_app(settings, customers.reader)) as api, \
                running(settings, projections), psycopg.connect(settings.database_url, autocommit=True) as conn:
            yield Served(settings, customers, client, api, conn)
    finally:
        customers.close()


def caught_up(conn: Any, projections: tuple[str, ...] = EVERY_PROJECTION) -> bool:
    """Every projection has applied every customer's events up to the stream head."""
    return all(conn.execute(f"SELECT count(*) FROM stream_heads h LEFT JOIN {name}_versions v USING (customer_id) "
                            "WHERE v.version IS DISTINCT FROM h.version").fetchone()[0] == 0
               for name in projections)


def checksum(conn: Any, tables: tuple[str, ...]) -> dict[str, str]:
    """A digest of every row of each table, independent of physical order."""
    return {table: conn.execute(f'SELECT count(*) || \':\' || coalesce(md5(string_agg(t::text, \'|\' '
                                f'ORDER BY t::text)), \'\') FROM "{table}" t').fetchone()[0]
            for table in tables}


def write_history(customers: Any, actor: Any, n_customers: int, touches: int) -> int:
    """Give n customers a deal that reaches ヒアリング plus some touchpoints; return the events written."""
    from shared import commands as c
    from shared.application import Envelope, Outcome
    from shared.events.customer import CompanyProfile, ContactDetails, TouchpointDetails
    from shared.events.deal import DealDetails
    from shared.events.sales_activity import HearingDetails

    made = customers.execute([Envelope(c.RegisterCustomer(details=CompanyProfile(
        company_name=f"株式会社テスト{i:04d}", industry="製造業")), None, actor) for i in range(n_customers)])
    ids = [r.customer_id for r in made]
    deals = customers.execute([Envelope(c.OpenDeal(details=DealDetails(title="案件", owner=actor.user)), cid, actor)
                               for cid in ids])
    steps = []
    for cid, deal in zip(ids, deals):
        deal_id = deal.created["deal_id"]
        steps += [Envelope(c.AddContact(details=ContactDetails(name="担当", email="a@example.jp")), cid, actor),
                  Envelope(c.RecordHearing(deal_id=deal_id, details=HearingDetails(issue="課題")), cid, actor)]
        steps += [Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            deal_id=deal_id, channel="email", direction="outbound", summary=f"連絡 {k}")), cid, actor)
            for k in range(touches)]
        steps.append(Envelope(c.ChangeStage(deal_id=deal_id, details=c.StageChange(to_stage="hearing_done")),
                              cid, actor))
    results = customers.execute(steps)
    assert all(isinstance(r, Outcome) for r in results), [r for r in results if not isinstance(r, Outcome)][:3]
    return 2 * n_customers + len(steps)


def read_topic(bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 60.0) -> list[Any]:
    """Messages of a topic from the start, read until until(messages) holds (or fail after timeout)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=500)
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not reached within {timeout} s ({len(messages)} read)")
            messages.extend(consumer)
    finally:
        consumer.close()
    return messages
