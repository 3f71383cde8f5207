"""A realistic event history for benchmarks, written through the real write path (`Customers.execute`).

Each customer has a story of about 20 to 40 commands: registration, contacts, a lead source,
touchpoints, a deal that moves through the stages (hearing, meeting, proposal, quote,
feedback, revision, approval, terms, contract) and is won, lost on the way or left open,
hand-off to CS with onboarding and satisfaction, a support ticket worked by support and
tech, and for some companies a second sales team at another site (the duplicate approach),
some of them registered twice under another spelling (株式会社… / ㈱…).

Customers are written in groups; for a group, step k of every story is ONE `execute` call
(one transaction of up to `group` commands), since later commands need the ids that earlier
ones created (deal, meeting, revision, ticket).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4

from shared import commands as c
from shared.application import Customers, Envelope, Outcome
from shared.events import Actor, Selection
from shared.events.customer import CompanyProfile, ContactDetails, LeadSourceDetails, TouchpointDetails
from shared.events.deal import (
    DealDetails, LossDetails, NextActionDetails, NextActionOutcome, TemperatureDetails, WinDetails,
)
from shared.events.sales_activity import (
    ApprovalDetails, BantStatus, ContractDetails, ContractTermsDetails, FeedbackDetails, HandoffDetails,
    HearingDetails, MeetingOutcome, MeetingPlan, ProposalDetails, QuoteDetails, RevisionRequest, RevisionResult,
)
from shared.events.support import FeedbackDetails as CustomerFeedbackDetails
from shared.events.support import OnboardingProgress, SatisfactionDetails, TicketDetails, TicketResolution, TicketUpdate

JST = timezone(timedelta(hours=9))
START = datetime(2026, 4, 1, 9, 0, tzinfo=JST)

SALES_HQ = Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社")
SALES_BRANCH = Actor(user="kimura", team="大阪支店営業", department="sales", site="大阪支店")
CS = Actor(user="suzuki", team="CS課", department="cs", site="東京本社")
SUPPORT = Actor(user="sato", team="サポート1課", department="support", site="大阪サポートセンター")
TECH = Actor(user="ito", team="技術課", department="tech", site="東京本社")

INDUSTRIES = ("製造業", "卸売業", "小売業", "情報通信業", "建設業", "不動産業", "医療・福祉")
SOURCES = ("trade_show", "web", "referral", "outbound", "partner", "seminar")
TOUCH_NOTES = ("導入後の利用状況を確認。次回の定例打ち合わせを来月第2週で調整中",
               "資料送付のお礼と、社内検討の進み具合を確認", "担当者が異動とのこと。後任の方をご紹介いただいた",
               "展示会でのご挨拶。営業管理の見える化に関心あり", "価格表の再送依頼。月額プランの比較表を添付して送付")

# What a command needs from the ids created before it in the same story.
Ids = dict[str, str]
Step = Callable[[Ids], tuple[c.Command, Actor]]


def company_name(n: int) -> str:
    """Every 10th company is registered a second time, by the branch, under another spelling."""
    if n % 10 == 1:
        return f"㈱ベンチ商事{n - 1:05d}"
    return f"株式会社ベンチ商事{n:05d}"


def story(n: int, rng: random.Random, *, sales: Actor | None = None, cs: Actor = CS, support: Actor = SUPPORT,
          tech: Actor = TECH, day0: datetime | None = None, opening: bool = True, follow: bool = False,
          branch: Actor | None = SALES_BRANCH) -> list[Step]:
    """Customer n's commands after its registration, in order (fate: won / lost / open by n).

    The keywords (for `read_history` below; the defaults give the original story): who acts for sales, CS,
    support and tech; `day0` dates the meeting, next action and first CS response; `opening=False` leaves out
    the contact and lead source (a second deal with a known customer); `follow=True` takes a won deal on
    into the follow phase (引き継ぎ中 -> 導入対応中 -> 定着支援); `branch` is the other sales team that
    touches every 5th company (None: nobody).
    """
    fate = ("won", "won", "lost_after_proposal", "won", "lost_in_hearing", "open")[n % 6]
    sales = sales or (SALES_BRANCH if n % 10 == 1 else SALES_HQ)
    day0 = day0 or START + timedelta(days=n % 300)

    def deal(command: type[c.DealCommand], actor: Actor = sales, **fields: object) -> Step:
        return lambda ids: (command(deal_id=ids["deal_id"], **fields), actor)

    def plain(command: c.Command, actor: Actor = sales) -> Step:
        return lambda ids: (command, actor)

    def touch(actor: Actor = sales, channel: str = "phone", on_deal: bool = True, reaction: str | None = None) -> Step:
        return lambda ids: (c.RecordTouchpoint(details=TouchpointDetails(
            deal_id=ids.get("deal_id") if on_deal else None, channel=channel, direction="outbound",
            summary=rng.choice(TOUCH_NOTES), reaction=Selection(choice=reaction) if reaction else None)), actor)

    def stage(to: str, actor: Actor = sales) -> Step:
        return deal(c.ChangeStage, actor, details=c.StageChange(to_stage=to, note="定例会議で確認"))

    steps: list[Step] = [
        plain(c.AddContact(details=ContactDetails(name=f"佐藤 花子{n}", title="情報システム部 部長",
                                                  email=f"contact{n}@example.jp", is_decision_maker=True))),
        plain(c.RecordLeadSource(details=LeadSourceDetails(source=rng.choice(SOURCES), detail="2026年秋 DX展示会"))),
    ] if opening else []
    steps += [
        plain(c.OpenDeal(details=DealDetails(title="営業支援システム導入", owner=sales.user, team=sales.team,
                                             site=sales.site, amount=rng.randrange(1, 200) * 100_000))),
        touch(reaction="considering"),
        deal(c.RecordHearing, details=HearingDetails(
            issue="拠点ごとに顧客情報が分断", reason="営業会議の準備工数削減", decision_maker="山田 取締役",
            budget="年間500万円", timeline="2027年4月",
            bant=BantStatus(budget="confirmed", authority="confirmed", need="confirmed", timeline="unknown"))),
        stage("hearing_done"),
        touch(channel="email"),
    ]
    if fate == "lost_in_hearing":
        steps += [deal(c.LoseDeal, details=LossDetails(reason=Selection(choice="timing", note="来期に再検討")))]
    else:
        steps += [
            deal(c.ScheduleMeeting, details=MeetingPlan(scheduled_at=day0, place="visit",
                                                        purpose="課題ヒアリングとデモ", attendees_ours=("tanaka",))),
            lambda ids: (c.HoldMeeting(deal_id=ids["deal_id"], meeting_id=ids["meeting_id"],
                                       details=MeetingOutcome(minutes="デモ実施。好感触。稟議の流れを確認")), sales),
            deal(c.SendProposal, details=ProposalDetails(title="営業DX提案書 v1", problem="情報の分断",
                                                         summary="全社共通の顧客タイムラインで部門間の連携を改善")),
            deal(c.SubmitQuote, details=QuoteDetails(amount=rng.randrange(10, 100) * 100_000)),
            stage("proposal_sent_waiting"),
            deal(c.RecordProposalFeedback, details=FeedbackDetails(
                reaction=Selection(choice="negative" if fate == "lost_after_proposal" else "positive"))),
        ]
        if fate == "lost_after_proposal":
            steps += [touch(), deal(c.LoseDeal, details=LossDetails(reason=Selection(choice="price", note="A社に決定")))]
        elif fate == "open":
            steps += [touch(channel="visit"), deal(c.SetNextAction, details=NextActionDetails(
                plan=Selection(choice="undecided", note="先方の予算確定待ち")))]
        else:
            steps += [
                deal(c.RequestRevision, details=RevisionRequest(request="価格を年額から月額表記に")),
                lambda ids: (c.CompleteRevision(deal_id=ids["deal_id"], revision_id=ids["revision_id"],
                                                details=RevisionResult(response="月額表記に修正")), sales),
                deal(c.SetTemperature, details=TemperatureDetails(temperature=Selection(choice="high"),
                                                                  decision_status=Selection(choice="in_approval"))),
                deal(c.SetNextAction, details=NextActionDetails(plan=Selection(choice="scheduled", note="稟議資料の支援"),
                                                                due_at=day0 + timedelta(days=20))),
                deal(c.UpdateApproval, details=ApprovalDetails(status=Selection(choice="in_review"),
                                                               stuck_at="経理部長の確認待ち")),
                deal(c.UpdateContractTerms, details=ContractTermsDetails(open_points=("amount", "payment_terms"))),
                stage("negotiating_terms"),
                deal(c.CompleteNextAction, details=NextActionOutcome(outcome="稟議資料を送付")),
                deal(c.UpdateContractTerms, details=ContractTermsDetails(agreed=True)),
                deal(c.SignContract, details=ContractDetails(price=4_560_000, scope="全社導入")),
                deal(c.WinDeal, details=WinDetails(win_reasons=(Selection(choice="functionality"),))),  # two events
                deal(c.HandOffToCS, details=HandoffDetails(goal="3か月で全拠点の案件登録率90%", cs_owner=cs.user,
                                                           first_response_at=day0 + timedelta(days=40))),
                *([stage("handing_off")] if follow else []),
                lambda ids: (c.RecordOnboarding(details=OnboardingProgress(
                    deal_id=ids["deal_id"], progress_percent=40, status="初期設定完了")), cs),
                *([stage("onboarding", cs)] if follow else []),
                lambda ids: (c.RecordSatisfaction(details=SatisfactionDetails(deal_id=ids["deal_id"], score=4)), cs),
                *([stage("adoption_support", cs)] if follow else []),
                touch(actor=cs, channel="online_meeting"),
            ]
    steps += [
        plain(c.OpenTicket(details=TicketDetails(title="ログインできない", priority="high", category="account")),
              support),
        lambda ids: (c.UpdateTicket(ticket_id=ids["ticket_id"],
                                    details=TicketUpdate(status="in_progress", note="ログ調査中")), tech),
        lambda ids: (c.ResolveTicket(ticket_id=ids["ticket_id"],
                                     details=TicketResolution(resolution="パスワード再設定で解決")), support),
    ]
    if n % 5 == 0 and branch is not None:  # the branch works the same company meanwhile, without knowing
        steps += [touch(actor=branch, channel="visit", on_deal=False),
                  touch(actor=branch, channel="email", on_deal=False)]
    return steps


def write_history(customers: Customers, target_events: int, group: int = 1_000,
                  report: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Write stories until at least `target_events` events are stored; return (events, customers)."""
    rng = random.Random(20261120)
    written = first = 0
    while written < target_events:
        ids = [uuid4() for _ in range(group)]
        stories = [story(first + i, rng) for i in range(group)]
        clocks = [START + timedelta(days=(first + i) % 300) for i in range(group)]
        created: list[Ids] = [{} for _ in range(group)]
        results = customers.execute([Envelope(c.RegisterCustomer(details=CompanyProfile(
            company_name=company_name(first + i), industry=rng.choice(INDUSTRIES),
            employee_count=rng.randrange(10, 5000))),
            ids[i], SALES_BRANCH if (first + i) % 10 == 1 else SALES_HQ, occurred_at=clocks[i]) for i in range(group)])
        written += _count(results)
        for k in range(max(map(len, stories))):
            todo = [i for i in range(group) if k < len(stories[i])]
            envelopes = []
            for i in todo:
                command, actor = stories[i][k](created[i])
                clocks[i] += timedelta(hours=rng.randrange(2, 96))
                envelopes.append(Envelope(command, ids[i], actor, occurred_at=clocks[i]))
            results = customers.execute(envelopes)
            written += _count(results)
            for i, result in zip(todo, results):
                created[i].update(result.created)  # type: ignore[union-attr]  # _count checked them
        first += group
        if report:
            report(written)
    return written, first


