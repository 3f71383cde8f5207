"""Merging two customer records of one company (名寄せ), and undoing it: an event on both streams, nothing
rewritten; the survivor's timeline, summary and search include the merged customer's history; the merged id
points to the survivor; every read model equals its rebuild; both streams stay whole for auditors.

Through the command API, the relay, Kafka and the three projection workers; read back through the timeline API.
"""

from __future__ import annotations

from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.projections.duplicates.projection import DuplicatesProjection
from services.projections.pipeline.projection import PipelineProjection
from services.projections.timeline.projection import TimelineProjection
from tests.streaming import caught_up, checksum, eventually, serving
from tests.support import auth, post, read, run_cli

HONSHA = {"user": "tanaka", "team": "本社営業1課", "department": "sales", "site": "東京本社"}
OSAKA = {"user": "yamada", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}
MANAGER = {"user": "kimura", "team": None, "department": "sales", "site": None}
CS = {"user": "suzuki", "team": "CS課", "department": "cs", "site": "東京本社"}
TABLES = {name: (*cls.tables, f"{name}_versions") for name, cls in
          (("pipeline", PipelineProjection), ("timeline", TimelineProjection), ("duplicates", DuplicatesProjection))}


@pytest.fixture(scope="module")
def stack(isolated):
    with serving(isolated()) as s:
        yield s.settings, s.client, s.api, s.conn


def get(api: TestClient, path: str, expect: int = 200, role: str = "manager", **params):
    return read(api, path, role, expect, MANAGER, **params)


def write_two_records(client: TestClient) -> tuple[str, str, dict[str, str]]:
    """本社 registered 株式会社ABC商事, 大阪 registered ㈱ＡＢＣ商事: one company, two records."""
    a = post(client, "/customers", {"company_name": "株式会社ABC商事", "industry": "製造"}, actor=HONSHA)["customer_id"]
    b = post(client, "/customers", {"company_name": "㈱ＡＢＣ商事"}, actor=OSAKA)["customer_id"]
    made = {}
    for cid, actor, who in ((a, HONSHA, "honsha"), (b, OSAKA, "osaka")):
        post(client, f"/customers/{cid}/contacts", {"name": f"{who}の担当者"}, actor=actor)
        post(client, f"/customers/{cid}/touchpoints", {"channel": "phone", "direction": "outbound",
                                                      "summary": f"{who}から電話"}, actor=actor)
        made[who] = post(client, f"/customers/{cid}/deals", {"title": f"{who}の案件", "owner": actor["user"],
                                                             "amount": 1_000_000}, actor=actor)["created"]["deal_id"]
    post(client, f"/customers/{b}/tickets", {"title": "ログインできない", "priority": "high"}, actor=CS)
    return a, b, made


def all_entries(api: TestClient, customer_id: str, limit: int = 3) -> list[dict]:
    entries, cursor = [], None
    while True:
        page = get(api, f"/customers/{customer_id}/timeline", limit=limit,
                   **({"cursor": cursor} if cursor else {})).json()
        entries += page["entries"]
        if not (cursor := page["next_cursor"]):
            return entries


def rebuilt_equal(settings, conn) -> None:
    for name, tables in TABLES.items():
        live = checksum(conn, tables)
        result = run_cli("projections", "rebuild", name, env={"DATABASE_URL": settings.database_url}, timeout=180)
        assert result.returncode == 0, result.stderr
        assert checksum(conn, tables) == live, f"{name}: the live read model differs from its rebuild"


