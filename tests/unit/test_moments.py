"""Times typed into a query string, read in the business time zone (BUSINESS_TIMEZONE)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.timeline_api.moments import check_period, parse_moment
from shared.domain.errors import InvalidFieldError

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = timezone.utc


def test_a_time_with_its_offset_is_taken_as_given() -> None:
    assert parse_moment("2026-02-01T09:00:00+09:00", "since", TOKYO) == datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    assert parse_moment("2026-02-01T00:00:00Z", "since", TOKYO) == datetime(2026, 2, 1, tzinfo=UTC)


def test_a_time_without_offset_is_read_in_the_business_time_zone() -> None:
    moment = parse_moment("2026-02-01T09:00:00", "since", TOKYO)
    assert moment == datetime(2026, 2, 1, 0, 0, tzinfo=UTC) and moment.utcoffset() == timedelta(hours=9)
    assert parse_moment("2026-02-01T09:00:00", "since", ZoneInfo("Europe/Berlin")) == \
        datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def test_a_date_is_the_start_of_that_day_there_or_its_end_for_as_of() -> None:
    assert parse_moment("2026-02-01", "since", TOKYO) == datetime(2026, 1, 31, 15, 0, tzinfo=UTC)
    end = parse_moment("2026-02-01", "as_of", TOKYO, end_of_day=True)
    assert end == datetime(2026, 2, 1, 14, 59, 59, 999999, tzinfo=UTC)
    assert end.tzinfo is TOKYO


def test_a_plus_sent_unencoded_arrives_as_a_space_and_is_still_the_offset() -> None:
    assert parse_moment("2026-02-01T09:00:00 09:00", "as_of", TOKYO) == datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    assert parse_moment(" 2026-02-01T09:00:00 0900 ", "as_of", UTC) == datetime(2026, 2, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01", "2026-02-30", "0000-00-00", "1e309", "\x00",
                                  "2026-02-01T25:00:00"])
def test_what_is_neither_a_date_nor_a_time_is_refused_naming_the_parameter(text: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        parse_moment(text, "since", TOKYO)
    assert refused.value.field == "query.since"


@pytest.mark.parametrize("text", ["0001-01-01", "1899-12-31T23:59:59Z", "3000-01-01", "9999-12-31T23:59:59-14:00"])
def test_times_outside_the_years_1900_to_2999_are_refused(text: str) -> None:
    with pytest.raises(InvalidFieldError, match="outside the years 1900 to 2999") as refused:
        parse_moment(text, "as_of", TOKYO, end_of_day=True)
    assert refused.value.field == "query.as_of"


def test_a_period_ends_after_it_starts() -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    check_period(start, start + timedelta(seconds=1))
    check_period(None, start)
    check_period(start, None)
    with pytest.raises(InvalidFieldError) as refused:
        check_period(start, start)
    assert refused.value.field == "query.until"
