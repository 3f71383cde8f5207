"""Composition root of the command API: settings -> Customers -> writer -> routes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.body_limit import BodyLimit
from services.command.routes import customers as customer_routes, deals, personal_data, sales_activity, targets, tickets
from services.command.writer import BatchingWriter
from services.http_errors import install_error_handlers
from services.observability import database_answers, install_observability
from services.security import install_auth_handlers
from shared.application import Customers
from shared.auth import TokenStore
from shared.bootstrap import build_customers
from shared.database import database_url
from shared.metrics import Metrics
from shared.process import ProcessDefinition
from shared.settings import Settings
from shared.targets import SalesTargets

WRITER_SWITCH_INTERVAL = 0.0005  # seconds (see lifespan)

DESCRIPTION = """
Writes customer events: one stream per customer, the standard sales process enforced.

* `Authorization: Bearer <token>` on every call (`customer-timeline tokens issue`): the token's user,
  team, department and site are the actor recorded on the events; its role decides what it may do.
* A command body may give `occurred_at` (when it happened; default: when recorded).
* `Idempotency-Key`: a retry with the same key appends nothing and answers as the first time.
* `If-Match: "7"` (or `expected_version` in the body): refused with 409 unless the stream is at 7.
* Every 4xx body has one shape (`ErrorBody`): `code`, `message`, and the field or unmet criteria.
"""


def create_app(settings: Settings | None = None, customers: Customers | None = None,
               process: ProcessDefinition | None = None) -> FastAPI:
    """The API over the given Customers application, or one built from settings at start-up."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The writer thread waits on PostgreSQL five times per batch; each time it needs the GIL back from the
        # event loop, which keeps it for up to the switch interval (5 ms by default) while it parses requests:
        # 25 ms per group commit of waiting for nothing. Hand it over sooner.
        sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
        url = database_url(settings)
        app.state.database_url = url  # the privacy office's read models (routes/personal_data.py)
        app.state.customers = customers or build_customers(settings.model_copy(update={"database_url": url}), process)
        app.state.tokens = TokenStore.open(url)
        app.state.writer = BatchingWriter(app.state.customers, settings.write_batch_size)
        app.state.targets = SalesTargets(app.state.customers)
        app.state.writer.start()
        yield
        await app.state.writer.stop()
        app.state.tokens.close()
        if customers is None:
            app.state.customers.close()

    app = FastAPI(title="customer-timeline command API", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    install_error_handlers(app)
    install_auth_handlers(app)
    install_observability(app, Metrics(), database_answers(lambda: app.state.customers.recorder.datastore.pool))
    for module in (customer_routes, deals, sales_activity, tickets, targets, personal_data):
        app.include_router(module.router)

    @app.get("/process", tags=["process"], summary="The sales process in force (phases, stages, criteria, fields)")
    async def get_process() -> dict:
        return app.state.customers.process.model_dump(mode="json")

    return app
