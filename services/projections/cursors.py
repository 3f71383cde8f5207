"""Opaque keyset cursors of the read models' pages: the sort key of a page's last row, handed back to get the
next page. One codec for every paged query (timeline, pipeline deals, customer search) and one error.

A cursor no query made (or a damaged one) is an ``InvalidCursorError``: 422 naming ``query.cursor``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson

from shared.domain.errors import InvalidFieldError

# Moments the read side takes from a query string or a cursor: the years 1900 to 2999.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)
BIGINT = 2**63  # a PostgreSQL bigint holds -BIGINT .. BIGINT - 1


class InvalidCursorError(InvalidFieldError):
    """A cursor that no page of this service handed out (422 naming ``query.cursor``)."""

    def __init__(self) -> None:
        super().__init__("query.cursor", "not a cursor this API made (use next_cursor of the previous page)")


def encode(*values: Any) -> str:
    text = orjson.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def aware(text: str) -> datetime:
    """A moment with its UTC offset, within [EARLIEST, LATEST]."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or not EARLIEST <= moment <= LATEST:
        raise ValueError("not a moment")
    return moment


def bigint(text: str) -> int:
    """An integer a PostgreSQL bigint column can be compared with."""
    number = int(text)
    if not -BIGINT <= number < BIGINT:
        raise ValueError("out of range")
    return number


def decode(cursor: str, *types: Callable[[str], Any]) -> tuple[Any, ...]:
    """The values of a cursor, each read with its type (``str``, ``UUID``, ``aware``, ``bigint`` ...)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types) \
                or not all(isinstance(v, str) and "\x00" not in v for v in values):
            raise ValueError("wrong shape")
        return tuple(kind(value) for kind, value in zip(types, values))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursorError() from None
