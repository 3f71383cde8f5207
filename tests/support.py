"""Helpers that drive the command API the way a sales app would."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

ACTOR = {"user": "tanaka", "team": "本社営業1課", "department": "sales", "site": "東京本社"}
SOON = "2030-01-10T10:00:00+09:00"


ROLE_OF_DEPARTMENT = {"sales": "sales", "cs": "cs", "support": "support", "tech": "support"}
_tokens: dict[tuple, str] = {}


def auth(client: Any, actor: dict | None = None, role: str | None = None) -> dict[str, str]:
    """An Authorization header for this actor (a token issued once per actor and role)."""
    from shared.events import Actor

    actor = actor or ACTOR
    role = role or ROLE_OF_DEPARTMENT[actor["department"]]
    key = (id(client.app), role, tuple(sorted(actor.items())))
    if key not in _tokens:
        _tokens[key] = client.app.state.tokens.issue(role, Actor(**actor)).token
    return {"Authorization": f"Bearer {_tokens[key]}"}


def read(api: Any, path: str, role: str = "manager", expect: int = 200, actor: dict | None = None,
         **params: Any) -> Any:
    """GET as a reader of ``role`` (a user of its own, ``reader-<role>``), checking the status; the response
    (redirects not followed)."""
    reader = {**(actor or ACTOR), "user": f"reader-{role}"}
    response = api.get(path, params=params, headers=auth(api, reader, role=role), follow_redirects=False)
    assert response.status_code == expect, response.text
    return response


def post(client: Any, path: str, body: dict[str, Any], status: int = 201, actor: dict | None = None,
         **headers: str) -> dict[str, Any]:
    response = client.post(path, json=body,
                           headers={**auth(client, actor), **{k.replace("_", "-"): v for k, v in headers.items()}})
    assert response.status_code == status, response.text
    return response.json()


def register(client: Any, name: str = "株式会社テスト商事", **profile: Any) -> str:
    return post(client, "/customers", {"company_name": name, **profile})["customer_id"]


def open_deal(client: Any, customer_id: str, **details: Any) -> str:
    body = {"title": "営業支援システム導入", "owner": "tanaka", "amount": 4_800_000, **details}
    return post(client, f"/customers/{customer_id}/deals", body)["created"]["deal_id"]


def prepare_approach_to_hearing(client: Any, customer_id: str, deal_id: str) -> None:
    """Record the facts the approach -> hearing criteria ask for."""
    base = f"/customers/{customer_id}"
    post(client, f"{base}/contacts", {"name": "佐藤 花子", "email": "sato@example.jp", "title": "部長"})
    post(client, f"{base}/touchpoints", {"deal_id": deal_id, "channel": "phone", "direction": "outbound",
                                         "summary": "初回架電", "reaction": {"choice": "considering"}})
    post(client, f"{base}/deals/{deal_id}/hearings", {"issue": "拠点ごとに顧客情報が分断"})


def stage(client: Any, customer_id: str, deal_id: str, to_stage: str, status: int = 201) -> dict[str, Any]:
    return post(client, f"/customers/{customer_id}/deals/{deal_id}/stage", {"to_stage": to_stage}, status)


def events_of(db: Any, customer_id: str) -> list[tuple[int, str]]:
    rows = db.execute("SELECT originator_version, topic FROM customers_events WHERE originator_id = %s "
                      "ORDER BY originator_version", (customer_id,)).fetchall()
    return [(version, topic.rsplit(":", 1)[1]) for version, topic in rows]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the ``customer-timeline`` command line as a user would."""
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
