"""The timeline's one-line summaries, in Japanese and English, for every event type (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from services.projections.timeline.summaries import SUMMARIES, summarize
from services.projections.timeline.wording import MAX_TEXT, short
from shared import events as ev
from shared.process import load_process_definition

PROCESS = load_process_definition()
JST = timezone(timedelta(hours=9))
AT = datetime(2026, 10, 1, 9, 0, tzinfo=JST)


def S(choice: str, note: str = "") -> dict[str, str]:  # noqa: N802 - reads like the Selection it builds
    return {"choice": choice, "note": note}


def event(cls: type[ev.CustomerEvent], **fields: Any) -> ev.CustomerEvent:
    return cls.model_validate({"originator_id": uuid4(), "originator_version": 2, "timestamp": AT, "occurred_at": AT,
                               "actor": {"user": "tanaka", "department": "sales"}, "prev_hash": "0" * 64, **fields})


CASES = [  # (event class, fields, Japanese, English)
    (ev.CustomerRegistered, {"company_name": "株式会社ABC商事", "company_key": "abc商事"},
     "顧客登録: 株式会社ABC商事",
     "Customer registered: 株式会社ABC商事"),
    (ev.ContactAdded, {"name": "佐藤 花子", "title": "部長", "is_decision_maker": True, "contact_id": uuid4()},
     "担当者追加: 佐藤 花子（部長）・決裁者",
     "Contact added: 佐藤 花子 (部長), decision maker"),
    (ev.TouchpointRecorded, {"channel": "phone", "direction": "outbound", "summary": "初回架電\n二行目",
                             "touchpoint_id": uuid4()},
     "電話（発信）: 初回架電",
     "Phone (outbound): 初回架電"),
    (ev.LeadSourceRecorded, {"source": "trade_show", "detail": "DX展示会"},
     "流入経路: 展示会（DX展示会）",
     "Lead source: Trade show (DX展示会)"),
    (ev.DealOpened, {"title": "営業支援システム導入", "owner": "tanaka", "deal_id": uuid4(), "phase": "approach",
                     "stage": "lead_acquired"},
     "案件作成: 営業支援システム導入（アプローチ/リード獲得）",
     "Deal opened: 営業支援システム導入 (Approach/Lead acquired)"),
    (ev.DealImported, {"title": "旧システムの保守更新", "owner": "tanaka", "deal_id": uuid4(),
                       "phase": "closing", "stage": "in_approval", "stage_entered_at": AT,
                       "source": "台帳.xlsx"},
     "案件取り込み: 旧システムの保守更新（クロージング/稟議中、取込元: 台帳.xlsx）",
     "Deal imported: 旧システムの保守更新 (Closing/In internal approval, from 台帳.xlsx)"),
    (ev.StageChanged, {"deal_id": uuid4(), "from_phase": "approach", "from_stage": "lead_acquired",
                       "to_phase": "hearing", "to_stage": "hearing_done"},
     "ステージ変更: アプローチ/リード獲得 → ヒアリング/ヒアリング実施済み",
     "Stage: Approach/Lead acquired → Hearing/Hearing done"),
    (ev.DealWon, {"win_reasons": [S("functionality"), S("price")], "deal_id": uuid4()},
     "成約（決め手: 機能、価格）",
     "Won (why: Functionality, Price)"),
    (ev.DealLost, {"reason": S("competitor", "A社に決定"), "deal_id": uuid4(), "phase": "proposal",
                   "stage": "revising"},
     "失注: 競合（A社に決定）",
     "Lost: Competitor (A社に決定)"),
    (ev.NextActionSet, {"plan": S("scheduled", "稟議資料の支援"), "due_at": AT, "deal_id": uuid4(),
                        "action_id": uuid4()},
     "次のアクション: 予定あり（稟議資料の支援）、期限 2026-10-01 09:00",
     "Next action: Scheduled (稟議資料の支援), due 2026-10-01 09:00"),
    (ev.NextActionCompleted, {"outcome": "稟議資料を送付", "deal_id": uuid4(), "action_id": uuid4()},
     "次のアクション完了: 稟議資料を送付",
     "Next action done: 稟議資料を送付"),
    (ev.TemperatureSet, {"temperature": S("high"), "decision_status": S("in_approval"), "deal_id": uuid4()},
     "温度感: 高／検討状況: 稟議中",
     "Temperature: High / Decision status: In approval"),
    (ev.HearingRecorded, {"issue": "拠点ごとに顧客情報が分断", "budget": "年間500万円", "deal_id": uuid4()},
     "ヒアリング記録（課題、予算）: 拠点ごとに顧客情報が分断",
     "Hearing recorded (issue, budget): 拠点ごとに顧客情報が分断"),
    (ev.MeetingScheduled, {"scheduled_at": AT, "place": "visit", "purpose": "課題ヒアリングとデモ",
                           "deal_id": uuid4(), "meeting_id": uuid4()},
     "アポ設定: 2026-10-01 09:00 訪問 — 課題ヒアリングとデモ",
     "Meeting scheduled: 2026-10-01 09:00 visit — 課題ヒアリングとデモ"),
    (ev.MeetingHeld, {"minutes": "デモ実施。好感触", "deal_id": uuid4(), "meeting_id": uuid4()},
     "商談実施: デモ実施。好感触",
     "Meeting held: デモ実施。好感触"),
    (ev.ProposalSent, {"title": "営業DX提案書 v1", "deal_id": uuid4(), "proposal_id": uuid4()},
     "提案送付: 営業DX提案書 v1",
     "Proposal sent: 営業DX提案書 v1"),
    (ev.QuoteSubmitted, {"amount": 4_800_000, "note": "初年度割引", "deal_id": uuid4(), "quote_id": uuid4()},
     "見積提出: 4,800,000円（初年度割引）",
     "Quote submitted: ¥4,800,000 (初年度割引)"),
    (ev.ProposalFeedbackRecorded, {"reaction": S("positive"), "concerns": "価格", "deal_id": uuid4()},
     "提案への反応: 前向き（価格）",
     "Proposal feedback: Positive (価格)"),
    (ev.RevisionRequested, {"request": "月額表記に", "deal_id": uuid4(), "revision_id": uuid4()},
     "修正依頼: 月額表記に",
     "Revision requested: 月額表記に"),
    (ev.RevisionDone, {"response": "月額表記に修正", "deal_id": uuid4(), "revision_id": uuid4()},
     "修正対応完了: 月額表記に修正",
     "Revision done: 月額表記に修正"),
    (ev.ApprovalStatusUpdated, {"status": S("in_review"), "stuck_at": "経理部長の確認待ち", "deal_id": uuid4()},
     "稟議状況: 審議中（経理部長の確認待ち）",
     "Approval status: In review (経理部長の確認待ち)"),
    (ev.ContractTermsUpdated, {"open_points": ["amount", "payment_terms"], "deal_id": uuid4()},
     "契約条件の論点: 金額、支払条件",
     "Open contract points: amount, payment terms"),
    (ev.ContractSigned, {"price": 4_560_000, "scope": "全社導入", "deal_id": uuid4()},
     "契約締結: 4,560,000円（全社導入）",
     "Contract signed: ¥4,560,000 (全社導入)"),
    (ev.HandedOffToCS, {"goal": "3か月で全拠点の案件登録率90%", "cs_owner": "suzuki", "first_response_at": AT,
                        "deal_id": uuid4()},
     "CS引き継ぎ: suzuki — 3か月で全拠点の案件登録率90%",
     "Handed off to CS: suzuki — 3か月で全拠点の案件登録率90%"),
    (ev.OnboardingProgressRecorded, {"progress_percent": 40, "status": "初期設定完了"},
     "導入進捗: 40%（初期設定完了）",
     "Onboarding: 40% (初期設定完了)"),
    (ev.SatisfactionRecorded, {"score": 4, "comment": "使いやすい"},
     "満足度: 4/5（アンケート）（使いやすい）",
     "Satisfaction: 4/5 (survey) (使いやすい)"),
    (ev.CustomerFeedbackRecorded, {"kind": "upsell_hint", "summary": "他部署でも使いたい"},
     "フィードバック（アップセルの兆し）: 他部署でも使いたい",
     "Feedback (Upsell hint): 他部署でも使いたい"),
    (ev.TicketOpened, {"title": "ログインできない", "priority": "high", "ticket_id": uuid4()},
     "問い合わせ起票: ログインできない（優先度: 高）",
     "Ticket opened: ログインできない (priority: high)"),
    (ev.TicketUpdated, {"status": "in_progress", "note": "ログ調査中", "ticket_id": uuid4()},
     "問い合わせ更新: 対応中（ログ調査中）",
     "Ticket updated: in progress (ログ調査中)"),
    (ev.TicketResolved, {"resolution": "パスワード再設定で解決", "ticket_id": uuid4()},
     "問い合わせ解決: パスワード再設定で解決",
     "Ticket resolved: パスワード再設定で解決"),
    (ev.CustomerMerged, {"survivor_id": uuid4(), "survivor_name": "株式会社ABC", "note": "旧社名で重複登録"},
     "名寄せ: 株式会社ABC に統合: 旧社名で重複登録", "Merged into 株式会社ABC: 旧社名で重複登録"),
    (ev.ContactCorrected, {"contact_id": uuid4(), "name": "佐藤 華子", "email": "h.sato@abc.example.jp",
                           "reason": "本人からの訂正請求"},
     "担当者情報の訂正（氏名、メール）: 本人からの訂正請求", "Contact corrected (name, email): 本人からの訂正請求"),
    (ev.ContactErased, {"contact_id": uuid4(), "reason": "retention"},
     "担当者の個人情報を消去（保存期間の経過）", "Contact's personal data erased (retention period over)"),
    (ev.PersonalDataDisclosed, {"contact_id": uuid4(), "items": 12, "format": "csv", "recipient": "本人"},
     "個人情報の開示: 12件（CSV、開示先: 本人）", "Personal data disclosed: 12 items (CSV, to 本人)"),
    (ev.CustomerAbsorbed, {"merged_id": uuid4(), "merged_name": "㈱ABC"},
     "名寄せ: ㈱ABC を統合", "Merged in ㈱ABC"),
    (ev.CustomerUnmerged, {"survivor_id": uuid4(), "survivor_name": "株式会社ABC", "note": "別会社"},
     "名寄せ解除: 株式会社ABC から分離: 別会社", "Unmerged from 株式会社ABC: 別会社"),
    (ev.CustomerReleased, {"merged_id": uuid4(), "merged_name": "㈱ABC"},
     "名寄せ解除: ㈱ABC を分離", "Unmerged ㈱ABC"),
]


def test_the_cases_cover_every_event_type() -> None:
    assert {cls for cls, *_ in CASES} == set(ev.EVENT_TYPES.values()) == set(SUMMARIES)


@pytest.mark.parametrize(("cls", "fields", "ja", "en"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_event_type_reads_as_one_line_in_both_languages(cls: type, fields: dict, ja: str, en: str) -> None:
    assert summarize(event(cls, **fields), PROCESS) == (ja, en)


def test_ids_the_process_no_longer_knows_are_shown_as_they_are() -> None:
    moved = event(ev.StageChanged, deal_id=uuid4(), from_phase="old_phase", from_stage="gone", to_phase="hearing",
                  to_stage="hearing_done")
    assert summarize(moved, PROCESS) == ("ステージ変更: old_phase/gone → ヒアリング/ヒアリング実施済み",
                                         "Stage: old_phase/gone → Hearing/Hearing done")
    lost = event(ev.DealLost, reason=S("meteor"), deal_id=uuid4(), phase="proposal", stage="revising")
    assert summarize(lost, PROCESS) == ("失注: meteor", "Lost: meteor")


def test_free_text_is_its_first_line_cut_to_a_one_liner() -> None:
    long = "あ" * (MAX_TEXT + 10)
    assert short(long) == "あ" * (MAX_TEXT - 1) + "…" and len(short(long)) == MAX_TEXT
    assert short("  一行目  \n二行目") == "一行目"
    touch = event(ev.TouchpointRecorded, channel="email", direction="inbound", summary=long, touchpoint_id=uuid4())
    assert summarize(touch, PROCESS)[1] == f"Email (inbound): {short(long)}"


def test_agreed_terms_and_terms_without_open_points() -> None:
    agreed = event(ev.ContractTermsUpdated, agreed=True, open_points=["amount"], deal_id=uuid4())
    assert summarize(agreed, PROCESS) == ("契約条件: 合意済み", "Contract terms: agreed")
    noted = event(ev.ContractTermsUpdated, note="法務確認中", deal_id=uuid4())
    assert summarize(noted, PROCESS) == ("契約条件を更新: 法務確認中", "Contract terms updated: 法務確認中")


def test_an_event_type_without_a_summary_is_shown_by_its_name() -> None:
    class Retired(ev.CustomerEvent):
        pass

    assert summarize(event(Retired), PROCESS) == ("Retired", "Retired")
