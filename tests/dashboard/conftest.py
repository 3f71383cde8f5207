"""The dashboard over the demo history: the command API writes it (services/dev/demo.py), the relay and the
three projection workers run in threads, the timeline API (with its pages) answers through a TestClient on
https://testserver (the session cookies are Secure). One for the tests of this package; tokens for every dev user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.command.app import create_app as create_command_app
from services.dev.demo import DemoSummary, write_demo
from services.dev.users import DEV_USERS
from services.timeline_api.app import create_app as create_timeline_app
from shared.bootstrap import build_customers
from tests.streaming import caught_up, eventually, running


@dataclass
class Dashboard:
    app: TestClient  # the timeline API, pages included
    command: TestClient
    tokens: dict[str, str]  # DEV_USERS key -> token
    demo: DemoSummary
    conn: psycopg.Connection

    def browser(self, who: str | None = None) -> TestClient:
        """A fresh browser (its own cookies), signed in as one of DEV_USERS (None: not signed in)."""
        client = TestClient(self.app.app, base_url="https://testserver", follow_redirects=False)
        if who is not None:
            sign_in(client, self.tokens[who])
        return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the form"
    return found.group(1)


def sign_in(client: TestClient, token: str, next_path: str = "") -> object:
    form = client.get("/ui/sign-in")
    assert form.status_code == 200, form.text
    return client.post("/ui/sign-in", data={"token": token, "csrf": csrf_of(form.text), "next": next_path})



@pytest.fixture(scope="package")  # its workers and pools end with the package's tests, not the session
def dashboard(isolated) -> Iterator[Dashboard]:
    settings = isolated()
    customers = build_customers(settings)
    with TestClient(create_command_app(settings, customers)) as command, \
            TestClient(create_timeline_app(settings, customers.reader), base_url="https://testserver") as app, \
            running(settings, ("pipeline", "timeline", "duplicates")), \
            psycopg.connect(settings.database_url, autocommit=True) as conn:
        tokens = {u.key: app.app.state.tokens.issue(u.role, u.actor).token for u in DEV_USERS}
        demo = write_demo(command, tokens)
        eventually(lambda: caught_up(conn), timeout=90)
        yield Dashboard(app, command, tokens, demo, conn)
    customers.close()
