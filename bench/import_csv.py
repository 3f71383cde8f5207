"""Bulk import throughput: 100,000 customers and 100,000 deals from CSV into a fresh database.

Generates a customers CSV and a deals CSV with the headers of examples/import (so the example
mappings are used unchanged), then times, in one process, through the same code as
`customer-timeline import` (`services.importer.run.run_import`, batches of --batch-size rows):

1. import customers (RegisterCustomer per row)
2. dry run of deals (every row validated and executed with dry_run=True, nothing written)
3. import deals (ImportDeal per row, at its stage)
4. re-import customers, 5. re-import deals (every row replays its idempotency key: nothing appended)

Run: python -m bench.import_csv [--customers 100000] [--deals 100000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench._support import (
    CpuMeter, count_rows, default_database_url, joined_children_cpu, describe_postgres, postgres_server, fresh_database,
    wait_for_quiet_machine,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "import"
ACTOR = {"user": "import", "department": "sales", "team": "本社営業1課", "site": "東京本社"}
PREFIXES = ["株式会社", "", "㈱", "有限会社"]
NAMES = ["ABC商事", "さくら精機", "北海食品", "みらいシステムズ", "東日本物流", "大和建設", "中央電機", "瀬戸内水産",
         "富士化成", "青葉テクノ", "港南ロジスティクス", "白樺ソフト"]
INDUSTRIES = ["製造業", "卸売業", "小売業", "情報通信業", "建設業", "運輸業", "食品製造業", "サービス業", ""]
PLACES = ["東京都千代田区丸の内", "大阪府大阪市北区梅田", "愛知県名古屋市中村区名駅", "福岡県福岡市博多区博多駅前",
          "北海道札幌市中央区北1条西", "宮城県仙台市青葉区中央"]
TEAMS = [("本社営業1課", "東京本社"), ("本社営業2課", "東京本社"), ("名古屋営業課", "名古屋支店"),
         ("大阪営業課", "大阪支店"), ("東北営業課", "仙台支店")]
DEAL_TITLES = ["営業支援システム導入", "生産管理クラウド移行", "物流倉庫WMS刷新", "SFA追加ライセンス", "配送管理システム保守契約",
               "顧客ポータル構築"]
OWNERS = ["tanaka", "suzuki", "sato", "takahashi", "kobayashi", "ito"]


def write_customers(path: Path, n: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["顧客コード", "会社名", "業種", "住所", "URL", "従業員数", "登録日"])
        for i in range(1, n + 1):
            name = f"{rng.choice(PREFIXES)}{rng.choice(NAMES)}{i}" + ("株式会社" if rng.random() < 0.2 else "")
            registered = date(2015, 1, 1) + timedelta(days=rng.randrange(3_600))
            out.writerow([f"C{i:07d}", name, rng.choice(INDUSTRIES), f"{rng.choice(PLACES)}{rng.randrange(1, 9)}-"
                          f"{rng.randrange(1, 30)}-{rng.randrange(1, 20)}",
                          f"https://c{i}.example.jp" if rng.random() < 0.5 else "",
                          f"{rng.randrange(20, 5_000):,}", registered.strftime("%Y/%m/%d")])


def write_deals(path: Path, n: int, customers: int, stages: list[tuple[str, str]], rng: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["案件番号", "顧客コード", "案件名", "営業担当", "チーム", "拠点", "金額", "受注予定日", "ステージ",
                      "ステージ開始日"])
        for i in range(1, n + 1):
            team, site = rng.choice(TEAMS)
            stage_id, label = rng.choice(stages)
            entered = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
            out.writerow([f"D-{i:07d}", f"C{rng.randrange(1, customers + 1):07d}", rng.choice(DEAL_TITLES),
                          rng.choice(OWNERS), team, site, rng.randrange(5, 500) * 100_000,
                          (entered + timedelta(days=rng.randrange(30, 300))).strftime("%Y/%m/%d"),
                          label if rng.random() < 0.5 else stage_id,
                          entered.strftime("%Y/%m/%d") if rng.random() < 0.8 else ""])


@dataclass
class Row:
    label: str
    rows: int
    seconds: float
    appended: int
    statuses: str
    cpu: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def measure(label: str, customers, kind: str, path: Path, url: str, batch_size: int, dry_run: bool = False,
            processes: int = 1) -> Row:
    from services.importer.run import open_import, run_import
    from shared.events import Actor

    label += f", {processes} process{'es' if processes > 1 else ''}"
    mapping, table, lookups = open_import(kind, path, EXAMPLES / f"{kind}.mapping.yaml")
    before = count_rows(url, "customers_events")
    with CpuMeter({"bench (python)": os.getpid()}) as cpu:
        started, forked = time.perf_counter(), joined_children_cpu()
        summary = run_import(customers, table, mapping, Actor(**ACTOR), dry_run=dry_run, batch_size=batch_size,
                             progress=False, processes=processes)
        seconds = time.perf_counter() - started
        forked = joined_children_cpu() - forked
    cpu.percent["bench (python)"] += 100 * forked / seconds  # with the import processes it forked and joined
    appended = count_rows(url, "customers_events") - before
    statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(summary.counts.items()))
    row = Row(label, len(summary.results), seconds, appended, statuses, cpu.describe())
    print(f"    {label}: {row.rows:,} rows in {seconds:,.1f} s = {row.rate:,.0f} rows/s; {statuses}; "
          f"{appended:,} events appended; CPU {row.cpu}", flush=True)
    if summary.refused:
        print(f"      first refusal: row {summary.refused[0].row}: {summary.refused[0].reason}")
    return row


GOAL_ROWS_PER_SECOND = 10_000  # issue 15: every import line of the 100,000-row benchmark


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.import_csv", description=__doc__.split("\n")[0])
    cli.add_argument("--customers", type=int, default=100_000)
    cli.add_argument("--deals", type=int, default=100_000)
    cli.add_argument("--batch-size", type=int, default=1_000, help="rows per Customers.execute (transaction)")
    cli.add_argument("--database-url", default=default_database_url(),
                     help="server to create fresh databases on (default: $BENCH_DATABASE_URL, else an embedded one)")
    cli.add_argument("--max-wait", type=float, default=1_800, help="seconds to wait for a quiet machine")
    cli.add_argument("--processes", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2],
                     help="import with each of these numbers of processes, each time into a new database "
                          "(default 1,2: `customer-timeline import --processes N`)")
    args = cli.parse_args(argv)

    print("command:   ", shlex.join(["python", "-m", "bench.import_csv", *(sys.argv[1:] if argv is None else argv)]))
    print("machine:   ", f"{os.cpu_count()} cores (nproc), {platform.machine()}, {platform.platform(terse=True)}")
    print("python:    ", platform.python_version())
    args.database_url = postgres_server(args.database_url)  # else an embedded server of its own
    print("postgresql:", describe_postgres(args.database_url))
    print(f"settings:   {args.customers:,} customers, {args.deals:,} deals, batches of {args.batch_size:,} rows",
          flush=True)

    from shared.bootstrap import build_customers
    from shared.process import default_process_definition
    from shared.settings import Settings

    rng = random.Random(20241231)
    process = default_process_definition()
    stages = [(s.id, s.label) for s in process.stages()]
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ct-bench-import-") as tmp:
            customers_csv, deals_csv = Path(tmp, "customers.csv"), Path(tmp, "deals.csv")
            write_customers(customers_csv, args.customers, rng)
            write_deals(deals_csv, args.deals, args.customers, stages, rng)
            print(f"files:      customers.csv {customers_csv.stat().st_size / 1e6:,.1f} MB, "
                  f"deals.csv {deals_csv.stat().st_size / 1e6:,.1f} MB (UTF-8)")
            print(f"    {wait_for_quiet_machine(args.max_wait)}", flush=True)
            for count in args.processes:  # each on a database of its own: the same rows, imported the first time
                with fresh_database(args.database_url) as url:
                    customers = build_customers(Settings(database_url=url), process)
                    try:
                        for label, kind, path, dry_run in (
                                ("import customers", "customers", customers_csv, False),
                                ("dry run deals", "deals", deals_csv, True), ("import deals", "deals", deals_csv, False),
                                ("re-import customers", "customers", customers_csv, False),
                                ("re-import deals", "deals", deals_csv, False)):
                            rows.append(measure(label, customers, kind, path, url, args.batch_size, dry_run, count))
                    finally:
                        customers.close()
    except KeyboardInterrupt:
        print("\ninterrupted (database dropped)", file=sys.stderr)
        return 130
    print("summary")
    width = max(len(r.label) for r in rows)
    print(f"  {'':{width}}  {'rows':>9}  {'seconds':>7}  {'rows/s':>8}  {'events':>9}  goal (issue 15)")
    for r in rows:
        goal = f"≥ {GOAL_ROWS_PER_SECOND:,} rows/s, {'met' if r.rate >= GOAL_ROWS_PER_SECOND else 'not met'}"
        print(f"  {r.label:{width}}  {r.rows:>9,}  {r.seconds:>7,.1f}  {r.rate:>8,.0f}  {r.appended:>9,}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
