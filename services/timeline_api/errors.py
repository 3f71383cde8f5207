"""The timeline API's own errors, beside the handlers both APIs share (``services/http_errors.py``).

Domain errors (404 unknown customer, 422 invalid query value naming the parameter, 409 a stored event no
longer readable), request validation and a database that does not answer (503) are the shared handlers'.
Here: a read model's table gone missing (dropped by hand) and a query over its time limit are 503 (try
again), never 500; a value the database cannot take is 422.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.http_errors import READ_HTTP_CODES, error, error_responses, install_error_handlers
from shared.domain.errors import CustomerMergedError

ERROR_RESPONSES = error_responses({
    307: "the customer was merged into another (`customer_merged`): `Location` is the same view of the survivor",
    404: "unknown customer",
    409: "a stored event can no longer be read (`unreadable_stream`)",
    422: "an invalid query or path value, named in `field`",
    503: "the database does not answer, a query ran too long, or a read model's table is missing; retry",
})


async def _read_model_missing(_: Request, problem: psycopg.errors.UndefinedTable) -> JSONResponse:
    message = f"a read model's table is missing (restart the API to create it): {problem.diag.message_primary}"
    return error(503, "read_model_unavailable", message, **{"Retry-After": "5"})


async def _query_cancelled(_: Request, _problem: psycopg.errors.QueryCanceled) -> JSONResponse:
    return error(503, "query_timeout", "the query took longer than TIMELINE_STATEMENT_TIMEOUT; narrow it down")


async def _unstorable_value(_: Request, problem: psycopg.DataError) -> JSONResponse:
    return error(422, "invalid_request", f"a query value the database cannot take: {problem}")


async def _merged(request: Request, problem: CustomerMergedError) -> JSONResponse:
    """A merged customer's views point to its survivor: the same path (and query) under the survivor's id."""
    path = request.url.path.replace(str(problem.customer_id), problem.survivor_id)
    location = path + (f"?{request.url.query}" if request.url.query else "")
    return JSONResponse({**problem.detail(), "location": location}, status_code=307, headers={"Location": location})


def install_timeline_error_handlers(app: FastAPI) -> None:
    install_error_handlers(app, READ_HTTP_CODES)
    app.add_exception_handler(CustomerMergedError, _merged)
    app.add_exception_handler(psycopg.errors.UndefinedTable, _read_model_missing)
    app.add_exception_handler(psycopg.errors.QueryCanceled, _query_cancelled)
    app.add_exception_handler(psycopg.DataError, _unstorable_value)  # a last guard; parameters are checked first
