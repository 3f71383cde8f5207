"""CS and support pages (カスタマーサクセス・サポート): customer search (its landing page lists the customers stuck
in onboarding or adoption) and the customer page.

Both call the JSON routes' functions (``routes/customers.py``: ``search``, ``summary``, ``timeline``;
``routes/follow_up.py``: ``stuck``) in the
request's read-only transaction and render their answers. The query parameters are declared loosely and
checked here, so a bad value (a query of only symbols, a damaged cursor, an unknown department, a malformed
customer id) gets a page in the reader's language, never FastAPI's JSON 422.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.timeline_api.dashboard.render import language, page
from services.timeline_api.dashboard.session import may
from services.timeline_api.dashboard.texts import TEXTS
from services.timeline_api.dependencies import ConnDep, EventStoreDep, ProcessDep, ReaderDep, known_customer, period
from services.timeline_api.routes import customers as api
from services.timeline_api.routes import follow_up
from shared.auth import Permission as P
from shared.domain.errors import CustomerMergedError, InvalidFieldError, NotFoundError
from shared.events import EVENT_TYPES

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(may(P.READ_CUSTOMERS))])

DEPARTMENTS = ("sales", "cs", "support", "tech")
KIND_NAMES = {kind: TEXTS.get(f"cu_kind_{kind}", (kind, kind)) for kind in EVENT_TYPES}  # (ja, en)
SEARCH_LIMIT, TIMELINE_LIMIT, MAX_LIMIT, FOLLOW_UP_LIMIT = 50, 50, 200, 100
MAX_Q, MAX_CURSOR, MAX_MOMENT = 200, 500, 40
# the friendly message of a refused query parameter (InvalidFieldError.field) -> texts.py key
PROBLEMS = {"query.q": "bad_q", "query.cursor": "bad_cursor", "query.since": "bad_period",
            "query.until": "bad_period", "query.kind": "bad_kind", "query.department": "bad_department"}

Many = Annotated[list[str] | None, Query()]  # repeatable; checked here, not by FastAPI


def _text(request: Request, key: str) -> str:
    ja, en = TEXTS[key]
    return en if language(request) == "en" else ja


def _problem(error: InvalidFieldError) -> str:
    return PROBLEMS.get(error.field, "bad_input")


def _limit(value: str | None, default: int) -> int:
    """A page size from the URL: 1 to MAX_LIMIT; anything else is the default."""
    try:
        return min(max(int(value), 1), MAX_LIMIT) if value else default
    except ValueError:
        return default


def _checked(value: str | None, field: str, max_length: int) -> str | None:
    """An optional text parameter: blank is absent; too long or holding NUL is refused like the JSON API does."""
    if value is None or not value.strip():
        return None
    if len(value) > max_length or "\x00" in value:
        raise InvalidFieldError(field, "too long or not text")
    return value


def _link(path: str, params: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def _lang_param(request: Request) -> list[tuple[str, str]]:
    """Keep ``lang`` on the page's own links when the reader chose it in the URL (not only in the cookie)."""
    return [("lang", "en")] if request.query_params.get("lang") == "en" else []


def not_found(request: Request) -> HTMLResponse:
    return page(request, "error.html", status_code=404, heading=_text(request, "customer_not_found"),
                message=_text(request, "customer_not_found_help"))


@router.get("/customers", response_class=HTMLResponse)
def customer_search(request: Request, conn: ConnDep, process: ProcessDep, q: str | None = None,
                    cursor: str | None = None, limit: str | None = None) -> HTMLResponse:
    q_shown = (q or "")[:MAX_Q * 2]
    context = {"q": q_shown, "found": None, "problem": None, "next_link": None, "first_link": None,
               "lang_param": _lang_param(request), "follow_up": None}
    try:
        query = _checked(q, "query.q", MAX_Q)
        if query is None:  # the landing page: the customers stuck in onboarding or adoption
            stuck = follow_up.stuck(conn, process, datetime.now(timezone.utc), limit=FOLLOW_UP_LIMIT, offset=0)
            return page(request, "customers.html", **{**context, "follow_up": stuck})
        after = _checked(cursor, "query.cursor", MAX_CURSOR)
        found = api.search(conn, query, limit=_limit(limit, SEARCH_LIMIT), cursor=after)
    except InvalidFieldError as error:
        return page(request, "customers.html", status_code=422, **{**context, "problem": _problem(error)})
    keep = [("q", query)] + ([("limit", limit)] if limit else []) + _lang_param(request)
    return page(request, "customers.html", **{
        **context, "found": found,
        "next_link": _link("/ui/customers", keep + [("cursor", found.next_cursor)]) if found.next_cursor else None,
        "first_link": _link("/ui/customers", keep) if cursor else None})


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: str, conn: ConnDep, store: EventStoreDep, reader: ReaderDep,
                  process: ProcessDep, department: Many = None, kind: Many = None, since: str | None = None,
                  until: str | None = None, cursor: str | None = None, limit: str | None = None) -> HTMLResponse:
    try:
        cid = UUID(customer_id)
    except ValueError:
        return not_found(request)
    try:
        known_customer(cid, conn, store)
    except NotFoundError:
        return not_found(request)
    try:
        summary = api.summary(cid, conn, store, reader, process)
    except CustomerMergedError as merged:  # a duplicate record: its survivor's page shows its history
        return RedirectResponse(f"/ui/customers/{merged.survivor_id}", status_code=303)

    departments = [d for d in dict.fromkeys(department or ()) if d]
    kinds = [k for k in dict.fromkeys(kind or ()) if k]
    filters = {"department": departments, "kind": kinds, "since": (since or "")[:MAX_MOMENT * 2],
               "until": (until or "")[:MAX_MOMENT * 2]}
    timeline, problem = None, None
    try:
        if unknown := [d for d in departments if d not in DEPARTMENTS]:
            raise InvalidFieldError("query.department", f"unknown department(s): {', '.join(unknown)}")
        chosen = period(request, _checked(since, "query.since", MAX_MOMENT), _checked(until, "query.until", MAX_MOMENT))
        timeline = api.timeline(cid, conn, chosen, department=departments or None, kind=kinds or None,
                                limit=_limit(limit, TIMELINE_LIMIT), cursor=_checked(cursor, "query.cursor", MAX_CURSOR))
    except InvalidFieldError as error:
        problem = _problem(error)

    path = f"/ui/customers/{cid}"
    keep = ([("department", d) for d in departments] + [("kind", k) for k in kinds]
            + [(key, filters[key]) for key in ("since", "until") if filters[key]]
            + ([("limit", limit)] if limit else []) + _lang_param(request))
    older = _link(path, keep + [("cursor", timeline.next_cursor)]) if timeline and timeline.next_cursor else None
    open_tickets = [t for t in summary.tickets if t.status != "resolved"]
    return page(request, "customer.html", status_code=422 if problem else 200, summary=summary,
                timeline=timeline, problem=problem, filters=filters, departments=DEPARTMENTS,
                kind_names=KIND_NAMES, known=TEXTS, older_link=older, newest_link=_link(path, keep) if cursor else None,
                filtered=bool(departments or kinds or filters["since"] or filters["until"]),
                deal_titles={str(d.deal_id): d.title for d in summary.deals},
                open_tickets=open_tickets, resolved_tickets=len(summary.tickets) - len(open_tickets),
                lang_param=_lang_param(request), base_path=path,
                website=summary.company.website if (summary.company.website or "").startswith(("https://", "http://"))
                else None)
