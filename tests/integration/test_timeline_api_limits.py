"""The timeline API reads no body over MAX_REQUEST_BYTES: the dashboard's forms answer a 413 page, the JSON API 413."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.timeline_api.app import create_app

LIMIT = 4_096


def test_a_body_over_max_request_bytes_is_413_a_page_on_the_dashboard_and_json_elsewhere(isolated) -> None:
    settings = isolated(max_request_bytes=LIMIT)
    with TestClient(create_app(settings)) as client:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        page = client.post("/ui/sign-in", content=b"token=" + b"x" * LIMIT, headers=form)
        assert page.status_code == 413 and page.headers["content-type"].startswith("text/html"), page.text
        assert "送信内容が大きすぎます" in page.text and f"{LIMIT:,} バイト" in page.text
        streamed = client.post("/ui/sign-in", content=iter([b"token=", b"x" * LIMIT]), headers=form)
        assert streamed.status_code == 413 and "送信内容が大きすぎます" in streamed.text
        api = client.request("GET", "/pipeline", content=b"x" * (LIMIT + 1))
        assert api.status_code == 413 and api.json() == {
            "code": "body_too_large",
            "message": f"the request body is larger than {LIMIT} bytes (the server's MAX_REQUEST_BYTES)"}
        within = client.post("/ui/sign-in", content=b"token=nope", headers=form)
        assert within.status_code != 413 and within.headers["content-type"].startswith("text/html")
