"""Bearer tokens and roles on the command API: 401, 403 naming the permission, the actor from the token."""

from __future__ import annotations

import pytest

from shared.events import Actor
from tests.support import ACTOR, auth, events_of, open_deal, post, register, run_cli

ROLES = ["sales", "cs", "support", "manager", "auditor", "privacy", "admin"]


def call(client, role: str, method: str, path: str, body: dict | None = None) -> int:
    headers = auth(client, {**ACTOR, "user": f"user-{role}"}, role=role)
    response = client.request(method, path, json=body, headers=headers)
    return response.status_code


@pytest.fixture(scope="module")
def target(client) -> dict[str, str]:
    cid = register(client)
    did = open_deal(client, cid)
    ticket = post(client, f"/customers/{cid}/tickets", {"title": "問い合わせ"},
                  actor={"user": "kato", "department": "support"})["created"]["ticket_id"]
    contact = post(client, f"/customers/{cid}/contacts", {"name": "権限 太郎"})["created"]["contact_id"]
    return {"cid": cid, "did": did, "ticket": ticket, "contact": contact}


# endpoint group -> (method, path, body, roles allowed)
GROUPS = {
    "register customer": ("POST", "/customers", {"company_name": "権限テスト"}, {"sales"}),
    "touchpoint": ("POST", "/customers/{cid}/touchpoints",
                   {"channel": "phone", "direction": "outbound", "summary": "x"}, {"sales"}),
    "open deal": ("POST", "/customers/{cid}/deals", {"title": "x", "owner": "tanaka"}, {"sales"}),
    "stage change": ("POST", "/customers/{cid}/deals/{did}/stage", {"to_stage": "first_contact_done"}, {"sales"}),
    "hearing": ("POST", "/customers/{cid}/deals/{did}/hearings", {"issue": "x"}, {"sales"}),
    "ticket": ("POST", "/customers/{cid}/tickets", {"title": "x"}, {"cs", "support"}),
    "ticket update": ("POST", "/customers/{cid}/tickets/{ticket}/updates", {"status": "in_progress"},
                      {"cs", "support"}),
    "onboarding": ("POST", "/customers/{cid}/onboarding-progress", {"progress_percent": 10}, {"cs", "support"}),
    "satisfaction": ("POST", "/customers/{cid}/satisfaction", {"score": 3}, {"cs", "support"}),
    "feedback": ("POST", "/customers/{cid}/feedback", {"kind": "usage", "summary": "x"}, {"sales", "cs", "support"}),
    "read customer": ("GET", "/customers/{cid}", None, {"sales", "cs", "support", "manager", "auditor", "privacy"}),
    "read deal": ("GET", "/customers/{cid}/deals/{did}", None,
                  {"sales", "cs", "support", "manager", "auditor", "privacy"}),
    "personal data": ("POST", "/personal-data/contacts/{contact}/disclosure", None, {"privacy", "admin"}),
}


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_of_the_command_api(client, target, role: str, group: str) -> None:
    method, path, body, allowed = GROUPS[group]
    status = call(client, role, method, path.format(**target), body)
    if role in allowed:
        assert status in (200, 201), f"{role} on {group}: {status}"
    else:
        assert status == 403, f"{role} on {group}: {status}"


def test_403_names_the_missing_permission(client, target) -> None:
    headers = auth(client, {"user": "suzuki", "department": "cs"})
    response = client.post(f"/customers/{target['cid']}/deals/{target['did']}/stage", json={"to_stage": "x"},
                           headers=headers)
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "permission": "deals:write",
                               "message": "role 'cs' lacks permission 'deals:write'"}


def test_missing_bad_and_revoked_tokens_are_401(client, target) -> None:
    path = f"/customers/{target['cid']}"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer ct_not-a-token"}).status_code == 401
    issued = client.app.state.tokens.issue("manager", Actor(user="boss", department="sales"))
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get(path, headers=headers).status_code == 200
    client.app.state.tokens.revoke(issued.principal.token_id)
    response = client.get(path, headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


def test_the_actor_on_events_comes_from_the_token_not_the_body(client, db) -> None:
    cid = register(client)
    body = {"channel": "visit", "direction": "outbound", "summary": "訪問",
            "actor": {"user": "someone-else", "department": "support"}}
    response = client.post(f"/customers/{cid}/touchpoints", json=body, headers=auth(client))
    assert (response.status_code, response.json()["field"]) == (422, "actor")
    del body["actor"]
    post(client, f"/customers/{cid}/touchpoints", body)
    state = db.execute("SELECT state FROM customers_events WHERE originator_id = %s AND originator_version = 2",
                       (cid,)).fetchone()[0]
    assert b'"user":"tanaka"' in state and b'"team":"\xe6\x9c\xac\xe7\xa4\xbe' in state
    assert len(events_of(db, cid)) == 2


def test_tokens_are_issued_listed_and_revoked_with_the_cli(database_url, db) -> None:
    env = {"DATABASE_URL": database_url}
    issued = run_cli("tokens", "issue", "--user", "yamada", "--role", "auditor", "--department", "sales",
                     "--team", "監査室", env=env)
    assert issued.returncode == 0, issued.stderr
    token_id = issued.stdout.split("token_id:")[1].split()[0]
    token = issued.stdout.split("token:")[1].split()[0]
    stored = db.execute("SELECT token_hash FROM api_tokens WHERE token_id = %s", (token_id,)).fetchone()[0]
    assert token not in stored and len(stored) == 64, "only the hash is stored"
    assert token_id in run_cli("tokens", "list", env=env).stdout
    assert run_cli("tokens", "revoke", token_id, env=env).returncode == 0
    assert "revoked" in run_cli("tokens", "list", env=env).stdout
