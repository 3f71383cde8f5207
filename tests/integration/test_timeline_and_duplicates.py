"""The cross-department timeline and the duplicate-approach read models, fed with real stored events.

Events are made by executing commands, read back from the event store, and applied
through ``Projection.apply`` the way the projection worker does. Each test works on
tables with a suffix of its own and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from shared import commands as cmd
from shared.application import Envelope, Outcome
from shared.events import EVENT_TYPES, Actor, CustomerEvent, Selection, StageChanged
from shared.events.personal import ContactCorrection
from shared.events.customer import CompanyProfile, ContactDetails, LeadSourceDetails, TouchpointDetails
from shared.events.merges import MergeDetails, UnmergeDetails
from shared.events.deal import (
    ImportedStage,
    DealDetails, LossDetails, NextActionDetails, NextActionOutcome, TemperatureDetails, WinDetails,
)
from shared.events.sales_activity import (
    ApprovalDetails, ContractDetails, ContractTermsDetails, FeedbackDetails, HandoffDetails, HearingDetails,
    MeetingOutcome, MeetingPlan, ProposalDetails, QuoteDetails, RevisionRequest, RevisionResult,
)
from shared.events.support import FeedbackDetails as CustomerFeedback
from shared.events.support import (
    OnboardingProgress, SatisfactionDetails, TicketDetails, TicketResolution, TicketUpdate,
)
from shared.wire import Delivered
from services.projections.base import Projection
from services.projections.duplicates.projection import DuplicatesProjection
from services.projections.duplicates.queries import duplicate_approaches
from services.projections.timeline.summaries import SUMMARIES, summarize
from services.projections.timeline.projection import TimelineProjection
from services.projections.cursors import InvalidCursorError
from services.projections.timeline.queries import customer_timeline

JST = timezone(timedelta(hours=9))
START = datetime(2026, 10, 1, 9, 0, tzinfo=JST)

SALES = Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社")
CS = Actor(user="suzuki", team="CS課", department="cs", site="東京本社")
SUPPORT = Actor(user="sato", team="サポート1課", department="support", site="大阪サポートセンター")
TECH = Actor(user="ito", team="技術課", department="tech", site="東京本社")
HQ = Actor(user="yamada", team="本社営業", department="sales", site="東京本社")
BRANCH = Actor(user="kimura", team="大阪支店営業", department="sales", site="大阪支店")
BRANCH_2 = Actor(user="mori", team="大阪支店営業", department="sales", site="大阪支店")


# --- driving commands and projections ---------------------------------------------------
class Driver:
    """Executes commands one by one (later ones need ids that earlier ones created)."""

    def __init__(self, customers) -> None:
        self.customers = customers

    def run(self, command: cmd.Command, customer_id: UUID | None, actor: Actor, at: datetime) -> Outcome:
        [result] = self.customers.execute([Envelope(command, customer_id, actor, occurred_at=at)])
        assert isinstance(result, Outcome), result
        return result

    def register(self, name: str, actor: Actor, at: datetime, **profile) -> UUID:
        outcome = self.run(cmd.RegisterCustomer(details=CompanyProfile(company_name=name, **profile)), None, actor, at)
        return UUID(outcome.customer_id)

    def touch(self, customer_id: UUID, actor: Actor, at: datetime, summary: str = "訪問") -> None:
        details = TouchpointDetails(channel="visit", direction="outbound", summary=summary)
        self.run(cmd.RecordTouchpoint(details=details), customer_id, actor, at)


def deliveries(db: psycopg.Connection, events: list[CustomerEvent]) -> list[Delivered]:
    """The events with their real notification ids, as the relay would publish them."""
    rows = db.execute("SELECT originator_id, originator_version, notification_id FROM customers_events "
                      "WHERE originator_id = ANY(%s)", (list({e.originator_id for e in events}),)).fetchall()
    positions = {(c, v): n for c, v, n in rows}
    return [Delivered(e, positions[e.originator_id, e.originator_version]) for e in events]


@dataclass
class Applier:
    projection: Projection
    database_url: str
    customers: object

    def fetch_missing(self, customer_id: UUID, after: int, up_to: int) -> list[CustomerEvent]:
        return [e for e in self.customers.events.get(customer_id) if after < e.originator_version <= up_to]

    def apply(self, delivered: list[Delivered]) -> int:
        with psycopg.connect(self.database_url) as conn, conn.transaction(), conn.cursor() as curs:
            return self.projection.apply(curs, delivered, self.fetch_missing)


def projected(projection: Projection, database_url: str, customers) -> Iterator[Applier]:
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as curs:
        projection.create_tables(curs)
    yield Applier(projection, database_url, customers)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in projection.all_tables():
            conn.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table + projection.suffix)))


def new_suffix() -> str:
    return "_t" + uuid.uuid4().hex[:8]


@pytest.fixture
def timeline(customers, database_url) -> Iterator[Applier]:
    yield from projected(TimelineProjection(customers.process, suffix=new_suffix()), database_url, customers)


@pytest.fixture
def duplicates(customers, database_url) -> Iterator[Applier]:
    yield from projected(DuplicatesProjection(customers.process, suffix=new_suffix()), database_url, customers)


# --- one customer's whole story, every event type at least once ---------------------------
@pytest.fixture(scope="module")
def story(customers) -> list[CustomerEvent]:
    """Sales wins a deal and loses another, CS onboards, support and tech handle a ticket."""
    d = Driver(customers)
    clock = iter(START + timedelta(hours=i) for i in range(100))
    cid = d.register("株式会社テスト工業", SALES, next(clock), industry="製造業")

    def run(command: cmd.Command, actor: Actor = SALES) -> dict[str, str]:
        return d.run(command, cid, actor, next(clock)).created

    def deal(command_class: type[cmd.DealCommand], deal_id: str, actor: Actor = SALES, **fields) -> dict[str, str]:
        return run(command_class(deal_id=deal_id, **fields), actor)

    run(cmd.AddContact(details=ContactDetails(name="佐藤 花子", title="部長", email="sato@example.jp",
                                              is_decision_maker=True)))
    run(cmd.RecordLeadSource(details=LeadSourceDetails(source="trade_show", detail="DX展示会")))
    a = run(cmd.OpenDeal(details=DealDetails(title="営業支援システム導入", owner="tanaka")))["deal_id"]
    run(cmd.RecordTouchpoint(details=TouchpointDetails(deal_id=a, channel="phone", direction="outbound",
                                                       summary="初回架電", reaction=Selection(choice="considering"))))
    deal(cmd.RecordHearing, a, details=HearingDetails(issue="拠点ごとに顧客情報が分断", budget="年間500万円"))
    deal(cmd.ChangeStage, a, details=cmd.StageChange(to_stage="hearing_done"))
    meeting = deal(cmd.ScheduleMeeting, a, details=MeetingPlan(
        scheduled_at=START + timedelta(days=3), place="visit", purpose="課題ヒアリングとデモ"))["meeting_id"]
    deal(cmd.HoldMeeting, a, meeting_id=meeting, details=MeetingOutcome(minutes="デモ実施。好感触"))
    deal(cmd.SendProposal, a, details=ProposalDetails(title="営業DX提案書 v1"))
    deal(cmd.SubmitQuote, a, details=QuoteDetails(amount=4_800_000))
    deal(cmd.ChangeStage, a, details=cmd.StageChange(to_stage="proposal_sent_waiting"))
    deal(cmd.RecordProposalFeedback, a, details=FeedbackDetails(reaction=Selection(choice="positive")))
    revision = deal(cmd.RequestRevision, a, details=RevisionRequest(request="月額表記に"))["revision_id"]
    deal(cmd.CompleteRevision, a, revision_id=revision, details=RevisionResult(response="月額表記に修正"))
    deal(cmd.SetTemperature, a, details=TemperatureDetails(temperature=Selection(choice="high"),
                                                          decision_status=Selection(choice="in_approval")))
    deal(cmd.SetNextAction, a, details=NextActionDetails(plan=Selection(choice="scheduled", note="稟議資料の支援"),
                                                         due_at=START + timedelta(days=20)))
    deal(cmd.UpdateApproval, a, details=ApprovalDetails(status=Selection(choice="in_review"),
                                                       stuck_at="経理部長の確認待ち"))
    deal(cmd.UpdateContractTerms, a, details=ContractTermsDetails(open_points=("amount", "payment_terms")))
    deal(cmd.ChangeStage, a, details=cmd.StageChange(to_stage="negotiating_terms"))
    deal(cmd.CompleteNextAction, a, details=NextActionOutcome(outcome="稟議資料を送付"))
    deal(cmd.UpdateContractTerms, a, details=ContractTermsDetails(agreed=True))
    deal(cmd.SignContract, a, details=ContractDetails(price=4_560_000, scope="全社導入"))
    deal(cmd.WinDeal, a, details=WinDetails(win_reasons=(Selection(choice="functionality"),)))  # two events
    deal(cmd.HandOffToCS, a, details=HandoffDetails(goal="3か月で全拠点の案件登録率90%", cs_owner="suzuki",
                                                   first_response_at=START + timedelta(days=40)))
    run(cmd.RecordOnboarding(details=OnboardingProgress(deal_id=a, progress_percent=40, status="初期設定完了")), CS)
    run(cmd.RecordSatisfaction(details=SatisfactionDetails(deal_id=a, score=4)), CS)
    ticket = run(cmd.OpenTicket(details=TicketDetails(title="ログインできない", priority="high")), SUPPORT)["ticket_id"]
    run(cmd.UpdateTicket(ticket_id=ticket, details=TicketUpdate(status="in_progress", note="ログ調査中")), TECH)
    run(cmd.ResolveTicket(ticket_id=ticket, details=TicketResolution(resolution="パスワード再設定で解決")), SUPPORT)
    run(cmd.RecordFeedback(details=CustomerFeedback(kind="upsell_hint", summary="他部署でも使いたい")), TECH)
    run(cmd.ImportDeal(details=cmd.DealImport(deal=DealDetails(title="旧システムの保守更新", owner="tanaka"),
                                              imported=ImportedStage(stage="in_approval", source="台帳.xlsx"))))
    b = run(cmd.OpenDeal(details=DealDetails(title="追加ライセンス", owner="tanaka")))["deal_id"]
    deal(cmd.LoseDeal, b, details=LossDetails(reason=Selection(choice="competitor", note="A社に決定")))
    # A contact who asked for a correction, then for erasure; what was disclosed to them is recorded.
    other_contact = run(cmd.AddContact(details=ContactDetails(name="鈴木 一郎", phone="03-0000-0000")))["contact_id"]
    run(cmd.RecordTouchpoint(details=TouchpointDetails(channel="email", direction="inbound", summary="鈴木様より資料請求",
                                                       contact_id=other_contact)))
    run(cmd.CorrectContact(contact_id=other_contact, details=ContactCorrection(name="鈴木 一朗", reason="誤記")))
    run(cmd.RecordDisclosure(contact_id=other_contact, recipient="本人", items=4))
    run(cmd.EraseContact(contact_id=other_contact))
    # A duplicate record merged in and split off again, then this record merged into another and back.
    twin = d.register("㈱テスト工業", SALES, next(clock))
    other = d.register("株式会社テスト工業ホールディングス", SALES, next(clock))
    d.run(cmd.MergeCustomer(details=MergeDetails(into=cid, note="重複登録")), twin, SALES, next(clock))
    d.run(cmd.UnmergeCustomer(details=UnmergeDetails()), twin, SALES, next(clock))
    run(cmd.MergeCustomer(details=MergeDetails(into=other)))
    run(cmd.UnmergeCustomer(details=UnmergeDetails(note="別会社")))
    # Recorded last, happened first: a visit entered a day late.
    d.run(cmd.RecordTouchpoint(details=TouchpointDetails(channel="visit", direction="outbound", summary="飛び込み訪問")),
          cid, SALES, START - timedelta(days=1))
    return list(customers.events.get(cid))


def newest_first(events: list[CustomerEvent]) -> list[UUID]:
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.originator_version, e.event_id), reverse=True)
    return [e.event_id for e in ordered]


# --- summaries -----------------------------------------------------------------------------
def test_every_event_type_has_a_summary() -> None:
    assert set(SUMMARIES) == set(EVENT_TYPES.values())


def test_a_summary_of_an_id_the_process_no_longer_knows_shows_the_id(customers) -> None:
    now = datetime.now(timezone.utc)
    old = StageChanged(originator_id=uuid.uuid4(), originator_version=5, timestamp=now, occurred_at=now, actor=SALES,
                       prev_hash="0" * 64, deal_id=uuid.uuid4(), from_phase="old_phase", from_stage="gone",
                       to_phase="hearing", to_stage="hearing_done")
    assert summarize(old, customers.process) == ("ステージ変更: old_phase/gone → ヒアリング/ヒアリング実施済み",
                                                 "Stage: old_phase/gone → Hearing/Hearing done")


# --- the timeline ----------------------------------------------------------------------------
def entries_of(db: psycopg.Connection, applier: Applier) -> dict[UUID, dict]:
    table = Identifier("timeline_entries" + applier.projection.suffix)
    with db.cursor(row_factory=psycopg.rows.dict_row) as curs:
        return {row["event_id"]: row for row in curs.execute(SQL("SELECT * FROM {0}").format(table))}


def test_every_event_becomes_one_entry_with_who_what_and_a_summary(story, timeline, db, customers) -> None:
    assert {type(e).__name__ for e in story} == set(EVENT_TYPES), "the story covers every event type"
    assert timeline.apply(deliveries(db, story)) == len(story)
    entries = entries_of(db, timeline)
    assert len(entries) == len(story)
    for event in story:
        entry = entries[event.event_id]
        actor = event.actor
        assert (entry["customer_id"], entry["stream_version"], entry["occurred_at"], entry["recorded_at"]) == (
            event.originator_id, event.originator_version, event.occurred_at, event.timestamp)
        assert (entry["actor_user"], entry["department"], entry["team"], entry["site"]) == (
            actor.user, actor.department, actor.team, actor.site)
        assert entry["kind"] == type(event).__name__
        assert (entry["summary_ja"], entry["summary_en"]) == summarize(event, customers.process)
        assert entry["deal_id"] == getattr(event, "deal_id", None)
        assert entry["ticket_id"] == getattr(event, "ticket_id", None)
        assert entry["company_name"] == "株式会社テスト工業"
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for event in story:
        entry = entries[event.event_id]
        by_kind.setdefault(entry["kind"], []).append((entry["summary_ja"], entry["summary_en"]))
    assert by_kind["TouchpointRecorded"][0] == ("電話（発信）: 初回架電", "Phone (outbound): 初回架電")
    assert by_kind["StageChanged"][0] == ("ステージ変更: アプローチ/リード獲得 → ヒアリング/ヒアリング実施済み",
                                          "Stage: Approach/Lead acquired → Hearing/Hearing done")
    assert by_kind["DealLost"] == [("失注: 競合（A社に決定）", "Lost: Competitor (A社に決定)")]
    assert by_kind["TicketOpened"] == [("問い合わせ起票: ログインできない（優先度: 高）",
                                        "Ticket opened: ログインできない (priority: high)")]
    assert by_kind["DealWon"] == [("成約（決め手: 機能）", "Won (why: Functionality)")]
    assert by_kind["ApprovalStatusUpdated"] == [("稟議状況: 審議中（経理部長の確認待ち）",
                                                 "Approval status: In review (経理部長の確認待ち)")]


def test_redelivered_events_add_nothing_and_a_gap_is_filled_from_the_store(story, timeline, db) -> None:
    delivered = deliveries(db, story)
    assert timeline.apply(delivered[:10]) == 10
    assert timeline.apply(delivered[:10]) == 0
    # Events 11-14 never arrive; 15.. do, together with re-deliveries of 1-10.
    assert timeline.apply(delivered[:10] + delivered[14:]) == len(story) - 10
    assert timeline.apply(delivered) == 0
    entries = entries_of(db, timeline)
    assert set(entries) == {e.event_id for e in story}
    assert {entry["company_name"] for entry in entries.values()} == {"株式会社テスト工業"}


def test_the_timeline_is_newest_first_and_pages_without_overlap(story, timeline, db) -> None:
    timeline.apply(deliveries(db, story))
    cid, suffix = story[0].originator_id, timeline.projection.suffix
    first = customer_timeline(db, cid, limit=10, suffix=suffix)
    second = customer_timeline(db, cid, limit=10, before=first.next_cursor, suffix=suffix)
    ids = [e.event_id for e in first.entries + second.entries]
    assert len(first.entries) == len(second.entries) == 10 and len(set(ids)) == 20
    assert ids == newest_first(story)[:20]
    assert first.entries[0].kind == "CustomerUnmerged", "the latest occurrence comes first"

    pages, cursor = [], None
    while True:
        page = customer_timeline(db, cid, limit=7, before=cursor, suffix=suffix)
        pages.append(page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    walked = [e.event_id for page in pages for e in page]
    assert walked == newest_first(story)
    assert pages[-1][-1].summary_ja == "訪問（発信）: 飛び込み訪問", "recorded last, happened first: shown last"
    assert len(pages) == -(-len(story) // 7)


def test_the_timeline_filters_by_department_kind_and_period(story, timeline, db) -> None:
    timeline.apply(deliveries(db, story))
    cid, suffix = story[0].originator_id, timeline.projection.suffix

    def ids(**filters) -> list[UUID]:
        return [e.event_id for e in customer_timeline(db, cid, limit=1000, suffix=suffix, **filters).entries]

    assert ids(departments=["support", "tech"]) == newest_first(
        [e for e in story if e.actor.department in ("support", "tech")])
    assert [e.kind for e in customer_timeline(db, cid, departments=["tech"], suffix=suffix).entries] == [
        "CustomerFeedbackRecorded", "TicketUpdated"]
    assert ids(kinds=["StageChanged", "DealWon"]) == newest_first(
        [e for e in story if type(e).__name__ in ("StageChanged", "DealWon")])
    since, until = START + timedelta(hours=5), START + timedelta(hours=12)
    assert ids(since=since, until=until) == newest_first([e for e in story if since <= e.occurred_at < until])
    assert len(ids(since=since, until=until)) == 7
    sales_in_period = [e for e in story if e.actor.department == "sales" and e.occurred_at >= since]
    first = customer_timeline(db, cid, departments=["sales"], since=since, limit=5, suffix=suffix)
    second = customer_timeline(db, cid, departments=["sales"], since=since, limit=5, before=first.next_cursor,
                               suffix=suffix)
    assert [e.event_id for e in first.entries + second.entries] == newest_first(sales_in_period)[:10]
    assert customer_timeline(db, uuid.uuid4(), suffix=suffix).entries == []
    with pytest.raises(InvalidCursorError):
        customer_timeline(db, cid, before="not-a-cursor", suffix=suffix)


def test_creating_the_tables_again_adds_no_index(timeline, database_url, db) -> None:
    name = "timeline_entries" + timeline.projection.suffix

    def indexes() -> int:
        return db.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (name,)).fetchone()[0]

    before = indexes()
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as curs:
        timeline.projection.create_tables(curs)
    assert before == indexes() == 3  # primary key, (customer_id, occurred_at, stream_version), (department)


# --- duplicate approach ----------------------------------------------------------------------
def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def hq_and_branch(customers) -> dict[str, UUID]:
    """The article's case: HQ and the Osaka branch each registered and approached the same company."""
    d = Driver(customers)
    hq = d.register("株式会社ABC", HQ, at(1))
    d.touch(hq, HQ, at(2), "初回訪問")
    d.touch(hq, HQ, at(10), "提案")
    d.touch(hq, CS, at(21), "既存契約の定着支援")  # CS from another team: not an approach
    branch = d.register("㈱ＡＢＣ", BRANCH, at(20))
    d.touch(branch, BRANCH_2, at(21), "同じ提案を持参")
    xyz = d.register("株式会社XYZ", HQ, at(3))  # sales at HQ only; CS, support and tech elsewhere
    d.touch(xyz, Actor(user="ueda", team="CS大阪", department="cs", site="大阪支店"), at(12))
    d.touch(xyz, SUPPORT, at(13))
    d.touch(xyz, TECH.model_copy(update={"site": "福岡拠点"}), at(14))
    return {"hq": hq, "branch": branch, "xyz": xyz}


