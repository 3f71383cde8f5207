"""Each named error mapped to its HTTP status, once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from eventsourcing.persistence import OperationalError

from services.command.schemas import ErrorBody
from shared.domain.errors import (
    DomainError, IdempotencyKeyReusedError, InvalidFieldError, InvalidStateError, NotFoundError,
    TransitionRefusedError, VersionConflictError, WriteContentionError,
)

LISTED_PROBLEMS = 20  # an invalid request's answer names this many of its problems, and counts them all

STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    InvalidFieldError: 422,
    IdempotencyKeyReusedError: 422,
    TransitionRefusedError: 409,
    VersionConflictError: 409,
    InvalidStateError: 409,  # also StageOrderError and AlreadyExistsError
    WriteContentionError: 503,
}

ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "a body that cannot be read (e.g. not UTF-8)"},
    401: {"model": ErrorBody, "description": "missing, unknown or revoked bearer token"},
    403: {"model": ErrorBody, "description": "the token's role lacks the permission named in the body"},
    404: {"model": ErrorBody, "description": "unknown customer, deal or other referenced item"},
    409: {"model": ErrorBody, "description": "stale expected version, unmet transition criteria, or a state "
                                             "the command does not fit"},
    413: {"model": ErrorBody, "description": "a body larger than the server's MAX_REQUEST_BYTES (`body_too_large`)"},
    422: {"model": ErrorBody, "description": "invalid fields (the first 20 named, `count` of them all), or an "
                                             "idempotency key reused"},
}


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    raise TypeError(f"no HTTP status is mapped for {type(error).__name__}")


def _body(detail: dict) -> dict:
    return {k: v for k, v in detail.items() if v is not None}


async def domain_error(_: Request, error: DomainError) -> JSONResponse:
    return JSONResponse(_body(error.detail()), status_code=status_of(error))


def _field(loc: tuple) -> str:
    """Body fields by their path inside the body (as domain errors name them); others with their source."""
    parts = [str(part) for part in (loc[1:] if loc and loc[0] == "body" and len(loc) > 1 else loc)]
    return ".".join(parts)


async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
    """The first LISTED_PROBLEMS problems and how many there are (300,000 unknown keys get a short answer)."""
    problems = error.errors()
    fields = [{"field": _field(e["loc"]), "message": e["msg"]} for e in problems[:LISTED_PROBLEMS]]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    if len(problems) > LISTED_PROBLEMS:
        message += f"; and {len(problems) - LISTED_PROBLEMS} more"
    return JSONResponse({"code": "invalid_request", "message": message, "fields": fields, "count": len(problems),
                         "field": fields[0]["field"] if fields else None}, status_code=422)


async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
    """Errors the framework raises itself (e.g. a body that is not UTF-8), in the same shape."""
    return JSONResponse({"code": "bad_request" if error.status_code == 400 else "http_error",
                         "message": str(error.detail)}, status_code=error.status_code, headers=error.headers)


async def database_unavailable(_: Request, error: OperationalError) -> JSONResponse:
    return JSONResponse({"code": "database_unavailable", "message": str(error)}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_unavailable)
