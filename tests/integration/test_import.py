"""Bulk import of existing customer lists: dry run, real run, re-import, Excel, Shift_JIS, the CLI.

The sample files of examples/import are used with their codes prefixed by a tag of each test, so
the tests share the session database without seeing each other's customers.
"""

from __future__ import annotations

import csv
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest

from services.importer import customer_id_for
from services.importer.mapping import MappingError, parse_mapping
from services.importer.run import Summary, open_import, run_import
from shared.events import Actor
from tests.support import events_of, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples/import"
IMPORTER = Actor(user="import", department="sales", team="本社営業1課", site="東京本社")
JST = timezone(timedelta(hours=9))


def tagged(tmp_path: Path, name: str, tag: str, encoding: str = "utf-8") -> Path:
    """A copy of an example file whose customer and deal codes start with `tag`."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("C00", f"{tag}C00").replace("D-2024", f"{tag}D-2024")
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def do_import(customers, kind: str, path: Path, dry_run: bool = False, mapping: Path | None = None,
              sheet: str | None = None, batch_size: int = 1000, processes: int = 1) -> Summary:
    mapping_, table, lookups = open_import(kind, path, mapping or EXAMPLES / f"{kind}.mapping.yaml", sheet)
    return run_import(customers, table, mapping_, IMPORTER, dry_run=dry_run, batch_size=batch_size, progress=False,
                      lookups=lookups, processes=processes)


def refused(summary: Summary) -> dict[int, str]:
    return {r.row: r.reason for r in summary.refused}


def event_count(db) -> int:
    return db.execute("SELECT count(*) FROM customers_events").fetchone()[0]


@pytest.fixture
def tag() -> str:
    return f"T{uuid.uuid4().hex[:6].upper()}-"


def test_a_dry_run_lists_exactly_the_bad_rows_with_reasons_and_writes_nothing(customers, db, tmp_path, tag) -> None:
    files = {kind: tagged(tmp_path, f"{kind}.csv", tag) for kind in ("customers", "contacts", "deals")}
    before = event_count(db)

    summary = do_import(customers, "customers", files["customers"], dry_run=True)
    assert refused(summary) == {5: "company_name (会社名): Field required"}
    assert summary.counts["would_import"] == 5 and summary.exit_code == 1
    assert [r.key for r in summary.refused] == [f"import:customers:{tag}C0004"]

    # the customers are not imported yet, so a dry run of their contacts can only say so
    summary = do_import(customers, "contacts", files["contacts"], dry_run=True)
    assert len(summary.refused) == 7
    assert refused(summary)[4].startswith("email (メール): value is not a valid email address")
    assert refused(summary)[2] == f"unknown customer code '{tag}C0001' (no customer imported under it yet)"
    assert event_count(db) == before

    do_import(customers, "customers", files["customers"])
    after_customers = event_count(db)
    assert after_customers == before + 5

    summary = do_import(customers, "contacts", files["contacts"], dry_run=True)
    assert set(refused(summary)) == {4, 6}
    assert refused(summary)[4].startswith("email (メール): value is not a valid email address")
    assert refused(summary)[6] == f"unknown customer code '{tag}C0099' (no customer imported under it yet)"
    assert summary.counts["would_import"] == 5

    summary = do_import(customers, "deals", files["deals"], dry_run=True)
    assert set(refused(summary)) == {4, 5}
    assert refused(summary)[4].startswith("stage (ステージ): unknown stage 'negotiation' (a stage id or its label: ")
    assert "negotiating_terms" in refused(summary)[4]
    assert refused(summary)[5] == "amount (金額): Input should be a valid integer (got '未定')"
    assert summary.counts["would_import"] == 4
    assert event_count(db) == after_customers  # the dry runs wrote nothing


@pytest.mark.parametrize("processes", [1, 3])
def test_a_real_run_imports_the_good_rows_and_a_second_run_appends_nothing(customers, db, tmp_path, tag,
                                                                         processes) -> None:
    """Also in three processes at once, each a share of the customer codes: the same rows, events and answers."""
    files = {kind: tagged(tmp_path, f"{kind}.csv", tag) for kind in ("customers", "contacts", "deals")}
    before = event_count(db)
    first = {kind: do_import(customers, kind, files[kind], batch_size=2, processes=processes)  # several batches
             for kind in files}
    assert [r.row for r in first["deals"].results] == sorted(r.row for r in first["deals"].results)

    assert {kind: s.counts["imported"] for kind, s in first.items()} == {"customers": 5, "contacts": 5, "deals": 4}
    assert {kind: set(refused(s)) for kind, s in first.items()} == {"customers": {5}, "contacts": {4, 6},
                                                                    "deals": {4, 5}}
    assert event_count(db) == before + 14

    abc = customers.get_customer(customer_id_for(f"{tag}C0001"))
    assert abc.state.company_name == "株式会社ABC商事" and abc.state.industry == "卸売業"
    assert {c.name: c.is_decision_maker for c in abc.state.contacts.values()} == {"佐藤 花子": True, "鈴木 一郎": False}
    registered = db.execute("SELECT originator_id FROM customers_events WHERE originator_id = %s AND "
                            "originator_version = 1", (customer_id_for(f"{tag}C0003"),)).fetchone()
    assert registered is not None
    assert customers.get_customer(customer_id_for(f"{tag}C0003")).state.company_name == "北海食品株式会社"

    again = {kind: do_import(customers, kind, files[kind], processes=processes) for kind in files}
    assert event_count(db) == before + 14  # nothing appended
    for kind, summary in again.items():
        assert summary.counts["imported"] == 0
        assert summary.counts["already_imported"] == first[kind].counts["imported"]
        assert refused(summary) == refused(first[kind])
    # the replayed answer names the deal created the first time
    assert again["deals"].by_key()[f"import:deals:{tag}D-2024-001"].created_id == \
        first["deals"].by_key()[f"import:deals:{tag}D-2024-001"].created_id


def test_an_imported_deal_stands_at_its_stage_with_its_missing_information(customers, db, tmp_path, tag) -> None:
    do_import(customers, "customers", tagged(tmp_path, "customers.csv", tag))
    summary = do_import(customers, "deals", tagged(tmp_path, "deals.csv", tag))
    rows = summary.by_key()
    cid = customer_id_for(f"{tag}C0001")

    customer = customers.get_customer(cid)
    deal_id = rows[f"import:deals:{tag}D-2024-001"].created_id
    deal = customer.deal(deal_id)  # what GET /customers/{id}/deals/{did} answers
    assert (deal.phase, deal.stage, deal.status) == ("closing", "negotiating_terms", "open")  # label 条件調整中
    assert deal.stage_entered_at == datetime(2024, 11, 5, tzinfo=JST)
    assert (deal.title, deal.owner, deal.amount, str(deal.expected_close)) == \
        ("営業支援システム導入", "tanaka", 4_800_000, "2025-03-31")
    assert (deal.team, deal.site) == ("本社営業1課", "東京本社")
    missing = [info.id for info in customer.missing_information(deal_id, customers.process)]
    assert missing == ["approval_status", "contract_terms", "next_action"]  # nothing was fabricated
    assert deal.meetings == {} and deal.hearings == 0 and deal.quotes == 0

    # 商談中 is translated by the mapping's `values`; no stage date given: the import's time
    other = customer.deal(rows[f"import:deals:{tag}D-2024-006"].created_id)
    assert (other.phase, other.stage) == ("hearing", "hearing_done")
    assert datetime.now(timezone.utc) - other.stage_entered_at < timedelta(minutes=5)
    # ¥12,500,000 and a stage id
    second = customers.get_customer(customer_id_for(f"{tag}C0002")).deal(rows[f"import:deals:{tag}D-2024-002"].created_id)
    assert (second.stage, second.amount) == ("proposal_sent_waiting", 12_500_000)

    assert [topic for _, topic in events_of(db, str(cid))] == ["CustomerRegistered", "DealImported", "DealImported"]
    state = db.execute("SELECT convert_from(state, 'UTF8') FROM customers_events WHERE originator_id = %s AND "
                       "originator_version = 2", (cid,)).fetchone()[0]
    assert '"source":"deals.csv"' in state.replace(" ", "")


def test_excel_with_a_title_row_on_a_named_sheet(customers, tmp_path, tag) -> None:
    do_import(customers, "customers", tagged(tmp_path, "customers.csv", tag))
    with tagged(tmp_path, "deals.csv", tag).open(encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    book = openpyxl.Workbook()
    book.active.title = "表紙"
    book.active["A1"] = "案件台帳（2024年度）"
    ws = book.create_sheet("案件一覧")
    ws.append(["案件台帳 2024年12月末時点"])  # a title row above the headers
    ws.append(records[0])
    for record in records[1:]:
        cells: list[object] = list(record)
        cells[6] = int(record[6]) if record[6].isdigit() else record[6]  # amounts as numbers
        cells[7] = datetime.strptime(record[7], "%Y/%m/%d")  # dates as Excel dates
        cells[9] = datetime.strptime(record[9], "%Y/%m/%d") if record[9] else None
        ws.append(cells)
    ws.append([])  # a blank row is skipped
    path = tmp_path / "deals.xlsx"
    book.save(path)
    mapping = tmp_path / "deals.mapping.yaml"
    mapping.write_text((EXAMPLES / "deals.mapping.yaml").read_text(encoding="utf-8")
                       .replace("kind: deals\n", "kind: deals\nheader_row: 2\n"), encoding="utf-8")

    summary = do_import(customers, "deals", path, mapping=mapping, sheet="案件一覧", processes=2)  # each reads it
    assert summary.detail == "Excel, sheet 案件一覧"
    assert summary.counts["imported"] == 4 and len(summary.results) == 6
    assert set(refused(summary)) == {5, 6}  # the sheet's own row numbers
    deal_id = summary.by_key()[f"import:deals:{tag}D-2024-005"].created_id
    deal = customers.get_customer(customer_id_for(f"{tag}C0006")).deal(deal_id)
    assert (deal.stage, deal.amount, str(deal.expected_close)) == ("in_approval", 3_600_000, "2024-12-20")
    assert deal.stage_entered_at == datetime(2024, 11, 28, tzinfo=JST)

    # the same rows from the CSV are the same commands (typed cells or text): nothing new
    mapping_, table, lookups = open_import("deals", tagged(tmp_path, "deals.csv", tag), EXAMPLES / "deals.mapping.yaml")
    from_csv = run_import(customers, table, mapping_, IMPORTER, progress=False, source="deals.xlsx")
    assert from_csv.counts["already_imported"] == 4 and set(refused(from_csv)) == {4, 5}
    renamed = do_import(customers, "deals", tagged(tmp_path, "deals.csv", tag))  # source deals.csv: differs
    assert refused(renamed)[2].endswith("(the source 'deals.csv' counts too: re-importing a renamed file needs "
                                        "--source)")

    with pytest.raises(Exception, match="no sheet 'なし'; the sheets are: 表紙, 案件一覧"):
        open_import("deals", path, mapping, sheet="なし")


def test_a_shift_jis_csv_is_read(customers, tmp_path, tag) -> None:
    path = tagged(tmp_path, "customers.csv", tag, encoding="cp932")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    summary = do_import(customers, "customers", path)
    assert summary.detail == "CSV, cp932"
    assert summary.counts["imported"] == 5
    assert customers.get_customer(customer_id_for(f"{tag}C0002")).state.company_name == "㈱さくら精機"
    utf8_bom = tmp_path / "bom.csv"
    utf8_bom.write_text(path.read_text(encoding="cp932"), encoding="utf-8-sig")
    assert do_import(customers, "customers", utf8_bom).counts["already_imported"] == 5


def test_a_changed_row_is_refused_rather_than_overwritten(customers, tmp_path, tag) -> None:
    path = tagged(tmp_path, "customers.csv", tag)
    do_import(customers, "customers", path)
    path.write_text(path.read_text(encoding="utf-8").replace("株式会社ABC商事", "株式会社ABCホールディングス"),
                    encoding="utf-8")
    summary = do_import(customers, "customers", path)
    assert refused(summary)[2].startswith(f"'import:customers:{tag}C0001' was imported before with other values")
    assert customers.get_customer(customer_id_for(f"{tag}C0001")).state.company_name == "株式会社ABC商事"


def test_mapping_problems_name_the_line() -> None:
    with pytest.raises(MappingError, match=r"^m.yaml:3: columns: unknown field 'compny_name' for customers"):
        parse_mapping("columns:\n  code: 顧客コード\n  compny_name: 会社名\n", "customers", "m.yaml")
    with pytest.raises(MappingError, match=r"^m.yaml:1: columns: 'company_name' needs a column or a default"):
        parse_mapping("columns:\n  code: 顧客コード\n", "customers", "m.yaml")
    with pytest.raises(MappingError, match=r"^m.yaml:1: columns: 'customer_code' is required"):
        parse_mapping("columns:\n  code: 案件番号\n  title: 案件名\n", "deals", "m.yaml")
    with pytest.raises(MappingError, match=r"^m.yaml:1: this mapping is for 'deals', not for 'contacts'"):
        parse_mapping("kind: deals\ncolumns: {}\n", "contacts", "m.yaml")
    mapping = parse_mapping("columns: {code: 顧客コード}\ndefaults: {company_name: 不明}\n", "customers")
    assert mapping.defaults == {"company_name": "不明"}


def test_the_command_line(database_url: str, tmp_path, tag) -> None:
    env = {"DATABASE_URL": database_url}
    customers_csv = tagged(tmp_path, "customers.csv", tag)
    mapping = str(EXAMPLES / "customers.mapping.yaml")

    dry = run_cli("import", "customers", str(customers_csv), "--mapping", mapping, "--dry-run", env=env)
    assert dry.returncode == 1, dry.stderr
    assert "dry run, nothing was written" in dry.stdout and "would import             5" in dry.stdout
    assert f"row 5      import:customers:{tag}C0004  company_name (会社名): Field required" in dry.stdout

    report = tmp_path / "report.csv"
    real = run_cli("import", "customers", str(customers_csv), "--mapping", mapping, "--report", str(report),
                   "--user", "yamada", "--team", "営業企画", env=env)
    assert real.returncode == 1, real.stderr
    assert "imported                 5" in real.stdout and "refused                  1" in real.stdout
    assert "100%" in real.stderr and "row/s" in real.stderr  # the progress bar
    with report.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["status"]) for r in rows] == [("2", "imported"), ("3", "imported"), ("4", "imported"),
                                                       ("5", "refused"), ("6", "imported"), ("7", "imported")]
    assert rows[0]["customer_id"] == str(customer_id_for(f"{tag}C0001"))

    clean = tmp_path / "clean.csv"
    lines = customers_csv.read_text(encoding="utf-8").splitlines()
    clean.write_text("\n".join(line for line in lines if "C0004" not in line) + "\n", encoding="utf-8")
    again = run_cli("import", "customers", str(clean), "--mapping", mapping, "--no-progress", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already imported         5" in again.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  code: 顧客番号\n  company_name: 会社名\n", encoding="utf-8")
    unusable = run_cli("import", "customers", str(clean), "--mapping", str(bad), env=env)
    assert unusable.returncode == 2
    assert "no column '顧客番号' (code) in row 1" in unusable.stderr
    missing = run_cli("import", "customers", str(tmp_path / "none.csv"), "--mapping", mapping, env=env)
    assert missing.returncode == 2 and "none.csv: no such file" in missing.stderr
