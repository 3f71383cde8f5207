"""Retention (APPI Art. 22) and third-party records (Arts. 29-30) of personal data.

A customer idle for six years and an active one, written through the privacy office's application with their
events dated in the past: the dry run lists only the idle customer's contacts and changes nothing; the real run
erases them (keys deleted, 削除済み, a ContactErased event with reason "retention", the hash chain intact) and
leaves the active customer's contacts; the recipients listing names every projection's consumer group and a
disclosure made earlier. In a database of its own: retention looks at every contact in the database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from uuid import UUID

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from services.privacy.office import PrivacyOffice, open_office
from services.privacy.recipients import print_recipients
from services.privacy.retention import past_retention, run_retention, years_before
from services.projections.base import UNDECLARED_PERSONAL_DATA
from services.projections.registry import PROJECTIONS
from shared.application import Envelope
from shared.audit import verify_chain
from shared.commands import AddContact, EraseContact, RecordDisclosure, RecordTouchpoint, RegisterCustomer
from shared.events import Actor, ContactErased
from shared.events.customer import CompanyProfile, ContactDetails, TouchpointDetails
from shared.events.personal import ERASED
from shared.settings import Settings
from tests.support import run_cli

SALES = Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社")
OFFICER = Actor(user="privacy-officer", department="tech")
NOW = datetime.now(timezone.utc)
SIX_YEARS_AGO = years_before(NOW, 6)
LAST_YEAR = NOW - timedelta(days=365)


@pytest.fixture(scope="module")
def settings(postgres_server: str) -> Iterator[Settings]:
    name = f"ct_retention_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Settings(database_url=make_conninfo(postgres_server, dbname=name), snapshot_interval=10,
                   consumer_group_prefix="retention-test")
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def office(settings: Settings) -> Iterator[PrivacyOffice]:
    office = open_office(settings)
    yield office
    office.close()


def write(office: PrivacyOffice, customer_id: UUID | None, command, at: datetime) -> dict:
    result = office.customers.execute([Envelope(command, customer_id, SALES, occurred_at=at)])[0]
    assert not isinstance(result, Exception), result
    return result.as_response()


def customer_with_contacts(office: PrivacyOffice, name: str, registered: datetime, last_touch: datetime,
                           people: list[str]) -> tuple[UUID, list[UUID]]:
    customer_id = UUID(write(office, None, RegisterCustomer(details=CompanyProfile(company_name=name)),
                             registered)["created"]["customer_id"])
    contacts = [UUID(write(office, customer_id, AddContact(details=ContactDetails(name=person, email="a@b.example")),
                           registered)["created"]["contact_id"]) for person in people]
    write(office, customer_id, RecordTouchpoint(details=TouchpointDetails(
        channel="phone", direction="outbound", summary=f"{people[0]}様と電話", contact_id=contacts[0])), last_touch)
    return customer_id, contacts


def live_keys(settings: Settings) -> set[UUID]:
    with psycopg.connect(settings.database_url) as conn:
        return {row[0] for row in conn.execute("SELECT subject_id FROM personal_data_keys WHERE key IS NOT NULL")}


def contact_names(office: PrivacyOffice, customer_id: UUID) -> dict[UUID, str]:
    state = office.customers.get_customer(customer_id).state
    return {UUID(c): contact.name for c, contact in state.contacts.items()}


@pytest.fixture(scope="module")
def two_customers(office: PrivacyOffice) -> dict:
    idle, idle_contacts = customer_with_contacts(office, "株式会社休眠商事", SIX_YEARS_AGO - timedelta(days=30),
                                                 SIX_YEARS_AGO, ["佐藤 花子", "鈴木 一郎"])
    active, active_contacts = customer_with_contacts(office, "株式会社現役工業", SIX_YEARS_AGO, LAST_YEAR,
                                                     ["高橋 次郎"])
    # a disclosure today is record keeping, not activity: the idle customer stays idle
    office.execute(idle, RecordDisclosure(contact_id=idle_contacts[0], recipient="本人（電子メール）", items=7), OFFICER)
    return {"idle": idle, "idle_contacts": idle_contacts, "active": active, "active_contacts": active_contacts}


def test_the_dry_run_lists_only_the_idle_customers_contacts_and_changes_nothing(office, settings, two_customers,
                                                                                capsys) -> None:
    idle, contacts = two_customers["idle"], two_customers["idle_contacts"]
    keys_before = live_keys(settings)
    found = past_retention(office, settings, NOW)
    assert {(p.customer_id, p.contact_id) for p in found} == {(idle, c) for c in contacts}
    assert all(p.company_name == "株式会社休眠商事" and 5.9 < p.years_idle < 6.1 for p in found)

    assert run_retention(office, settings, OFFICER, dry_run=True, now=NOW) == 0
    out = capsys.readouterr().out
    assert all(str(c) in out for c in contacts) and str(two_customers["active_contacts"][0]) not in out
    assert "株式会社休眠商事" in out and SIX_YEARS_AGO.astimezone(settings.timezone).date().isoformat() in out
    assert "2 contacts past retention of 5 years (no change: dry run)" in out
    assert live_keys(settings) == keys_before
    assert contact_names(office, idle) == {contacts[0]: "佐藤 花子", contacts[1]: "鈴木 一郎"}

    # the command line, as a privacy officer runs it (now: the real now)
    result = run_cli("personal-data", "retention", "--dry-run", "--user", "privacy-officer",
                     env={"DATABASE_URL": settings.database_url})
    assert result.returncode == 0, result.stderr
    assert "2 contacts past retention of 5 years (no change: dry run)" in result.stdout
    assert all(str(c) in result.stdout for c in contacts)
    assert live_keys(settings) == keys_before


def test_the_real_run_erases_the_idle_customers_contacts_only(office, settings, two_customers, capsys,
                                                             monkeypatch) -> None:
    idle, contacts = two_customers["idle"], two_customers["idle_contacts"]
    active, active_contacts = two_customers["active"], two_customers["active_contacts"]
    # one of them erased meanwhile (on request): refused by the run, reported, the rest go on
    found = past_retention(office, settings, NOW)
    office.execute(idle, EraseContact(contact_id=contacts[1], note="本人から"), OFFICER)
    with monkeypatch.context() as patched:  # the run as listed before that erasure
        patched.setattr("services.privacy.retention.past_retention", lambda *args, **kwargs: found)
        assert run_retention(office, settings, OFFICER, dry_run=False, now=NOW) == 0
    out = capsys.readouterr().out
    assert f"refused  {contacts[1]}" in out and f"erased   {contacts[0]}" in out
    assert "1 contacts past retention of 5 years erased; 1 refused" in out

    with psycopg.connect(settings.database_url) as conn:
        rows = dict(conn.execute("SELECT subject_id, erased_at IS NOT NULL FROM personal_data_keys").fetchall())
    assert rows[contacts[0]] and rows[contacts[1]] and not rows[active_contacts[0]]
    assert contact_names(office, idle) == {contacts[0]: ERASED, contacts[1]: ERASED}
    assert contact_names(office, active) == {active_contacts[0]: "高橋 次郎"}
    erasures = [(e.contact_id, e.reason) for e in office.customers.reader.stream(idle) if isinstance(e, ContactErased)]
    assert erasures == [(contacts[1], "request"), (contacts[0], "retention")]
    assert all(verify_chain(office.customers.event_recorder, c).intact for c in (idle, active))
    with psycopg.connect(settings.database_url) as conn:  # the pipeline read model was brought up to date
        state = conn.execute("SELECT state FROM pipeline_states WHERE customer_id = %s", (idle,)).fetchone()[0]
    assert {c["name"] for c in state["contacts"].values()} == {ERASED}

    # nothing is left past retention: a second run erases nothing
    assert past_retention(office, settings, NOW) == []
    assert run_retention(office, settings, OFFICER, dry_run=False, now=NOW) == 0
    assert "0 contacts past retention of 5 years erased" in capsys.readouterr().out
    # ten years on, the active customer is idle too
    assert [p.contact_id for p in past_retention(office, settings, NOW + timedelta(days=3653))] == active_contacts


def test_recipients_name_every_consumer_group_and_the_disclosures(office, settings, two_customers, capsys) -> None:
    assert all(cls.personal_data != UNDECLARED_PERSONAL_DATA for cls in PROJECTIONS.values()), \
        "every read model says what personal data it may receive"
    result = run_cli("personal-data", "recipients", "--format", "json", env={
        "DATABASE_URL": settings.database_url, "CONSUMER_GROUP_PREFIX": "retention-test"})
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    groups = {r["recipient"]: r for r in listing["recipients"]}
    for name, cls in PROJECTIONS.items():
        assert cls.personal_data in groups[f"retention-test-{name}"]["may_receive"]
    assert settings.ingest_group in groups and "plain text" in groups[settings.ingest_group]["may_receive"]
    assert any(t["topic"] == settings.ingest_topic and "PLAIN TEXT" in t["holds"] for t in listing["topics"])
    disclosure = {"recipient": "本人（電子メール）", "contact_id": str(two_customers["idle_contacts"][0]),
                  "customer_id": str(two_customers["idle"]), "company_name": "株式会社休眠商事", "items": 7,
                  "format": "json", "by": "privacy-officer"}
    assert [{k: d[k] for k in disclosure} for d in listing["disclosures"]] == [disclosure]
    assert datetime.fromisoformat(listing["disclosures"][0]["disclosed_at"]) > NOW - timedelta(hours=1)

    assert print_recipients(office, settings, "table") == 0
    table = capsys.readouterr().out
    assert all(f"retention-test-{name}" in table for name in PROJECTIONS)
    assert "Disclosures (1)" in table and "本人（電子メール）" in table
