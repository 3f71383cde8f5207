"""Import refuses, per row and naming the column, what the API and ingest refuse."""

from __future__ import annotations

import uuid
from pathlib import Path

from services.importer.run import open_import, run_import
from shared.events import Actor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples/import"
IMPORTER = Actor(user="import", department="sales", team="本社営業1課", site="東京本社")
WINDOW = "must be from {} up to (not including) {}"


def run(customers, kind: str, path: Path, mapping: Path | None = None) -> dict[int, str]:
    mapping_, table, lookups = open_import(kind, path, mapping or EXAMPLES / f"{kind}.mapping.yaml")
    summary = run_import(customers, table, mapping_, IMPORTER, progress=False)
    return {r.row: (r.status, r.reason) for r in summary.results}


def test_rows_with_unstorable_text_oversize_codes_extreme_dates_or_coerced_types_are_refused(customers,
                                                                                             tmp_path) -> None:
    tag = f"L{uuid.uuid4().hex[:6].upper()}-"
    customers_csv = tmp_path / "customers.csv"
    customers_csv.write_text(
        "顧客コード,会社名,業種,住所,URL,従業員数,登録日\n"
        f"{tag}C1,株式会社リミット,製造業,,,10,2019/04/01\n"
        f"{tag}C2,株式会社\x00ヌル,製造業,,,10,2019/04/01\n"
        f"{tag}{'C' * 100},株式会社長いコード,製造業,,,10,2019/04/01\n"
        f"{tag}C4,株式会社明治前,製造業,,,10,1899/12/31\n"
        f"{tag}C5,株式会社改行,製造業,\"東京都\r\n千代田区\",,10,1900/01/02\n", encoding="utf-8")
    rows = run(customers, "customers", customers_csv)
    assert rows[2] == ("imported", "") and rows[6] == ("imported", "")
    assert rows[3] == ("refused", "company_name (会社名): control character U+0000 is not allowed (tab, line feed "
                                  "and carriage return are) (got '株式会社\\x00ヌル')")
    assert rows[4] == ("refused", "code (顧客コード): String should have at most 100 characters")
    assert rows[5] == ("refused", "occurred_at (登録日): " + WINDOW.format("1900-01-01T00:00:00Z",
                                                                          "2100-01-01T00:00:00Z"))

    mapping = tmp_path / "customers.mapping.yaml"
    mapping.write_text((EXAMPLES / "customers.mapping.yaml").read_text(encoding="utf-8")
                       + "  employee_count: true\n", encoding="utf-8")  # a YAML boolean, not a number
    counted = tmp_path / "counted.csv"
    counted.write_text(f"顧客コード,会社名,業種,住所,URL,従業員数,登録日\n{tag}C6,株式会社ブール,製造業,,,,\n",
                       encoding="utf-8")
    assert run(customers, "customers", counted, mapping)[2] == (
        "refused", "employee_count (従業員数): Input should be a valid integer")

    deals_csv = tmp_path / "deals.csv"
    deals_csv.write_text(
        "案件番号,顧客コード,案件名,営業担当,チーム,拠点,金額,受注予定日,ステージ,ステージ開始日\n"
        f"{tag}D1,{tag}C1,案件1,tanaka,本社営業1課,東京本社,100,0001/01/01,hearing_done,2024/11/05\n"
        f"{tag}D2,{tag}C1,案件2,tanaka,本社営業1課,東京本社,100,2025/03/31,hearing_done,2100/01/01 09:00\n"
        f"{tag}D3,{tag}C1,案件3,tanaka,本社営業1課,東京\x7f本社,100,2025/03/31,hearing_done,2024/11/05\n"
        f"{tag}D4,{tag}C1,案件4,tanaka,本社営業1課,東京本社,100,2025/03/31,hearing_done,2024/11/05\n",
        encoding="utf-8")
    rows = run(customers, "deals", deals_csv)
    assert rows[2] == ("refused", "expected_close (受注予定日): " + WINDOW.format("1900-01-01", "2100-01-01"))
    assert rows[3] == ("refused", "stage_entered_at (ステージ開始日): " + WINDOW.format("1900-01-01T00:00:00Z",
                                                                                    "2100-01-01T00:00:00Z"))
    assert rows[4] == ("refused", "site (拠点): control character U+007F is not allowed (tab, line feed and carriage "
                                  "return are) (got '東京\\x7f本社')")
    assert rows[5] == ("imported", "")


def test_a_text_over_its_maximum_length_refuses_its_row_naming_the_field(customers, tmp_path) -> None:
    tag = f"M{uuid.uuid4().hex[:6].upper()}-"
    customers_csv = tmp_path / "customers.csv"
    customers_csv.write_text(
        "顧客コード,会社名,業種,住所,URL,従業員数,登録日\n"
        f"{tag}C1,{'株' * 200},製造業,{'東' * 300},,10,2019/04/01\n"  # each at its maximum: imported
        f"{tag}C2,{'株' * 201},製造業,,,10,2019/04/01\n"
        f"{tag}C3,株式会社長い住所,製造業,{'東' * 301},,10,2019/04/01\n"
        f"{tag}C4,株式会社長い業種,{'業' * 101},,,10,2019/04/01\n", encoding="utf-8")
    rows = run(customers, "customers", customers_csv)
    assert rows[2] == ("imported", "")
    for row, named in ((3, "company_name (会社名): String should have at most 200 characters (got '株株"),
                       (4, "address (住所): String should have at most 300 characters (got '東東"),
                       (5, "industry (業種): String should have at most 100 characters (got '業業")):
        status, reason = rows[row]
        assert status == "refused" and reason.startswith(named) and len(reason) < 300, (row, reason)