def _count(results: list) -> int:
    failed = [r for r in results if not isinstance(r, Outcome)]
    if failed:
        raise RuntimeError(f"{len(failed)} commands refused, e.g. {failed[0]!r}")
    return sum(len(r.events) for r in results)


def register_customers(customers: Customers, count: int, actor: Actor = SALES_HQ) -> list[UUID]:
    """`count` registered customers (500 per transaction), for runs that need targets only."""
    ids = [uuid4() for _ in range(count)]
    for first in range(0, count, 500):
        _count(customers.execute([Envelope(c.RegisterCustomer(details=CompanyProfile(
            company_name=company_name(first + k), industry="製造業")), customer_id, actor)
            for k, customer_id in enumerate(ids[first:first + 500])]))
    return ids



# ---------------------------------------------------------------- a bigger, more varied history (bench/read_api.py)

def _team(team: str, site: str, department: str, *users: str) -> list[Actor]:
    return [Actor(user=user, team=team, department=department, site=site) for user in users]


SALES_TEAMS = [
    _team("本社営業1課", "東京本社", "sales", "tanaka", "yamamoto", "nakamura"),
    _team("本社営業2課", "東京本社", "sales", "kobayashi", "kato", "yoshida"),
    _team("大阪支店営業", "大阪支店", "sales", "kimura", "yamada", "matsumoto"),
    _team("名古屋営業所", "名古屋営業所", "sales", "inoue", "hayashi"),
    _team("福岡営業所", "福岡営業所", "sales", "shimizu", "mori"),
]
CS_PEOPLE = [*_team("CS課", "東京本社", "cs", "suzuki", "takahashi", "watanabe"),
             *_team("CS西日本", "大阪支店", "cs", "ogawa")]
