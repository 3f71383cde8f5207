"""The command API refuses what the read side cannot hold, naming the field; bodies and errors are bounded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from shared.events import Actor
from tests.support import SOON, auth, open_deal, post, register

LIMIT = 256 * 1024  # the default MAX_REQUEST_BYTES


def refused_field(client: Any, path: str, body: dict[str, Any], **headers: str) -> str:
    answer = post(client, path, body, status=422, **headers)
    assert answer["code"] in ("invalid_request", "invalid_field"), answer
    return answer["field"]


@pytest.fixture(scope="module")
def deal(client) -> tuple[str, str]:
    customer_id = register(client, "株式会社リミット商事")
    return customer_id, open_deal(client, customer_id)


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_in_any_text_naming_the_field(client, db, deal, character: str) -> None:
    cid, did = deal
    summary = f"一行目\r\n二行目\n\tインデント{character}"
    assert refused_field(client, f"/customers/{cid}/touchpoints", {
        "channel": "email", "direction": "inbound", "summary": summary}) == "summary"
    answer = post(client, f"/customers/{cid}/touchpoints", {"channel": "email", "direction": "inbound",
                                                            "summary": summary[:-1]})  # tab, LF and CR are text
    state = db.execute("SELECT state FROM customers_events WHERE originator_id = %s AND originator_version = %s",
                       (cid, answer["stream_version"])).fetchone()[0]
    assert orjson.loads(state)["summary"] == summary[:-1]
    assert refused_field(client, "/customers", {"company_name": f"株式会社{character}ABC"}) == "company_name"
    assert refused_field(client, f"/customers/{cid}/deals", {"title": "案件", "owner": "tanaka",
                                                             "team": f"本社{character}"}) == "team"
    assert refused_field(client, f"/customers/{cid}/deals/{did}/temperature", {
        "temperature": {"choice": "high", "note": f"熱い{character}"}}) == "temperature.note"
    assert refused_field(client, f"/customers/{cid}/touchpoints", {
        "channel": "phone", "direction": "outbound", "summary": "初回架電",
        "topics_of_interest": ["営業管理", f"見える化{character}"]}) == "topics_of_interest.1"
    assert refused_field(client, f"/customers/{cid}/deals/{did}/approval", {
        "status": {"choice": "in_progress"}, "people_involved": [f"経理{character}部長"]}) == "people_involved.0"


def test_a_token_whose_actor_cannot_be_stored_is_refused_naming_the_field(client) -> None:
    token = client.app.state.tokens.issue("sales", Actor(user="bad\x01user", department="sales")).token
    answer = client.post("/customers", json={"company_name": "株式会社トークン"},
                         headers={"Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.json()["field"]) == (422, "actor.user")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/customers/{cid}/deals/{did}/temperature", {"temperature": {"choice": "high", "note": "x" * 4001}},
     "temperature.note"),
    ("/customers/{cid}/touchpoints", {"channel": "phone", "direction": "outbound", "summary": "s",
                                      "topics_of_interest": [f"t{i}" for i in range(21)]}, "topics_of_interest"),
    ("/customers/{cid}/touchpoints", {"channel": "phone", "direction": "outbound", "summary": "s",
                                      "topics_of_interest": ["長" * 101]}, "topics_of_interest.0"),
    ("/customers/{cid}/deals/{did}/meetings", {"scheduled_at": SOON, "place": "visit", "purpose": "デモ",
                                               "attendees_theirs": [f"様{i}" for i in range(51)]}, "attendees_theirs"),
    ("/customers/{cid}/deals/{did}/approval", {"status": {"choice": "in_progress"},
                                               "people_involved": [f"様{i}" for i in range(51)]}, "people_involved"),
    ("/customers/{cid}/deals/imported", {"deal": {"title": "案件", "owner": "tanaka"},
                                         "imported": {"stage": "s" * 101}}, "imported.stage"),
])
def test_every_text_and_list_has_a_maximum(client, deal, path: str, body: dict, field: str) -> None:
    cid, did = deal
    assert refused_field(client, path.format(cid=cid, did=did), body) == field


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/customers", {"company_name": "株式会社古代", "occurred_at": "0001-01-01T00:00:00+09:00"}, "occurred_at"),
    ("/customers", {"company_name": "株式会社未来", "occurred_at": "9999-12-31T23:59:59-09:00"}, "occurred_at"),
    ("/customers", {"company_name": "株式会社境界", "occurred_at": "1899-12-31T23:59:59Z"}, "occurred_at"),
    ("/customers", {"company_name": "株式会社時差", "occurred_at": "2030-01-10T10:00:00"}, "occurred_at"),
    ("/customers/{cid}/deals", {"title": "案件", "owner": "tanaka", "expected_close": "0001-01-01"}, "expected_close"),
    ("/customers/{cid}/deals/imported", {"deal": {"title": "案件", "owner": "tanaka"},
                                         "imported": {"stage": "hearing_done",
                                                      "stage_entered_at": "0001-01-01T00:00:00+09:00"}},
     "imported.stage_entered_at"),
    ("/customers/{cid}/deals/{did}/next-action", {"plan": {"choice": "scheduled"}, "due_at": "9999-01-01T00:00:00Z"},
     "due_at"),
    ("/customers/{cid}/deals/{did}/meetings", {"scheduled_at": "1800-05-01T10:00:00+09:00", "place": "visit",
                                               "purpose": "デモ"}, "scheduled_at"),
    ("/customers/{cid}/deals/{did}/quotes", {"amount": 100, "valid_until": "2100-01-01"}, "valid_until"),
    ("/customers/{cid}/deals/{did}/contract", {"price": 100, "scope": "全社", "term_end": "2200-03-31"}, "term_end"),
    ("/customers/{cid}/deals/{did}/handoff", {"goal": "定着", "cs_owner": "suzuki",
                                              "first_response_at": "0001-01-01T00:00:00+09:00"}, "first_response_at"),
])
def test_dates_and_times_stay_within_1900_and_2100(client, deal, path: str, body: dict, field: str) -> None:
    cid, did = deal
    assert refused_field(client, path.format(cid=cid, did=did), body) == field


def test_the_window_includes_its_first_instant_and_excludes_its_end(client) -> None:
    post(client, "/customers", {"company_name": "株式会社明治", "occurred_at": "1900-01-01T00:00:00Z"})
    post(client, "/customers", {"company_name": "株式会社年末", "occurred_at": "2099-12-31T23:59:59Z"})
    assert refused_field(client, "/customers", {"company_name": "株式会社境界",
                                                "occurred_at": "2100-01-01T00:00:00Z"}) == "occurred_at"


@pytest.mark.parametrize("amount", [True, "4800000", 4800000.0])
def test_integers_and_booleans_are_not_coerced(client, deal, amount: Any) -> None:
    cid, did = deal
    assert refused_field(client, f"/customers/{cid}/deals", {"title": "案件", "owner": "tanaka",
                                                             "amount": amount}) == "amount"
    assert refused_field(client, f"/customers/{cid}/deals/{did}/quotes", {"amount": amount}) == "amount"
    assert refused_field(client, "/customers", {"company_name": "株式会社型", "employee_count": amount}) == \
        "employee_count"
    assert refused_field(client, f"/customers/{cid}/contacts", {"name": "佐藤", "is_decision_maker": "true"}) == \
        "is_decision_maker"
    assert refused_field(client, f"/customers/{cid}/contacts", {"name": "佐藤", "is_decision_maker": 1}) == \
        "is_decision_maker"
    assert refused_field(client, f"/customers/{cid}/touchpoints", {
        "channel": "phone", "direction": "outbound", "summary": "s", "expected_version": True}) == "expected_version"


def test_an_invalid_body_is_answered_with_its_first_20_problems_and_their_count(client) -> None:
    body = {"company_name": "株式会社キー", **{f"k{i}": 1 for i in range(10_000)}}
    started = time.perf_counter()
    answer = client.post("/customers", json=body, headers=auth(client))
    seconds = time.perf_counter() - started
    assert answer.status_code == 422
    error = answer.json()
    assert (error["code"], error["count"], len(error["fields"]), error["field"]) == (
        "invalid_request", 10_000, 20, "k0")
    assert error["message"].endswith("; and 9980 more")
    assert len(answer.content) < 4_000
    assert seconds < 5, seconds


def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not(client, deal) -> None:
    cid, did = deal
    path = f"/customers/{cid}/deals/{did}/temperature"
    big = orjson.dumps({"temperature": {"choice": "high", "note": "x" * 2_000_000}})  # the note that stopped the relay
    declared = client.post(path, content=big, headers={**auth(client), "Content-Type": "application/json"})
    assert declared.status_code == 413
    assert declared.json() == {"code": "body_too_large",
                               "message": f"the request body is larger than {LIMIT} bytes (the server's "
                                          "MAX_REQUEST_BYTES)"}
    streamed = client.post(path, content=iter([big[:100_000], big[100_000:]]),
                           headers={**auth(client), "Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
    within = orjson.dumps({"temperature": {"choice": "high", "note": "x" * 200_000}})
    answer = client.post(path, content=within, headers={**auth(client), "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["field"]) == (422, "temperature.note")  # read, then refused by field


@pytest.fixture(scope="module")
def served(settings, customers) -> Iterator[str]:
    """The command API on a real uvicorn server, for bodies that really stream in chunks."""
    from services.command.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, customers), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_chunked_body_is_counted_while_it_streams(client, served) -> None:
    headers = {**auth(client), "Content-Type": "application/json"}

    def chunks(total: int) -> Iterator[bytes]:
        yield b'{"company_name": "\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe", "industry": "'
        for _ in range(total // 16_384):
            yield b"x" * 16_384
        yield b'"}'

    with httpx.Client(base_url=served, timeout=30) as http:
        over = http.post("/customers", content=chunks(4 * LIMIT), headers=headers)
        assert over.status_code == 413 and over.json()["code"] == "body_too_large"
        assert over.request.headers["transfer-encoding"] == "chunked"
    with httpx.Client(base_url=served, timeout=30) as http:
        under = http.post("/customers", content=chunks(LIMIT // 2), headers=headers)
        assert (under.status_code, under.json()["field"]) == (422, "industry")  # whole, then refused by field
        fine = http.post("/customers", content=iter([b'{"company_name": "', "株式会社チャンク".encode(), b'"}']),
                         headers=headers)
        assert fine.status_code == 201, fine.text
        declared = http.post("/customers", content=b"{" + b" " * (LIMIT + 1) + b"}", headers=headers)
        assert declared.status_code == 413


def test_max_request_bytes_sets_where_413_begins(settings, customers) -> None:
    from fastapi.testclient import TestClient

    from services.command.app import create_app

    limit = 4_096  # MAX_REQUEST_BYTES=4096 instead of the default 262144
    with TestClient(create_app(settings.model_copy(update={"max_request_bytes": limit}), customers)) as small:
        headers = {**auth(small), "Content-Type": "application/json"}

        def body(size: int) -> bytes:
            head = b'{"company_name": "' + "株式会社境界".encode() + b'", "note": "'
            return head + b"x" * (size - len(head) - 2) + b'"}'

        over = small.post("/customers", content=body(limit + 1), headers=headers)
        assert over.status_code == 413 and over.json() == {
            "code": "body_too_large",
            "message": f"the request body is larger than {limit} bytes (the server's MAX_REQUEST_BYTES)"}
        streamed = small.post("/customers", content=iter([body(limit + 1)[:limit], b"x"]), headers=headers)
        assert streamed.status_code == 413
        at = small.post("/customers", content=body(limit), headers=headers)
        assert (at.status_code, at.json()["field"]) == (422, "note"), at.text  # read whole, then judged by field
        assert small.post("/customers", content=orjson.dumps({"company_name": "株式会社境界内"}),
                          headers=headers).status_code == 201
