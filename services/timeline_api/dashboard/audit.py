"""Auditor pages (監査): a customer's raw events, the state as of a time, the pipeline as of a date, the
hash-chain check. Each calls the JSON route's function (``routes/audit.py``, ``routes/customers.py:search``)
in the request's read-only transaction and renders its answer; what a JSON client gets as 404, 409 or 422
is a page here, in the page's language."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.timeline_api import dependencies
from services.timeline_api import labels as lb
from services.timeline_api.dashboard.render import language, page
from services.timeline_api.dashboard.session import may
from services.timeline_api.dashboard.texts import TEXTS
from services.timeline_api.dependencies import ConnDep, EventStoreDep, ProcessDep, ReaderDep
from services.timeline_api.queries.event_store import UnreadableStreamError
from services.timeline_api.routes import audit as api
from services.timeline_api.routes import customers as customer_api
from services.timeline_api.schemas import StateAsOf
from shared.auth import Permission as P
from shared.domain.errors import InvalidFieldError, NotFoundError
from shared.process import ProcessDefinition

router = APIRouter(prefix="/ui/audit", include_in_schema=False, dependencies=[Depends(may(P.READ_AUDIT))])
EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE = 100, 1000
SEARCH_LIMIT = 50
MAX_TEXT = 200  # a query value longer than this is refused, like the JSON routes do
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _say(request: Request, key: str) -> str:
    ja, en = TEXTS[key]
    return en if language(request) == "en" else ja


def _url(request: Request, path: str, **params: Any) -> str:
    """A link to a page of this module with these query values (None: left out), keeping ``?lang=``."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if lang := request.query_params.get("lang"):
        query["lang"] = "en" if lang == "en" else "ja"
    return path + (f"?{urlencode(query)}" if query else "")


def _not_found(request: Request) -> HTMLResponse:
    return page(request, "error.html", status_code=404, heading="not_found",
                message=_say(request, "au_unknown_customer"))


