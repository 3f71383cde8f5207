"""Idempotency keys belong to their sender: another user's key never replays this user's answer."""

from __future__ import annotations

import uuid

import orjson

from shared import commands as c
from shared.application import Envelope, Outcome
from shared.domain.errors import IdempotencyKeyReusedError
from shared.events import Actor
from shared.events.customer import CompanyProfile
from tests.support import ACTOR, auth

BRANCH = {"user": "kimura", "team": "大阪支店営業", "department": "sales", "site": "大阪支店"}


def register(client, key: str, actor: dict, occurred_at: str = "2030-01-10T10:00:00+09:00"):
    return client.post("/customers", json={"company_name": "株式会社キー共有", "occurred_at": occurred_at},
                       headers={**auth(client, actor), "Idempotency-Key": key})


def stored_keys(db, customer_id: str) -> list[str]:
    return [orjson.loads(state)["idempotency_key"] for (state,) in db.execute(
        "SELECT state FROM customers_events WHERE originator_id = %s", (customer_id,)).fetchall()]


def test_two_users_sending_the_same_key_get_answers_of_their_own(client, db) -> None:
    key = f"reg-{uuid.uuid4()}"
    ours, theirs = register(client, key, ACTOR), register(client, key, BRANCH)
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["customer_id"] != theirs.json()["customer_id"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert stored_keys(db, ours.json()["customer_id"]) == stored_keys(db, theirs.json()["customer_id"]) == [key]

    again = register(client, key, BRANCH)
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (201, theirs.json(), "true")


def test_the_same_user_with_another_occurred_at_is_refused(client) -> None:
    key = f"reg-{uuid.uuid4()}"
    assert register(client, key, ACTOR).status_code == 201
    moved = register(client, key, ACTOR, occurred_at="2030-01-11T10:00:00+09:00")
    assert (moved.status_code, moved.json()["code"]) == (422, "idempotency_key_reused")
    unset = client.post("/customers", json={"company_name": "株式会社キー共有"},
                        headers={**auth(client, ACTOR), "Idempotency-Key": key})
    assert (unset.status_code, unset.json()["code"]) == (422, "idempotency_key_reused")


def test_keys_are_kept_apart_within_one_batch(customers) -> None:
    key = f"batch-{uuid.uuid4()}"
    ours, theirs = Actor(**ACTOR), Actor(**BRANCH)
    command = c.RegisterCustomer(details=CompanyProfile(company_name="株式会社同一バッチ"))
    first, second, retry, reused = customers.execute([
        Envelope(command, None, ours, idempotency_key=key), Envelope(command, None, theirs, idempotency_key=key),
        Envelope(command, None, ours, idempotency_key=key),
        Envelope(command, None, theirs.model_copy(update={"site": "名古屋支店"}), idempotency_key=key)])
    assert isinstance(first, Outcome) and isinstance(second, Outcome)
    assert first.customer_id != second.customer_id and not first.replayed and not second.replayed
    assert isinstance(retry, Outcome) and (retry.customer_id, retry.replayed) == (first.customer_id, True)
    assert isinstance(reused, IdempotencyKeyReusedError)  # same user, another actor: not the same request