SUPPORT_PEOPLE = [*_team("サポート1課", "大阪サポートセンター", "support", "sato", "okada"),
                  *_team("サポート2課", "東京本社", "support", "fujita")]
TECH_PEOPLE = _team("技術課", "東京本社", "tech", "ito", "maeda")
HISTORY_START = datetime(2025, 1, 6, 9, 0, tzinfo=JST)  # histories start over HISTORY_DAYS and end before late 2026
HISTORY_DAYS = 540
BIG_COMPANY = "株式会社ベンチホールディングス"
FEEDBACK = (("usage", "全拠点での利用が定着。週次の営業会議で活用中"), ("request", "案件一覧のCSV出力を希望"),
            ("trouble", "月初に画面表示が遅いとの声"), ("upsell_hint", "他部署でも利用したいとの声"))


def _touch(actor: Actor, rng: random.Random, channel: str = "phone", direction: str = "outbound",
           on_deal: bool = False) -> Step:
    return lambda ids: (c.RecordTouchpoint(details=TouchpointDetails(
        deal_id=ids.get("deal_id") if on_deal else None, channel=channel, direction=direction,
        summary=rng.choice(TOUCH_NOTES))), actor)


def _feedback(actor: Actor, rng: random.Random) -> Step:
    kind, summary = rng.choice(FEEDBACK)
    return lambda ids: (c.RecordFeedback(details=CustomerFeedbackDetails(
        deal_id=ids.get("deal_id"), kind=kind, summary=summary)), actor)