def test_merge_and_unmerge_with_every_read_model(stack) -> None:
    settings, client, api, conn = stack
    a, b, deals = write_two_records(client)
    eventually(lambda: caught_up(conn), timeout=60)
    before = {cid: len(all_entries(api, cid)) for cid in (a, b)}

    merged = post(client, f"/customers/{b}/merge", {"into": a, "note": "旧表記で重複登録"}, actor=MANAGER)
    assert [(e["type"], e.get("customer_id")) for e in merged["events"]] == [
        ("CustomerMerged", None), ("CustomerAbsorbed", a)], "one event on each stream, in one answer"
    eventually(lambda: caught_up(conn), timeout=60)

    summary = get(api, f"/customers/{a}/summary").json()
    assert summary["company"]["name"] == "株式会社ABC商事", "the survivor keeps its own profile"
    assert {d["deal_id"] for d in summary["deals"]} == set(deals.values())
    assert {c["name"] for c in summary["contacts"]} == {"honshaの担当者", "osakaの担当者"}
    assert [t["title"] for t in summary["tickets"]] == ["ログインできない"]
    assert summary["merged_customers"] == [{"customer_id": b, "company_name": "㈱ＡＢＣ商事"}]
    assert "cs" in summary["last_touch"]

    entries = all_entries(api, a)  # pages of 3 over two streams: each entry once, newest first
    assert len(entries) == before[a] + before[b] + 2 and len({e["event_id"] for e in entries}) == len(entries)
    assert {e["customer_id"] for e in entries} == {a, b}
    moments = [e["occurred_at"] for e in entries]
    assert moments == sorted(moments, reverse=True)
    assert entries[0]["summary_ja"].startswith(("名寄せ: ㈱ＡＢＣ商事 を統合", "名寄せ: 株式会社ABC商事 に統合"))

    for view in ("summary", "timeline"):  # the merged id points to the survivor
        pointer = get(api, f"/customers/{b}/{view}", expect=307, limit=5)
        assert pointer.headers["location"] == f"/customers/{a}/{view}?limit=5"
        assert pointer.json()["code"] == "customer_merged" and pointer.json()["survivor_id"] == a
    found = get(api, "/customers", q="abc商事").json()["customers"]
    assert [c["customer_id"] for c in found] == [a] and found[0]["open_deals"] == 2
    assert [c["customer_id"] for c in get(api, "/customers", q="㈱ＡＢＣ").json()["customers"]] == [a]

    refused = client.post(f"/customers/{b}/touchpoints", json={"channel": "phone", "direction": "outbound",
                                                               "summary": "x"}, headers=auth(client, OSAKA))
    assert refused.status_code == 409 and refused.json()["code"] == "customer_merged"
    assert refused.json()["survivor_id"] == a

    # nothing was rewritten: both chains intact; the merge events are no sales activity on the company
    for cid in (a, b):
        assert get(api, f"/audit/customers/{cid}/verify", role="auditor").json()["intact"] is True
    merge_ids = [e["event_id"] for e in merged["events"]]
    assert conn.execute("SELECT count(*) FROM company_activity WHERE event_id = ANY(%s::uuid[])",
                        (merge_ids,)).fetchone()[0] == 0
    rebuilt_equal(settings, conn)

    undone = post(client, f"/customers/{b}/unmerge", {"note": "別会社と判明"}, actor=MANAGER)
    assert [(e["type"], e.get("customer_id")) for e in undone["events"]] == [
        ("CustomerUnmerged", None), ("CustomerReleased", a)]
    eventually(lambda: caught_up(conn), timeout=60)
    summary = get(api, f"/customers/{a}/summary").json()
    assert [d["deal_id"] for d in summary["deals"]] == [deals["honsha"]] and summary["merged_customers"] == []
    assert {e["customer_id"] for e in all_entries(api, a)} == {a}
    assert get(api, f"/customers/{b}/summary").json()["company"]["name"] == "㈱ＡＢＣ商事"
    assert {c["customer_id"] for c in get(api, "/customers", q="abc商事").json()["customers"]} == {a, b}
    post(client, f"/customers/{b}/touchpoints", {"channel": "phone", "direction": "outbound", "summary": "再開"},
         actor=OSAKA)
    eventually(lambda: caught_up(conn), timeout=60)
    rebuilt_equal(settings, conn)


def test_merges_that_cannot_be_are_refused_naming_why(stack) -> None:
    _, client, _, _ = stack
    a = post(client, "/customers", {"company_name": "株式会社甲"}, actor=HONSHA)["customer_id"]
    b = post(client, "/customers", {"company_name": "株式会社乙"}, actor=HONSHA)["customer_id"]
    c = post(client, "/customers", {"company_name": "株式会社丙"}, actor=HONSHA)["customer_id"]

    def refused(customer: str, path: str, body: dict, status: int, code: str) -> dict:
        response = client.post(f"/customers/{customer}/{path}", json=body, headers=auth(client, MANAGER, "manager"))
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        return response.json()

    assert refused(a, "merge", {"into": a}, 422, "invalid_field")["field"] == "into"
    refused(a, "merge", {"into": "00000000-0000-4000-8000-000000000000"}, 404, "not_found")
    refused(a, "unmerge", {}, 409, "invalid_state")
    post(client, f"/customers/{b}/merge", {"into": a}, actor=MANAGER)
    assert refused(c, "merge", {"into": b}, 422, "invalid_field")["message"].startswith(f"into: customer {b} is "
                                                                                       f"itself merged into {a}")
    refused(a, "merge", {"into": c}, 409, "invalid_state")  # a holds b: undo that first
    refused(b, "merge", {"into": c}, 409, "customer_merged")
    cs = client.post(f"/customers/{c}/merge", json={"into": a}, headers=auth(client, CS))
    assert cs.status_code == 403, "CS may not merge records"
