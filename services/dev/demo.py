"""A living demo company history, written through the command API like any client would.

About 36 Japanese companies with up to a year of history: deals in every phase and stage of
the sales process, some stuck past their stage's stagnation threshold, some without a next
action or with an overdue one, hot / warm / cold, won and lost with reasons, hand-offs to CS
with cautions, onboarding and satisfaction, support tickets worked by support and by tech,
and the HQ-and-branch case: 本社営業 (東京本社) and 大阪支店 working one company that each
registered under its own spelling (「㈱北斗精機」 and 「株式会社北斗精機」).

How it is built
    The companies' stories are data (``STORIES``: how far each deal goes, its outcome,
    temperature, next action, tickets). The path of a deal, the facts each phase change needs
    and the information each stage requires are read from the process definition
    (``default_process_definition()``; the command API's ``GET /process`` must be the same):
    ``DealRun.plan`` walks the stages up to the story's one and plans, for every fact asked
    for, the work that makes it hold (``@records``), so every stage change meets its criteria.
    Every command goes through the HTTP API with the token of whoever would do it: sales for
    deals and touchpoints (HQ or branch), CS for onboarding, satisfaction and feedback,
    support and tech for tickets.

Deterministic
    ``random.Random(seed)`` draws the company profiles; each company and deal draws its
    details from a generator seeded with ``(seed, company, deal)``, so one story never shifts
    another's. Nothing drawn depends on an answer of the API.

Idempotent
    Every command carries ``Idempotency-Key: demo-<seed>-c<company>-<place in the story>``.
    A second run sends the same requests with the same bodies; the API answers each from the
    first run (header ``Idempotent-Replayed: true``, counted in ``DemoSummary.replayed``),
    appends nothing, and gives back the ids it generated then (customer, deal, meeting,
    revision and ticket ids), which the following requests use.

Dates: anchored to the first run
    Every time is ``anchor - N days`` at a business hour (09:00-18:00 JST), with ``N >= 1``,
    so nothing happens later than the day before the anchor (never in the future, well inside
    the API's 1900-2100 window). The anchor is a JST calendar day:

    * the first run takes it from ``now`` (default: the wall clock);
    * the showcase company (the first story) is registered under a customer id derived from
      the seed; a later run reads that customer back (``GET /customers/{id}``) and takes the
      anchor from its first deal's ``opened_at`` plus the deal's planned age in days, so a
      run on any later day, or with another ``now``, sends byte-identical requests;
    * if a first run stopped between registering that company and opening its deal, the
      anchor is found by offering the registration again for each earlier day (the API
      refuses a different ``occurred_at`` under the same key with 422 until the right one).

    Due dates of next actions planned "scheduled" and meetings still to come lie after the
    anchor: they are plans, not events.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time as clock
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import httpx

from services.dev.users import DEV_USERS
from shared.company_key import company_key
from shared.domain.customer import WON_PHASE
from shared.process import ProcessDefinition, Stage, default_process_definition

DEFAULT_SEED = 2026
JST = timezone(timedelta(hours=9))
BUSINESS_MINUTES = 9 * 60  # 09:00-18:00: where the times of a day fall
MAX_DAYS = 360  # the oldest event: about a year before the anchor
WRITERS = ("sales", "sales_branch", "cs", "support", "tech")  # the DEV_USERS keys whose tokens write
USERS = {user.key: user.actor for user in DEV_USERS}
NAMESPACE = uuid.UUID("5d4c0f1e-3b7a-4c1e-9a43-2f6b8d0e7c11")  # of the showcase company's customer id
REPLAYED_HEADER = "Idempotent-Replayed"


class DemoError(RuntimeError):
    """The demo could not be written as planned: a refused request (with its answer), or a story the
    process cannot play."""


# --- the stories (data) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    name: str
    industry: str
    address: str
    employees: int
    domain: str  # for the contacts' mail and the website


@dataclass(frozen=True)
class TicketStory:
    title: str
    description: str
    opened_by: str = "support"  # token key: support or tech
    worked_by: str = "tech"  # who updates and resolves it
    status: str = "resolved"  # resolved, or what it still is: open / in_progress / waiting_customer
    priority: str = "normal"
    category: str = "操作方法"
    note: str = ""  # the update's note
    resolution: str = ""


@dataclass(frozen=True)
class FeedbackStory:
    by: str  # token key: cs, support or tech
    kind: str  # usage / trouble / request / upsell_hint / other
    summary: str
    detail: str = ""


@dataclass(frozen=True)
class DealStory:
    reach: str  # the stage the deal is at now (a lost deal: where it was lost)
    temperature: str = "warm"  # bucket of an open deal: hot / warm / cold
    next_action: str = "scheduled"  # of an open deal: scheduled / overdue / undecided / none
    stuck: bool = False  # in its stage longer than the stage's stagnation threshold
    gaps: bool = False  # part of the current stage's required information not recorded yet
    won: tuple[str, ...] = ()  # win reason ids (a deal that reached 成約 or later)
    lost: str | None = None  # lost reason id
    lost_days_ago: int = 0
    note: str = ""  # with the win or loss
    title: str | None = None  # default: what the company's industry buys
    entered: int | None = None  # days ago the current stage was entered (default: from stuck and threshold)
    opened: int | None = None  # days ago the deal was opened (default: a few days per stage)
    tickets: tuple[TicketStory, ...] = ()  # after the hand-off
    feedback: tuple[FeedbackStory, ...] = ()  # after the hand-off
    satisfaction: int = 4


@dataclass(frozen=True)
class CompanyStory:
    deals: tuple[DealStory, ...]
    by: str = "sales"  # the sales team working the company (token key)
    lead: str = "web"  # lead source id
    profile: Profile | None = None  # None: drawn from PROFILES with the seed


@dataclass(frozen=True)
class Industry:
    titles: tuple[str, ...]  # what such a company buys from us
    issue: str  # 課題, in the customer's words
    reason: str  # 導入理由


INDUSTRIES: dict[str, Industry] = {
    "製造業": Industry(("生産管理システム刷新", "設備保全IoTの導入"),
                     "工場ごとに生産実績をExcelで集計しており、月次の締めに5日かかる", "取引先から納期回答の迅速化を求められている"),
    "物流": Industry(("配車計画クラウドの導入", "倉庫管理システムの更新"),
                   "配車が担当者の経験頼みで、繁忙期に積載率が落ちる", "ドライバーの時間外労働の上限規制への対応"),
    "小売業": Industry(("店舗在庫の一元管理", "会員ポイント基盤の刷新"),
                    "店舗ごとに在庫を管理しており、欠品と過剰在庫が同時に起きる", "EC開始に向けて店舗とECの在庫を連動させたい"),
    "IT・ソフトウェア": Industry(("営業支援SaaSの導入", "ヘルプデスク基盤の刷新"),
                          "案件情報が担当者のメールとスプレッドシートに散らばっている", "営業組織の拡大で案件の見える化が急務"),
    "建設業": Industry(("現場日報アプリの導入",), "現場の日報と写真を紙とメールで回しており、本社の確認が遅れる",
                    "施工管理者の残業削減"),
    "医療・介護": Industry(("介護記録システムの導入", "シフト管理クラウドの導入"),
                      "介護記録を手書きで残しており、請求業務と二重入力になっている", "職員の記録時間を減らしケアの時間を増やしたい"),
    "食品製造": Industry(("品質トレーサビリティ基盤の導入",), "ロットごとの原材料の追跡に時間がかかり、監査準備が大変",
                     "大手小売との取引拡大で監査要件が厳しくなった"),
    "不動産": Industry(("物件・顧客管理システムの導入",), "物件情報と問い合わせ履歴が店舗ごとに分かれている", "反響からの成約率を上げたい"),
    "金融・保険": Industry(("顧客接点管理基盤の導入",), "契約者への連絡履歴が部署ごとに分かれ、苦情対応で確認に時間がかかる",
                      "顧客本位の業務運営の強化"),
    "商社": Industry(("受発注・与信管理システムの刷新",), "受発注をFAXとExcelで処理しており入力ミスが多い", "インボイス制度と電子帳簿保存法への対応"),
}

HOKUTO_HQ = Profile("㈱北斗精機", "製造業", "東京都大田区南蒲田2-14-3", 640, "hokuto-seiki.example.jp")
HOKUTO_OSAKA = Profile("株式会社北斗精機", "製造業", "大阪府堺市北区長曽根町1180 (堺工場)", 640, "hokuto-seiki.example.jp")

PROFILES: tuple[Profile, ...] = (
    Profile("株式会社三河精工", "製造業", "愛知県豊田市元町3-8", 420, "mikawa-seiko.example.jp"),
    Profile("株式会社丸菱ロジスティクス", "物流", "埼玉県川口市領家5-2-1", 680, "marubishi-logi.example.jp"),
    Profile("株式会社さくらリテール", "小売業", "神奈川県横浜市港北区新横浜2-5-10", 1200, "sakura-retail.example.jp"),
    Profile("株式会社ネクサスソフト", "IT・ソフトウェア", "東京都渋谷区道玄坂1-12-1", 310, "nexus-soft.example.jp"),
    Profile("東邦建設株式会社", "建設業", "東京都江東区東陽4-1-5", 540, "toho-kensetsu.example.jp"),
    Profile("株式会社みどり介護サービス", "医療・介護", "千葉県船橋市本町6-3-2", 860, "midori-kaigo.example.jp"),
    Profile("株式会社越後フーズ", "食品製造", "新潟県新潟市中央区万代3-1-1", 390, "echigo-foods.example.jp"),
    Profile("株式会社湊不動産", "不動産", "大阪府大阪市港区弁天1-2-4", 220, "minato-fudosan.example.jp"),
    Profile("中央リース株式会社", "金融・保険", "東京都中央区日本橋室町2-3-1", 700, "chuo-lease.example.jp"),
    Profile("株式会社大洋商事", "商社", "大阪府大阪市北区梅田3-4-5", 510, "taiyo-shoji.example.jp"),
    Profile("株式会社浜松オートパーツ", "製造業", "静岡県浜松市中央区高塚町300", 980, "hamamatsu-ap.example.jp"),
    Profile("株式会社グリーンファーム北海道", "食品製造", "北海道札幌市東区北8条東7-1", 260, "greenfarm-hokkaido.example.jp"),
    Profile("株式会社東海ホームセンター", "小売業", "愛知県名古屋市中村区名駅4-7-1", 1500, "tokai-hc.example.jp"),
    Profile("株式会社九州トランスポート", "物流", "福岡県福岡市博多区博多駅南2-9-11", 890, "kyushu-trans.example.jp"),
    Profile("株式会社アルファシステムズ", "IT・ソフトウェア", "東京都港区芝浦3-4-1", 150, "alpha-systems.example.jp"),
    Profile("株式会社信州プレシジョン", "製造業", "長野県松本市島立1020", 270, "shinshu-precision.example.jp"),
    Profile("株式会社みなと電機", "製造業", "神奈川県川崎市川崎区殿町3-25", 760, "minato-denki.example.jp"),
    Profile("株式会社ひかり薬局", "小売業", "埼玉県さいたま市大宮区桜木町1-7-5", 640, "hikari-pharmacy.example.jp"),
    Profile("株式会社やまと住建", "不動産", "奈良県奈良市大宮町3-5-39", 210, "yamato-juken.example.jp"),
    Profile("株式会社ベイサイド保険サービス", "金融・保険", "千葉県千葉市美浜区中瀬1-3", 430, "bayside-hoken.example.jp"),
    Profile("株式会社なにわ精密", "製造業", "大阪府東大阪市高井田元町2-8-15", 160, "naniwa-seimitsu.example.jp"),
    Profile("株式会社札幌ライフケア", "医療・介護", "北海道札幌市中央区大通西10-4", 410, "sapporo-lifecare.example.jp"),
    Profile("株式会社しまなみ運輸", "物流", "愛媛県今治市東門町5-1-3", 730, "shimanami-unyu.example.jp"),
    Profile("株式会社富士山ビバレッジ", "食品製造", "静岡県富士市本市場432", 470, "fujisan-beverage.example.jp"),
    Profile("株式会社東京クリエイトシステム", "IT・ソフトウェア", "東京都千代田区神田錦町3-20", 190, "tokyo-create.example.jp"),
    Profile("株式会社関西化成商事", "商社", "兵庫県神戸市中央区港島中町6-1", 350, "kansai-kasei.example.jp"),
    Profile("株式会社若葉ケアネット", "医療・介護", "東京都世田谷区三軒茶屋2-11-22", 380, "wakaba-care.example.jp"),
    Profile("株式会社みちのく建工", "建設業", "宮城県仙台市青葉区本町2-16-10", 520, "michinoku-kenko.example.jp"),
    Profile("株式会社瀬戸内マート", "小売業", "広島県広島市中区紙屋町1-2-22", 920, "setouchi-mart.example.jp"),
    Profile("株式会社京阪ホームズ", "不動産", "京都府京都市下京区烏丸通四条下ル", 260, "keihan-homes.example.jp"),
    Profile("株式会社ミライ損害保険代理店", "金融・保険", "東京都新宿区西新宿6-8-1", 240, "mirai-agency.example.jp"),
    Profile("株式会社日本海フーズ", "食品製造", "富山県富山市新桜町4-28", 330, "nihonkai-foods.example.jp"),
    Profile("株式会社オリオン工業", "製造業", "群馬県太田市新田木崎町140", 590, "orion-kogyo.example.jp"),
    Profile("株式会社中部トレーディング", "商社", "岐阜県岐阜市橋本町2-8", 280, "chubu-trading.example.jp"),
    Profile("株式会社さつまロジテック", "物流", "鹿児島県鹿児島市与次郎1-11-1", 450, "satsuma-logitech.example.jp"),
    Profile("株式会社アーバン建設", "建設業", "東京都豊島区東池袋1-18-1", 360, "urban-kensetsu.example.jp"),
    Profile("株式会社ソレイユ", "IT・ソフトウェア", "福岡県福岡市中央区天神2-8-38", 120, "soleil.example.jp"),
    Profile("株式会社ひまわり調剤", "小売業", "兵庫県姫路市駅前町240", 310, "himawari-chozai.example.jp"),
)

T, F, D, C = TicketStory, FeedbackStory, DealStory, CompanyStory  # short names for the table below

STORIES: tuple[CompanyStory, ...] = (
    # 0: the showcase (its customer id anchors the dates): a year from trade show to upsell, every department.
    C(lead="trade_show", deals=(
        D("upsell_review", won=("support", "track_record"), opened=330, entered=45, satisfaction=5,
          note="同業での導入実績と、導入支援の体制を評価いただいた", tickets=(
              T("CSV取り込みで社名が文字化けする", "取引先マスタをShift_JISのCSVで取り込むと一部の社名が文字化けする",
                opened_by="support", worked_by="tech", priority="high", category="データ連携",
                note="文字コード判定の不具合を再現。修正版を準備中", resolution="文字コード自動判定を修正した版を適用し解消"),
              T("新任担当者の権限設定方法", "4月の異動で加わった担当者に閲覧権限だけを付けたい", worked_by="support",
                note="権限テンプレートの画面を共有して説明", resolution="権限テンプレートの設定手順を案内し完了"),
              T("基幹システム連携APIがタイムアウトする", "夜間バッチで受注データを送るとタイムアウトが発生する",
                opened_by="tech", worked_by="tech", status="in_progress", priority="urgent", category="API連携",
                note="先方ネットワークのプロキシ設定を確認中"),
          ), feedback=(
              F("cs", "usage", "営業部の週次利用率が85%に到達", "定例会で営業部長から入力定着の報告あり"),
              F("tech", "upsell_hint", "別の拠点でも同じ仕組みを使いたいとの声", "保守訪問時に拠点長から相談を受けた"),
          )),
        D("proposal_sent_waiting", title="他拠点への追加導入", temperature="hot", opened=30),
    )),
    # 1-2: the HQ-and-branch case: one company, two spellings, two teams within weeks of each other.
    C(profile=HOKUTO_HQ, lead="trade_show", deals=(D("hearing_done", opened=35, entered=9),)),
    C(profile=HOKUTO_OSAKA, by="sales_branch", lead="outbound", deals=(
        D("first_contact_done", opened=18, entered=6),)),
    # 3-: the rest of the pipeline, stage by stage
    C(lead="web", deals=(D("lead_acquired", temperature="cold", next_action="none"),)),
    C(lead="seminar", deals=(
        D("arranging_meeting", lost="no_budget", lost_days_ago=210, note="今期の予算枠が取れず見送り"),
        D("lead_acquired", temperature="cold", next_action="none", stuck=True),
    )),
    C(lead="outbound", deals=(D("first_contact_done", temperature="cold", next_action="overdue", stuck=True),)),
    C(lead="referral", deals=(D("arranging_meeting", next_action="undecided", stuck=True),)),
    C(lead="trade_show", by="sales_branch", deals=(D("arranging_meeting"),)),
    C(lead="web", deals=(D("hearing_done", gaps=True),)),
    C(lead="partner", deals=(D("bant_checking", next_action="overdue", stuck=True),)),
    C(lead="seminar", deals=(D("bant_checking", temperature="cold", next_action="undecided", gaps=True),)),
    C(lead="referral", deals=(D("meeting_booked", temperature="hot"),)),
    C(lead="web", by="sales_branch", deals=(D("meeting_booked"),)),
    C(lead="trade_show", deals=(D("preparing_materials", next_action="none", stuck=True),)),
    C(lead="partner", by="sales_branch", deals=(D("proposal_sent_waiting", next_action="undecided"),)),
    C(lead="web", deals=(D("revising", next_action="overdue", stuck=True, gaps=True),)),
    C(lead="outbound", deals=(
        D("quote_submitted", lost="price", lost_days_ago=280, note="他社見積より3割高く見送り"),
        D("quote_submitted", next_action="overdue"),
    )),
    C(lead="referral", deals=(D("negotiating_terms", temperature="hot"),)),
    C(lead="trade_show", by="sales_branch", deals=(D("negotiating_terms", next_action="overdue", stuck=True),)),
    C(lead="seminar", deals=(D("in_approval", temperature="hot"),)),
    C(lead="partner", deals=(D("in_approval", temperature="hot", next_action="overdue", stuck=True),)),
    C(lead="referral", deals=(D("contract_drafting", temperature="hot"),)),
    C(lead="web", deals=(D("contract_drafting", temperature="hot", next_action="overdue", stuck=True),)),
    C(lead="trade_show", deals=(D("contract_signed", won=("price",), stuck=True, note="複数年契約の割引が決め手"),)),
    C(lead="referral", deals=(D("handing_off", won=("relationship", "support"), note="既存取引での信頼関係"),)),
    C(lead="web", deals=(D("onboarding", won=("functionality",), stuck=True, note="現場アプリの使いやすさ", tickets=(
        T("スマートフォンでログインできない", "現場担当者のスマートフォンからログインすると認証エラーになる",
          worked_by="tech", priority="high", category="ログイン", note="端末の時刻ずれによる認証エラーと判明",
          resolution="端末の時刻自動設定を案内し解消"),)),)),
    C(lead="partner", by="sales_branch", deals=(D("onboarding", won=("price", "support"), note="保守費込みの価格", tickets=(
        T("帳票のレイアウトが崩れる", "納品書をPDF出力すると明細が2ページ目にはみ出す", opened_by="tech", worked_by="tech",
          status="in_progress", category="帳票", note="テンプレートの改修版を検証中"),)),)),
    C(lead="seminar", deals=(D("adoption_support", won=("functionality", "track_record"), satisfaction=3,
                               note="機能比較表での評価が最も高かった", tickets=(
        T("月次集計の数値が合わない", "月末締めの集計が基幹システムの数値と一致しない", worked_by="tech", priority="high",
          category="データ連携", note="締め時刻の設定差を確認", resolution="締め時刻を23:59に揃えて再集計し一致"),
        T("CSVの列を追加したい", "出力CSVに担当部署の列を追加できるか", worked_by="support", status="waiting_customer",
          category="要望", note="必要な列の一覧を先方に確認中"),
    ), feedback=(F("support", "request", "CSV出力項目の追加要望", "経理部から担当部署列の追加要望"),)),)),
    C(lead="trade_show", deals=(D("adoption_support", won=("support",), note="導入後の伴走支援を評価", tickets=(
        T("パスワードを忘れた", "管理者のパスワードを再設定したい", worked_by="support", category="ログイン",
          resolution="本人確認の上で再設定リンクを送付"),)),)),
    C(lead="referral", deals=(
        D("upsell_review", won=("relationship",), note="前任の部長からの紹介で信頼があった", satisfaction=5, tickets=(
            T("通知メールが届かない", "承認依頼の通知メールが一部の社員に届かない", opened_by="tech", worked_by="tech",
              category="メール", note="先方メールサーバの迷惑メール判定を確認", resolution="送信ドメイン認証の設定を案内し解消"),
        ), feedback=(F("cs", "upsell_hint", "経理部門への展開を検討中", "定例会で経理部長が関心を示した"),)),
        D("bant_checking", title="経理部門への追加ライセンス", opened=20),
    )),
    # lost deals, with their reasons
    C(lead="web", deals=(D("proposal_sent_waiting", lost="competitor", lost_days_ago=150, note="A社のパッケージに決定"),)),
    C(lead="partner", deals=(D("in_approval", lost="no_decision", lost_days_ago=75, note="役員会で結論が出ず凍結"),)),
    C(lead="trade_show", deals=(
        D("bant_checking", lost="timing", lost_days_ago=190, note="基幹システム更改と重なり来期以降に"),
        D("first_contact_done", opened=25, entered=10),
    )),
    C(lead="seminar", deals=(D("hearing_done", lost="requirements_mismatch", lost_days_ago=250,
                               note="オンプレミス必須の要件に合わず"),)),
    C(lead="referral", by="sales_branch", deals=(D("negotiating_terms", lost="competitor", lost_days_ago=45,
                                                    note="地場ベンダーが大幅値引き"),)),
    C(lead="other", deals=(D("first_contact_done", lost="other", lost_days_ago=120, note="先方の事業譲渡により白紙"),)),
)

FAMILY_NAMES = (("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("伊藤", "ito"), ("渡辺", "watanabe"),
                ("中村", "nakamura"), ("小林", "kobayashi"), ("吉田", "yoshida"), ("山田", "yamada"),
                ("佐々木", "sasaki"), ("松本", "matsumoto"), ("井上", "inoue"), ("木村", "kimura"), ("林", "hayashi"),
                ("清水", "shimizu"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"), ("石川", "ishikawa"),
                ("前田", "maeda"), ("藤田", "fujita"), ("岡田", "okada"), ("後藤", "goto"), ("村上", "murakami"))
GIVEN_NAMES = ("花子", "健一", "美咲", "大輔", "直樹", "由美", "翔太", "恵子", "誠", "麻衣", "拓也", "裕子")
CONTACT_TITLES = ("情報システム部 課長", "営業企画部 主任", "総務部 係長", "経営企画室 マネージャー", "業務改革推進室 リーダー")
DECIDER_TITLES = ("取締役 管理本部長", "代表取締役社長", "執行役員 DX推進室長", "常務取締役")
LEAD_DETAILS = {"trade_show": "DX総合展 ブース来訪", "web": "Webサイトから資料請求", "referral": "既存顧客からの紹介",
                "outbound": "業界リストからの新規架電", "partner": "販売パートナー経由の紹介",
                "seminar": "業務効率化セミナーに参加", "other": "代表電話への問い合わせ"}
FIRST_TOUCH = {  # by lead source: channel, direction, summary
    "trade_show": ("event", "inbound", "展示会ブースで名刺交換。情報共有の課題について立ち話"),
    "web": ("web_form", "inbound", "Webフォームから資料請求。導入事例を希望"),
    "referral": ("email", "inbound", "紹介者経由でご連絡をいただき、お礼と面談のお願いを返信"),
    "outbound": ("phone", "outbound", "新規架電。担当者につながり概要を説明"),
    "partner": ("email", "inbound", "販売パートナーから紹介メール。担当者を交えて挨拶"),
    "seminar": ("event", "inbound", "セミナー後のアンケートで「情報収集中」と回答"),
    "other": ("phone", "inbound", "代表電話に問い合わせ。折り返しで概要を説明"),
}
PHASE_TOUCHES = {  # when a deal enters a phase: channel, direction, summary
    "hearing": (("visit", "outbound", "訪問してヒアリング。現場の業務フローを見学"),
                ("online_meeting", "outbound", "オンラインでヒアリング。関係部署の課長も同席")),
    "proposal": (("email", "outbound", "提案書を送付し、説明の日程を打診"),
                 ("email", "inbound", "提案内容について先方から質問のメール")),
    "closing": (("phone", "inbound", "担当者から稟議の進め方について相談の電話"),
                ("online_meeting", "outbound", "契約条件のすり合わせ会議")),
    WON_PHASE: (("visit", "outbound", "契約締結のご挨拶に訪問"), ("letter", "outbound", "契約書の原本を郵送")),
    "follow": (("visit", "outbound", "定例会に同席し利用状況を確認"),
               ("chat", "inbound", "チャットで他部署への展開について相談")),
}
OTHER_TOUCH = (("email", "outbound", "進捗のご連絡"),)
TOPICS = ("案件の見える化", "営業会議の効率化", "情報共有", "モバイル対応", "基幹連携", "セキュリティ")
CAUTIONS = ("現場の入力負荷に敏感。最初は必須項目を絞って始めること", "情報システム部は少人数。問い合わせ窓口を一本化すること",
            "前回のシステム導入で失敗経験あり。スケジュールの遅れに厳しい", "決裁者は月次で効果の報告を求めている")
COMPLETIONS = {"won": "契約締結により完了", "lost": "失注によりクローズ", "none": "対応完了。次の打ち手は未検討"}  # why an open next action closes
ONBOARDING = ((30, "キックオフ完了・初期設定中"), (70, "主要部署で利用開始"), (100, "全社展開完了"))
REPEATED = {"onboarding_progress_recorded"}  # progress: recorded again at every stage that requires it
COMPANY_FACTS = {"company_info_captured", "contact_person_captured"}  # recorded with the registration


# --- the summary -----------------------------------------------------------------------------------------
@dataclass
class DemoSummary:
    companies: int = 0  # customer records (the HQ-and-branch company counts twice: two registrations)
    deals: int = 0
    requests: int = 0  # commands sent
    replayed: int = 0  # of them answered from an earlier run
    events: int = 0  # events written by this run
    anchor: date | None = None  # the JST day the history ends before
    seconds: float = 0.0
    showcase_customer_id: str = ""
    duplicate_customer_ids: tuple[str, ...] = ()  # the registrations sharing a company key
    customer_ids: tuple[str, ...] = ()
    deal_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()
    stages: dict[str, int] = field(default_factory=dict)  # open or won deals per current stage
    outcomes: dict[str, int] = field(default_factory=dict)  # open / won / lost

    def describe(self) -> str:
        fresh = self.requests - self.replayed
        return (f"Demo history up to {self.anchor}: {self.companies} companies and {self.deals} deals "
                f"({self.outcomes.get('open', 0)} open, {self.outcomes.get('won', 0)} won, "
                f"{self.outcomes.get('lost', 0)} lost) in {len(self.stages)} stages; {self.requests} commands sent, "
                f"{fresh} new and {self.replayed} answered from an earlier run; {self.events} events written "
                f"in {self.seconds:.1f} s. Showcase customer {self.showcase_customer_id}; one company registered twice "
                f"by 本社 and 大阪支店: {', '.join(self.duplicate_customer_ids)}.")


# --- talking to the API ----------------------------------------------------------------------------------
class Api:
    """One keep-alive client, a token per writer, idempotency keys under the seed, counts."""

    def __init__(self, client: httpx.Client, tokens: Mapping[str, str], seed: int, summary: DemoSummary) -> None:
        missing = [key for key in WRITERS if not tokens.get(key)]
        if missing:
            raise DemoError(f"no token for {', '.join(missing)} (keys of services/dev/users.py DEV_USERS)")
        self.client, self.seed, self.summary = client, seed, summary
        self.headers = {key: {"Authorization": f"Bearer {tokens[key]}"} for key in WRITERS}

    def key(self, place: str) -> str:
        if not place.isascii():
            raise DemoError(f"idempotency keys travel in a header: '{place}' must be ASCII")
        return f"demo-{self.seed}-{place}"

    def send(self, who: str, path: str, body: dict[str, Any], place: str, at: datetime) -> httpx.Response:
        return self.client.post(path, json={**body, "occurred_at": at.isoformat()},
                                headers={**self.headers[who], "Idempotency-Key": self.key(place)})

    def post(self, who: str, path: str, body: dict[str, Any], place: str, at: datetime,
             creates: str | None = None) -> dict[str, Any]:
        response = self.send(who, path, body, place, at)
        answer = self.check(response, path, place)
        self.count(response, answer)
        if creates is not None and creates not in answer.get("created", {}):
            raise DemoError(f"POST {path} ({self.key(place)}) answered without created.{creates}: {answer}")
        return answer

    def count(self, response: httpx.Response, answer: dict[str, Any]) -> None:
        self.summary.requests += 1
        if response.headers.get(REPLAYED_HEADER) == "true":
            self.summary.replayed += 1
        else:
            self.summary.events += len(answer["events"])

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path, headers=self.headers["sales"])
        return None if response.status_code == 404 else self.check(response, path, "read")

    def check(self, response: httpx.Response, path: str, place: str) -> dict[str, Any]:
        if not response.is_success:
            raise DemoError(f"{response.request.method} {path} ({self.key(place)}) answered "
                            f"{response.status_code}: {response.text}")
        return response.json()


# --- planning a deal: which work, in which order, at which time ---------------------------------------
@dataclass
class Step:
    work: str  # a DealRun method
    arg: Any = None
    at: datetime | None = None


FACT_WORK: dict[str, str] = {}  # fact -> the DealRun method whose request makes it hold


def records(*facts: str, needs: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Mark a DealRun method as the work that makes ``facts`` hold; ``needs``: facts that must hold first."""

    def mark(method: Callable) -> Callable:
        method.needs = needs
        method.facts = facts
        FACT_WORK.update(dict.fromkeys(facts, method.__name__))
        return method

    return mark