def account_story(n: int, rng: random.Random, start: datetime) -> list[Step]:
    """About 50 commands for customer n: a first deal (won / lost / open by n) and, months later, a second
    one (often another team's), each through the phases with its ticket; CS, support and tech touchpoints
    and feedback in between. Sales teams, sites and people vary by n."""
    team = SALES_TEAMS[n % len(SALES_TEAMS)]
    sales = team[n % len(team)]
    other_team = SALES_TEAMS[(n + 2) % len(SALES_TEAMS)]
    second = other_team[n % len(other_team)] if n % 3 == 0 else team[(n + 1) % len(team)]
    cs, support, tech = (CS_PEOPLE[n % len(CS_PEOPLE)], SUPPORT_PEOPLE[n % len(SUPPORT_PEOPLE)],
                         TECH_PEOPLE[n % len(TECH_PEOPLE)])
    people = {"cs": cs, "support": support, "tech": tech}
    steps = story(n, rng, sales=sales, day0=start + timedelta(days=10), follow=True, branch=second, **people)
    steps += [_touch(cs, rng, "online_meeting"), _feedback(tech, rng), _touch(support, rng, "phone", "inbound"),
              _touch(sales, rng, "email")]
    steps += story(n + 1, rng, sales=second, day0=start + timedelta(days=80), opening=False, follow=True,
                   branch=None, **people)
    steps += [_touch(cs, rng, "visit"), _feedback(support, rng), _touch(second, rng, "phone")]
    return steps


def _events_of(n: int, steps: list[Step]) -> int:
    """Events a story appends: one per command, two for the win (won fates)."""
    return len(steps) + (n % 6 in (0, 1, 3))


@dataclass
class ReadHistory:
    events: int
    customers: int
    big_customer: UUID
    big_events: int


