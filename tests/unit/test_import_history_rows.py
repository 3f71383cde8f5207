"""Rows of a CRM export -> deals with their history: stage dates, outcomes, date formats, lookups, actors,
rows without a customer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.importer import ImportSetupError, customer_id_for
from services.importer.lookups import load_lookups
from services.importer.mapping import MappingError, parse_mapping
from services.importer.rows import RowMapper
from shared.events import Actor
from shared.process import load_process_definition

PROCESS = load_process_definition()
IMPORTER = Actor(user="importer", department="sales", team="本社営業1課", site="東京本社")
JST = timezone(timedelta(hours=9))

MAPPING = """
kind: deals
date_format: ["%d/%m/%Y", "%y-%m-%d"]
columns:
  code: opportunity_id
  customer_code: account
  title: product
  owner: sales_agent
  team: manager
  site: regional_office
  amount: close_value
  stage: deal_stage
  outcome: deal_stage
  closed_at: close_date
  close_reason: reason
values:
  stage: {Prospecting: lead_acquired, Engaging: hearing_done, Won: contract_signed, Lost: null}
  outcome: {Prospecting: open, Engaging: open, Won: won, Lost: lost}
stage_dates:
  ヒアリング実施済み: engage_date
"""


def mapper(text: str = MAPPING, lookups=()) -> RowMapper:
    return RowMapper(parse_mapping(text, "deals"), PROCESS, IMPORTER, "sales_pipeline.csv", lookups)


def row(**cells: str) -> dict[str, str]:
    return {"opportunity_id": "1C1I7A6R", "account": "Cancity", "product": "GTX Plus Basic", "sales_agent": "Moses Frase",
            "manager": "Dustin Brinkmann", "regional_office": "Central", "close_value": "1054", "deal_stage": "Won",
            "close_date": "01/03/2017", "engage_date": "16-10-20", "reason": "", **cells}


def test_a_won_row_carries_its_stage_dates_outcome_and_its_owner_as_the_actor() -> None:
    prepared = mapper().prepare(2, row(reason="価格"))
    assert prepared.error is None, prepared.error
    imported = prepared.envelope.command.details.imported
    assert imported.stage == "contract_signed" and imported.stage_entered_at is None
    assert [(s.stage, s.entered_at) for s in imported.earlier_stages] == [
        ("hearing_done", datetime(2016, 10, 20, tzinfo=JST))]
    assert (imported.close.outcome, imported.close.closed_at) == ("won", datetime(2017, 3, 1, tzinfo=JST))
    assert imported.close.reason.choice == "price" and imported.imported_by == "importer"
    assert prepared.envelope.actor == Actor(user="Moses Frase", team="Dustin Brinkmann", site="Central",
                                            department="sales")
    assert prepared.envelope.customer_id == customer_id_for("Cancity")


def test_a_lost_row_is_lost_at_its_furthest_dated_stage() -> None:
    imported = mapper().prepare(3, row(deal_stage="Lost")).envelope.command.details.imported
    assert (imported.stage, imported.stage_entered_at, imported.earlier_stages) == (
        "hearing_done", datetime(2016, 10, 20, tzinfo=JST), ())
    assert imported.close.outcome == "lost" and imported.close.reason is None  # the domain's default: other


def test_an_open_row_without_dates_is_open_at_its_stage() -> None:
    imported = mapper().prepare(4, row(deal_stage="Prospecting", engage_date="", close_date="")).envelope \
        .command.details.imported
    assert (imported.stage, imported.close, imported.earlier_stages) == ("lead_acquired", None, ())


def test_without_an_outcome_column_a_deal_in_the_won_phase_is_won() -> None:
    text = MAPPING.replace("  outcome: deal_stage\n", "")
    imported = mapper(text).prepare(5, row()).envelope.command.details.imported
    assert imported.close.outcome == "won"
    imported = mapper(text).prepare(6, row(deal_stage="Engaging")).envelope.command.details.imported
    assert imported.close is None


def test_a_date_in_no_accepted_format_names_the_formats() -> None:
    prepared = mapper().prepare(7, row(close_date="March 1st"))
    assert prepared.error == ("closed_at (close_date): 'March 1st' is not a date in an accepted format (%d/%m/%Y, "
                              "%y-%m-%d, YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日, ISO 8601 with a time, an Excel date)")
    prepared = mapper().prepare(8, row(engage_date="20.10.2016"))
    assert prepared.error.startswith("stage_dates.hearing_done (engage_date): '20.10.2016' is not a date")


def test_a_stage_date_past_the_deals_stage_is_refused() -> None:
    prepared = mapper().prepare(9, row(deal_stage="Prospecting"))
    assert prepared.error == ("stage_dates.hearing_done (engage_date): has a date, but the deal's stage is "
                              "'lead_acquired', an earlier one")


def test_an_unknown_outcome_is_refused_naming_the_words() -> None:
    text = MAPPING.replace("Won: won, Lost: lost", "Won: won, Lost: gone")
    prepared = mapper(text).prepare(10, row(deal_stage="Lost"))
    assert prepared.error.startswith("outcome (deal_stage): 'gone' is not won, lost or open")


@pytest.mark.parametrize(("policy", "expected"), [
    ("missing_customer: refuse", ("error", "customer_code (account): missing; every row needs one")),
    ("missing_customer: skip", ("skipped", "customer_code (account): empty (missing_customer: skip)")),
    ("missing_customer: placeholder\nplaceholder: {code: NO-ACCOUNT, company_name: 取引先未設定}", ("placeholder", None)),
])
def test_a_row_without_a_customer_goes_where_the_mapping_says(policy: str, expected: tuple) -> None:
    prepared = mapper(MAPPING + policy + "\n").prepare(11, row(account=""))
    kind, text = expected
    if kind == "placeholder":
        assert prepared.envelope.customer_id == customer_id_for("NO-ACCOUNT") and prepared.error is None
    else:
        assert getattr(prepared, "error" if kind == "error" else "skipped") == text and prepared.envelope is None
        assert prepared.key == "import:deals:1C1I7A6R"


def test_a_lookup_file_joins_its_columns_to_each_row(tmp_path: Path) -> None:
    (tmp_path / "sales_teams.csv").write_text("sales_agent,manager,regional_office\n"
                                              "Moses Frase,Dustin Brinkmann,Central\nAnna Snelling,Cara Losch,East\n"
                                              "Moses Frase,Dustin Brinkmann,Central\n", encoding="utf-8")
    text = MAPPING + "lookups:\n  - {file: sales_teams.csv, column: sales_agent}\n"
    mapping = parse_mapping(text, "deals")
    cells = row()
    del cells["manager"], cells["regional_office"]
    lookups = load_lookups(mapping, tmp_path, list(cells))
    assert lookups[0].headers == ("manager", "regional_office")
    mapping.check_headers(list(cells), "sales_pipeline.csv", list(lookups[0].headers))
    rows = RowMapper(mapping, PROCESS, IMPORTER, "sales_pipeline.csv", lookups)
    actor = rows.prepare(2, {**cells, "sales_agent": "Ａｎｎａ Snelling"}).envelope.actor
    assert (actor.user, actor.team, actor.site) == ("Ａｎｎａ Snelling", "Cara Losch", "East")
    assert rows.prepare(3, {**cells, "sales_agent": "Nobody"}).error == \
        "sales_agent: 'Nobody' is not in sales_teams.csv (column sales_agent)"
    with pytest.raises(ImportSetupError, match="also in the imported file"):
        load_lookups(mapping, tmp_path, [*cells, "manager"])
    (tmp_path / "sales_teams.csv").write_text("sales_agent,manager\nMoses Frase,A\nMoses Frase,B\n", encoding="utf-8")
    with pytest.raises(ImportSetupError, match="key 'Moses Frase' is in rows 2 and 3 with different values"):
        load_lookups(mapping, tmp_path, list(cells))


@pytest.mark.parametrize(("extra", "problem"), [
    ("date_format: '%Y'\n", "date_format: '%Y' is not a date format that reads back what it writes"),
    ("missing_customer: placeholder\n", "missing_customer: placeholder needs 'placeholder: {code: ..., company_name"),
    ("lookups:\n  - {file: x.csv}\n", "missing required key 'lookups.0.column'"),
])
def test_a_mapping_with_an_unusable_history_option_names_it(extra: str, problem: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(MAPPING + extra, "deals")
    assert problem in caught.value.problem, caught.value.problem


def test_stage_dates_name_stages_of_the_process() -> None:
    with pytest.raises(ImportSetupError, match="stage_dates: unknown stage 'engaged'"):
        mapper(MAPPING.replace("ヒアリング実施済み: engage_date", "engaged: engage_date"))
