"""Writes this folder's sample CRM export (deterministic): accounts, sales reps and two years of deals.

    python examples/import/history/generate.py

The files look like an export from another SFA tool: their own stage words (見込み, 商談中, 受注, 失注),
an engage date (商談開始日, 2024/04/01), a close date written two ways (24-06-30 and 2024年6月30日) and an
expected close (受注予定日),
reps' teams and sites only in a second file, and prospects without a company.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent
SITES = {"東京本社": ["第1営業部", "第2営業部"], "大阪支店": ["関西営業部", "関西法人営業部"], "名古屋支店": ["中部営業部", "東海営業部"]}
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
            "山口", "松本", "井上", "木村", "林"]
GIVEN = ["健", "誠", "翔", "愛", "陽子", "大輔"]
INDUSTRIES = ["製造", "小売", "物流", "建設", "医療", "IT", "金融"]
PRODUCTS = {"SFAスタンダード": 1_200_000, "SFAプロ": 3_600_000, "顧客ポータル": 2_400_000, "分析オプション": 800_000,
            "導入支援パック": 1_500_000}
WON_REASONS = ["価格", "機能", "サポート体制", "関係性", "実績", ""]
LOST_REASONS = ["価格", "競合", "時期", "予算なし", "要件不一致", ""]
START = date(2024, 1, 8)


def main(seed: int = 2024, accounts: int = 80, deals: int = 600) -> None:
    rng = random.Random(seed)
    reps = []
    for site, teams in SITES.items():
        for team in teams:
            for _ in range(3):
                reps.append((f"{SURNAMES[len(reps) % len(SURNAMES)]} {GIVEN[len(reps) % len(GIVEN)]}", team, site))
    companies = [f"株式会社{a}{b}" for a in ("東", "西", "北", "南", "中央", "新", "大和", "富士", "朝日", "光")
                 for b in ("精工", "物産", "化成", "電機", "商事", "産業", "技研", "システム")][:accounts]
    with (HERE / "accounts.csv").open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["取引先", "業種", "従業員数"])
        for i, company in enumerate(companies):
            out.writerow([company, INDUSTRIES[i % len(INDUSTRIES)], rng.choice([30, 120, 450, 1200, 5000])])
    with (HERE / "sales_reps.csv").open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["担当者", "チーム", "拠点"])
        out.writerows(reps)
    home = {c: rng.randrange(len(reps)) for c in companies}  # each company's usual rep
    with (HERE / "opportunities.csv").open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["商談ID", "取引先", "商品", "担当者", "フェーズ", "商談開始日", "完了日", "受注予定日", "金額", "理由",
                      "メモ"])
        for n in range(1, deals + 1):
            company = rng.choice(companies)
            rep = reps[home[company] if rng.random() < 0.8 else rng.randrange(len(reps))]
            product = rng.choice(list(PRODUCTS))
            engaged = START + timedelta(days=rng.randrange(0, 690))
            roll = rng.random()
            stage = "受注" if roll < 0.48 else "失注" if roll < 0.78 else "商談中" if roll < 0.92 else "見込み"
            closed = engaged + timedelta(days=rng.randrange(7, 120)) if stage in ("受注", "失注") else None
            if stage == "見込み":
                company = company if rng.random() < 0.5 else ""  # prospects often have no company yet
            amount = PRODUCTS[product]
            reason = rng.choice(WON_REASONS if stage == "受注" else LOST_REASONS) if closed else ""
            note = {"価格": "他社より安価", "競合": "競合の既存導入", "機能": "モバイル対応を評価"}.get(reason, "") \
                if rng.random() < 0.5 else ""
            out.writerow([f"OPP-{n:05d}", company, product, rep[0], stage,
                          engaged.strftime("%Y/%m/%d") if stage != "見込み" else "",
                          "" if closed is None else closed.strftime("%y-%m-%d") if n % 2 else
                          f"{closed.year}年{closed.month}月{closed.day}日",
                          "" if stage == "見込み" else (closed or engaged + timedelta(days=90)).strftime("%Y/%m/%d"),
                          amount if stage != "見込み" else "", reason, note])


if __name__ == "__main__":
    main()
