"""Concurrent writers on one customer: nothing lost, nothing doubled, stale writes refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from shared.application import Envelope, Outcome
from shared.bootstrap import build_customers
from shared.commands import RecordTouchpoint, RegisterCustomer
from shared.domain.errors import VersionConflictError
from shared.events.customer import CompanyProfile, TouchpointDetails
from tests.support import auth, events_of, register

THREADS = 50


def touch(summary: str) -> RecordTouchpoint:
    return RecordTouchpoint(details=TouchpointDetails(channel="phone", direction="outbound", summary=summary))


def test_fifty_http_clients_on_one_customer_lose_no_update(client, db) -> None:
    cid = register(client)
    headers = auth(client)

    def one(i: int) -> int:
        response = client.post(f"/customers/{cid}/touchpoints", headers=headers, json={
            "channel": "phone", "direction": "outbound", "summary": f"call {i}"})
        return response.status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(one, range(THREADS)))
    assert statuses == [201] * THREADS
    assert [version for version, _ in events_of(db, cid)] == list(range(1, THREADS + 2))


def test_fifty_writers_in_two_processes_worth_of_applications_lose_no_update(settings, customers, actor, db) -> None:
    """Two independent application instances (as two API processes would be) write to one stream."""
    other = build_customers(settings)
    try:
        [registered] = customers.execute([Envelope(RegisterCustomer(details=CompanyProfile(company_name="並行")),
                                                   None, actor)])
        cid = UUID(registered.customer_id)

        def one(i: int):
            app = customers if i % 2 else other
            return app.execute([Envelope(touch(f"call {i}"), cid, actor)])[0]

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(one, range(THREADS)))
    finally:
        other.close()
    assert all(isinstance(r, Outcome) for r in results)
    versions = sorted(r.stream_version for r in results)
    assert versions == list(range(2, THREADS + 2)), "each accepted write got its own version"
    stored = events_of(db, str(cid))
    assert len(stored) == THREADS + 1
    summaries = {e.summary for e in customers.events.get(cid) if hasattr(e, "summary")}
    assert summaries == {f"call {i}" for i in range(THREADS)}


def test_fifty_writers_expecting_the_same_version_exactly_one_wins(customers, actor, db) -> None:
    [registered] = customers.execute([Envelope(RegisterCustomer(details=CompanyProfile(company_name="楽観")),
                                               None, actor)])
    cid = UUID(registered.customer_id)

    def one(i: int):
        return customers.execute([Envelope(touch(f"try {i}"), cid, actor, expected_version=1)])[0]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, range(THREADS)))
    winners = [r for r in results if isinstance(r, Outcome)]
    losers = [r for r in results if isinstance(r, VersionConflictError)]
    assert len(winners) == 1 and len(losers) == THREADS - 1
    assert {loser.current for loser in losers} == {2}
    assert len(events_of(db, str(cid))) == 2


def test_a_batch_that_loses_a_race_saves_every_command_once(settings, customers, actor, db, monkeypatch) -> None:
    """Another writer commits between our load and our save: the batch falls back to one by one."""
    made = customers.execute([Envelope(RegisterCustomer(details=CompanyProfile(company_name=f"B{i}")), None, actor)
                              for i in range(3)])
    ids = [UUID(r.customer_id) for r in made]
    stale = customers.get_customer(ids[0])
    other = build_customers(settings)
    try:
        other.execute([Envelope(touch("elsewhere"), ids[0], actor)])
    finally:
        other.close()
    real_load = customers.load_many
    served_stale = []

    def load_many(wanted):  # the first load of ids[0] predates the other write
        loaded = real_load(wanted)
        if ids[0] in loaded and not served_stale:
            served_stale.append(True)
            loaded[ids[0]] = stale
        return loaded

    monkeypatch.setattr(customers, "load_many", load_many)
    results = customers.execute([Envelope(touch("a"), ids[0], actor), Envelope(touch("b"), ids[1], actor),
                                 Envelope(touch("c"), ids[2], actor, idempotency_key=f"c-{ids[2]}")])
    assert served_stale, "the race was staged"
    assert [r.stream_version for r in results] == [3, 2, 2]
    assert [len(events_of(db, str(i))) for i in ids] == [3, 2, 2]
    again = customers.execute([Envelope(touch("c"), ids[2], actor, idempotency_key=f"c-{ids[2]}")])
    assert again[0].replayed and len(events_of(db, str(ids[2]))) == 2
