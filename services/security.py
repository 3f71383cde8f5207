"""Bearer-token authentication and role permissions for both HTTP APIs (FastAPI dependencies).

Missing or bad token: 401. A token whose role lacks the permission: 403 naming it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from shared.auth import Permission, Principal, TokenStore


class UnauthenticatedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class ForbiddenError(Exception):
    def __init__(self, principal: Principal, permission: Permission) -> None:
        super().__init__(f"role '{principal.role}' lacks permission '{permission}'")
        self.permission = permission


async def authenticated(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token> (customer-timeline tokens issue)")] = None,
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("a bearer token is required (Authorization: Bearer <token>)")
    store: TokenStore = request.app.state.tokens
    principal = store.cached_principal(token.strip())  # most requests: no thread, no query
    if principal is False:
        principal = await asyncio.to_thread(store.principal, token.strip())
    if principal is None:
        raise UnauthenticatedError("the token is unknown or revoked")
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller's role has the permission."""

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.may(permission):
            raise ForbiddenError(principal, permission)
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    return check


PrincipalDep = Annotated[Principal, Depends(authenticated)]

AUTH_ERRORS = {  # what a 401 and a 403 mean, in every API's documentation (services/http_errors.py)
    401: "missing, unknown or revoked bearer token",
    403: "the token's role lacks the permission named in the body",
}


async def _unauthenticated(_: Request, error: UnauthenticatedError) -> JSONResponse:
    return JSONResponse({"code": "unauthenticated", "message": str(error)}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})


async def _forbidden(_: Request, error: ForbiddenError) -> JSONResponse:
    return JSONResponse({"code": "forbidden", "message": str(error), "permission": str(error.permission)},
                        status_code=403)


def install_auth_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UnauthenticatedError, _unauthenticated)
    app.add_exception_handler(ForbiddenError, _forbidden)
