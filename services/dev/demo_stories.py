"""The demo companies and what happens to them, as data.

Who the companies are (``PROFILES``, drawn with the seed, and the HQ-and-branch pair
``HOKUTO_HQ`` / ``HOKUTO_OSAKA``), what their industries buy and why (``INDUSTRIES``), and
their stories (``STORIES``: how far each deal goes, its outcome, temperature, next action,
tickets and feedback), with the Japanese names and texts the demo's commands carry. No
mechanics: services/dev/demo.py plays these stories through the command API.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.customer import WON_PHASE


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
