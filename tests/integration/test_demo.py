"""The demo history (services/dev/demo.py) through the real command API on a PostgreSQL database of its own.

The demo runs three times against one database: a first run, a second run the same day, and a run
"a month later"; the assertions read the event store (counts by event type, customers replayed with
the application) and feed the stored events to the duplicates and pipeline projections the way
their workers would, to see what the manager, CS and support views will show.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from services.dev import demo
from services.dev.users import DEV_USERS
from services.projections.duplicates.projection import DuplicatesProjection
from services.projections.duplicates.queries import duplicate_approaches
from services.projections.pipeline import stagnation
from services.projections.pipeline.projection import PipelineProjection
from shared.application import Customers
from shared.auth import TokenStore
from shared.bootstrap import build_customers
from shared.company_key import company_key
from shared.events import CustomerEvent
from shared.settings import Settings

JST = timezone(timedelta(hours=9))
NOW = datetime.now(JST)


@dataclass
class Runs:
    first: demo.DemoSummary
    again: demo.DemoSummary
    later: demo.DemoSummary
    counts: list[dict[str, int]]  # events by type after each run
    customers: Customers
    database_url: str
    client: object
    tokens: dict[str, str]

    def events(self, customer_id: str) -> list[CustomerEvent]:
        return list(self.customers.events.get(uuid.UUID(customer_id)))

    def all_events(self) -> dict[uuid.UUID, list[CustomerEvent]]:
        return {uuid.UUID(c): self.events(c) for c in self.first.customer_ids}


def _events_by_type(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT split_part(topic, ':', 2), count(*) FROM customers_events GROUP BY 1").fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def runs(postgres_server: str) -> Iterator[Runs]:
    from fastapi.testclient import TestClient

    from services.command.app import create_app

    name = f"ct_demo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(postgres_server, dbname=name)
    settings = Settings(database_url=url, snapshot_interval=50)
    customers = build_customers(settings)
    store = TokenStore.open(url)
    tokens = {user.key: store.issue(user.role, user.actor).token for user in DEV_USERS}
    try:
        with TestClient(create_app(settings, customers)) as client:
            first = demo.write_demo(client, tokens, now=NOW)
            counts = [_events_by_type(url)]
            again = demo.write_demo(client, tokens, now=NOW)
            counts.append(_events_by_type(url))
            later = demo.write_demo(client, tokens, now=NOW + timedelta(days=31))
            counts.append(_events_by_type(url))
            print(f"\ndemo: first run {first.seconds:.1f} s ({first.requests} commands, {first.events} events), "
                  f"replay {again.seconds:.1f} s, a month later {later.seconds:.1f} s")
            yield Runs(first, again, later, counts, customers, url, client, tokens)
    finally:
        store.close()
        customers.close()
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_companies_and_deals_are_registered_as_the_stories_say(runs: Runs) -> None:
    counts, summary = runs.counts[0], runs.first
    assert summary.companies == counts["CustomerRegistered"] == len(demo.STORIES) == 36
    assert summary.deals == counts["DealOpened"] == sum(len(s.deals) for s in demo.STORIES) == 41
    assert summary.events == sum(counts.values()) and summary.replayed == 0
    assert len(set(summary.customer_ids)) == 36 and len(set(summary.deal_ids)) == 41
    assert summary.requests > 900 and summary.seconds < 60


def test_every_phase_and_stage_holds_a_deal_that_is_not_lost(runs: Runs) -> None:
    process = runs.customers.process
    at: Counter[str] = Counter()
    for customer_id in runs.first.customer_ids:
        state = runs.customers.get_customer(uuid.UUID(customer_id)).state
        at.update(deal.stage for deal in state.deals.values() if deal.status != "lost")
    assert set(at) == {stage.id for stage in process.stages()}
    assert {process.phase_of(stage).id for stage in at} == {phase.id for phase in process.phases}
    assert dict(at) == runs.first.stages


def test_won_and_lost_deals_carry_reasons_of_the_process(runs: Runs) -> None:
    process = runs.customers.process
    win_options = {o.id for o in process.select_field("win_reason").options}
    lost_options = {o.id for o in process.select_field(process.outcomes["lost"].reason_field).options}
    deals = [deal for c in runs.first.customer_ids
             for deal in runs.customers.get_customer(uuid.UUID(c)).state.deals.values()]
    won = [d for d in deals if d.status == "won"]
    lost = [d for d in deals if d.status == "lost"]
    assert len(won) == runs.first.outcomes["won"] == runs.counts[0]["DealWon"] == 8
    assert len(lost) == runs.first.outcomes["lost"] == runs.counts[0]["DealLost"] == 8
    assert all(d.win_reasons and set(d.win_reasons) <= win_options and d.contract_signed for d in won)
    assert all(d.lost_reason in lost_options for d in lost)
    assert len({d.lost_reason for d in lost}) >= 5
    assert sum(d.handed_off for d in won) == 7 and sum(d.satisfaction is not None for d in won) == 4


def test_cs_support_and_tech_each_write_their_own_records(runs: Runs) -> None:
    by_type: dict[str, Counter[str]] = {}
    channels, directions = set(), set()
    for events in runs.all_events().values():
        for e in events:
            by_type.setdefault(type(e).__name__, Counter())[e.actor.department] += 1
            if type(e).__name__ == "TouchpointRecorded":
                channels.add(e.channel)
                directions.add(e.direction)
    assert set(by_type["TicketOpened"]) == set(by_type["TicketUpdated"]) == {"support", "tech"}
    assert set(by_type["TicketResolved"]) == {"support", "tech"}
    assert set(by_type["OnboardingProgressRecorded"]) == set(by_type["SatisfactionRecorded"]) == {"cs"}
    assert set(by_type["HandedOffToCS"]) == set(by_type["StageChanged"]) == {"sales"}
    assert set(by_type["CustomerFeedbackRecorded"]) == {"cs", "support", "tech"}
    assert len(channels) >= 6 and directions == {"inbound", "outbound"}
    handoffs = [e for events in runs.all_events().values() for e in events if type(e).__name__ == "HandedOffToCS"]
    assert all(h.cautions for h in handoffs)
    showcase = runs.events(runs.first.showcase_customer_id)
    assert {e.actor.department for e in showcase} == {"sales", "cs", "support", "tech"}


def test_the_history_spans_a_year_and_ends_before_now(runs: Runs) -> None:
    times = [e.occurred_at for events in runs.all_events().values() for e in events]
    assert max(times) < NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    assert NOW - timedelta(days=366) < min(times) < NOW - timedelta(days=300)
    assert runs.first.anchor == NOW.date()


def test_the_hq_and_branch_registrations_make_one_duplicate_approach_alert(runs: Runs) -> None:
    hq, branch = runs.first.duplicate_customer_ids
    registrations = [runs.events(c)[0] for c in (hq, branch)]
    assert [r.company_name for r in registrations] == ["㈱北斗精機", "株式会社北斗精機"]
    assert company_key(registrations[0].company_name) == company_key(registrations[1].company_name)
    assert [(r.actor.team, r.actor.site) for r in registrations] == [("本社営業1課", "東京本社"), ("大阪支店営業課", "大阪支店")]
    projection = DuplicatesProjection(runs.customers.process, suffix="_demo")
    with psycopg.connect(runs.database_url) as conn:
        with conn.transaction(), conn.cursor() as curs:
            projection.create_tables(curs)
            projection.write(curs, runs.all_events())
        [alert] = duplicate_approaches(conn, as_of=NOW, window_days=90, suffix="_demo")
    assert set(alert.teams) == {"本社営業1課", "大阪支店営業課"} and set(alert.sites) == {"東京本社", "大阪支店"}
    assert set(alert.customer_ids) == {uuid.UUID(hq), uuid.UUID(branch)}
    assert set(alert.company_names) == {"㈱北斗精機", "株式会社北斗精機"}


def test_the_pipeline_shows_stuck_deals_missing_and_overdue_next_actions_and_every_bucket(runs: Runs) -> None:
    process = runs.customers.process
    projection = PipelineProjection(process)  # its live tables: this database is the test's own
    with psycopg.connect(runs.database_url) as conn:
        with conn.transaction(), conn.cursor() as curs:
            projection.create_tables(curs)
            projection.write(curs, runs.all_events())
        stuck = stagnation.stuck_deals(conn, process, as_of=NOW)
        stuck_won = stagnation.stuck_deals(conn, process, as_of=NOW, status="won")
        follow_up = stagnation.stuck_in_follow_up(conn, process, as_of=NOW)
        without = stagnation.deals_without_next_action(conn, as_of=NOW)
        overdue = stagnation.overdue_next_actions(conn, as_of=NOW)
    assert len(stuck) == sum(d.stuck for s in demo.STORIES for d in s.deals if d.lost is None and not d.won) >= 8
    assert {process.phase_of(a.stage).id for a in stuck} >= {"approach", "hearing", "proposal", "closing"}
    assert len(stuck_won) == sum(d.stuck for s in demo.STORIES for d in s.deals if d.won) >= 2
    assert {process.phase_of(a.stage).id for a in stuck_won} == {"won", "follow"}
    assert [a.stage for a in follow_up] == [a.stage for a in stuck_won if process.phase_of(a.stage).id == "follow"]
    assert len(without) == sum(d.next_action in ("none", "undecided") for s in demo.STORIES for d in s.deals
                               if d.lost is None and not d.won) >= 5
    assert len(overdue) == sum(d.next_action == "overdue" for s in demo.STORIES for d in s.deals
                               if d.lost is None) >= 5
    buckets = Counter()
    for c in runs.first.customer_ids:
        for deal in runs.customers.get_customer(uuid.UUID(c)).state.deals.values():
            if deal.status == "open":
                buckets[process.bucket(deal.temperature, deal.decision_status)] += 1
    assert set(buckets) == {"hot", "warm", "cold"}


def test_a_second_run_adds_nothing_and_gets_the_same_ids_back(runs: Runs) -> None:
    first, again = runs.first, runs.again
    assert runs.counts[1] == runs.counts[0]
    assert again.events == 0 and again.replayed == again.requests == first.requests
    assert (again.customer_ids, again.deal_ids, again.ticket_ids) == (first.customer_ids, first.deal_ids,
                                                                       first.ticket_ids)
    assert again.duplicate_customer_ids == first.duplicate_customer_ids


def test_a_run_a_month_later_keeps_the_first_runs_dates_and_adds_nothing(runs: Runs) -> None:
    later = runs.later
    assert runs.counts[2] == runs.counts[0]
    assert later.events == 0 and later.replayed == later.requests == runs.first.requests
    assert later.anchor == runs.first.anchor and later.deal_ids == runs.first.deal_ids


def test_the_same_seed_draws_the_same_companies_and_another_seed_others() -> None:
    names = [c.profile.name for c in demo.companies(2026)]
    assert names == [c.profile.name for c in demo.companies(2026)]
    assert names != [c.profile.name for c in demo.companies(7)]
    assert len({company_key(name) for name in names}) == len(names) - 1  # HQ and branch: one company, two spellings



class StopsAfter:
    """The client of a run that dies after its first ``posts`` commands (Ctrl-C, a lost connection)."""

    def __init__(self, client, posts: int) -> None:
        self.client, self.posts = client, posts

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        if self.posts == 0:
            raise ConnectionError("the run died here")
        self.posts -= 1
        return self.client.post(*args, **kwargs)


def test_a_first_run_stopped_after_its_first_registration_is_finished_with_that_runs_dates(runs: Runs) -> None:
    """Only the showcase company got registered (three days ago): a later run finds that day again."""
    seed, earlier = 99, NOW - timedelta(days=3)
    with pytest.raises(ConnectionError):
        demo.write_demo(StopsAfter(runs.client, 1), runs.tokens, seed=seed, now=earlier)
    finished = demo.write_demo(runs.client, runs.tokens, seed=seed, now=NOW)
    assert finished.anchor == earlier.date()
    assert finished.replayed == 1 and finished.events == runs.first.events - 1  # all but the registration
    again = demo.write_demo(runs.client, runs.tokens, seed=seed, now=NOW + timedelta(days=40))
    assert again.events == 0 and again.anchor == earlier.date()


def test_a_refused_command_stops_the_demo_with_the_answer(runs: Runs) -> None:
    wrong = {**runs.tokens, "sales": runs.tokens["support"]}  # support may not register customers
    before = _events_by_type(runs.database_url)
    with pytest.raises(demo.DemoError, match=r"POST /customers \(demo-2026-c00-register\) answered 403.*forbidden"):
        demo.write_demo(runs.client, wrong, now=NOW)
    assert _events_by_type(runs.database_url) == before


def test_a_process_other_than_the_servers_is_refused_before_any_command(runs: Runs) -> None:
    other = runs.customers.process.model_copy(update={"name": "別の営業プロセス"})
    with pytest.raises(demo.DemoError, match="別の営業プロセス"):
        demo.write_demo(runs.client, runs.tokens, process=other)
