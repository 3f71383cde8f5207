"""Composition root of the timeline API: settings -> Customers + read pool -> routes.

Answers what people ask every day from the read models (SQL on the projections'
tables), and from the event store only where history itself is the question (auditors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI
from psycopg import Connection, IsolationLevel
from psycopg_pool import ConnectionPool

from services.projections.registry import PROJECTIONS
from services.observability import database_answers, install_observability
from services.security import install_auth_handlers
from services.timeline_api.errors import install_timeline_error_handlers
from services.timeline_api.queries.event_store import EventStore
from services.timeline_api.routes import audit, customers as customer_routes, insights, pipeline
from shared.application import Customers
from shared.auth import TokenStore
from shared.bootstrap import build_customers
from shared.database import RECONNECT_TIMEOUT, CheckBeforeUse, database_url
from shared.metrics import Metrics
from shared.process import ProcessDefinition
from shared.settings import Settings

DESCRIPTION = """
Reads the customer timeline's read models: one customer's history and summary for everyone who
serves the customer, the pipeline views managers run their meetings with, and the auditors' views
of the event store itself.

* `Authorization: Bearer <token>` on every call; `customers:read` (sales, cs, support, manager, auditor),
  `pipeline:read` (manager, auditor), `audit:read` (auditor).
* Times in queries: `2026-02-01T09:00:00+09:00`, or a date (`2026-02-01`; for `as_of` the end of that day);
  a time without offset is read in `BUSINESS_TIMEZONE` (Asia/Tokyo).
* Paged lists answer `next_cursor`: pass it as `cursor` for the next page.
* Read models follow the event store within moments (the summary of a customer registered a moment ago
  is replayed from its stream: `source: event_store`). Every 4xx body has one shape (`ErrorBody`).
"""


def _ensure_read_tables(url: str, process: ProcessDefinition) -> None:
    """Create the read models' tables (empty) where no projection worker has yet, with the projections'
    own statements: the API then answers from the start, and the workers find their tables in place."""
    for attempt in range(3):
        try:
            with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as curs:
                for projection in PROJECTIONS.values():
                    projection(process).create_tables(curs)
            return
        except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
            if attempt == 2:  # a worker was creating them at the same moment, and is done by now
                raise


def _read_only(conn: Connection) -> None:
    conn.isolation_level = IsolationLevel.REPEATABLE_READ  # one consistent view per request
    conn.read_only = True


def create_app(settings: Settings | None = None, customers: Customers | None = None) -> FastAPI:
    """The API over the given Customers application, or one built from settings at start-up."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url(settings)
        app.state.settings = settings
        app.state.customers = customers or build_customers(settings.model_copy(update={"database_url": url}))
        app.state.tokens = TokenStore(app.state.customers.recorder.datastore)
        app.state.event_store = EventStore.of(app.state.customers.event_recorder)
        _ensure_read_tables(url, app.state.customers.process)
        check = CheckBeforeUse()  # connections are tested before use; one found dead: every idle one is tested
        app.state.pool = check.pool = ConnectionPool(
            url, min_size=1, max_size=settings.timeline_pool_size, open=False, configure=_read_only,
            kwargs={"options": f"-c statement_timeout={settings.timeline_statement_timeout * 1000}",
                    "connect_timeout": 5},
            check=check, timeout=5, reconnect_timeout=RECONNECT_TIMEOUT, name="timeline-api")
        app.state.pool.open(wait=True)
        yield
        app.state.pool.close()
        if customers is None:
            app.state.customers.close()

    app = FastAPI(title="customer-timeline timeline API", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    install_timeline_error_handlers(app)
    install_auth_handlers(app)
    install_observability(app, Metrics(), database_answers(lambda: app.state.pool))
    for module in (customer_routes, pipeline, insights, audit):
        app.include_router(module.router)
    return app
