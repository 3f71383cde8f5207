"""Rendering a page: the templates, the language, the CSRF value every form carries, and the formats
(yen, dates in the business time zone, days) every template uses."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.timeline_api.dashboard import HERE
from services.timeline_api.dashboard.texts import TEXTS

CSRF_COOKIE, LANG_COOKIE = "ct_csrf", "ct_lang"
templates = Jinja2Templates(directory=HERE / "templates")  # autoescaping on: every value is escaped


def language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "ja"


def csrf_token(request: Request) -> str:
    """This browser's CSRF value (made on its first page, then kept in a cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = request.state.new_csrf = secrets.token_urlsafe(24)
    return token


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    zone = request.app.state.settings.timezone

    def text(key: str) -> str:
        """A text of texts.py by key; anything else (already worded) as it is."""
        ja, en = TEXTS.get(key, (key, key))
        return en if lang == "en" else ja

    def label(item: Any) -> str:
        """The label of a labelled answer (label / label_en), or of a dict with those keys."""
        if item is None:
            return ""
        get = item.get if isinstance(item, dict) else lambda k: getattr(item, k, None)
        return (get("label_en") if lang == "en" else get("label")) or get("label") or ""

    def when(moment: datetime | None, with_time: bool = True) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(zone)
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")

    response = templates.TemplateResponse(request, template, {
        "t": text, "label": label, "when": when, "pick": lambda ja, en: en if lang == "en" and en else ja, "lang": lang, "csrf": csrf_token(request),
        "principal": getattr(request.state, "principal", None), "path": request.url.path,
        "query": request.url.query, **context}, status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) is None:
        response.set_cookie(CSRF_COOKIE, csrf_token(request), httponly=True, secure=True, samesite="strict",
                            path="/ui")
    response.headers["Cache-Control"] = "no-store"  # pages show what a token may see
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; img-src 'self' data:"
    return response


def yen(amount: int | None) -> str:
    return "—" if amount is None else f"¥{amount:,}"


templates.env.filters["yen"] = yen
templates.env.filters["days"] = lambda value: "—" if value is None else f"{value:,.0f}"
