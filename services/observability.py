"""Health, readiness and metrics for both HTTP APIs: one call per app installs them.

* ``GET /healthz``: the process answers (no database): 200 ``{"status": "ok"}``.
* ``GET /readyz``: the database answers ``SELECT 1`` within ``READY_TIMEOUT`` seconds: 200
  ``{"status": "ready"}``, else 503 ``{"code": "not_ready", "message": ...}``.
* ``GET /metrics``: Prometheus text: requests by method, route template (``/customers/{customer_id}``,
  never the raw path) and status, and their latency.

None needs a token: orchestrators and Prometheus call them. They stay out of the OpenAPI
schema, which documents the business API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import psycopg
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.http_errors import ErrorBody
from shared.metrics import CONTENT_TYPE, Metrics

READY_TIMEOUT = 2.0  # seconds


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"


def database_answers(pool: Callable[[], ConnectionPool]) -> Callable[[], None]:
    """A readiness check: a connection from the app's pool runs SELECT 1 within READY_TIMEOUT."""
    def check() -> None:
        with pool().connection(timeout=READY_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    return check


class RequestMetrics:
    """ASGI middleware counting each answer by method, route template and status, and timing it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # bounded: templates only
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(scope["method"], route).observe(time.perf_counter() - started)


def install_observability(app: FastAPI, metrics: Metrics, ready: Callable[[], None]) -> None:
    """Add /healthz, /readyz and /metrics to the app, and count its requests into metrics."""
    router = APIRouter(tags=["operations"], include_in_schema=False)  # for orchestrators, not API clients

    @router.get("/healthz", summary="The process answers (the database is not asked)")
    async def healthz() -> Health:
        return Health()

    @router.get("/readyz", summary="The database answers: ready to serve", response_model=Readiness,
                responses={503: {"model": ErrorBody, "description": "the database does not answer"}})
    def readyz():  # noqa: ANN202 - a Readiness or a 503 ErrorBody
        try:
            ready()
        except (psycopg.Error, PoolTimeout, OSError) as error:
            return JSONResponse({"code": "not_ready", "message": f"the database does not answer: "
                                                                 f"{str(error) or type(error).__name__}"},
                                status_code=503, headers={"Retry-After": "5"})
        return Readiness()

    @router.get("/metrics", summary="Prometheus metrics of this process", response_class=Response,
                responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    app.include_router(router)
    app.add_middleware(RequestMetrics, metrics=metrics)