def read_history(customers: Customers, customer_count: int, target_events: int, big_events: int = 5_000,
                 group: int = 1_000, report: Callable[[int], None] | None = None) -> ReadHistory:
    """`customer_count` customers with `account_story` histories (about 50 events each), their starts spread
    over HISTORY_DAYS, plus ONE customer of exactly `big_events` events (its deals' stories — many teams,
    one deal each — interleaved with everyone else's writes, so its recorded times span the whole run, then
    touchpoints to the exact count); then touchpoints to random customers until `target_events`.

    As in `write_history`: for a group of customers, step k of every story is one `execute` call."""
    rng = random.Random(20261126)
    big_id = uuid4()
    # The big customer's deal stories, planned up front: how many events each appends is known.
    big_plans: list[tuple[int, datetime]] = []
    planned, k = 1, 0
    while planned + 40 < big_events:  # at most ~40 events a story: never past the count, touchpoints fill up
        start = HISTORY_START + timedelta(days=k * 7 % HISTORY_DAYS)
        planned += _events_of(k, story(k, random.Random(k), sales=SALES_TEAMS[k % 5][0], day0=start, follow=True,
                                       opening=k % 20 == 0, branch=None))
        big_plans.append((k, start))
        k += 1
    groups = -(-customer_count // group)
    big_clocks: dict[int, datetime] = {}
    written = big_written = 0
    for g, first in enumerate(range(0, customer_count, group)):
        size = min(group, customer_count - first)
        starts = [HISTORY_START + timedelta(days=HISTORY_DAYS * (first + i) / customer_count) for i in range(size)]
        ids: list[UUID] = [uuid4() for _ in range(size)]
        stories = [account_story(first + i, rng, starts[i]) for i in range(size)]
        clocks = list(starts)
        registrations = [Envelope(c.RegisterCustomer(details=CompanyProfile(
            company_name=company_name(first + i), industry=rng.choice(INDUSTRIES),
            employee_count=rng.randrange(10, 5000))), ids[i], SALES_TEAMS[(first + i) % 5][(first + i) % 2],
            occurred_at=clocks[i]) for i in range(size)]
        if g == 0:
            registrations.append(Envelope(c.RegisterCustomer(details=CompanyProfile(
                company_name=BIG_COMPANY, industry="製造業", employee_count=48_000)), big_id, SALES_TEAMS[0][0],
                occurred_at=HISTORY_START - timedelta(days=30)))
        results = customers.execute(registrations)
        written += _count(results)
        big_written += 1 if g == 0 else 0
        for n, start in big_plans[g::groups]:  # this group's share of the big customer's deals
            ids.append(big_id)
            stories.append(story(n, random.Random(n), sales=SALES_TEAMS[n % 5][n % 2], day0=start, follow=True,
                                 opening=n % 20 == 0, branch=None,
                                 cs=CS_PEOPLE[n % 4], support=SUPPORT_PEOPLE[n % 3], tech=TECH_PEOPLE[n % 2]))
            clocks.append(start)
        created: list[Ids] = [{} for _ in stories]
        for step in range(max(map(len, stories))):
            todo = [i for i in range(len(stories)) if step < len(stories[i])]
            envelopes = []
            for i in todo:
                command, actor = stories[i][step](created[i])
                clocks[i] += timedelta(hours=rng.randrange(2, 72))
                envelopes.append(Envelope(command, ids[i], actor, occurred_at=clocks[i]))
            results = customers.execute(envelopes)
            written += _count(results)
            big_written += sum(len(r.events) for i, r in zip(todo, results) if ids[i] == big_id)
            for i, result in zip(todo, results):
                created[i].update(result.created)  # type: ignore[union-attr]  # _count checked them
        if report:
            report(written)
    # The big customer to its exact count, then everyone to the target: touchpoints from sales, CS and support.
    clock = HISTORY_START + timedelta(days=HISTORY_DAYS)
    while big_written < big_events:
        batch = min(500, big_events - big_written)
        people = [SALES_TEAMS[0][0], CS_PEOPLE[0], SUPPORT_PEOPLE[0]]
        written += (added := _count(customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
            channel="phone", direction="outbound", summary=rng.choice(TOUCH_NOTES))), big_id, people[j % 3],
            occurred_at=clock + timedelta(minutes=j)) for j in range(batch)])))
        big_written += added
    if written < target_events:
        with customers.recorder.datastore.transaction(commit=False) as curs:  # every customer but the big one
            curs.execute("SELECT customer_id FROM stream_heads WHERE customer_id <> %s", (big_id,))
            everyone = [row["customer_id"] for row in curs.fetchall()]
        people = [*SALES_TEAMS[1], *CS_PEOPLE, *SUPPORT_PEOPLE]
        while written < target_events:
            batch = min(1_000, target_events - written)
            written += _count(customers.execute([Envelope(c.RecordTouchpoint(details=TouchpointDetails(
                channel=rng.choice(("phone", "email", "visit")), direction="outbound", summary=rng.choice(TOUCH_NOTES))),
                rng.choice(everyone), rng.choice(people),
                occurred_at=clock + timedelta(hours=rng.randrange(0, 24 * 60))) for _ in range(batch)]))
            if report:
                report(written)
    return ReadHistory(written, customer_count + 1, big_id, big_written)
