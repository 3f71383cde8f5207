"""Errors of the timeline API, each mapped to its HTTP status once, in the command API's one shape.

Domain errors (404 unknown customer, 422 invalid query value naming the parameter, 409 a
stored event no longer readable) and request validation go through the command API's
handlers. A read model's table gone missing (dropped by hand), a query over its time
limit and a database that does not answer are 503 (try again), never 500.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from services.command.errors import install_error_handlers
from services.command.schemas import ErrorBody

ERROR_RESPONSES = {
    401: {"model": ErrorBody, "description": "missing, unknown or revoked bearer token"},
    403: {"model": ErrorBody, "description": "the token's role lacks the permission named in the body"},
    404: {"model": ErrorBody, "description": "unknown customer"},
    409: {"model": ErrorBody, "description": "a stored event can no longer be read (`unreadable_stream`)"},
    422: {"model": ErrorBody, "description": "an invalid query or path value, named in `field`"},
    503: {"model": ErrorBody, "description": "the database does not answer, a query ran too long, or a read "
                                             "model's table is missing; retry"},
}


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers or None)


async def _read_model_missing(_: Request, error: psycopg.errors.UndefinedTable) -> JSONResponse:
    message = f"a read model's table is missing (restart the API to create it): {error.diag.message_primary}"
    return _error(503, "read_model_unavailable", message, **{"Retry-After": "5"})


async def _query_cancelled(_: Request, error: psycopg.errors.QueryCanceled) -> JSONResponse:
    return _error(503, "query_timeout", "the query took longer than TIMELINE_STATEMENT_TIMEOUT; narrow it down")


async def _unstorable_value(_: Request, error: psycopg.DataError) -> JSONResponse:
    return _error(422, "invalid_request", f"a query value the database cannot take: {error}")


async def _database_unavailable(_: Request, error: Exception) -> JSONResponse:
    return _error(503, "database_unavailable", str(error) or type(error).__name__, **{"Retry-After": "5"})


async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return JSONResponse({"code": code, "message": str(error.detail)}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


def install_timeline_error_handlers(app: FastAPI) -> None:
    install_error_handlers(app)
    app.add_exception_handler(psycopg.errors.UndefinedTable, _read_model_missing)
    app.add_exception_handler(psycopg.errors.QueryCanceled, _query_cancelled)
    app.add_exception_handler(psycopg.DataError, _unstorable_value)  # a last guard; parameters are checked first
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
