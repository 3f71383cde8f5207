"""Response bodies of the timeline API (errors: ``ErrorBody`` of services/http_errors.py, shared by both APIs).

Ids of phases, stages and select options come with the process definition's Japanese
and English labels, so a screen never needs the definition to show them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.domain.state import CustomerState
from shared.events.sales_activity import BantStatus

EX_CUSTOMER = "0f8e3c2a-6b1d-4f7e-9a51-2c4d8e9f0a13"
EX_DEAL = "5b6debe0-952a-4b5d-92b3-f90cbd549e0f"
EX_AT = "2026-01-20T10:00:00+09:00"
GroupBy = Literal["team", "owner", "site"]


class Label(BaseModel):
    id: str = Field(examples=["hearing_budget"])
    label: str = Field(examples=["予算"])
    label_en: str = Field(examples=["Budget"])


class PhaseStage(BaseModel):
    phase: str = Field(examples=["hearing"])
    phase_label: str = Field(examples=["ヒアリング"])
    phase_label_en: str = Field(examples=["Hearing"])
    stage: str = Field(examples=["bant_checking"])
    stage_label: str = Field(examples=["BANT確認中"])
    stage_label_en: str = Field(examples=["Checking BANT"])


class DealRef(PhaseStage):
    deal_id: UUID = Field(examples=[EX_DEAL])
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    company_name: str | None = Field(examples=["株式会社ABC商事"])
    title: str | None = Field(examples=["営業支援システム導入"])
    owner: str | None = Field(examples=["tanaka"])
    team: str | None = Field(examples=["本社営業1課"])
    site: str | None = Field(examples=["東京本社"])


# --- customers -------------------------------------------------------------------------
class TimelineEntryOut(BaseModel):
    event_id: UUID
    customer_id: UUID = Field(description="whose stream: the customer's, or one merged into it",
                              examples=[EX_CUSTOMER])
    stream_version: int = Field(examples=[12])
    occurred_at: datetime = Field(examples=[EX_AT])
    recorded_at: datetime = Field(examples=[EX_AT])
    actor_user: str = Field(examples=["suzuki"])
    department: str = Field(examples=["cs"])
    team: str | None = Field(examples=["CS課"])
    site: str | None = Field(examples=["東京本社"])
    kind: str = Field(description="the event type", examples=["OnboardingProgressRecorded"])
    summary_ja: str = Field(examples=["導入進捗: 40%（初期設定完了）"])
    summary_en: str = Field(examples=["Onboarding progress: 40% (初期設定完了)"])
    deal_id: UUID | None = None
    ticket_id: UUID | None = None


class TimelinePage(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    entries: list[TimelineEntryOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null: last page",
                                    examples=["MjAyNi0wMS0yMFQwMTowMDowMCswMDowMHwxMg"])


class CustomerMatch(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    company_name: str = Field(examples=["株式会社ABC商事"])
    company_key: str = Field(examples=["abc商事"])
    industry: str | None = Field(examples=["製造業"])
    open_deals: int = Field(examples=[2])
    last_touch_at: datetime | None = Field(description="latest contact by any department", examples=[
        "2026-02-03T15:00:00+09:00"])


class CustomerSearchPage(BaseModel):
    q: str = Field(examples=["㈱ABC"])
    company_key: str = Field(description="the normalised key searched for (substring)", examples=["abc"])
    customers: list[CustomerMatch]
    next_cursor: str | None = None


class Company(BaseModel):
    name: str = Field(examples=["株式会社ABC商事"])
    key: str = Field(examples=["abc商事"])
    industry: str | None = Field(examples=["製造業"])
    address: str | None = Field(examples=["東京都千代田区丸の内1-1-1"])
    website: str | None = Field(examples=["https://abc.example.jp"])


class ContactOut(BaseModel):
    contact_id: UUID
    name: str = Field(examples=["佐藤 花子"])
    title: str | None = Field(examples=["情報システム部 部長"])
    email: str | None = Field(examples=["hanako.sato@abc.example.jp"])
    phone: str | None = Field(examples=["03-1234-5678"])
    is_decision_maker: bool


class HearingOut(BaseModel):
    """The five hearing items as sales recorded them (latest non-empty of each), and BANT."""

    issue: str | None = Field(description="課題", examples=["拠点ごとに顧客情報が分断"])
    reason: str | None = Field(description="導入理由", examples=["営業会議の準備工数削減"])
    decision_maker: str | None = Field(description="決裁者", examples=["山田 取締役"])
    budget: str | None = Field(description="予算", examples=["年間500万円"])
    timeline: str | None = Field(description="導入時期", examples=["2027年4月"])
    bant: BantStatus
    bant_complete: bool
    competitor: Label | None = None
    hurdle: Label | None = None


class HandoffOut(BaseModel):
    """What sales handed to delivery and CS (引き継ぎ): the latest hand-off of the deal."""

    goal: str = Field(examples=["3か月で全拠点の案件登録率90%"])
    cautions: str = Field(examples=["現場の入力負荷に敏感。項目追加は要相談"])
    expectations: str = Field(examples=["営業会議資料の自動化"])
    cs_owner: str = Field(examples=["suzuki"])
    first_response_at: datetime = Field(examples=[EX_AT])
    handed_off_at: datetime = Field(description="when the hand-off happened", examples=[EX_AT])
    recorded_by: str = Field(examples=["tanaka"])


class NextActionOut(BaseModel):
    choice: Label
    note: str = Field(examples=["稟議資料のドラフト送付"])
    due_at: datetime | None = Field(examples=[EX_AT])


class DealSummary(PhaseStage):
    deal_id: UUID = Field(examples=[EX_DEAL])
    title: str = Field(examples=["営業支援システム導入"])
    status: Literal["open", "won", "lost"]
    owner: str = Field(examples=["tanaka"])
    team: str | None = Field(examples=["本社営業1課"])
    amount: int | None = Field(examples=[4_800_000])
    expected_close: date | None = None
    temperature: Label | None = None
    decision_status: Label | None = None
    bucket: str = Field(examples=["warm"])
    stage_entered_at: datetime = Field(examples=[EX_AT])
    next_action: NextActionOut | None = None
    missing_information: list[Label]
    hearing: HearingOut
    win_reasons: list[Label]
    lost_reason: Label | None = None
    handoff: HandoffOut | None = None


class TicketOut(BaseModel):
    ticket_id: UUID
    title: str = Field(examples=["ログインできない"])
    priority: str = Field(examples=["high"])
    category: str = Field(examples=["general"])
    status: str = Field(examples=["in_progress"])
    opened_at: datetime = Field(examples=[EX_AT])
    resolved_at: datetime | None = None
    deal_id: UUID | None = None


class MergedCustomer(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    company_name: str = Field(examples=["㈱ABC"])


class CustomerSummary(BaseModel):
    """One page for CS and support: who the customer is, what sales learned and promised, what is open."""

    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    version: int = Field(description="the customer's stream version this summary reflects", examples=[31])
    source: Literal["read_model", "event_store"] = Field(
        description="read_model; event_store for a customer the projection has not reached yet (replayed)")
    company: Company
    contacts: list[ContactOut]
    deals: list[DealSummary] = Field(description="open deals first, then won, then lost")
    tickets: list[TicketOut] = Field(description="unresolved first, newest first")
    last_touch: dict[str, datetime] = Field(description="department -> latest contact",
                                            examples=[{"sales": "2026-02-01T10:00:00+09:00",
                                                       "cs": "2026-02-10T15:00:00+09:00"}])
    onboarding_progress: int | None = Field(examples=[40])
    satisfaction: int | None = Field(examples=[4])
    merged_customers: list[MergedCustomer] = Field(
        default_factory=list, description="customer records merged into this one (名寄せ): their contacts, deals "
                                          "and tickets are included above, their timelines in this one's")


# --- pipeline --------------------------------------------------------------------------
class PipelineDeal(DealRef):
    status: str = Field(examples=["open"])
    amount: int | None = Field(examples=[4_800_000])
    expected_close: date | None = None
    temperature: str | None = Field(examples=["high"])
    decision_status: str | None = Field(examples=["in_approval"])
    bucket: str = Field(examples=["hot"])
    next_action: str | None = Field(examples=["scheduled"])
    next_action_note: str | None = Field(examples=["稟議資料のドラフト送付"])
    next_action_due: datetime | None = Field(examples=[EX_AT])
    stage_entered_at: datetime = Field(examples=[EX_AT])
    opened_at: datetime | None = Field(examples=[EX_AT])
    closed_at: datetime | None = None
    last_touch: dict[str, datetime] = Field(examples=[{"sales": "2026-02-01T10:00:00+09:00"}])
    bant_confirmed: int = Field(ge=0, le=4, examples=[3])
    bant_complete: bool
    missing_information: list[Label]


class PipelinePage(BaseModel):
    deals: list[PipelineDeal] = Field(description="longest in their stage first")
    next_cursor: str | None = None


class StageCount(BaseModel):
    stage: str = Field(examples=["bant_checking"])
    label: str = Field(examples=["BANT確認中"])
    label_en: str = Field(examples=["Checking BANT"])
    deals: int = Field(examples=[4])
    amount: int = Field(description="sum of known amounts, JPY", examples=[12_000_000])


class PhaseCount(BaseModel):
    phase: str = Field(examples=["hearing"])
    label: str = Field(examples=["ヒアリング"])
    label_en: str = Field(examples=["Hearing"])
    deals: int = Field(examples=[9])
    amount: int = Field(examples=[30_500_000])
    stages: list[StageCount]


class PipelineGroup(BaseModel):
    group: str | None = Field(description="the team, owner or site; null: everyone (or not recorded)",
                              examples=["本社営業1課"])
    deals: int = Field(examples=[21])
    amount: int = Field(examples=[84_000_000])
    phases: list[PhaseCount] = Field(description="every phase and stage of the process, in order")


class PipelineSummary(BaseModel):
    status: str = Field(examples=["open"])
    group_by: GroupBy | None = None
    groups: list[PipelineGroup]


class FunnelStep(BaseModel):
    phase: str = Field(examples=["hearing"])
    label: str = Field(examples=["ヒアリング"])
    label_en: str = Field(examples=["Hearing"])
    next_phase: str | None = Field(examples=["proposal"])
    next_label: str | None = Field(examples=["提案"])
    entered: int = Field(description="deals that entered this phase in the period", examples=[10])
    advanced: int | None = Field(description="of those, how many have reached a later phase since", examples=[6])
    lost: int = Field(description="of those, how many were lost in this phase", examples=[2])
    remaining: int = Field(description="of those, how many are still in this phase", examples=[2])
    conversion_rate: float | None = Field(description="advanced / entered", examples=[0.6])


class FunnelGroup(BaseModel):
    group: str | None = Field(examples=["yamada"])
    steps: list[FunnelStep]


class Funnel(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy | None = None
    groups: list[FunnelGroup]


class StageDuration(BaseModel):
    phase: str = Field(examples=["proposal"])
    stage: str = Field(examples=["proposal_sent_waiting"])
    label: str = Field(examples=["提案済み・反応待ち"])
    label_en: str = Field(examples=["Proposal sent, waiting for a reaction"])
    stays: int = Field(description="closed stays counted (entered and left)", examples=[18])
    median_days: float | None = Field(examples=[6.5])
    p90_days: float | None = Field(examples=[15.2])


class DurationGroup(BaseModel):
    group: str | None = Field(examples=["本社営業1課"])
    stages: list[StageDuration]


class StageDurations(BaseModel):
    since: datetime | None = Field(default=None, description="stays that ended from then on")
    until: datetime | None = None
    group_by: GroupBy | None = None
    groups: list[DurationGroup]


class DealAlert(DealRef):
    stage_entered_at: datetime = Field(examples=[EX_AT])
    days_in_stage: float = Field(examples=[23.5])
    threshold_days: int | None = Field(description="the stage's stagnation threshold (stuck deals)", examples=[14])
    next_action: str | None = Field(examples=["scheduled"])
    next_action_due: datetime | None = Field(examples=[EX_AT])


class DealAlerts(BaseModel):
    as_of: datetime = Field(examples=[EX_AT])
    count: int = Field(examples=[3])
    deals: list[DealAlert]


class WinRateGroup(BaseModel):
    group: str | None = Field(description="the team, owner or site; null: everyone (or not recorded)",
                              examples=["本社営業1課"])
    won: int = Field(description="deals won in the period", examples=[6])
    lost: int = Field(description="deals lost in the period", examples=[4])
    won_amount: int = Field(description="sum of the known amounts of the deals won, JPY", examples=[24_000_000])
    lost_amount: int = Field(examples=[8_000_000])
    win_rate: float | None = Field(description="won / (won + lost); null when nothing closed", examples=[0.6])
    amount_win_rate: float | None = Field(description="won_amount / (won_amount + lost_amount); null when no "
                                                      "amount closed", examples=[0.75])


class WinRates(BaseModel):
    since: datetime | None = Field(default=None, description="deals closed from then on")
    until: datetime | None = None
    group_by: GroupBy | None = None
    groups: list[WinRateGroup]


class PhaseShare(BaseModel):
    phase: str = Field(examples=["proposal"])
    label: str = Field(examples=["提案"])
    label_en: str = Field(examples=["Proposal"])
    deals: int = Field(examples=[7])
    amount: int = Field(examples=[25_000_000])
    share: float | None = Field(examples=[0.25])


class Rate(BaseModel):
    deals: int = Field(examples=[5])
    of: int = Field(examples=[8])
    rate: float | None = Field(description="deals / of; null when there is nothing to count", examples=[0.625])


class MissingCount(Label):
    deals: int = Field(examples=[3])


class Kpis(BaseModel):
    open_deals: int = Field(examples=[28])
    open_amount: int = Field(examples=[96_000_000])
    phase_distribution: list[PhaseShare]
    buckets: dict[str, int] = Field(examples=[{"hot": 3, "warm": 9, "cold": 16}])
    bant_capture: Rate = Field(description="open deals past the first phase with all four BANT items confirmed")
    missing_information: Rate = Field(description="open deals missing required information of their stage")
    missing_by_item: list[MissingCount]


class ReasonCount(Label):
    deals: int = Field(examples=[4])


class ReasonNote(Label):
    note: str = Field(examples=["他社より30%高い"])


class OutcomeDeal(DealRef):
    amount: int | None = Field(examples=[4_800_000])
    closed_at: datetime | None = Field(examples=[EX_AT])
    reasons: list[ReasonNote]
    note: str = Field(description="the win note (a loss has its note on the reason)", examples=["決め手は導入支援"])


class Outcomes(BaseModel):
    outcome: Literal["won", "lost"]
    q: str | None = None
    matching_deals: int = Field(examples=[12])
    reasons: list[ReasonCount] = Field(description="reasons of the matching deals, most frequent first")
    deals: list[OutcomeDeal] = Field(description="latest closed first, at most `limit`")


class ActiveSide(BaseModel):
    team: str | None = Field(examples=["大阪支店営業"])
    site: str | None = Field(examples=["大阪支店"])
    users: list[str] = Field(examples=[["yamada"]])
    customer_ids: list[UUID]
    first_at: datetime = Field(examples=[EX_AT])
    last_at: datetime = Field(examples=[EX_AT])
    events: int = Field(examples=[5])


class DuplicateApproach(BaseModel):
    company_key: str = Field(examples=["abc商事"])
    company_names: list[str] = Field(examples=[["株式会社ABC商事", "㈱ＡＢＣ商事"]])
    customer_ids: list[UUID]
    teams: list[str] = Field(examples=[["本社営業1課", "大阪支店営業"]])
    sites: list[str] = Field(examples=[["東京本社", "大阪支店"]])
    sides: list[ActiveSide]


class DuplicateAlerts(BaseModel):
    as_of: datetime = Field(examples=[EX_AT])
    window_days: int = Field(examples=[90])
    companies: list[DuplicateApproach]


# --- audit -----------------------------------------------------------------------------
class StoredEvent(BaseModel):
    position: int = Field(description="notification id (global order)", examples=[1042])
    stream_version: int = Field(examples=[7])
    event_type: str = Field(examples=["StageChanged"])
    topic: str = Field(examples=["shared.events.deal:StageChanged"])
    hash: str = Field(description="sha256 of topic and stored bytes; the next event's prev_hash")
    prev_hash: str | None = None
    occurred_at: str | None = Field(examples=["2026-01-20T01:00:00Z"])
    recorded_at: str | None = Field(examples=["2026-01-20T01:00:03.120000Z"])
    actor: dict[str, Any] | None = Field(examples=[{"user": "tanaka", "department": "sales", "team": "本社営業1課",
                                                    "site": "東京本社"}])
    payload: dict[str, Any] | None = Field(description="every stored field; null if the row is not JSON")
    stored_state: str | None = Field(default=None, description="the raw row, only when it is not JSON")


class StoredEventsPage(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    events: list[StoredEvent]
    next_after_version: int | None = Field(description="pass as `after_version` for the next page; null: last page",
                                           examples=[100])


class StateAsOf(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    as_of: datetime = Field(examples=[EX_AT])
    version: int = Field(description="the last version recorded at or before as_of", examples=[17])
    recorded_at: datetime = Field(examples=[EX_AT])
    head_hash: str = Field(description="hash of event `version`")
    current_version: int | None = Field(description="the stream's version now", examples=[31])
    state: CustomerState


class PipelineAsOfDeal(DealRef):
    status: Literal["open", "won", "lost"] = Field(description="at as_of")
    amount: int | None = Field(description="current amount (amounts have no history)", examples=[4_800_000])
    stage_entered_at: datetime = Field(examples=[EX_AT])
    days_in_stage: float = Field(examples=[4.0])


class PipelineAsOf(BaseModel):
    as_of: datetime = Field(examples=[EX_AT])
    phases: list[PhaseShare] = Field(description="open deals per phase at as_of")
    deals: list[PipelineAsOfDeal] = Field(description="every deal opened by as_of, in process order")


class ChainReport(BaseModel):
    customer_id: UUID = Field(examples=[EX_CUSTOMER])
    intact: bool
    events_checked: int = Field(examples=[31])
    first_broken_version: int | None = Field(examples=[None])
    problem: str | None = None
