"""A rebuild replayed by several processes, each a slice of the streams, makes the same tables as one process."""

from __future__ import annotations

import psycopg
import pytest

from services.projections.pipeline.projection import PipelineProjection
from services.projections.rebuild import RebuildError, decode_page, rebuild
from services.projections.registry import PROJECTIONS
from services.projections.store import EventSource
from shared import commands as c
from shared.application import Envelope, Outcome
from shared.bootstrap import build_customers
from shared.event_store import Slice
from shared.events.base import Selection
from shared.events.deal import LossDetails
from tests.streaming import checksum, write_history


def read_tables(settings, name: str) -> dict[str, str]:
    projection = PROJECTIONS[name]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return checksum(conn, (*projection.tables, f"{name}_versions"))


def lose_half_the_deals(settings, customers, actor) -> None:
    """Lost deals move the funnel's months of every process at once (the one table summed across customers)."""
    with psycopg.connect(settings.database_url) as conn:
        deals = conn.execute("SELECT originator_id, convert_from(state, 'UTF8')::jsonb->>'deal_id' "
                             "FROM customers_events WHERE topic LIKE '%DealOpened' ORDER BY notification_id").fetchall()
    lost = customers.execute([Envelope(c.LoseDeal(deal_id=deal_id, details=LossDetails(reason=Selection(
        choice="price"))), customer_id, actor) for customer_id, deal_id in deals[::2]])
    assert all(isinstance(outcome, Outcome) for outcome in lost), lost[:3]


def test_slices_split_the_log_into_whole_streams(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    total = write_history(customers, actor, n_customers=30, touches=2)
    reader = customers.reader
    every = reader.notification_rows(0, None, 10_000)
    slices = [reader.notification_rows(0, None, 10_000, Slice(i, 3)) for i in range(3)]
    assert len(every) == total == sum(len(rows) for rows in slices)
    owners = [{row["originator_id"] for row in rows} for rows in slices]
    assert all(owners) and not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    for rows in slices:  # each slice in the log's order, every event of its streams
        assert [r["notification_id"] for r in rows] == sorted(r["notification_id"] for r in rows)
        assert sorted(r["notification_id"] for r in rows) == sorted(
            r["notification_id"] for r in every if r["originator_id"] in {row["originator_id"] for row in rows})
    up_to = every[len(every) // 2]["notification_id"]
    assert [r["notification_id"] for r in reader.notification_rows(0, up_to, 10_000)] == \
        [r["notification_id"] for r in every if r["notification_id"] <= up_to]
    customers.close()


def test_three_processes_rebuild_every_read_model_as_one_does(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    total = write_history(customers, actor, n_customers=60, touches=3)
    lose_half_the_deals(settings, customers, actor)
    total += 30
    for name, projection in PROJECTIONS.items():
        one = rebuild(projection, customers.process, customers.reader, settings.database_url, progress=False,
                      processes=1)
        alone = read_tables(settings, name)
        # pages of 7: many transactions in each process, interleaved with the others' on the funnel's months
        three = rebuild(projection, customers.process, customers.reader, settings.database_url, page_size=7,
                        progress=False, processes=3)
        assert (one.events, one.processes, three.events, three.processes) == (total, 1, total, 3)
        assert read_tables(settings, name) == alone, name
    with psycopg.connect(settings.database_url) as conn:
        lost = conn.execute("SELECT sum(lost) FROM pipeline_funnel_months").fetchone()[0]
    assert lost == 30
    customers.close()


class Failing(PipelineProjection):
    """A read model whose tables break under a rebuild process (not an event's fault: nothing to park)."""

    def write(self, curs, events) -> None:
        if self.suffix:
            raise psycopg.errors.UndefinedTable("the rebuild's table went away")
        super().write(curs, events)


def test_a_failed_process_stops_the_rebuild_and_leaves_the_live_tables(isolated, actor) -> None:
    settings = isolated()
    customers = build_customers(settings)
    write_history(customers, actor, n_customers=10, touches=1)
    rebuild(PipelineProjection, customers.process, customers.reader, settings.database_url, progress=False)
    before = read_tables(settings, "pipeline")
    with pytest.raises(RebuildError, match="the rebuild's table went away"):
        rebuild(Failing, customers.process, customers.reader, settings.database_url, progress=False, processes=2)
    assert read_tables(settings, "pipeline") == before
    customers.close()


class RolledBack(Exception):
    pass


def test_a_batch_rolled_back_after_its_write_is_applied_again_from_the_tables(isolated, actor) -> None:
    """The pipeline keeps each customer's state as it last wrote it for its next batch: a batch whose transaction
    rolls back after the write must not leave that memory ahead of the tables (the events would apply twice)."""
    settings = isolated()
    customers = build_customers(settings)
    write_history(customers, actor, n_customers=6, touches=3)
    source = EventSource(customers.reader)
    deliveries, unreadable = decode_page(source, customers.reader.notification_rows(0, None, 10_000))
    assert not unreadable
    first = [d for d in deliveries if d.event.originator_version <= 4]
    rest = [d for d in deliveries if d.event.originator_version > 4]
    projection = PipelineProjection(customers.process)
    with psycopg.connect(settings.database_url) as conn:
        with conn.transaction(), conn.cursor() as curs:
            projection.create_tables(curs)
            assert projection.apply(curs, first, source.missing) == len(first)
        with pytest.raises(RolledBack), conn.transaction(), conn.cursor() as curs:
            assert projection.apply(curs, rest, source.missing) == len(rest)
            raise RolledBack  # e.g. the commit failed
        with conn.transaction(), conn.cursor() as curs:
            assert projection.apply(curs, rest, source.missing) == len(rest)
    applied = read_tables(settings, "pipeline")
    rebuild(PipelineProjection, customers.process, customers.reader, settings.database_url, progress=False)
    assert read_tables(settings, "pipeline") == applied
    customers.close()
