"""The web dashboard: server-rendered pages for managers, CS, support and auditors, under ``/ui``.

Served by the timeline API process, reading the same read models through the same route functions,
permissions and read-only transactions as the JSON API (a page calls the JSON route's function and
renders its answer). Sign-in takes a bearer token and keeps it in an HttpOnly, SameSite=Strict cookie;
every form that changes state carries a CSRF token (double submit). Japanese by default, English on
request (`?lang=en`, kept in a cookie). No JavaScript: filters are GET forms, so every view is a URL.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent


def install_dashboard(app: FastAPI) -> None:
    from services.timeline_api.dashboard import audit, customers, manager, session

    session.install_page_errors(app)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    for module in (session, manager, customers, audit):
        app.include_router(module.router)