def test_one_company_registered_twice_and_worked_by_hq_and_branch_is_reported(hq_and_branch, duplicates, db,
                                                                              customers) -> None:
    events = [e for cid in hq_and_branch.values() for e in customers.events.get(cid)]
    assert duplicates.apply(deliveries(db, events)) == len(events)
    suffix = duplicates.projection.suffix

    [found] = duplicate_approaches(db, as_of=at(22), window_days=30, suffix=suffix)
    assert found.company_key == "abc"
    assert set(found.company_names) == {"株式会社ABC", "㈱ＡＢＣ"}
    assert set(found.customer_ids) == {hq_and_branch["hq"], hq_and_branch["branch"]}
    assert found.teams == ("本社営業", "大阪支店営業") and found.sites == ("東京本社", "大阪支店")
    hq, branch = found.sides
    assert (hq.team, hq.site, hq.users, hq.customer_ids) == ("本社営業", "東京本社", ("yamada",),
                                                             (hq_and_branch["hq"],))
    assert (hq.first_at, hq.last_at, hq.events) == (at(1), at(10), 3)
    assert (branch.team, branch.users, branch.first_at, branch.last_at) == (
        "大阪支店営業", ("kimura", "mori"), at(20), at(21))


def test_only_one_side_in_the_window_is_not_a_duplicate(hq_and_branch, duplicates, db, customers) -> None:
    events = [e for cid in hq_and_branch.values() for e in customers.events.get(cid)]
    duplicates.apply(deliveries(db, events))
    suffix = duplicates.projection.suffix

    def reported(as_of: datetime, window_days: int) -> list[str]:
        return [d.company_key for d in duplicate_approaches(db, as_of=as_of, window_days=window_days, suffix=suffix)]

    assert reported(at(22), 7) == [], "HQ's last touch (11/10) is before the window"
    assert reported(at(15), 30) == [], "the branch had not started yet"
    # The window is (as_of - window, as_of]: HQ's last touch exactly at the start is out, the
    # branch's registration exactly at as_of is in.
    assert reported(at(20), 10) == []
    assert reported(at(20), 11) == ["abc"]
    with pytest.raises(ValueError):
        duplicate_approaches(db, as_of=datetime(2026, 11, 22), window_days=30, suffix=suffix)


def test_cs_support_and_tech_activity_is_not_recorded_as_an_approach(hq_and_branch, duplicates, db,
                                                                     customers) -> None:
    events = [e for cid in hq_and_branch.values() for e in customers.events.get(cid)]
    duplicates.apply(deliveries(db, events))
    assert duplicates.apply(deliveries(db, events)) == 0, "re-delivery adds nothing"
    table = Identifier("company_activity" + duplicates.projection.suffix)
    rows = db.execute(SQL("SELECT event_id FROM {0}").format(table)).fetchall()
    assert {row[0] for row in rows} == {e.event_id for e in events if e.actor.department == "sales"}
    assert [d.company_key for d in duplicate_approaches(db, as_of=at(30), window_days=60,
                                                        suffix=duplicates.projection.suffix)] == ["abc"]
