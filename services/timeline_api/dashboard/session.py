"""Who is looking: sign-in with a token kept in a cookie, CSRF on forms, the language, page permissions.

* ``ct_session``: the bearer token, HttpOnly, SameSite=Strict, Secure (browsers keep Secure cookies on
  http://localhost and 127.0.0.1 too); checked against the token store on every page, so a revoked
  token signs its user out within the store's cache time.
* ``ct_csrf``: a random value, also in a hidden field of every form that changes state (sign-in,
  sign-out); a POST whose field differs is refused with 403.
* ``ct_lang``: ``ja`` (default) or ``en``.

A page without a valid session redirects to the sign-in page (and back after it); a role without the
page's permission gets the 403 page naming the permission.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.timeline_api.dashboard.render import CSRF_COOKIE, LANG_COOKIE, page
from shared.auth import Permission, Principal

COOKIE = "ct_session"
router = APIRouter(prefix="/ui", include_in_schema=False)


class SignInRequired(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class PageForbidden(Exception):
    """The 403 page, naming what is missing: a permission of the role, or a form's CSRF value."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


def check_csrf(request: Request, sent: str) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not hmac.compare_digest(expected, sent):
        raise PageForbidden("csrf")


def signed_in(request: Request) -> Principal:
    token = request.cookies.get(COOKIE)
    principal = request.app.state.tokens.principal(token) if token else None
    if principal is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.principal = principal
    return principal


def may(permission: Permission):
    """A page dependency: the signed-in principal, or the 403 page naming the permission."""
    def check(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
        if not principal.may(permission):
            raise PageForbidden(str(permission))
        return principal
    return check


def home_of(principal: Principal) -> str:
    if principal.may(Permission.READ_PIPELINE):
        return "/ui/board"
    return "/ui/customers"


def _safe_next(path: str | None) -> str | None:
    return path if path and path.startswith("/ui") and not path.startswith("//") else None


@router.get("", response_class=HTMLResponse)
def home(principal: Annotated[Principal, Depends(signed_in)]) -> Response:
    return RedirectResponse(home_of(principal), status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None) -> Response:
    return page(request, "sign_in.html", next=_safe_next(next) or "", error=None)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, token: Annotated[str, Form(max_length=200)] = "",
            csrf: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    check_csrf(request, csrf)
    principal = request.app.state.tokens.principal(token.strip()) if token.strip() else None
    if principal is None:
        return page(request, "sign_in.html", status_code=401, next=_safe_next(next) or "", error="bad_token")
    response = RedirectResponse(_safe_next(next) or home_of(principal), status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, secure=True, samesite="strict", path="/ui")
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(request, csrf)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/lang")
def choose_language(to: str = "ja", next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next) or "/ui", status_code=303)
    response.set_cookie(LANG_COOKIE, "en" if to == "en" else "ja", samesite="lax", path="/ui",
                        max_age=365 * 86400)
    return response


async def _sign_in_first(request: Request, error: SignInRequired) -> Response:
    return RedirectResponse(f"/ui/sign-in?next={quote(error.path, safe='')}", status_code=303)


async def _forbidden(request: Request, error: PageForbidden) -> Response:
    return page(request, "forbidden.html", status_code=403, permission=str(error.permission))


HEADINGS = {404: "not_found", 422: "check_input", 503: "unavailable"}


def _as_page(handler):
    """The API's handler of an error, answering a page under /ui: the same status, the JSON answer's
    field and message shown on the error page in the page's language (never JSON, never a stack trace)."""
    async def dispatch(request: Request, error: Exception) -> Response:
        answer = await handler(request, error)
        if not request.url.path.startswith("/ui"):
            return answer
        body = json.loads(answer.body or b"{}")
        return page(request, "error.html", status_code=answer.status_code,
                    heading=HEADINGS.get(answer.status_code, "error"), field=body.get("field"),
                    detail=body.get("message", ""))
    return dispatch


def install_page_errors(app: FastAPI) -> None:
    """After the API's own handlers: theirs answer pages too (see _as_page)."""
    for kind, handler in list(app.exception_handlers.items()):
        if isinstance(kind, type) and issubclass(kind, Exception):
            app.exception_handlers[kind] = _as_page(handler)
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(PageForbidden, _forbidden)