@dataclass
class Segment:
    """The steps from one stage's entry (days ago, its first step) until ``end`` days ago."""

    start: int
    end: int
    steps: list[Step] = field(default_factory=list)
    stage: Stage | None = None


class Planner:
    """The steps that walk one deal from its opening to the stage of its story, each criterion met first."""

    def __init__(self, process: ProcessDefinition, story: DealStory, rng: random.Random) -> None:
        self.process, self.story, self.rng = process, story, rng
        target = process.stage(story.reach)
        self.path = process.stages()[:process.stage_index(target.id) + 1]
        self.done = set(COMPANY_FACTS)
        self.won = process.phase_index(process.phase_of(target.id).id) >= process.phase_index(WON_PHASE)
        self._check()

    def _check(self) -> None:
        s, process = self.story, self.process
        if self.won != bool(s.won) or (s.lost is not None and self.won):
            raise DemoError(f"deal story at {s.reach}: win reasons exactly when it reached {WON_PHASE}, and no loss")
        for reason in s.won:
            _option(process, "win_reason", reason)
        if s.lost is not None:
            _option(process, process.outcomes["lost"].reason_field or "lost_reason", s.lost)
        if (s.tickets or s.feedback) and not self._after_handoff():
            raise DemoError(f"deal story at {s.reach}: tickets and feedback need a deal past {WON_PHASE}")

    def _after_handoff(self) -> list[Stage]:
        won = self.process.phase_index(WON_PHASE)
        return [stage for stage in self.path if self.process.phase_index(self.process.phase_of(stage.id).id) > won]

    def days(self) -> tuple[list[int], int | None]:
        """Days ago each stage of the path was entered (strictly decreasing), and the day it was lost."""
        s, rng = self.story, self.rng
        threshold = self.path[-1].stagnation_days
        lost = s.lost_days_ago if s.lost is not None else None
        if lost is not None:
            entered = lost + rng.randint(3, 10)
        elif s.entered is not None:
            entered = s.entered
        elif s.stuck:
            entered = threshold + 2 + rng.randint(0, threshold)
        else:
            entered = max(2, rng.randint(threshold // 5, threshold // 2))
        stays = [rng.randint(3, 9) for _ in self.path[1:]]
        opened = s.opened if s.opened is not None else min(MAX_DAYS - 10, entered + sum(stays))
        if stays and opened - entered != sum(stays):  # stretch or squeeze the stays to fit
            room = opened - entered
            stays = [max(1, room * (i + 1) // len(stays) - room * i // len(stays)) for i in range(len(stays))]
        entries = [opened]
        for stay in stays:
            entries.append(entries[-1] - stay)
        if entries[-1] != entered or entered <= (lost or 0) or any(a <= b for a, b in zip(entries, entries[1:])):
            raise DemoError(f"deal story at {s.reach}: {len(self.path)} stages do not fit between {opened} and "
                            f"{entered} days ago")
        return entries, lost

    def segments(self) -> list[Segment]:
        entries, lost = self.days()
        ends = entries[1:] + [lost if lost is not None else 0]
        segments = [Segment(start, end, stage=stage) for stage, start, end in zip(self.path, entries, ends)]
        for i, (stage, segment) in enumerate(zip(self.path, segments)):
            self._steps = segment.steps  # where the steps planned now go
            self._enter(i, stage)
            final = i == len(self.path) - 1
            if final and self.story.lost is None and not self.won:
                self._current()
            for fact in (info.fact for info in self.process.required_for(stage.id)):
                if fact == "next_action_set" and final:
                    continue  # the story's own next action (_current)
                self.plan(fact, skip=final and self.story.gaps, again=fact in REPEATED)
            if not final:
                self._prepare(stage, self.path[i + 1])
        self._after_sales(segments)
        if lost is not None:
            segments.append(Segment(lost, lost - 1, [Step("temperature", "cold"), *self._close_next_action("lost"),
                                                     Step("lose")]))
        return segments

    def _enter(self, i: int, stage: Stage) -> None:
        """Opening the deal, or moving it into ``stage`` (the won phase is entered by winning)."""
        phase = self.process.phase_of(stage.id)
        if i == 0:
            self._steps.append(Step("open_deal"))
            return
        previous = self.process.phase_of(self.path[i - 1].id)
        if phase.id == WON_PHASE and previous.id != WON_PHASE:
            self._steps.append(Step("win"))
            self.done.add("win_reasons_recorded")
        else:
            self._steps.append(Step("change_stage", stage.id))
        if phase.id != previous.id:
            self._steps.append(Step("touch", phase.id))

    def _prepare(self, stage: Stage, following: Stage) -> None:
        """Before a phase change: the facts its criteria ask for (all of all_of, the first of any_of)."""
        here, there = self.process.phase_of(stage.id).id, self.process.phase_of(following.id).id
        transition = self.process.transition(here, there) if here != there else None
        for criterion in transition.criteria if transition else ():
            for fact in criterion.all_of or criterion.any_of[:1]:
                self.plan(fact)
        if there == WON_PHASE and here != WON_PHASE:
            self._steps += [Step("temperature", "hot"), *self._close_next_action("won")]

    def _close_next_action(self, why: str) -> list[Step]:
        """Completing the open next action, if one is open."""
        if "next_action_set" not in self.done:
            return []
        self.done.discard("next_action_set")
        return [Step("complete_next_action", why)]

    def _current(self) -> None:
        """An open deal's temperature and next action, as the story says."""
        self._steps.append(Step("temperature", self.story.temperature))
        mode = self.story.next_action
        if mode == "none":
            self._steps += self._close_next_action("none")
        elif mode in ("scheduled", "overdue", "undecided"):
            self._steps.append(Step("next_action", mode))
        else:
            raise DemoError(f"deal story at {self.story.reach}: unknown next action '{mode}'")

    def _after_sales(self, segments: list[Segment]) -> None:
        """Tickets and feedback spread over the stages after the hand-off; tickets still open in the last."""
        after = [seg for seg in segments if seg.stage in self._after_handoff()]
        for i, ticket in enumerate(self.story.tickets):
            steps = after[-1 if ticket.status != "resolved" else i % len(after)].steps
            steps.append(Step("open_ticket", i))
            if ticket.status != "open":
                steps.append(Step("update_ticket", i))
            if ticket.status == "resolved":
                steps.append(Step("resolve_ticket", i))
        for i in range(len(self.story.feedback)):
            after[i % len(after)].steps.append(Step("feedback", i))

    def plan(self, fact: str, skip: bool = False, again: bool = False) -> None:
        """The work making ``fact`` hold (and the facts it needs first); ``skip``: only what it needs."""
        if fact in self.done and not again:
            return
        name = FACT_WORK.get(fact)
        if name is None:
            raise DemoError(f"the demo cannot record the fact '{fact}' its process asks for")
        work = getattr(DealRun, name)
        for need in work.needs:
            self.plan(need)
        if not skip:
            self._steps.append(Step(name))
            self.done.update(work.facts)


def _option(process: ProcessDefinition, field_id: str, option: str) -> None:
    if not process.select_field(field_id).has(option):
        raise DemoError(f"'{option}' is not an option of {field_id} in the process definition")


def spread(segments: Sequence[Segment], anchor: date) -> list[Step]:
    """Give each step its time: a segment's steps evenly over its business hours, the first at its start."""
    timed = []
    for segment in segments:
        span = (segment.start - segment.end) * BUSINESS_MINUTES
        for k, step in enumerate(segment.steps):
            offset = k * span // len(segment.steps)
            step.at = moment(anchor, segment.start - offset // BUSINESS_MINUTES, offset % BUSINESS_MINUTES)
            timed.append(step)
    return timed


def moment(anchor: date, days_ago: int, minutes: int = 0) -> datetime:
    """09:00 JST plus ``minutes`` on the day ``days_ago`` before the anchor."""
    return datetime.combine(anchor - timedelta(days=days_ago), time(9), JST) + timedelta(minutes=minutes)


# --- playing a company's story through the API -----------------------------------------------------------
@dataclass
class Company:
    index: int
    story: CompanyStory
    profile: Profile
    rng: random.Random
    customer_id: str = ""
    contacts: list[dict[str, Any]] = field(default_factory=list)
    registered_days_ago: int = 0

    @property
    def place(self) -> str:
        return f"c{self.index:02d}"

    def registration(self) -> dict[str, Any]:
        p = self.profile
        return {"company_name": p.name, "industry": p.industry, "address": p.address,
                "website": f"https://www.{p.domain}", "employee_count": p.employees}


class DealRun:
    """One deal of a company: its planned steps, played in order; each work method sends one command."""

    def __init__(self, api: Api, process: ProcessDefinition, company: Company, index: int, story: DealStory,
                 seed: int) -> None:
        self.api, self.process, self.company, self.index, self.story = api, process, company, index, story
        self.rng = random.Random(f"{seed}:{company.index}:{index}")
        self.segments = Planner(process, story, self.rng).segments()
        self.opened_days_ago = self.segments[0].start
        industry = INDUSTRIES[company.profile.industry]
        self.title = story.title or industry.titles[index % len(industry.titles)]
        self.industry = industry
        self.amount = self.rng.randrange(12, 300) * 100_000
        self.ids: dict[str, str] = {}
        self.sales = company.story.by
        self.onboarding_steps = iter(ONBOARDING)
        self.steps: list[Step] = []
        self.position = 0

    # the playing
    def play(self, anchor: date) -> None:
        self.anchor = anchor
        self.steps = spread(self.segments, anchor)
        for self.position, step in enumerate(self.steps):
            method = getattr(self, step.work)
            method(step.at) if step.arg is None else method(step.at, step.arg)

    def later(self, work: str) -> datetime | None:
        """When a later step of this deal does ``work``, if one does."""
        return next((s.at for s in self.steps[self.position + 1:] if s.work == work), None)

    def send(self, who: str, path: str, body: dict[str, Any], at: datetime, creates: str | None = None) -> None:
        step = self.steps[self.position]
        place = f"{self.company.place}-d{self.index}-{self.position:02d}-{step.work}"
        if step.arg is not None:
            place += f"-{step.arg}"
        base = f"/customers/{self.company.customer_id}"
        answer = self.api.post(who, base + path.format(**self.ids), body, place, at, creates)
        if creates is not None:
            self.ids[creates if creates != "ticket_id" else f"ticket{step.arg}"] = answer["created"][creates]

    def deal(self, path: str, body: dict[str, Any], at: datetime, creates: str | None = None) -> None:
        self.send(self.sales, "/deals/{deal_id}" + path, body, at, creates)

    def contact(self, decision_maker: bool = False) -> dict[str, Any]:
        return self.company.contacts[1 if decision_maker else 0]

    # the steps of the walk
    def open_deal(self, at: datetime) -> None:
        body = {"title": self.title, "owner": USERS[self.sales].user, "amount": self.amount,
                "expected_close": (at + timedelta(days=self.rng.randint(90, 180))).date().isoformat()}
        self.send(self.sales, "/deals", body, at, creates="deal_id")

    def change_stage(self, at: datetime, stage_id: str) -> None:
        self.deal("/stage", {"to_stage": stage_id}, at)

    def touch(self, at: datetime, phase_id: str) -> None:
        channel, direction, summary = self.rng.choice(PHASE_TOUCHES.get(phase_id, OTHER_TOUCH))
        self.send(self.sales, "/touchpoints", {"deal_id": self.ids["deal_id"], "channel": channel,
                                                "direction": direction, "summary": summary}, at)

    def win(self, at: datetime) -> None:
        reasons = [{"choice": r, "note": self.story.note if i == 0 else ""} for i, r in enumerate(self.story.won)]
        self.deal("/win", {"win_reasons": reasons, "note": self.story.note}, at)

    def lose(self, at: datetime) -> None:
        self.deal("/loss", {"reason": {"choice": self.story.lost, "note": self.story.note}}, at)

    def temperature(self, at: datetime, bucket: str) -> None:
        temperature, status = temperature_for(self.process, bucket, self.rng)
        body: dict[str, Any] = {"temperature": {"choice": temperature}}
        if status is not None:
            body["decision_status"] = {"choice": status}
        self.deal("/temperature", body, at)

    def next_action(self, at: datetime, mode: str) -> None:
        if mode == "undecided":
            body: dict[str, Any] = {"plan": {"choice": "undecided", "note": "先方の社内検討待ちのため未定"}}
        else:
            today = datetime.combine(self.anchor, time(0), JST)
            due = (at + (today - at) / 2 if mode == "overdue"
                   else moment(self.anchor, -self.rng.randint(3, 14), 60))
            body = {"plan": {"choice": "scheduled", "note": self.rng.choice(
                ("次回打ち合わせの日程調整", "見積の再提示", "稟議資料の作成支援", "デモ環境の案内"))},
                "due_at": due.isoformat()}
        self.deal("/next-action", body, at)

    def complete_next_action(self, at: datetime, why: str) -> None:
        self.deal("/next-action/completion", {"outcome": COMPLETIONS[why]}, at)

    # the work that makes each fact hold
    @records("lead_source_recorded")
    def lead_source(self, at: datetime) -> None:
        source = self.company.story.lead
        self.send(self.sales, "/lead-sources", {"source": source, "detail": LEAD_DETAILS[source],
                                                 "deal_id": self.ids["deal_id"]}, at)

    @records("first_contact_recorded", "initial_reaction_recorded")
    def first_touch(self, at: datetime) -> None:
        channel, direction, summary = FIRST_TOUCH[self.company.story.lead]
        reaction = self.rng.choice(("positive", "considering", "considering", "cautious"))
        self.send(self.sales, "/touchpoints", {
            "deal_id": self.ids["deal_id"], "channel": channel, "direction": direction, "summary": summary,
            "reaction": {"choice": reaction, "note": "導入事例に関心"}, "topics_of_interest": self.rng.sample(TOPICS, 2)},
            at)

    @records("hearing_started", "hearing_issue")
    def first_hearing(self, at: datetime) -> None:
        self.deal("/hearings", {"issue": self.industry.issue, "notes": "初回ヒアリング。現状の業務を伺った",
                                "bant": {"need": "partial"}}, at)

    @records("hearing_reason", "hearing_decision_maker", "hearing_budget", "hearing_timeline",
             "competitor_recorded", "hurdle_recorded")
    def full_hearing(self, at: datetime) -> None:
        decider = self.contact(decision_maker=True)
        start = at + timedelta(days=self.rng.randint(120, 240))
        self.deal("/hearings", {
            "reason": self.industry.reason, "decision_maker": f"{decider['name']} ({decider['title']})",
            "budget": f"年間{self.amount // 10_000:,}万円程度", "timeline": f"{start.year}年{start.month}月の稼働を希望",
            "bant": {"budget": "partial", "authority": "confirmed", "need": "confirmed", "timeline": "partial"},
            "competitor": {"choice": self.rng.choice(("yes", "no")), "note": "既存ベンダーとの比較"},
            "hurdle": {"choice": self.rng.choice(("approval", "adoption_risk", "price", "unknown"))},
            "notes": "課題・導入理由・決裁者・予算・導入時期を確認"}, at)

    @records("bant_confirmed")
    def bant_hearing(self, at: datetime) -> None:
        self.deal("/hearings", {"bant": dict.fromkeys(("budget", "authority", "need", "timeline"), "confirmed"),
                                "notes": "予算枠と稼働時期を決裁者に確認いただいた"}, at)

    @records("meeting_scheduled")
    def schedule_meeting(self, at: datetime) -> None:
        when = self.later("hold_meeting") or moment(self.anchor, -self.rng.randint(2, 10), 300)
        ours, theirs = USERS[self.sales].user, self.contact()["name"]
        self.deal("/meetings", {"scheduled_at": when.isoformat(), "place": self.rng.choice(("visit", "online")),
                                "purpose": "課題の深掘りとデモ", "agenda": "1. 現状業務の確認 2. デモ 3. 導入の進め方",
                                "attendees_ours": [ours], "attendees_theirs": [theirs]}, at, creates="meeting_id")

    @records("meeting_held", needs=("meeting_scheduled",))
    def hold_meeting(self, at: datetime) -> None:
        self.deal("/meetings/{meeting_id}/held", {"minutes": "デモを実施。入力画面の簡単さに好反応。"
                                                             "次回までに概算見積を提示"}, at)

    @records("proposal_sent")
    def send_proposal(self, at: datetime) -> None:
        self.deal("/proposals", {"title": f"{self.title} ご提案書", "problem": self.industry.issue,
                                 "summary": "段階導入で初年度は本社部門から開始する案"}, at, creates="proposal_id")

    @records("quote_submitted")
    def submit_quote(self, at: datetime) -> None:
        self.deal("/quotes", {"amount": self.amount, "valid_until": (at + timedelta(days=30)).date().isoformat(),
                              "note": "初期費用と年額利用料"}, at)

    @records("proposal_feedback_recorded")
    def proposal_feedback(self, at: datetime) -> None:
        body = {"reaction": {"choice": self.rng.choice(("positive", "considering"))},
                "questions": "他社での定着までの期間は", "concerns": "現場への展開負荷"}
        if "proposal_id" in self.ids:
            body["proposal_id"] = self.ids["proposal_id"]
        self.deal("/proposal-feedback", body, at)

    @records("revision_requested")  # the demo's own: a stage that asks for revisions handled has one
    def request_revision(self, at: datetime) -> None:
        body = {"request": "料金を月額表記にし、段階導入のスケジュールを追加してほしい"}
        if "proposal_id" in self.ids:
            body["proposal_id"] = self.ids["proposal_id"]
        self.deal("/revisions", body, at, creates="revision_id")

    @records("revisions_resolved", needs=("revision_requested",))
    def complete_revision(self, at: datetime) -> None:
        self.deal("/revisions/{revision_id}/done", {"response": "月額表記と3段階の導入計画を追記して再送"}, at)

    @records("approval_status_recorded")
    def approval(self, at: datetime) -> None:
        decider = self.contact(decision_maker=True)
        self.deal("/approval", {"status": {"choice": "in_review"}, "stuck_at": "経理部長の確認待ち",
                                "people_involved": [self.contact()["name"], decider["name"]]}, at)

    @records("terms_negotiation_started")
    def open_terms(self, at: datetime) -> None:
        self.deal("/contract-terms", {"open_points": ["amount", "payment_terms"],
                                      "note": "年額一括払いか四半期払いかを調整"}, at)

    @records("next_action_set")
    def plan_next_action(self, at: datetime) -> None:
        self.deal("/next-action", {"plan": {"choice": "scheduled", "note": "稟議資料の作成支援"},
                                   "due_at": (at + timedelta(days=7)).isoformat()}, at)

    @records("terms_agreed", needs=("terms_negotiation_started",))
    def agree_terms(self, at: datetime) -> None:
        self.deal("/contract-terms", {"agreed": True, "note": "四半期払い、初年度は5%値引きで合意"}, at)

    @records("contract_signed")
    def sign_contract(self, at: datetime) -> None:
        start = (at + timedelta(days=30)).date()
        self.deal("/contract", {"price": self.amount * 95 // 100, "scope": f"{self.title} (初年度は本社部門)",
                                "term_start": start.isoformat(),
                                "term_end": (start + timedelta(days=364)).isoformat(),
                                "conditions": "年額利用料・四半期払い・自動更新"}, at)

    @records("handed_off_to_cs")
    def hand_off(self, at: datetime) -> None:
        first = self.later("onboarding") or at + timedelta(days=3)
        self.deal("/handoff", {"goal": "3か月で対象部署の利用率80%", "cautions": self.rng.choice(CAUTIONS),
                               "expectations": "月次の定例会で利用状況を報告してほしい",
                               "cs_owner": USERS["cs"].user, "first_response_at": first.isoformat()}, at)

    @records("onboarding_progress_recorded")
    def onboarding(self, at: datetime) -> None:
        percent, status = next(self.onboarding_steps, ONBOARDING[-1])
        self.send("cs", "/onboarding-progress", {"deal_id": self.ids["deal_id"], "progress_percent": percent,
                                                  "status": status, "support_contacts_communicated": True}, at)

    @records("satisfaction_recorded")
    def satisfaction(self, at: datetime) -> None:
        self.send("cs", "/satisfaction", {"deal_id": self.ids["deal_id"], "score": self.story.satisfaction,
                                           "method": "interview", "comment": "導入時の支援は満足。レポート機能に要望あり"}, at)

    @records("temperature_set")
    def temperature_work(self, at: datetime) -> None:
        self.temperature(at, self.story.temperature)

    # after the hand-off
    def open_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        self.send(t.opened_by, "/tickets", {"title": t.title, "description": t.description, "priority": t.priority,
                                            "category": t.category, "deal_id": self.ids["deal_id"]}, at,
                  creates="ticket_id")

    def update_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        status = t.status if t.status in ("in_progress", "waiting_customer") else "in_progress"
        self.send(t.worked_by, f"/tickets/{{ticket{i}}}/updates", {"status": status, "note": t.note}, at)

    def resolve_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        self.send(t.worked_by, f"/tickets/{{ticket{i}}}/resolution", {"resolution": t.resolution}, at)

    def feedback(self, at: datetime, i: int) -> None:
        f = self.story.feedback[i]
        self.send(f.by, "/feedback", {"deal_id": self.ids["deal_id"], "kind": f.kind, "summary": f.summary,
                                       "detail": f.detail}, at)


def temperature_for(process: ProcessDefinition, bucket: str, rng: random.Random) -> tuple[str, str | None]:
    """A temperature and decision status the process puts in ``bucket`` (hot / warm / cold)."""
    temperatures = [o.id for o in process.select_field("temperature").options]
    statuses = [o.id for o in process.select_field("decision_status").options]
    pairs = [(t, s) for t in temperatures for s in statuses if process.bucket(t, s) == bucket]
    if not pairs:
        raise DemoError(f"no temperature and decision status of the process make a deal '{bucket}'")
    return rng.choice(pairs)


# --- the whole demo --------------------------------------------------------------------------------------
def companies(seed: int) -> list[Company]:
    """The stories with their profiles: drawn with the seed where a story names none."""
    rng = random.Random(seed)
    drawn = iter(rng.sample(PROFILES, sum(1 for s in STORIES if s.profile is None)))
    return [Company(i, story, story.profile or next(drawn), random.Random(f"{seed}:{i}"))
            for i, story in enumerate(STORIES)]


def showcase_customer_id(seed: int) -> str:
    """The showcase company's customer id: chosen by the demo, so a later run can read the anchor back."""
    return str(uuid.uuid5(NAMESPACE, f"demo-{seed}-showcase"))


def write_demo(client: httpx.Client, tokens: Mapping[str, str], seed: int = DEFAULT_SEED,
               now: datetime | None = None, process: ProcessDefinition | None = None) -> DemoSummary:
    """Write the demo history through the command API at ``client``'s base URL; a second run adds nothing.

    ``tokens``: bearer tokens keyed like services/dev/users.py DEV_USERS (sales, sales_branch, cs,
    support, tech are used). ``now``: where a first run ends the history (default: the wall clock);
    a later run keeps the first run's dates whatever ``now`` is. Raises DemoError on any refusal.
    """
    started = clock.monotonic()
    process = process or default_process_definition()
    summary = DemoSummary()
    api = Api(client, tokens, seed, summary)
    _same_process(api, process)
    plan = companies(seed)
    runs = [[DealRun(api, process, company, j, story, seed) for j, story in enumerate(company.story.deals)]
            for company in plan]
    for company, deals in zip(plan, runs):
        company.registered_days_ago = min(MAX_DAYS, max(d.opened_days_ago for d in deals) + company.rng.randint(1, 5))
        company.contacts = _contacts(company)
    plan[0].customer_id = showcase_customer_id(seed)
    anchor = _anchor(api, plan[0], runs[0][0], now)
    for company, deals in zip(plan, runs):
        _register(api, company, anchor)
        for run in deals:
            run.play(anchor)
    _summarize(summary, process, plan, runs, anchor)
    summary.seconds = clock.monotonic() - started
    return summary


def _same_process(api: Api, process: ProcessDefinition) -> None:
    served = api.check(api.client.get("/process"), "/process", "read")
    if served != process.model_dump(mode="json"):
        raise DemoError(f"the command API runs the process '{served.get('name')}', not the one given to the demo "
                        f"('{process.name}'); pass write_demo(process=...) the server's definition")


def _contacts(company: Company) -> list[dict[str, Any]]:
    rng, domain = company.rng, company.profile.domain
    (family, romaji), (family2, romaji2) = rng.sample(FAMILY_NAMES, 2)
    phone = f"0{rng.randint(3, 99)}-{rng.randint(100, 9999):04d}-{rng.randint(0, 9999):04d}"
    return [{"name": f"{family} {rng.choice(GIVEN_NAMES)}", "title": rng.choice(CONTACT_TITLES),
             "email": f"{romaji}@{domain}", "phone": phone},
            {"name": f"{family2} {rng.choice(GIVEN_NAMES)}", "title": rng.choice(DECIDER_TITLES),
             "email": f"{romaji2}@{domain}", "is_decision_maker": True}]


def _register(api: Api, company: Company, anchor: date) -> None:
    """Registration and contacts, a few days before the company's first deal."""
    at = moment(anchor, company.registered_days_ago)
    who = company.story.by
    body = company.registration()
    if company.customer_id:
        body["customer_id"] = company.customer_id
    company.customer_id = api.post(who, "/customers", body, f"{company.place}-register", at,
                                   creates="customer_id")["created"]["customer_id"]
    for i, contact in enumerate(company.contacts):
        api.post(who, f"/customers/{company.customer_id}/contacts", contact, f"{company.place}-contact{i}",
                 at + timedelta(minutes=30 * (i + 1)))


def _anchor(api: Api, showcase: Company, first_deal: DealRun, now: datetime | None) -> date:
    """The first run's day: read back from the showcase company if an earlier run registered it."""
    stored = api.get(f"/customers/{showcase.customer_id}")
    if stored is None:
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise DemoError("now needs a UTC offset")
        return now.astimezone(JST).date()
    if stored["company_name"] != showcase.profile.name:
        raise DemoError(f"customer {showcase.customer_id} is '{stored['company_name']}', not the demo's "
                        f"'{showcase.profile.name}'")
    if stored["deals"]:
        opened = datetime.fromisoformat(stored["deals"][0]["opened_at"]).astimezone(JST).date()
        return opened + timedelta(days=first_deal.opened_days_ago)
    return _probe_anchor(api, showcase)


def _probe_anchor(api: Api, showcase: Company) -> date:
    """An earlier run registered the showcase company and stopped: find the day its registration was sent for."""
    today = datetime.now(JST).date()
    body = {**showcase.registration(), "customer_id": showcase.customer_id}
    for back in range(0, 3 * MAX_DAYS):
        candidate = today - timedelta(days=back)
        response = api.send(showcase.story.by, "/customers", body, f"{showcase.place}-register",
                            moment(candidate, showcase.registered_days_ago))
        if response.is_success:
            return candidate
        if response.status_code != 422 or response.json().get("code") != "idempotency_key_reused":
            api.check(response, "/customers", f"{showcase.place}-register")
    raise DemoError(f"customer {showcase.customer_id} exists, but no day of the last {3 * MAX_DAYS} registered it")


def _summarize(summary: DemoSummary, process: ProcessDefinition, plan: list[Company],
               runs: list[list[DealRun]], anchor: date) -> None:
    deals = [run for company_runs in runs for run in company_runs]
    keys = Counter(company_key(c.profile.name) for c in plan)
    summary.anchor = anchor
    summary.companies, summary.deals = len(plan), len(deals)
    summary.showcase_customer_id = plan[0].customer_id
    summary.customer_ids = tuple(c.customer_id for c in plan)
    summary.duplicate_customer_ids = tuple(c.customer_id for c in plan if keys[company_key(c.profile.name)] > 1)
    summary.deal_ids = tuple(run.ids["deal_id"] for run in deals)
    summary.ticket_ids = tuple(v for run in deals for k, v in run.ids.items() if k.startswith("ticket"))
    summary.outcomes = dict(Counter("lost" if r.story.lost else "won" if r.story.won else "open" for r in deals))
    order = [stage.id for stage in process.stages()]
    reached = Counter(r.story.reach for r in deals if r.story.lost is None)
    summary.stages = {stage: reached[stage] for stage in order if reached[stage]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.dev.demo", description=(
        "Write the demo history through a running command API; tokens from TOKEN_SALES, TOKEN_SALES_BRANCH, "
        "TOKEN_CS, TOKEN_SUPPORT, TOKEN_TECH (as in DATA_DIR/dev.env)."))
    parser.add_argument("--command-url", default=os.environ.get("COMMAND_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    names = {key: f"TOKEN_{key.upper()}" for key in WRITERS}
    missing = [name for name in names.values() if not os.environ.get(name)]
    if missing:
        print(f"missing {', '.join(missing)}: source DATA_DIR/dev.env (set -a; . .data/dev.env; set +a)",
              file=sys.stderr)
        return 2
    tokens = {key: os.environ[name] for key, name in names.items()}
    try:
        with httpx.Client(base_url=args.command_url, timeout=60) as client:
            summary = write_demo(client, tokens, seed=args.seed)
    except (DemoError, httpx.HTTPError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
