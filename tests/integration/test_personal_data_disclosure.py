"""Disclosure of one contact person's data (開示, APPI Art. 33): a person's data written through every path is
found in the export (JSON and CSV) with where and when it came from; the disclosure is itself an event; an erased
contact's export says so and holds 「削除済み」, not the old values; only the privacy and admin roles may ask.

On a database of its own: the command API and the privacy office on one Customers application; the office
brings the read models (pipeline, timeline) up to date after each of its commands, as the workers would.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from services.privacy.disclosure import disclose
from shared.domain.errors import NotFoundError
from shared.events import Actor, PersonalDataDisclosed
from shared.settings import Settings
from tests.support import ACTOR, auth, post, run_cli

OFFICER = {"user": "hayashi", "team": "個人情報保護室", "department": "tech", "site": "東京本社"}
CS = {"user": "suzuki", "team": "CS課", "department": "cs", "site": "東京本社"}
NAME, EMAIL, PHONE = "佐藤 花子", "hanako.sato@abc.example.jp", "03-1234-5678"
NEW_NAME, NEW_EMAIL = "佐藤 華子", "hanako.sato@new.example.jp"
HEARD = "佐藤様と電話: 来月から産休に入るとのこと"
NOTE = "個人的な事情で検討は来期"
DESCRIPTION = "佐藤様のアカウントでログインできない（自宅から）"


@pytest.fixture(scope="module")
def stack(postgres_server: str):
    from services.command.app import create_app
    from services.privacy.office import open_office

    name = f"ct_privacy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = Settings(database_url=make_conninfo(postgres_server, dbname=name), snapshot_interval=5)
    office = open_office(settings)  # migrates the event store and the read models
    try:
        with TestClient(create_app(settings, office.customers)) as client:
            yield office, client
    finally:
        office.close()
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def as_privacy(client: TestClient, role: str = "privacy") -> dict[str, str]:
    return auth(client, {**OFFICER, "user": f"{OFFICER['user']}-{role}"}, role=role)


def write_a_person(client: TestClient) -> tuple[str, str, dict[str, str]]:
    """A customer with a contact written through every path: added (with an idempotency key), named by a
    touchpoint and a ticket, corrected; plus a touchpoint and a contact that are not theirs."""
    cid = post(client, "/customers", {"company_name": "株式会社ABC商事"})["customer_id"]
    added = post(client, f"/customers/{cid}/contacts", {"name": NAME, "email": EMAIL, "phone": PHONE,
                                                        "title": "情報システム部 課長"},
                 Idempotency_Key=f"contact-{uuid.uuid4()}")
    contact = added["created"]["contact_id"]
    other = post(client, f"/customers/{cid}/contacts", {"name": "高橋 一郎"})["created"]["contact_id"]
    touchpoint = post(client, f"/customers/{cid}/touchpoints", {
        "channel": "phone", "direction": "outbound", "summary": HEARD, "contact_id": contact,
        "reaction": {"choice": "considering", "note": NOTE}})
    post(client, f"/customers/{cid}/touchpoints", {"channel": "visit", "direction": "outbound",
                                                   "summary": "会社訪問（担当者不在）", "contact_id": other})
    ticket = post(client, f"/customers/{cid}/tickets", {"title": "ログインできない", "description": DESCRIPTION,
                                                        "contact_id": contact}, actor=CS)
    response = client.post(f"/personal-data/contacts/{contact}/correction",
                           json={"name": NEW_NAME, "email": NEW_EMAIL, "reason": "本人からの訂正請求"},
                           headers=as_privacy(client))
    assert response.status_code == 201, response.text
    corrected = response.json()
    assert [e["type"] for e in corrected["events"]] == ["ContactCorrected"]
    ids = {"ContactAdded": added["events"][0]["event_id"], "TouchpointRecorded": touchpoint["events"][0]["event_id"],
           "TicketOpened": ticket["events"][0]["event_id"], "ContactCorrected": corrected["events"][0]["event_id"]}
    return cid, contact, ids


def values(items: list[dict], source: str) -> set[tuple]:
    return {(i["event_type"], i["field"], i["value"]) for i in items if i["source"] == source}


def test_a_persons_data_from_every_path_is_in_the_export(stack) -> None:
    office, client = stack
    cid, contact, ids = write_a_person(client)
    officer = Actor(**OFFICER)
    export = json.loads(disclose(office, UUID(contact), officer, "json", "本人"))
    assert (export["contact_id"], export["customer_id"], export["company_name"], export["erased"]) == (
        contact, cid, "株式会社ABC商事", False)
    items = export["items"]
    assert all(set(i) >= {"source", "at", "event_type", "event_id", "field", "value"} and i["at"] for i in items)

    assert values(items, "event_store") == {
        ("ContactAdded", "name", NAME), ("ContactAdded", "email", EMAIL), ("ContactAdded", "phone", PHONE),
        ("ContactAdded", "title", "情報システム部 課長"),
        ("TouchpointRecorded", "summary", HEARD), ("TouchpointRecorded", "reaction.note", NOTE),
        ("TicketOpened", "description", DESCRIPTION),
        ("ContactCorrected", "name", NEW_NAME), ("ContactCorrected", "email", NEW_EMAIL)}, "nothing of another person"
    assert {i["event_id"] for i in items if i["source"] == "event_store"} == set(ids.values())
    assert ("CustomerSnapshot", "contacts.email", EMAIL) in values(items, "snapshot"), "taken at version 5"
    assert values(items, "read_model:pipeline") == {
        ("CustomerState", "contacts.name", NEW_NAME), ("CustomerState", "contacts.email", NEW_EMAIL),
        ("CustomerState", "contacts.phone", PHONE), ("CustomerState", "contacts.title", "情報システム部 課長")}
    timeline = {(i["event_id"], i["field"]): i["value"] for i in items if i["source"] == "read_model:timeline"}
    assert {event_id for event_id, _ in timeline} == set(ids.values())
    assert NEW_NAME in timeline[ids["ContactAdded"], "summary_ja"], "re-derived after the correction"
    assert HEARD in timeline[ids["TouchpointRecorded"], "summary_ja"]
    assert timeline[ids["TicketOpened"], "summary_en"].startswith("Ticket opened")
    [answer] = [i for i in items if i["source"] == "command_results"]
    assert (answer["event_type"], answer["event_id"]) == ("ContactAdded", ids["ContactAdded"])
    assert "ids only" in answer["value"] and "user:tanaka" in answer["value"]
    [key] = [i for i in items if i["source"] == "personal_data_keys"]
    assert key["field"] == "key" and not key["erased"]

    # the disclosure is recorded after collecting: an event auditors see, with the number of items given out
    last = office.customers.reader.stream(UUID(cid))[-1]
    assert isinstance(last, PersonalDataDisclosed)
    assert (last.contact_id, last.recipient, last.format, last.items, last.actor) == (
        UUID(contact), "本人", "json", len(items), officer)

    # CSV: the same items, one row each, UTF-8 with a BOM (Excel)
    text = disclose(office, UUID(contact), officer, "csv", "本人")
    assert text.startswith("\ufeffsource,at,event_type,event_id,field,value")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    with_record = len(items) + 3  # the first disclosure's record, and its timeline entry (ja, en)
    assert len(rows) == with_record
    csv_values = {(r["source"], r["event_type"], r["field"], r["value"]) for r in rows}
    for item in items:
        assert (item["source"], item["event_type"] or "", item["field"], item["value"] or "") in csv_values
    assert ("event_store", "PersonalDataDisclosed", "recipient", f"本人 (json, {len(items)} items)") in csv_values
    last = office.customers.reader.stream(UUID(cid))[-1]
    assert (last.format, last.items) == ("csv", with_record)


def test_over_http_only_the_privacy_and_admin_roles_and_unknown_contacts_are_404(stack) -> None:
    office, client = stack
    cid, contact, _ = write_a_person(client)
    path = f"/personal-data/contacts/{contact}/disclosure"
    for role, actor in (("sales", ACTOR), ("auditor", ACTOR), ("manager", ACTOR), ("cs", CS)):
        response = client.post(path, headers=auth(client, {**actor, "user": f"nosy-{role}"}, role=role))
        assert (response.status_code, response.json()["permission"]) == (403, "personal_data:manage"), role
    for verb, body in (("correction", {"name": "x"}), ("erasure", {})):
        response = client.post(f"/personal-data/contacts/{contact}/{verb}", json=body, headers=auth(client))
        assert response.status_code == 403, verb
    before = len(office.customers.reader.stream(UUID(cid)))

    response = client.post(path, headers=as_privacy(client))  # no body: JSON, to the data subject
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    export = response.json()
    assert export["contact_id"] == contact and ("ContactAdded", "name", NAME) in values(export["items"],
                                                                                         "event_store")
    response = client.post(path, json={"format": "csv", "recipient": "代理人弁護士"}, headers=as_privacy(client, "admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode()) and NEW_EMAIL in response.text
    recorded = office.customers.reader.stream(UUID(cid))[before:]
    assert [(type(e).__name__, e.format, e.recipient, e.actor.user) for e in recorded] == [
        ("PersonalDataDisclosed", "json", "data subject", "hayashi-privacy"),
        ("PersonalDataDisclosed", "csv", "代理人弁護士", "hayashi-admin")]

    unknown = uuid.uuid4()
    for verb, body in (("disclosure", None), ("correction", {"name": "x"}), ("erasure", None)):
        response = client.post(f"/personal-data/contacts/{unknown}/{verb}", json=body, headers=as_privacy(client))
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), verb
    with pytest.raises(NotFoundError):
        disclose(office, unknown, Actor(**OFFICER), "json", "本人")
    assert len(office.customers.reader.stream(UUID(cid))) == before + 2, "nothing recorded for an unknown contact"


def test_an_erased_contacts_export_says_erased_and_holds_no_old_value(stack) -> None:
    office, client = stack
    cid, contact, ids = write_a_person(client)
    response = client.post(f"/personal-data/contacts/{contact}/erasure", json={"note": "本人からの消去請求"},
                           headers=as_privacy(client))
    assert response.status_code == 201, response.text
    assert [e["type"] for e in response.json()["events"]] == ["ContactErased"]

    response = client.post(f"/personal-data/contacts/{contact}/disclosure", headers=as_privacy(client))
    assert response.status_code == 200, response.text
    text = response.text
    for old in (NAME, NEW_NAME, EMAIL, NEW_EMAIL, PHONE, HEARD, NOTE, DESCRIPTION, "情報システム部 課長"):
        assert old not in text, old
    export = json.loads(text)
    assert export["erased"] is True
    items = export["items"]
    personal = [i for i in items if i["source"] in ("event_store", "snapshot", "read_model:pipeline")
                and i["event_type"] not in ("ContactErased", "PersonalDataDisclosed")]
    assert personal and all(i["erased"] and i["value"] == "削除済み" for i in personal)
    assert {i["event_id"] for i in personal if i["source"] == "event_store"} == set(ids.values())
    assert ("ContactErased", "reason", "request") in values(items, "event_store")
    timeline = {(i["event_id"], i["field"]): i["value"] for i in items if i["source"] == "read_model:timeline"}
    assert "削除済み" in timeline[ids["ContactAdded"], "summary_ja"], "the timeline re-derived the entries"
    keys = [i for i in items if i["source"] == "personal_data_keys"]
    assert [k["value"].split(":")[0] for k in keys] == ["AES-256 key made", "key deleted (erased)"]
    assert office.subject(UUID(contact)).erased_at is not None

    # still recorded, and corrections of an erased contact are refused
    assert isinstance(office.customers.reader.stream(UUID(cid))[-1], PersonalDataDisclosed)
    response = client.post(f"/personal-data/contacts/{contact}/correction", json={"name": "x"},
                           headers=as_privacy(client))
    assert response.status_code == 409, response.text


def test_the_command_line_writes_the_export_and_records_it(stack, tmp_path) -> None:
    office, client = stack
    cid, contact, _ = write_a_person(client)
    out = tmp_path / "開示.csv"
    env = {"DATABASE_URL": office.database_url}
    done = run_cli("personal-data", "export", contact, "--format", "csv", "--output", str(out),
                   "--recipient", "本人", "--user", "hayashi", env=env)
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and NEW_EMAIL.encode() in data
    last = office.customers.reader.stream(UUID(cid))[-1]
    assert (type(last).__name__, last.format, last.actor.user) == ("PersonalDataDisclosed", "csv", "hayashi")
    unknown = run_cli("personal-data", "export", str(uuid.uuid4()), "--user", "hayashi", env=env)
    assert unknown.returncode == 2 and "not found" in unknown.stderr
