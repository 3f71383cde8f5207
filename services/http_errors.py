"""The HTTP errors both APIs answer, in one shape (``ErrorBody``), each mapped to its status once.

Each API installs these handlers (``install_error_handlers``) beside the authentication ones
(``services/security.py``), and adds its own: the command API none, the timeline API the read side's
(``services/timeline_api/errors.py``). Domain errors answer their ``detail()``; an invalid request names its
first ``LISTED_PROBLEMS`` problems and counts them all; a database that does not answer is 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.security import AUTH_ERRORS
from shared.domain.errors import (
    DomainError, IdempotencyKeyReusedError, InvalidFieldError, InvalidStateError, NotFoundError,
    TransitionRefusedError, VersionConflictError, WriteContentionError,
)
from shared.events.limits import LISTED_PROBLEMS, listed_problems


class UnmetCriterionBody(BaseModel):
    id: str = Field(examples=["first_meeting_held"])
    label: str = Field(examples=["初回の打ち合わせが実施されている"])
    label_en: str = Field(examples=["The first meeting has been held"])
    rule: str = Field(examples=["all_of"])
    missing_facts: list[str] = Field(examples=[["meeting_held"]])


class FieldErrorBody(BaseModel):
    field: str = Field(examples=["body.company_name"])
    message: str


class ErrorBody(BaseModel):
    """The one shape of every 4xx answer."""

    code: str = Field(examples=["transition_criteria_unmet"])
    message: str
    field: str | None = None
    allowed: list[str] | None = None
    fields: list[FieldErrorBody] | None = Field(default=None, description=f"the first {LISTED_PROBLEMS} problems "
                                                                          "of an invalid request")
    count: int | None = Field(default=None, description="how many problems the invalid request has in all")
    unmet_criteria: list[UnmetCriterionBody] | None = None
    from_phase: str | None = None
    to_phase: str | None = None
    expected_version: int | None = None
    current_version: int | None = None
    kind: str | None = None
    id: str | None = None
    permission: str | None = Field(default=None, description="the permission a 403 lacked")


def error_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of an API's routes: each status an ``ErrorBody``, 401 and 403 included."""
    texts = {**{status: AUTH_ERRORS[status] for status in AUTH_ERRORS if status not in descriptions}, **descriptions}
    return {status: {"model": ErrorBody, "description": texts[status]} for status in sorted(texts)}


STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    InvalidFieldError: 422,
    IdempotencyKeyReusedError: 422,
    TransitionRefusedError: 409,
    VersionConflictError: 409,
    InvalidStateError: 409,  # also StageOrderError and AlreadyExistsError
    WriteContentionError: 503,
}

# The framework's own errors (an unknown route, a body that is not UTF-8): the code each API names them by.
COMMAND_HTTP_CODES = {400: "bad_request"}
READ_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    raise TypeError(f"no HTTP status is mapped for {type(error).__name__}")


def error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers or None)


async def domain_error(_: Request, error: DomainError) -> JSONResponse:
    return JSONResponse({k: v for k, v in error.detail().items() if v is not None}, status_code=status_of(error))


def _field(loc: tuple) -> str:
    """Body fields by their path inside the body (as domain errors name them); others with their source."""
    parts = [str(part) for part in (loc[1:] if loc and loc[0] == "body" and len(loc) > 1 else loc)]
    return ".".join(parts)


async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
    """The first LISTED_PROBLEMS problems and how many there are (300,000 unknown keys get a short answer)."""
    problems = error.errors()
    fields, message = listed_problems(problems, _field)
    return JSONResponse({"code": "invalid_request", "message": message, "fields": fields, "count": len(problems),
                         "field": fields[0]["field"] if fields else None}, status_code=422)


async def database_unavailable(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"code": "database_unavailable", "message": str(error) or type(error).__name__},
                        status_code=503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI, http_codes: Mapping[int, str] = COMMAND_HTTP_CODES) -> None:
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        """Errors the framework raises itself (an unknown route, a body that is not UTF-8), in the same shape."""
        return JSONResponse({"code": http_codes.get(error.status_code, "http_error"), "message": str(error.detail)},
                            status_code=error.status_code, headers=getattr(error, "headers", None))

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    for unavailable in (OperationalError, psycopg.OperationalError, PoolTimeout):
        app.add_exception_handler(unavailable, database_unavailable)