def _text(value: str | None) -> str | None:
    """A typed query value, stripped; None when empty. Too long or holding NUL: InvalidFieldError."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidFieldError("query", "too long")
    return value.strip()


def _moment(request: Request, as_of: str | None) -> tuple[datetime, str | None]:
    """The moment of ``as_of`` (default: now), and the friendly message when it cannot be read."""
    try:
        return dependencies.as_of(request, _text(as_of)), None
    except InvalidFieldError:
        return dependencies.as_of(request, None), _say(request, "au_bad_as_of")


def _inputs(request: Request, as_of: str | None, moment: datetime) -> dict[str, str]:
    """What the as_of inputs show: a bare date in the date input, any other moment in the datetime one."""
    typed = (as_of or "").strip()
    if not typed:
        return {"date": "", "datetime": ""}
    if _DATE.fullmatch(typed):
        return {"date": typed, "datetime": ""}
    zone = request.app.state.settings.timezone
    return {"date": "", "datetime": moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")}


def _pretty(value: Any) -> str:
    """JSON for people: indented, Japanese as it is (the template escapes it)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _count(value: str | None, default: int, low: int, high: int) -> int | None:
    """A whole number from the query string in [low, high]; the default if absent; None if it is not one."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        return None
    return int(text)


# --- the start --------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def home(request: Request, conn: ConnDep, q: str | None = None, cursor: str | None = None) -> HTMLResponse:
    found, problem = None, None
    try:
        q, cursor = _text(q), _text(cursor)
        if q is not None:
            found = customer_api.search(conn, q, limit=SEARCH_LIMIT, cursor=cursor)
    except InvalidFieldError as error:
        problem = _say(request, "au_bad_cursor" if error.field == "query.cursor" else "au_bad_search")
    more = _url(request, "/ui/audit", q=q, cursor=found.next_cursor) if found and found.next_cursor else None
    return page(request, "audit_home.html", status_code=422 if problem else 200, q=q or "", found=found,
                problem=problem, more=more, today=datetime.now(request.app.state.settings.timezone).date(),
                url=lambda path, **params: _url(request, path, **params))


# --- one customer -----------------------------------------------------------------------------
def _state_rows(process: ProcessDefinition, answer: StateAsOf) -> list[dict[str, Any]]:
    """The state's deals, with their labels, in the order they were opened."""
    rows = []
    for deal_id, deal in answer.state.deals.items():
        rows.append({"id": deal_id, "deal": deal, **lb.phase_stage(process, deal.phase, deal.stage),
                     "temperature": lb.of_option(process, "temperature", deal.temperature)})
    rows.sort(key=lambda r: (r["deal"].opened_at or r["deal"].stage_entered_at, r["id"]))
    return rows


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, customer_id: str, conn: ConnDep, store: EventStoreDep, reader: ReaderDep,
             process: ProcessDep, as_of: str | None = None, after_version: str | None = None,
             limit: str | None = None) -> HTMLResponse:
    try:
        known = dependencies.known_customer(UUID(customer_id), conn, store)
    except (ValueError, NotFoundError):
        return _not_found(request)
    problems: list[str] = []
    after = _count(after_version, 0, 0, api.MAX_VERSION)
    size = _count(limit, EVENTS_PER_PAGE, 1, MAX_EVENTS_PER_PAGE)
    if after is None or size is None:
        problems.append(_say(request, "au_bad_paging"))
        after, size = after or 0, size or EVENTS_PER_PAGE
    moment, bad_moment = _moment(request, as_of)
    if bad_moment:
        shown = (as_of or "")[:MAX_TEXT].replace("\x00", "")
        problems.append(f"{bad_moment} ({_say(request, 'au_typed')}: {shown})")
    chain = api.verify(known, reader)
    events = api.events(known, conn, store, after_version=after, limit=size)
    state, state_problem = None, None
    if not bad_moment:
        try:
            state = api.state_as_of(known, moment, conn, store, reader)
        except UnreadableStreamError:
            state_problem = "au_unreadable"
        except NotFoundError:
            state_problem = "au_no_state_yet"
    typed = None if bad_moment else _text(as_of)
    chosen = size if size != EVENTS_PER_PAGE else None
    here = f"/ui/audit/customers/{known}"
    state_json = _pretty(state.state.model_dump(mode="json")) if state else None
    return page(request, "audit_customer.html", status_code=422 if problems else 200,
                customer_id=str(known), chain=chain, events=events, after=after, problems=problems,
                as_of=typed, moment=moment, inputs=_inputs(request, typed, moment),
                state=state, state_problem=state_problem, state_json=state_json,
                deals=_state_rows(process, state) if state else [],
                company_name=state.state.company_name if state else None,
                next_page=_url(request, here, as_of=typed, after_version=events.next_after_version, limit=chosen)
                if events.next_after_version is not None else None,
                first_page=_url(request, here, as_of=typed, limit=chosen) if after else None,
                now_link=_url(request, here, after_version=after or None, limit=chosen),
                keep={"after_version": after or None, "limit": chosen}, pretty=_pretty,
                url=lambda path, **params: _url(request, path, **params))


# --- the pipeline as of a day -----------------------------------------------------------------
@router.get("/pipeline", response_class=HTMLResponse)
def pipeline(request: Request, conn: ConnDep, process: ProcessDep, as_of: str | None = None) -> HTMLResponse:
    moment, problem = _moment(request, as_of)
    answer = api.pipeline_as_of(conn, process, moment)
    groups: list[dict[str, Any]] = []
    lost = [d for d in answer.deals if d.status == "lost"]
    for phase in process.phases:
        here = [d for d in answer.deals if d.phase == phase.id and d.status != "lost"]
        groups.append({"id": phase.id, "label": phase.label, "label_en": phase.label_en, "deals": here})
    known = {p.id for p in process.phases}
    others = [d for d in answer.deals if d.phase not in known and d.status != "lost"]
    if others:  # a phase the process no longer defines
        groups.append({"id": "other", "label": TEXTS["au_other_phase"][0], "label_en": TEXTS["au_other_phase"][1],
                       "deals": others})
    if lost:
        groups.append({"id": "lost", "label": TEXTS["lost"][0], "label_en": TEXTS["lost"][1], "deals": lost})
    typed = None if problem else _text(as_of)
    return page(request, "audit_pipeline.html", status_code=422 if problem else 200, answer=answer, groups=groups,
                problem=problem, typed=(as_of or "").strip()[:MAX_TEXT].replace("\x00", ""), as_of=typed,
                date_value=typed if typed and _DATE.fullmatch(typed) else
                answer.as_of.astimezone(request.app.state.settings.timezone).date().isoformat(),
                url=lambda path, **params: _url(request, path, **params))
