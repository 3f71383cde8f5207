"""The command API end to end on a real PostgreSQL."""

from __future__ import annotations

import uuid

from tests.support import ACTOR, SOON, auth, events_of, open_deal, post, prepare_approach_to_hearing, register, stage


def test_a_deal_goes_from_approach_to_follow_through_the_api(client, db) -> None:
    cid = register(client, industry="製造業")
    did = open_deal(client, cid)
    base = f"/customers/{cid}/deals/{did}"
    prepare_approach_to_hearing(client, cid, did)
    post(client, f"/customers/{cid}/lead-sources", {"source": "trade_show", "detail": "DX展示会"})
    stage(client, cid, did, "hearing_done")
    meeting = post(client, f"{base}/meetings", {"scheduled_at": SOON, "place": "visit", "purpose": "デモ"})
    post(client, f"{base}/meetings/{meeting['created']['meeting_id']}/held", {"minutes": "要件確認"})
    proposal = post(client, f"{base}/proposals", {"title": "提案書 v1", "problem": "情報の分断"})
    post(client, f"{base}/quotes", {"amount": 4_800_000})
    stage(client, cid, did, "proposal_sent_waiting")
    revision = post(client, f"{base}/revisions", {"request": "月額表記に",
                                                  "proposal_id": proposal["created"]["proposal_id"]})
    post(client, f"{base}/revisions/{revision['created']['revision_id']}/done", {"response": "修正済み"})
    post(client, f"{base}/proposal-feedback", {"reaction": {"choice": "positive"}, "concerns": "導入負荷"})
    post(client, f"{base}/contract-terms", {"open_points": ["payment_terms"]})
    stage(client, cid, did, "negotiating_terms")
    post(client, f"{base}/approval", {"status": {"choice": "in_review"}, "stuck_at": "経理部長"})
    post(client, f"{base}/contract-terms", {"agreed": True})
    post(client, f"{base}/contract", {"price": 4_560_000, "scope": "全拠点"})
    won = post(client, f"{base}/win", {"win_reasons": [{"choice": "support", "note": "導入支援を評価"}]})
    assert [e["type"] for e in won["events"]] == ["StageChanged", "DealWon"]
    post(client, f"{base}/handoff", {"goal": "3か月で定着", "cs_owner": "suzuki", "first_response_at": SOON})
    stage(client, cid, did, "onboarding")
    cs = {"user": "suzuki", "department": "cs", "team": "CS1"}
    post(client, f"/customers/{cid}/onboarding-progress", {"deal_id": did, "progress_percent": 40}, actor=cs)
    post(client, f"/customers/{cid}/satisfaction", {"deal_id": did, "score": 4}, actor=cs)
    support = {"user": "kato", "department": "support"}
    ticket = post(client, f"/customers/{cid}/tickets", {"title": "ログインできない"}, actor=support)["created"]["ticket_id"]
    post(client, f"/customers/{cid}/tickets/{ticket}/updates", {"status": "in_progress"}, actor=support)
    post(client, f"/customers/{cid}/tickets/{ticket}/resolution", {"resolution": "パスワード再設定"}, actor=support)

    view = client.get(f"/customers/{cid}", headers=auth(client)).json()
    deal = view["deals"][0]
    assert (deal["phase"], deal["phase_label"], deal["status"]) == ("follow", "フォロー", "won")
    assert view["tickets"][ticket]["status"] == "resolved"
    assert view["version"] == len(events_of(db, cid)) == 29


def test_refused_stage_change_answers_409_with_every_unmet_criterion(client, db) -> None:
    cid = register(client)
    did = open_deal(client, cid)
    before = events_of(db, cid)
    body = stage(client, cid, did, "hearing_done", status=409)
    assert body["code"] == "transition_criteria_unmet"
    assert [(c["id"], c["missing_facts"]) for c in body["unmet_criteria"]] == [
        ("first_contact_completed", ["first_contact_recorded"]),
        ("contact_person_captured", ["contact_person_captured"]),
        ("company_info_captured", ["company_info_captured"]),
        ("hearing_started", ["hearing_started"]),
    ]
    assert body["unmet_criteria"][0]["label"] == "初回接触が完了している"
    assert events_of(db, cid) == before


def test_deal_view_reports_missing_required_information(client) -> None:
    cid = register(client)
    did = open_deal(client, cid)
    deal = client.get(f"/customers/{cid}/deals/{did}", headers=auth(client)).json()
    assert {m["id"] for m in deal["missing_information"]} == {
        "lead_source", "first_contact", "contact_person", "initial_reaction"}
    assert deal["stage_label"] == "リード獲得" and deal["team"] == ACTOR["team"]


def test_unknown_customer_and_deal_are_404(client) -> None:
    missing = uuid.uuid4()
    assert client.get(f"/customers/{missing}", headers=auth(client)).status_code == 404
    body = post(client, f"/customers/{missing}/contacts", {"name": "x"}, status=404)
    assert (body["code"], body["kind"]) == ("not_found", "customer")
    cid = register(client)
    body = post(client, f"/customers/{cid}/deals/{missing}/hearings", {"issue": "x"}, status=404)
    assert body["kind"] == "deal"


