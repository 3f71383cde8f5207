"""Win rates per owner, team and site, the stagnation lists (open by default, won on request, the follow-up
stages for CS), and the site groups of summary, funnel and stage durations: commands through the command API,
relay, Kafka and the projection workers, then read back through the timeline API and checked against figures
computed by hand from the deals written here.

The history (T0 = 2026-01-05 09:00 JST, "day n" = T0 + n days). Every deal is imported at a stage (no criteria
claimed) and then won or lost; a won deal imported in 成約 stays in 契約締結 (threshold 7 days), one imported in
フォロー stays in 導入対応中 (threshold 30 days); a lost deal leaves ヒアリング実施済み when it is lost.

owner  (team, site)               deal  imported at (day)          outcome (day)   amount
tanaka (本社営業1課, 東京本社)     W1    contract_signed (9)        won (10)        1,000,000
                                   W2    contract_signed (19)       won (20)        3,000,000
                                   F1    onboarding (0)             won (1)         1,500,000
                                   L1    hearing_done (11)          lost (15)       2,000,000
sato   (本社営業2課, 東京本社)     W3    contract_signed (11)       won (12)        4,000,000
                                   L2    hearing_done (19)          lost (25)       1,000,000
                                   L3    hearing_done (22)          lost (30)       no amount
                                   S1    lead_acquired (0.5)        open            no amount
yamada (大阪支店営業, 大阪支店)    W4    contract_signed (39)       won (40)        2,000,000
                                   F2    onboarding (40)            won (41)        1,000,000
                                   L4    hearing_done (8)           lost (18)       6,000,000
ito    (大阪支店営業, 大阪支店)    L5    hearing_done (18)          lost (22)         500,000
                                   O1    lead_acquired (55)         open            9,000,000
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.streaming import caught_up, eventually, serving
from tests.support import post, read

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=JST)
TANAKA = {"user": "tanaka", "team": "本社営業1課", "department": "sales", "site": "東京本社"}
SATO = {"user": "sato", "team": "本社営業2課", "department": "sales", "site": "東京本社"}
YAMADA = {"user": "yamada", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}
ITO = {"user": "ito", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}


@dataclass(frozen=True)
class Written:
    key: str
    actor: dict
    stage: str
    entered: float  # day the imported stage was entered
    outcome: str  # won, lost, open
    closed: float | None  # day won or lost
    amount: int | None


DEALS = [
    Written("W1", TANAKA, "contract_signed", 9, "won", 10, 1_000_000),
    Written("W2", TANAKA, "contract_signed", 19, "won", 20, 3_000_000),
    Written("F1", TANAKA, "onboarding", 0, "won", 1, 1_500_000),
    Written("L1", TANAKA, "hearing_done", 11, "lost", 15, 2_000_000),
    Written("W3", SATO, "contract_signed", 11, "won", 12, 4_000_000),
    Written("L2", SATO, "hearing_done", 19, "lost", 25, 1_000_000),
    Written("L3", SATO, "hearing_done", 22, "lost", 30, None),
    Written("S1", SATO, "lead_acquired", 0.5, "open", None, None),
    Written("W4", YAMADA, "contract_signed", 39, "won", 40, 2_000_000),
    Written("F2", YAMADA, "onboarding", 40, "won", 41, 1_000_000),
    Written("L4", YAMADA, "hearing_done", 8, "lost", 18, 6_000_000),
    Written("L5", ITO, "hearing_done", 18, "lost", 22, 500_000),
    Written("O1", ITO, "lead_acquired", 55, "open", None, 9_000_000),
]


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def write_history(client: TestClient) -> dict[str, tuple[str, str]]:
    """Each owner's deals on a customer of their own; key -> (customer id, deal id)."""
    customers: dict[str, str] = {}
    written: dict[str, tuple[str, str]] = {}
    for d in DEALS:
        user = d.actor["user"]
        if user not in customers:
            customers[user] = post(client, "/customers", {"company_name": f"株式会社{user}商事",
                                                          "occurred_at": at(0)}, actor=d.actor)["customer_id"]
        cid = customers[user]
        deal = {"title": f"案件{d.key}", "owner": user, "amount": d.amount}
        did = post(client, f"/customers/{cid}/deals/imported", {
            "deal": deal, "imported": {"stage": d.stage, "stage_entered_at": at(d.entered)},
            "occurred_at": at(d.entered)}, actor=d.actor)["created"]["deal_id"]
        if d.outcome == "won":
            post(client, f"/customers/{cid}/deals/{did}/win", {"win_reasons": [{"choice": "price"}],
                                                               "occurred_at": at(d.closed)}, actor=d.actor)
        elif d.outcome == "lost":
            post(client, f"/customers/{cid}/deals/{did}/loss", {"reason": {"choice": "price"},
                                                                "occurred_at": at(d.closed)}, actor=d.actor)
        written[d.key] = (cid, did)
    return written



