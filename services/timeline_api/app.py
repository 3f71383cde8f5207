"""Composition root of the timeline API: settings -> migrations, event store reader + read pool -> routes.

Answers what people ask every day from the read models (SQL on the projections'
tables), and from the event store only where history itself is the question (auditors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg import Connection, IsolationLevel

from services.body_limit import BodyLimit
from services.observability import database_answers, install_observability
from services.projections.migrations import read_models
from services.security import install_auth_handlers
from services.timeline_api.dashboard import install_dashboard
from services.timeline_api.errors import install_timeline_error_handlers
from services.timeline_api.routes import audit, customers as customer_routes, follow_up, forecast, insights, pipeline
from shared.auth import TokenStore
from shared.database import database_url, open_pool
from shared.event_store import EventStoreReader, open_event_store
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.process import ProcessDefinition, load_process_definition
from shared.settings import Settings
from shared.stored_rows import StoreTables

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


def _read_only(conn: Connection) -> None:
    conn.isolation_level = IsolationLevel.REPEATABLE_READ  # one consistent view per request
    conn.read_only = True


def create_app(settings: Settings | None = None, reader: EventStoreReader | None = None,
               process: ProcessDefinition | None = None) -> FastAPI:
    """The API over the given reader of the event store, or one opened from settings at start-up; the
    migrations run first (the read models' tables too), so it answers from the start."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url(settings)
        app.state.settings = settings
        app.state.process = process or load_process_definition(settings.process_definition)
        migrate(url, settings, read_models(app.state.process))
        app.state.reader = reader or open_event_store(settings.model_copy(update={"database_url": url}))
        app.state.tokens = TokenStore.open(url)
        app.state.event_store = StoreTables.of(app.state.reader.recorder)
        app.state.pool = open_pool(  # connections are tested before use; one found dead: every idle one is tested
            url, "timeline-api", max_size=settings.timeline_pool_size, configure=_read_only,
            kwargs={"options": f"-c statement_timeout={settings.timeline_statement_timeout * 1000}"})
        app.state.pool.open(wait=True)
        yield
        app.state.pool.close()
        app.state.tokens.close()
        if reader is None:
            app.state.reader.close()

    app = FastAPI(title="customer-timeline timeline API", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, page_prefix="/ui")  # the dashboard's forms
    install_timeline_error_handlers(app)
    install_auth_handlers(app)
    install_observability(app, Metrics(), database_answers(lambda: app.state.pool))
    for module in (customer_routes, follow_up, pipeline, forecast, insights, audit):
        app.include_router(module.router)
    install_dashboard(app)
    return app