def test_invalid_payload_is_422_naming_the_field(client) -> None:
    cid = register(client)
    body = post(client, f"/customers/{cid}/touchpoints", {"channel": "fax", "direction": "outbound",
                                                           "summary": "x"}, status=422)
    assert body["field"] == "channel"
    body = post(client, f"/customers/{cid}/touchpoints", {"channel": "phone", "direction": "inbound",
                                                           "summary": "x", "reaction": {"choice": "meh"}},
                status=422)
    assert (body["field"], body["allowed"]) == ("reaction.choice", ["positive", "considering", "cautious", "negative"])
    body = post(client, "/customers", {"company_name": ""}, status=422)
    assert body["field"] == "company_name"
    body = post(client, f"/customers/{cid}/deals", {"title": "x", "owner": "y", "unexpected": 1}, status=422)
    assert body["field"] == "unexpected"


def test_idempotent_retry_appends_nothing_and_answers_the_same(client, db) -> None:
    cid = register(client)
    body = {"channel": "email", "direction": "outbound", "summary": "資料送付"}
    first = client.post(f"/customers/{cid}/touchpoints", json=body,
                        headers={**auth(client), "Idempotency-Key": f"tp-{cid}"})
    again = client.post(f"/customers/{cid}/touchpoints", json=body,
                        headers={**auth(client), "Idempotency-Key": f"tp-{cid}"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(events_of(db, cid)) == 2
    other = client.post(f"/customers/{cid}/touchpoints", json={**body, "summary": "別件"},
                        headers={**auth(client), "Idempotency-Key": f"tp-{cid}"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_registration_retry_with_the_same_key_does_not_create_a_second_customer(client, db) -> None:
    key = {"Idempotency-Key": f"reg-{uuid.uuid4()}"}
    first = post(client, "/customers", {"company_name": "株式会社リトライ"}, **key)
    again = post(client, "/customers", {"company_name": "株式会社リトライ"}, **key)
    assert first == again
    assert db.execute("SELECT count(*) FROM customers_events WHERE originator_id = %s",
                      (first["customer_id"],)).fetchone()[0] == 1


def test_stale_expected_version_is_409_with_the_current_version(client, db) -> None:
    cid = register(client)
    body = {"channel": "phone", "direction": "outbound", "summary": "x"}
    ok = client.post(f"/customers/{cid}/touchpoints", json=body, headers={**auth(client), "If-Match": '"1"'})
    assert (ok.status_code, ok.headers["ETag"]) == (201, '"2"')
    stale = client.post(f"/customers/{cid}/touchpoints", json=body, headers={**auth(client), "If-Match": '"1"'})
    assert stale.status_code == 409
    assert (stale.json()["code"], stale.json()["current_version"]) == ("version_conflict", 2)
    stale = post(client, f"/customers/{cid}/touchpoints", {**body, "expected_version": 0}, status=409)
    assert stale["current_version"] == 2
    assert len(events_of(db, cid)) == 2


def test_registering_the_same_customer_id_twice_is_409(client) -> None:
    cid = str(uuid.uuid4())
    post(client, "/customers", {"company_name": "ABC", "customer_id": cid})
    assert post(client, "/customers", {"company_name": "ABC", "customer_id": cid}, status=409)["code"] == "already_exists"


def test_openapi_documents_every_command_with_examples_and_error_shape(client) -> None:
    schema = client.get("/openapi.json").json()
    operations = [op for path in schema["paths"].values() for method, op in path.items() if method == "post"]
    assert len(operations) == 36  # POST /targets and the three /personal-data requests among them
    for op in operations:
        answer = "200" if op["operationId"].startswith("disclosure") else "201"  # an export, not a command's answer
        assert {answer, "404", "409", "422"} <= set(op["responses"]), op["operationId"]
        assert op["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    components = schema["components"]["schemas"]
    assert components["RegisterCustomerRequest"]["properties"]["company_name"]["examples"] == ["株式会社ABC商事"]


def test_a_command_failing_unexpectedly_fails_alone_not_its_batch_mates(settings, customers, monkeypatch) -> None:
    """An unexpected error (a bug) answers 500 for its own request; concurrent requests still succeed."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from services.command.app import create_app

    real_execute = customers.execute

    def execute(envelopes, dry_run=False):
        if any(getattr(e.command.details, "summary", "") == "bug" for e in envelopes):
            raise TypeError("simulated bug")
        return real_execute(envelopes, dry_run)

    monkeypatch.setattr(customers, "execute", execute)
    with TestClient(create_app(settings, customers), raise_server_exceptions=False) as isolated_client:
        cid = register(isolated_client)

        def one(summary: str) -> int:
            return isolated_client.post(f"/customers/{cid}/touchpoints", headers=auth(isolated_client), json={
                "channel": "phone", "direction": "outbound", "summary": summary}).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(one, ["ok"] * 7 + ["bug"]))
    assert statuses == [201] * 7 + [500]