@dataclass
class Stack:
    api: TestClient
    deals: dict[str, str]  # key -> deal id

    def get(self, path: str, role: str = "manager", expect: int = 200, **params: Any) -> Any:
        return read(self.api, path, role, expect, TANAKA, **params).json()


@pytest.fixture(scope="module")
def stack(isolated):
    with serving(isolated()) as s:
        written = write_history(s.client)
        eventually(lambda: caught_up(s.conn), timeout=60)
        yield Stack(s.api, {key: did for key, (_, did) in written.items()})


# --- win rates ---------------------------------------------------------------------------------
def by_hand(group_of, since: float | None = None, until: float | None = None) -> dict[str | None, dict]:
    """Per group: won / lost counts and amounts of the deals above closed in [since, until), and the rates."""
    found: dict[str | None, dict] = {}
    for d in DEALS:
        if d.closed is None or (since is not None and d.closed < since) or (until is not None and d.closed >= until):
            continue
        g = found.setdefault(group_of(d), {"won": 0, "lost": 0, "won_amount": 0, "lost_amount": 0})
        g[d.outcome] += 1
        g[f"{d.outcome}_amount"] += d.amount or 0
    for g in found.values():
        g["win_rate"] = g["won"] / (g["won"] + g["lost"])
        amounts = g["won_amount"] + g["lost_amount"]
        g["amount_win_rate"] = g["won_amount"] / amounts if amounts else None
    return found


