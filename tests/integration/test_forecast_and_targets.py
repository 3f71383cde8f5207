"""Forecast (weighted pipeline by month of expected close) and targets (set as events, achievement, gap and
the cumulative series): commands through the command API, relay, Kafka and the three projection workers, read
back through the timeline API and compared with figures computed by hand from the deals and targets below.

Open deals (win probability of the stage, from the default process definition):

owner  (team, site)             deal  stage (%)                amount      expected close   amount × %
tanaka (本社営業1課, 東京本社)   A1    lead_acquired (10)       1,000,000   2026-03-15        10,000,000
                                 A2    quote_submitted (40)     2,500,000   2026-03-31       100,000,000
                                 A3    in_approval (70)         3,000,000   2026-04-10       210,000,000
                                 A4    hearing_done (20)          333,333   none               6,666,660
sato   (本社営業2課, 東京本社)   B1    contract_drafting (70)   1,234,567   2026-04-01        86,419,690
                                 B2    bant_checking (20)       no amount   2026-04-20                 0
yamada (大阪支店営業, 大阪支店)  C1    negotiating_terms (70)   5,000,000   2026-05-31       350,000,000
                                 C2    lost                     9,999,999   2026-04-15       (not open)

Won deals (by close time, JST): tanaka W1 1,500,000 on 2026-01-20, W3 1,000,000 on 2026-02-10, W2 2,000,000 on
2026-03-01 00:30 (still February in UTC: March in the business time zone); kato (本社営業1課) W5 500,000 on
2026-01-31 23:59; sato W4 1,200,000 on 2026-02-15; yamada W6 800,000 on 2026-04-02 (after the months asked).

Targets (2026): 本社営業1課 January 5,000,000, February 4,000,000 then 3,000,000 (the latest wins), March
6,000,000; tanaka (本社営業1課) January 2,000,000; 本社営業2課 February 1,000,000.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.projections.rebuild import rebuild
from services.projections.registry import PROJECTIONS
from shared.audit import verify_chain
from shared.events.targets import targets_stream_id
from shared.process import default_process_definition
from tests.streaming import caught_up, checksum, eventually, serving
from tests.support import auth, post

JST = timezone(timedelta(hours=9))
TANAKA = {"user": "tanaka", "team": "本社営業1課", "department": "sales", "site": "東京本社"}
KATO = {"user": "kato", "team": "本社営業1課", "department": "sales", "site": "東京本社"}
SATO = {"user": "sato", "team": "本社営業2課", "department": "sales", "site": "東京本社"}
YAMADA = {"user": "yamada", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}
BOSS = {"user": "suzuki", "team": "営業本部", "department": "sales", "site": "東京本社"}

OPEN = [  # key, actor, stage, amount, expected close
    ("A1", TANAKA, "lead_acquired", 1_000_000, "2026-03-15"),
    ("A2", TANAKA, "quote_submitted", 2_500_000, "2026-03-31"),
    ("A3", TANAKA, "in_approval", 3_000_000, "2026-04-10"),
    ("A4", TANAKA, "hearing_done", 333_333, None),
    ("B1", SATO, "contract_drafting", 1_234_567, "2026-04-01"),
    ("B2", SATO, "bant_checking", None, "2026-04-20"),
    ("C1", YAMADA, "negotiating_terms", 5_000_000, "2026-05-31"),
]
WON = [  # key, actor, amount, close time
    ("W1", TANAKA, 1_500_000, "2026-01-20T10:00:00+09:00"),
    ("W3", TANAKA, 1_000_000, "2026-02-10T10:00:00+09:00"),
    ("W2", TANAKA, 2_000_000, "2026-03-01T00:30:00+09:00"),
    ("W5", KATO, 500_000, "2026-01-31T23:59:00+09:00"),
    ("W4", SATO, 1_200_000, "2026-02-15T10:00:00+09:00"),
    ("W6", YAMADA, 800_000, "2026-04-02T10:00:00+09:00"),
]
TARGETS = [  # team, owner, month, amount (in this order: the second February target replaces the first)
    ("本社営業1課", None, "2026-01", 5_000_000),
    ("本社営業1課", None, "2026-02", 4_000_000),
    ("本社営業1課", None, "2026-03", 6_000_000),
    ("本社営業1課", "tanaka", "2026-01", 2_000_000),
    ("本社営業2課", None, "2026-02", 1_000_000),
    ("本社営業1課", None, "2026-02", 3_000_000),
]


def manager(client: TestClient) -> dict[str, str]:
    return {**auth(client, BOSS, role="manager"), "content-type": "application/json"}


def set_target(client: TestClient, body: dict, status: int = 201, headers: dict | None = None,
               role: str = "manager") -> Any:
    response = client.post("/targets", json=body, headers={**auth(client, BOSS, role=role), **(headers or {})})
    assert response.status_code == status, response.text
    return response


def write_history(client: TestClient) -> None:
    customers: dict[str, str] = {}

    def customer_of(actor: dict) -> str:
        if actor["user"] not in customers:
            customers[actor["user"]] = post(client, "/customers", {"company_name": f"株式会社{actor['user']}工業",
                                                                   "occurred_at": "2025-12-01T09:00:00+09:00"},
                                            actor=actor)["customer_id"]
        return customers[actor["user"]]

    def imported(actor: dict, key: str, stage: str, amount: int | None, close: str | None) -> tuple[str, str]:
        cid = customer_of(actor)
        did = post(client, f"/customers/{cid}/deals/imported", {
            "deal": {"title": f"案件{key}", "owner": actor["user"], "amount": amount, "expected_close": close},
            "imported": {"stage": stage, "stage_entered_at": "2025-12-10T09:00:00+09:00"},
            "occurred_at": "2025-12-10T09:00:00+09:00"}, actor=actor)["created"]["deal_id"]
        return cid, did

    for key, actor, stage, amount, close in OPEN:
        imported(actor, key, stage, amount, close)
    cid, did = imported(YAMADA, "C2", "hearing_done", 9_999_999, "2026-04-15")
    post(client, f"/customers/{cid}/deals/{did}/loss", {"reason": {"choice": "price"},
                                                        "occurred_at": "2026-01-15T10:00:00+09:00"}, actor=YAMADA)
    for key, actor, amount, closed in WON:
        cid, did = imported(actor, key, "contract_signed", amount, None)
        post(client, f"/customers/{cid}/deals/{did}/win", {"win_reasons": [{"choice": "price"}],
                                                           "occurred_at": closed}, actor=actor)
    for team, owner, month, amount in TARGETS:
        set_target(client, {"team": team, "owner": owner, "month": month, "amount": amount})


@pytest.fixture(scope="module")
def stack(isolated):
    with serving(isolated()) as s:
        write_history(s.client)
        eventually(lambda: caught_up(s.conn), timeout=60)
        yield {"client": s.client, "api": s.api, "conn": s.conn, "settings": s.settings, "customers": s.customers}


def get(stack: dict, path: str, role: str = "manager", expect: int = 200, **params: Any) -> Any:
    api = stack["api"]
    response = api.get(path, params=params, headers=auth(api, {**BOSS, "user": f"reader-{role}"}, role=role))
    assert response.status_code == expect, response.text
    return response.json()


def cells(group: dict) -> dict:
    return {m["month"]: (m["deals"], m["amount"], m["weighted_amount"]) for m in group["months"]}


# --- the process definition's probabilities -------------------------------------------------------
def test_every_stage_has_a_win_probability_from_its_phase() -> None:
    process = default_process_definition()
    expected = {"approach": 10, "hearing": 20, "proposal": 40, "closing": 70, "won": 100, "follow": 100}
    assert process.win_probabilities() == {st.id: expected[p.id] for p in process.phases for st in p.stages}


# --- forecast -------------------------------------------------------------------------------------
def test_forecast_of_everyone_by_month_of_expected_close(stack) -> None:
    body = get(stack, "/pipeline/forecast")
    [everyone] = body["groups"]
    assert everyone["group"] is None
    assert cells(everyone) == {
        "2026-03": (2, 3_500_000, 1_100_000),  # (10,000,000 + 100,000,000) / 100
        "2026-04": (3, 4_234_567, 2_964_197),  # (210,000,000 + 86,419,690 + 0) / 100 = 2,964,196.9; C2 is lost
        "2026-05": (1, 5_000_000, 3_500_000),
        None: (1, 333_333, 66_667),  # 6,666,660 / 100 = 66,666.6: deals without expected close, last
    }
    assert [m["month"] for m in everyone["months"]] == ["2026-03", "2026-04", "2026-05", None]
    # 763,086,350 / 100 = 7,630,863.5, rounded once (half up), not the sum of the rounded months
    assert (everyone["deals"], everyone["amount"], everyone["weighted_amount"]) == (7, 13_067_900, 7_630_864)
    probabilities = {p["stage"]: p["win_probability"] for p in body["probabilities"]}
    assert probabilities["quote_submitted"] == 40 and probabilities["in_approval"] == 70
    assert body["probabilities"][0] == {"stage": "lead_acquired", "label": "リード獲得", "label_en": "Lead acquired",
                                        "win_probability": 10}


def test_forecast_per_team_owner_and_site(stack) -> None:
    teams = {g["group"]: g for g in get(stack, "/pipeline/forecast", group_by="team")["groups"]}
    assert list(teams) == ["大阪支店営業", "本社営業1課", "本社営業2課"]
    assert cells(teams["本社営業1課"]) == {"2026-03": (2, 3_500_000, 1_100_000), "2026-04": (1, 3_000_000, 2_100_000),
                                       None: (1, 333_333, 66_667)}
    assert cells(teams["本社営業2課"]) == {"2026-04": (2, 1_234_567, 864_197)}  # 864,196.9; B2 has no amount
    assert cells(teams["大阪支店営業"]) == {"2026-05": (1, 5_000_000, 3_500_000)}
    owners = {g["group"]: g["weighted_amount"] for g in get(stack, "/pipeline/forecast", group_by="owner")["groups"]}
    assert owners == {"sato": 864_197, "tanaka": 3_266_667, "yamada": 3_500_000}  # 326,666,660 / 100 = 3,266,666.6
    sites = {g["group"]: g for g in get(stack, "/pipeline/forecast", group_by="site")["groups"]}
    assert (sites["東京本社"]["deals"], sites["東京本社"]["amount"], sites["東京本社"]["weighted_amount"]) == \
        (6, 8_067_900, 4_130_864)  # 413,086,350 / 100 = 4,130,863.5
    assert cells(sites["大阪支店"]) == {"2026-05": (1, 5_000_000, 3_500_000)}


def test_forecast_months_narrow_the_expected_close_and_keep_the_deals_without_one(stack) -> None:
    body = get(stack, "/pipeline/forecast", since="2026-04", until="2026-05")
    assert (body["since"], body["until"]) == ("2026-04", "2026-05")
    assert cells(body["groups"][0]) == {"2026-04": (3, 4_234_567, 2_964_197), None: (1, 333_333, 66_667)}


# --- targets ---------------------------------------------------------------------------------------
def test_a_target_set_again_replaces_it_and_the_history_stays(stack) -> None:
    body = get(stack, "/pipeline/targets", since="2026-01", until="2026-04")
    in_force = {(t["team"], t["owner"], t["month"]): t["amount"] for t in body["targets"]}
    assert in_force == {("本社営業1課", None, "2026-01"): 5_000_000, ("本社営業1課", None, "2026-02"): 3_000_000,
                        ("本社営業1課", None, "2026-03"): 6_000_000, ("本社営業1課", "tanaka", "2026-01"): 2_000_000,
                        ("本社営業2課", None, "2026-02"): 1_000_000}
    february = [(t["amount"], t["set_by"]) for t in body["history"]
                if (t["team"], t["owner"], t["month"]) == ("本社営業1課", None, "2026-02")]
    assert february == [(4_000_000, "suzuki"), (3_000_000, "suzuki")]
    assert len(body["history"]) == len(TARGETS)
    one_team = get(stack, "/pipeline/targets", since="2026-01", until="2026-04", team="本社営業2課")
    assert [(t["team"], t["amount"]) for t in one_team["targets"]] == [("本社営業2課", 1_000_000)]


def test_achievement_per_team_with_gap_and_cumulative_series(stack) -> None:
    body = get(stack, "/pipeline/achievement", since="2026-01", until="2026-04")
    teams = {g["team"]: g for g in body["groups"]}
    assert list(teams) == ["本社営業1課", "本社営業2課"], "大阪支店営業 has neither target nor win in the months"
    first = teams["本社営業1課"]
    months = [(m["month"], m["target"], m["won"], m["won_amount"], m["gap"], m["cumulative_target"],
               m["cumulative_won_amount"], m["cumulative_gap"]) for m in first["months"]]
    assert months == [
        ("2026-01", 5_000_000, 2, 2_000_000, 3_000_000, 5_000_000, 2_000_000, 3_000_000),  # W1 + kato's W5
        ("2026-02", 3_000_000, 1, 1_000_000, 2_000_000, 8_000_000, 3_000_000, 5_000_000),  # the latest target
        ("2026-03", 6_000_000, 1, 2_000_000, 4_000_000, 14_000_000, 5_000_000, 9_000_000),  # W2: March in JST
    ]
    assert [m["achievement"] for m in first["months"]] == pytest.approx([0.4, 1 / 3, 1 / 3])
    assert [m["cumulative_achievement"] for m in first["months"]] == pytest.approx([0.4, 0.375, 5 / 14])
    assert (first["target"], first["won"], first["won_amount"], first["gap"]) == (14_000_000, 4, 5_000_000, 9_000_000)
    assert first["achievement"] == pytest.approx(5 / 14)
    second = teams["本社営業2課"]["months"]
    assert (second[0]["target"], second[0]["achievement"], second[0]["gap"], second[0]["cumulative_achievement"]) == \
        (None, None, None, None)
    assert (second[1]["target"], second[1]["won_amount"], second[1]["gap"]) == (1_000_000, 1_200_000, -200_000)
    assert second[1]["achievement"] == pytest.approx(1.2)
    assert (second[2]["target"], second[2]["cumulative_target"], second[2]["cumulative_won_amount"]) == \
        (None, 1_000_000, 1_200_000)


def test_achievement_per_owner_within_the_team(stack) -> None:
    body = get(stack, "/pipeline/achievement", since="2026-01", until="2026-04", group_by="owner")
    groups = {(g["team"], g["owner"]): g for g in body["groups"]}
    assert list(groups) == [("本社営業1課", "kato"), ("本社営業1課", "tanaka"), ("本社営業2課", "sato")]
    tanaka = groups[("本社営業1課", "tanaka")]
    assert [(m["target"], m["won_amount"], m["gap"]) for m in tanaka["months"]] == [
        (2_000_000, 1_500_000, 500_000), (None, 1_000_000, None), (None, 2_000_000, None)]
    assert tanaka["months"][0]["achievement"] == pytest.approx(0.75)
    assert tanaka["months"][1]["cumulative_achievement"] == pytest.approx(1.25)
    assert (tanaka["target"], tanaka["won_amount"], tanaka["gap"]) == (2_000_000, 4_500_000, -2_500_000)
    assert groups[("本社営業1課", "kato")]["target"] == 0 and groups[("本社営業1課", "kato")]["achievement"] is None


def test_the_default_months_are_a_calendar_year(stack) -> None:
    body = get(stack, "/pipeline/achievement", since="2026-01")
    assert (body["since"], body["until"]) == ("2026-01", "2027-01")
    assert len(body["groups"][0]["months"]) == 12
    assert {g["team"] for g in body["groups"]} == {"本社営業1課", "本社営業2課", "大阪支店営業"}  # W6 in April


# --- refusals ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"team": "本社営業1課", "month": "2026-04", "amount": -1}, "amount"),
    ({"team": "本社営業1課", "month": "2026-13", "amount": 1}, "month"),
    ({"team": "本社営業1課", "month": "2026-4", "amount": 1}, "month"),
    ({"team": "本社営業1課", "month": "2026-04", "amount": "1000"}, "amount"),
    ({"team": "", "month": "2026-04", "amount": 1}, "team"),
    ({"team": "本社\u0000営業", "month": "2026-04", "amount": 1}, "team"),
    ({"month": "2026-04", "amount": 1}, "team"),
    ({"team": "本社営業1課", "owner": "x" * 101, "month": "2026-04", "amount": 1}, "owner"),
])
def test_bad_targets_are_refused_naming_the_field(stack, body, field) -> None:
    answer = set_target(stack["client"], body, status=422).json()
    assert answer["field"] == field, answer


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/pipeline/forecast", {"group_by": "region"}, "query.group_by"),
    ("/pipeline/forecast", {"since": "2026-1"}, "query.since"),
    ("/pipeline/forecast", {"since": "2026-05", "until": "2026-04"}, "query.until"),
    ("/pipeline/achievement", {"group_by": "site"}, "query.group_by"),
    ("/pipeline/achievement", {"until": "2026-00"}, "query.until"),
    ("/pipeline/achievement", {"since": "2000-01", "until": "2026-01"}, "query.until"),
    ("/pipeline/targets", {"since": "april"}, "query.since"),
])
def test_bad_queries_are_refused_naming_the_parameter(stack, path, params, field) -> None:
    assert get(stack, path, expect=422, **params)["field"] == field


def test_only_managers_set_targets_and_only_pipeline_readers_read_them(stack) -> None:
    body = {"team": "本社営業1課", "month": "2026-04", "amount": 1}
    for role in ("sales", "cs", "support", "auditor"):
        answer = set_target(stack["client"], body, status=403, role=role).json()
        assert answer["permission"] == "targets:write", answer
    assert stack["client"].post("/targets", json=body).status_code == 401
    for path in ("/pipeline/forecast", "/pipeline/targets", "/pipeline/achievement"):
        assert get(stack, path, role="cs", expect=403)["permission"] == "pipeline:read"
        get(stack, path, role="auditor")


def test_a_retried_target_appends_nothing_and_a_reused_key_is_refused(stack) -> None:
    client, body = stack["client"], {"team": "大阪支店営業", "month": "2026-06", "amount": 7_000_000}
    first = set_target(client, body, headers={"Idempotency-Key": "target-osaka-2026-06"})
    again = set_target(client, body, headers={"Idempotency-Key": "target-osaka-2026-06"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert first.json()["stream_id"] == str(targets_stream_id("大阪支店営業"))
    assert first.json()["target"] == {**body, "owner": None}
    refused = set_target(client, {**body, "amount": 1}, status=422, headers={"Idempotency-Key": "target-osaka-2026-06"})
    assert refused.json()["code"] == "idempotency_key_reused"
    stale = set_target(client, {**body, "amount": 2}, status=409, headers={"If-Match": '"0"'}).json()
    assert (stale["code"], stale["current_version"]) == ("version_conflict", 1)
    rows = stack["conn"].execute("SELECT count(*) FROM customers_events WHERE originator_id = %s",
                                 (targets_stream_id("大阪支店営業"),)).fetchone()[0]
    assert rows == 1


# --- a targets stream in the customers' store --------------------------------------------------------
def test_target_streams_are_verified_skipped_by_customer_read_models_and_not_customers(stack) -> None:
    conn, stream = stack["conn"], targets_stream_id("本社営業1課")
    eventually(lambda: caught_up(conn), timeout=60)
    report = verify_chain(stack["customers"].event_recorder, stream)
    assert report.intact and report.events_checked == 5  # its five targets (tanaka's too)
    for name in PROJECTIONS:
        assert conn.execute(f"SELECT count(*) FROM {name}_dead_letters").fetchone()[0] == 0, name
        assert conn.execute(f"SELECT version, parked_version FROM {name}_versions WHERE customer_id = %s",
                            (stream,)).fetchone() == (5, None), name
    assert conn.execute("SELECT count(*) FROM timeline_entries WHERE customer_id = %s", (stream,)).fetchone()[0] == 0
    assert get(stack, f"/customers/{stream}/summary", expect=404)["code"] == "not_found"
    assert get(stack, f"/audit/customers/{stream}/state", role="auditor", expect=404)["code"] == "not_found"
    assert get(stack, f"/audit/customers/{stream}/verify", role="auditor")["intact"] is True
    client = stack["client"]
    response = client.post(f"/customers/{stream}/contacts", json={"name": "誰か"}, headers=auth(client, TANAKA))
    assert response.status_code == 404, response.text
    assert client.get(f"/customers/{stream}", headers=auth(client, TANAKA)).status_code == 404


def test_a_rebuild_makes_the_same_targets(stack) -> None:
    conn, settings, customers = stack["conn"], stack["settings"], stack["customers"]
    eventually(lambda: caught_up(conn), timeout=60)
    before = checksum(conn, ("pipeline_targets", "pipeline_deals"))
    report = rebuild(PROJECTIONS["pipeline"], customers.process, customers.reader, settings.database_url,
                     progress=False)
    assert report.dead_letters == []
    assert checksum(conn, ("pipeline_targets", "pipeline_deals")) == before
    assert UUID(str(targets_stream_id("本社営業2課")))  # the stream id is stable: derived from the team
