"""Opaque keyset cursors: the sort key of a page's last row, handed back to get the next page.

A cursor this API did not make (or a damaged one) is a 422 naming ``query.cursor``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from services.timeline_api.moments import EARLIEST, LATEST
from shared.domain.errors import InvalidFieldError


def encode(*values: Any) -> str:
    text = orjson.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or not EARLIEST <= moment <= LATEST:
        raise ValueError("not a moment")
    return moment


def decode(cursor: str, *types: Callable[[str], Any]) -> tuple[Any, ...]:
    """The values of a cursor, each read with its type (``str``, ``UUID``, ``aware`` ...)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types) \
                or not all(isinstance(v, str) and "\x00" not in v for v in values):
            raise ValueError("wrong shape")
        return tuple(kind(value) for kind, value in zip(types, values))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidFieldError("query.cursor", "not a cursor this API made (use next_cursor of the "
                                                "previous page)") from None

