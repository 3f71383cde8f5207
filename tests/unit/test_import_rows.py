"""Spreadsheet rows -> command envelopes: tidied cells, derived ids and keys, refusals naming the column."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.importer import customer_id_for
from services.importer.mapping import parse_mapping
from services.importer.rows import RowMapper
from shared.commands import AddContact, ImportDeal, RegisterCustomer
from shared.events import Actor
from shared.process import load_process_definition

PROCESS = load_process_definition()
ACTOR = Actor(user="importer", department="sales", team="本社営業1課")
JST = timezone(timedelta(hours=9))


def mapper(kind: str, columns: dict[str, str], **sections: dict) -> RowMapper:
    lines = [f"{field}: {header}" for field, header in columns.items()]
    text = "columns:\n" + "".join(f"  {line}\n" for line in lines)
    for section, entries in sections.items():
        text += f"{section}:\n" + "".join(f"  {field}: {value}\n" for field, value in entries.items())
    return RowMapper(parse_mapping(text, kind), PROCESS, ACTOR, "台帳.xlsx")


CUSTOMERS = mapper("customers", {"code": "顧客コード", "company_name": "会社名", "employee_count": "従業員数",
                                 "occurred_at": "登録日"}, defaults={"industry": "未分類"})
CONTACTS = mapper("contacts", {"customer_code": "顧客コード", "name": "氏名", "email": "メール",
                               "is_decision_maker": "決裁者"})
DEALS = mapper("deals", {"code": "案件番号", "customer_code": "顧客コード", "title": "案件名", "owner": "営業担当",
                         "amount": "金額", "expected_close": "受注予定日", "stage": "ステージ",
                         "stage_entered_at": "ステージ開始"}, values={"stage": "{商談中: hearing_done}"})


def test_a_customer_row_is_a_registration_under_the_id_its_code_derives() -> None:
    prepared = CUSTOMERS.prepare(2, {"顧客コード": " Ｃ００１ ", "会社名": "株式会社ABC商事", "従業員数": "1,200",
                                     "登録日": "2025/03/31 09:30"})
    envelope = prepared.envelope
    assert prepared.error is None
    assert (prepared.row, prepared.code, prepared.key) == (2, "C001", "import:customers:C001")
    assert isinstance(envelope.command, RegisterCustomer) and envelope.customer_id == customer_id_for("C001")
    details = envelope.command.details
    assert (details.company_name, details.employee_count, details.industry) == ("株式会社ABC商事", 1200, "未分類")
    assert envelope.occurred_at == datetime(2025, 3, 31, 9, 30, tzinfo=JST)  # the mapping's zone (Asia/Tokyo)
    assert (envelope.idempotency_key, envelope.idempotency_scope, envelope.actor) == (prepared.key, "import", ACTOR)


def test_a_contact_row_is_keyed_by_its_email_else_its_name() -> None:
    by_mail = CONTACTS.prepare(3, {"顧客コード": "C001", "氏名": "佐藤 花子", "メール": "Sato@Example.jp", "決裁者": "○"})
    assert isinstance(by_mail.envelope.command, AddContact) and by_mail.key == "import:contacts:C001:sato@example.jp"
    assert by_mail.envelope.command.details.is_decision_maker is True
    by_name = CONTACTS.prepare(4, {"顧客コード": "C001", "氏名": "田中 一郎", "メール": "", "決裁者": "いいえ"})
    assert by_name.key == "import:contacts:C001:田中 一郎" and by_name.envelope.command.details.is_decision_maker is False


def test_a_deal_row_is_imported_at_its_stage_named_by_id_label_or_translation() -> None:
    row = {"案件番号": "D-1", "顧客コード": "C001", "案件名": "営業支援システム導入", "営業担当": "tanaka",
           "金額": "¥12,500,000", "受注予定日": "2025年3月31日", "ステージ": "稟議中", "ステージ開始": "2025-02-01 10:00"}
    prepared = DEALS.prepare(5, row)
    command = prepared.envelope.command
    assert isinstance(command, ImportDeal) and prepared.key == "import:deals:D-1"
    assert prepared.envelope.customer_id == customer_id_for("C001")
    deal, imported = command.details.deal, command.details.imported
    assert (deal.amount, deal.expected_close) == (12_500_000, date(2025, 3, 31))
    assert (imported.stage, imported.source) == ("in_approval", "台帳.xlsx")
    assert imported.stage_entered_at == datetime(2025, 2, 1, 10, 0, tzinfo=JST)
    for text, stage in (("商談中", "hearing_done"), ("in_approval", "in_approval"),
                        ("In internal approval", "in_approval")):
        assert DEALS.prepare(6, {**row, "ステージ": text}).envelope.command.details.imported.stage == stage


def test_excel_cells_are_used_as_they_are() -> None:
    row = {"案件番号": 1001.0, "顧客コード": 7, "案件名": "保守", "営業担当": "tanaka", "金額": 4800000.0,
           "受注予定日": datetime(2025, 3, 31), "ステージ": "lead_acquired", "ステージ開始": datetime(2025, 2, 1, 10)}
    prepared = DEALS.prepare(7, row)
    assert (prepared.key, prepared.code) == ("import:deals:1001", "7")
    deal = prepared.envelope.command.details.deal
    assert (deal.amount, deal.expected_close) == (4_800_000, date(2025, 3, 31))


@pytest.mark.parametrize(("cells", "error"), [
    ({"案件番号": ""}, "code (案件番号): missing; every row needs one"),
    ({"顧客コード": None}, "customer_code (顧客コード): missing"),
    ({"金額": "たくさん"}, "amount (金額): Input should be a valid integer"),
    ({"受注予定日": "2025/02/30"}, "expected_close (受注予定日):"),
    ({"ステージ": "almost_won"}, None),  # an unknown stage goes to the domain as written, which names the stages
    ({"案件名": "案件\x00名"}, "title (案件名): control character U+0000"),
    ({"案件番号": "D" * 101}, "code (案件番号):"),
])
def test_a_row_that_cannot_be_a_command_names_the_field_and_its_column(cells: dict, error: str | None) -> None:
    row = {"案件番号": "D-2", "顧客コード": "C001", "案件名": "保守", "営業担当": "tanaka", "金額": "",
           "受注予定日": "", "ステージ": "lead_acquired", "ステージ開始": "", **cells}
    prepared = DEALS.prepare(8, row)
    if error is None:
        assert prepared.error is None and prepared.envelope.command.details.imported.stage == "almost_won"
    else:
        assert prepared.envelope is None and prepared.error.startswith(error), prepared.error


def test_a_time_that_is_no_time_is_refused_before_the_command() -> None:
    prepared = CUSTOMERS.prepare(9, {"顧客コード": "C002", "会社名": "株式会社XYZ", "登録日": "昨日"})
    assert prepared.envelope is None and prepared.error == (
        "occurred_at (登録日): '昨日' is not a date in an accepted format (YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日, "
        "ISO 8601 with a time, an Excel date; give the file's own under date_format in the mapping)")
