"""Reading the times people type into a query string.

Accepted: a time with its UTC offset (``2026-02-01T09:00:00+09:00``), a time without one
(read in the business time zone, Asia/Tokyo by default), or a bare date (``2026-02-01``).
A bare date is the start of that day for ``since`` / ``until`` (``until`` is exclusive),
and the end of that day for ``as_of`` ("what was known that day").
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from services.projections.cursors import EARLIEST, LATEST
from shared.domain.errors import InvalidFieldError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNESCAPED_PLUS = re.compile(r" (\d{2}(:?\d{2})?)$")  # "+09:00" sent unencoded arrives as " 09:00"


def parse_moment(text: str, parameter: str, zone: tzinfo, *, end_of_day: bool = False) -> datetime:
    """A timezone-aware moment, or InvalidFieldError naming ``query.<parameter>``."""
    field = f"query.{parameter}"
    value = _UNESCAPED_PLUS.sub(r"+\1", text.strip()) if "T" in text else text.strip()
    try:
        if _DATE.fullmatch(value):
            start = datetime.combine(date.fromisoformat(value), time(), zone)
            moment = start + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else start
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        raise InvalidFieldError(field, f"'{text}' is neither a date (2026-02-01) nor a date and time "
                                       "(2026-02-01T09:00:00+09:00)") from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidFieldError(field, f"'{text}' is outside the years 1900 to 2999")
    return moment


def check_period(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise InvalidFieldError("query.until", "until must be after since")
