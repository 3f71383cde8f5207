"""The import's mapping files: what a valid one holds, and every refusal naming its line (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.importer import ImportSetupError
from services.importer.mapping import MappingError, load_mapping, parse_mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"

DEALS = """\
kind: deals
header_row: 2
timezone: Asia/Tokyo
columns:
  code: 案件番号
  customer_code: " 顧客コード "
  title: 案件名
  owner: 営業担当
  stage: ステージ
defaults:
  team: 本社営業1課
values:
  stage: {商談中: hearing_done, 1: lead_acquired}
"""


def test_a_mapping_names_the_columns_defaults_and_value_translations() -> None:
    mapping = parse_mapping(DEALS, "deals")
    assert (mapping.kind, mapping.header_row, str(mapping.zone)) == ("deals", 2, "Asia/Tokyo")
    assert mapping.column("customer_code") == "顧客コード"  # headers are stripped
    assert mapping.column("amount") is None and mapping.defaults == {"team": "本社営業1課"}
    assert mapping.values["stage"] == {"商談中": "hearing_done", "1": "lead_acquired"}  # YAML's int key as text
    assert list(mapping.fields)[:3] == ["code", "customer_code", "title"]


@pytest.mark.parametrize("kind", ["customers", "contacts", "deals"])
def test_the_example_mappings_load(kind: str) -> None:
    assert load_mapping(EXAMPLES / f"{kind}.mapping.yaml", kind).kind == kind


def refusal(text: str, kind: str = "deals") -> MappingError:
    with pytest.raises(MappingError) as refused:
        parse_mapping(text, kind, "deals.yaml")
    return refused.value


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("kind: customers\ncolumns: {code: c, company_name: n}\n", 1, "this mapping is for 'customers', not for 'deals'"),
    (DEALS.replace("  owner: 営業担当\n", "  owner: 営業担当\n  colour: 色\n"), 9,
     "columns: unknown field 'colour' for deals"),
    (DEALS.replace("  team: 本社営業1課\n", "  code: D-1\n"), 11, "defaults: 'code' identifies each row"),
    (DEALS.replace("  code: 案件番号\n", ""), 4, "columns: 'code' is required"),
    (DEALS.replace("  owner: 営業担当\n", ""), 4, "columns: 'owner' needs a column or a default"),
    (DEALS.replace("Asia/Tokyo", "Mars/Olympus"), 3, "unknown timezone 'Mars/Olympus'"),
    (DEALS.replace("header_row: 2", "header_row: 0"), 2, "header_row: Input should be greater than or equal to 1"),
    (DEALS + "sheet: 2\n", 14, "unknown key 'sheet'"),
    (DEALS.replace("  title: 案件名\n", "  title: 案件名\n  title: 名称\n"), 8, "columns: 'title' is given twice"),
    (DEALS.replace("  title: 案件名\n", "  title: [案件名\n"), 8, "invalid YAML"),  # where the parser stops
    ("- a list\n", 1, "the mapping must be a YAML mapping with a 'columns' key"),
    ("header_row: 1\n", 1, "missing required key 'columns'"),
])
def test_every_problem_names_its_line(text: str, line: int, problem: str) -> None:
    error = refusal(text)
    assert (error.line, error.path) == (line, "deals.yaml") and problem in error.problem, error
    assert str(error).startswith(f"deals.yaml:{line}: ")


def test_an_unknown_kind_and_an_unreadable_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="unknown kind 'leads'"):
        parse_mapping(DEALS, "leads")
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "missing.yaml", "deals")
    (tmp_path / "sjis.yaml").write_bytes("columns: {code: 案件番号}".encode("cp932"))
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(tmp_path / "sjis.yaml", "deals")


def test_the_file_must_have_every_mapped_column_once() -> None:
    mapping = parse_mapping(DEALS, "deals")
    headers = ["案件番号", "顧客コード", "案件名", "営業担当", "ステージ"]
    mapping.check_headers(headers, "deals.csv")
    with pytest.raises(ImportSetupError, match=r"no column '営業担当' \(owner\) in row 2"):
        mapping.check_headers([h for h in headers if h != "営業担当"], "deals.csv")
    with pytest.raises(ImportSetupError, match="'案件名' appear more than once"):
        mapping.check_headers([*headers, "案件名"], "deals.csv")