def rounded(value: Any) -> Any:
    """Floats to 9 places (nested), so answers compare with the hand-computed figures exactly."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return round(value, 9) if isinstance(value, float) else value


def answered(body: dict) -> dict[str | None, dict]:
    return rounded({g.pop("group"): g for g in body["groups"]})


GROUP_OF = {"owner": lambda d: d.actor["user"], "team": lambda d: d.actor["team"], "site": lambda d: d.actor["site"]}


def test_win_rates_per_owner_by_count_and_amount_in_the_period(stack) -> None:
    got = answered(stack.get("/pipeline/win-rates", since=at(0), until=at(35), group_by="owner"))
    assert got == rounded(by_hand(GROUP_OF["owner"], 0, 35))
    # the same, written out: W4 (day 40) and F2 (day 41) closed after the period
    assert got["tanaka"] == rounded({"won": 3, "lost": 1, "won_amount": 5_500_000, "lost_amount": 2_000_000,
                                           "win_rate": 0.75, "amount_win_rate": 5.5 / 7.5})
    assert got["sato"] == rounded({"won": 1, "lost": 2, "won_amount": 4_000_000, "lost_amount": 1_000_000,
                                         "win_rate": 1 / 3, "amount_win_rate": 0.8}), "L3 has no amount"
    assert got["yamada"] == {"won": 0, "lost": 1, "won_amount": 0, "lost_amount": 6_000_000, "win_rate": 0.0,
                             "amount_win_rate": 0.0}
    assert list(got) == ["ito", "sato", "tanaka", "yamada"], "groups in order, only those that closed something"


def test_win_rates_per_team_and_site(stack) -> None:
    teams = answered(stack.get("/pipeline/win-rates", since=at(0), until=at(35), group_by="team"))
    assert teams == rounded(by_hand(GROUP_OF["team"], 0, 35))
    assert teams["大阪支店営業"] == {"won": 0, "lost": 2, "won_amount": 0, "lost_amount": 6_500_000, "win_rate": 0.0,
                                   "amount_win_rate": 0.0}
    sites = answered(stack.get("/pipeline/win-rates", since=at(0), until=at(35), group_by="site"))
    assert sites == rounded(by_hand(GROUP_OF["site"], 0, 35))
    assert sites["東京本社"] == rounded({"won": 4, "lost": 3, "won_amount": 9_500_000, "lost_amount": 3_000_000,
                                             "win_rate": 4 / 7, "amount_win_rate": 9.5 / 12.5})
    every_time = answered(stack.get("/pipeline/win-rates", group_by="site"))
    assert every_time["大阪支店"] == rounded({"won": 2, "lost": 2, "won_amount": 3_000_000,
                                                 "lost_amount": 6_500_000, "win_rate": 0.5,
                                                 "amount_win_rate": 3 / 9.5}), "W4 and F2 count without a period"


def test_win_rates_of_everyone_and_the_period_by_close_date(stack) -> None:
    [everyone] = rounded(stack.get("/pipeline/win-rates", since=at(0), until=at(35)))["groups"]
    assert everyone == rounded({"group": None, "won": 4, "lost": 5, "won_amount": 9_500_000,
                                      "lost_amount": 9_500_000, "win_rate": 4 / 9, "amount_win_rate": 0.5})
    # [day 15, day 25): L1 closed at day 15 exactly counts, L2 closed at day 25 does not
    body = stack.get("/pipeline/win-rates", since=at(15), until=at(25))
    [window] = [rounded(g) for g in body["groups"]]
    assert window == rounded({"group": None, "won": 1, "lost": 3, "won_amount": 3_000_000,
                                    "lost_amount": 8_500_000, "win_rate": 0.25, "amount_win_rate": 3 / 11.5})
    assert answered(stack.get("/pipeline/win-rates", since=at(15), until=at(25), group_by="owner")) == \
        rounded(by_hand(GROUP_OF["owner"], 15, 25))
    assert datetime.fromisoformat(body["since"]) == T0 + timedelta(days=15)
    [nothing] = stack.get("/pipeline/win-rates", since=at(100), until=at(200))["groups"]
    assert nothing == {"group": None, "won": 0, "lost": 0, "won_amount": 0, "lost_amount": 0, "win_rate": None,
                       "amount_win_rate": None}, "nothing closed: null rates"
    assert stack.get("/pipeline/win-rates", since=at(100), until=at(200), group_by="team")["groups"] == []
    stack.get("/pipeline/win-rates", role="cs", expect=403)


# --- stagnation --------------------------------------------------------------------------------
def ids(body: dict) -> list[str]:
    return [d["deal_id"] for d in body["deals"]]


def test_stagnation_is_open_deals_by_default_and_won_ones_on_request(stack) -> None:
    deals = stack.deals
    default = stack.get("/pipeline/stagnation", as_of=at(60))
    assert (ids(default), default["count"]) == ([deals["S1"]], 1), "O1 has 5 of 14 days; won deals are not stuck"
    won = stack.get("/pipeline/stagnation", as_of=at(60), status="won")
    # 契約締結 (7 days): W1 51, W3 49, W2 41, W4 21 days; 導入対応中 (30 days): F1 60 days, F2 only 20
    assert ids(won) == [deals[k] for k in ("F1", "W1", "W3", "W2", "W4")] and won["count"] == 5
    assert [(d["stage"], d["threshold_days"], round(d["days_in_stage"])) for d in won["deals"]] == [
        ("onboarding", 30, 60), ("contract_signed", 7, 51), ("contract_signed", 7, 49), ("contract_signed", 7, 41),
        ("contract_signed", 7, 21)]
    every = stack.get("/pipeline/stagnation", as_of=at(60), status="all")
    assert ids(every) == [deals[k] for k in ("F1", "S1", "W1", "W3", "W2", "W4")] and every["count"] == 6
    assert not {deals[k] for k in ("L1", "L2", "L3", "L4", "L5")} & set(ids(every)), "lost deals never are"
    assert ids(stack.get("/pipeline/stagnation", as_of=at(60), status="all", limit=2, offset=1)) == [
        deals["S1"], deals["W1"]]
    stack.get("/pipeline/stagnation", status="lost", expect=422)


def test_customers_stuck_in_follow_up_are_a_list_cs_can_read(stack) -> None:
    deals = stack.deals
    for role in ("cs", "support", "sales", "manager"):
        stuck = stack.get("/follow-up/stagnation", role=role, as_of=at(60))
        assert (ids(stuck), stuck["count"]) == ([deals["F1"]], 1), role
    [f1] = stuck["deals"]
    assert (f1["phase_label"], f1["stage_label"], f1["threshold_days"], round(f1["days_in_stage"])) == (
        "フォロー", "導入対応中", 30, 60)
    assert f1["company_name"] == "株式会社tanaka商事" and f1["owner"] == "tanaka"
    # F2 entered 導入対応中 on day 40: stuck after day 70; S1 (open) and the won deals in 契約締結 never are here
    later = stack.get("/follow-up/stagnation", role="cs", as_of=at(71))
    assert ids(later) == [deals["F1"], deals["F2"]] and later["count"] == 2
    assert deals["S1"] not in ids(later) and deals["W1"] not in ids(later)
    assert stack.get("/follow-up/stagnation", role="cs", as_of=at(20))["deals"] == [], "F1 is stuck after day 30"
    assert ids(stack.get("/follow-up/stagnation", role="cs", as_of=at(71), limit=1, offset=1)) == [deals["F2"]]
    stack.get("/follow-up/stagnation", role="admin", expect=403)


# --- site groups -------------------------------------------------------------------------------
def test_summary_funnel_and_stage_durations_per_site(stack) -> None:
    summary = {g["group"]: (g["deals"], g["amount"])
               for g in stack.get("/pipeline/summary", group_by="site", status="won")["groups"]}
    assert summary == {"大阪支店": (2, 3_000_000), "東京本社": (4, 9_500_000)}
    open_deals = {g["group"]: (g["deals"], g["amount"]) for g in stack.get("/pipeline/summary", group_by="site")["groups"]}
    assert open_deals == {"大阪支店": (1, 9_000_000), "東京本社": (1, 0)}
    funnel = {g["group"]: {s["phase"]: (s["entered"], s["lost"]) for s in g["steps"] if s["entered"]}
              for g in stack.get("/pipeline/funnel", group_by="site")["groups"]}
    assert funnel == {"東京本社": {"approach": (1, 0), "hearing": (3, 3), "won": (3, 0), "follow": (1, 0)},
                      "大阪支店": {"approach": (1, 0), "hearing": (2, 2), "won": (1, 0), "follow": (1, 0)}}
    durations = {g["group"]: {s["stage"]: s for s in g["stages"] if s["stays"]}
                 for g in stack.get("/pipeline/stage-durations", group_by="site")["groups"]}
    assert set(durations) == {"東京本社", "大阪支店"}
    # the stays in ヒアリング実施済み that ended by the loss: 東京本社 4, 6, 8 days; 大阪支店 10, 4 days
    tokyo, osaka = durations["東京本社"]["hearing_done"], durations["大阪支店"]["hearing_done"]
    assert (tokyo["stays"], tokyo["median_days"], tokyo["p90_days"]) == (3, pytest.approx(6), pytest.approx(7.6))
    assert (osaka["stays"], osaka["median_days"], osaka["p90_days"]) == (2, pytest.approx(7), pytest.approx(9.4))
    assert set(durations["東京本社"]) == set(durations["大阪支店"]) == {"hearing_done"}
