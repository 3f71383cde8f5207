"""The read models' one cursor codec: what a page hands out comes back as the same sort key."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4

import orjson
import pytest

from services.projections import cursors
from services.projections.cursors import InvalidCursorError
from shared.domain.errors import InvalidFieldError

JST = timezone(timedelta(hours=9))


def test_a_cursor_gives_back_its_values_read_with_their_types() -> None:
    moment, deal = datetime(2026, 2, 1, 9, 30, 15, 123456, tzinfo=JST), uuid4()
    cursor = cursors.encode(moment, deal)
    assert cursors.decode(cursor, cursors.aware, UUID) == (moment, deal)
    assert cursors.decode(cursors.encode("株式会社ABC", deal), str, UUID) == ("株式会社ABC", deal)
    assert cursors.decode(cursors.encode(moment, 28), cursors.aware, cursors.bigint) == (moment, 28)


def test_a_cursor_is_url_safe_text_without_padding() -> None:
    cursor = cursors.encode("ｱｲｳ/+?&=", uuid4())
    assert cursor.isascii() and not set(cursor) & set("+/=?&")


def forged(*values: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "x", "garbage", "bm90LWEtY3Vyc29y",  # not base64 JSON of the right shape
    forged("2026-02-01T09:00:00+09:00"),  # one value too few
    forged("2026-02-01T09:00:00+09:00", "1", "2"),  # one too many
    forged("2026-02-01T09:00:00", "1"),  # a time without its UTC offset
    forged("0001-01-01T00:00:00+14:00", "1"), forged("9999-12-31T23:59:59-14:00", "1"),  # outside 1900-2999
    forged("2026-02-01T09:00:00+09:00", "one"), forged("2026-02-01T09:00:00+09:00", str(2**63)),  # not a bigint
    forged("2026-02-01T09:00:00+09:00", 1),  # values are strings
    forged("2026-02-01T09:00:00+09:00", "1\x00"),  # PostgreSQL text holds no NUL
    base64.urlsafe_b64encode(b'{"a": 1}').decode(),  # not a list
])
def test_a_cursor_no_page_made_is_the_one_error_naming_query_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        cursors.decode(cursor, cursors.aware, cursors.bigint)
    assert isinstance(refused.value, InvalidFieldError) and refused.value.field == "query.cursor"
    assert "next_cursor" in str(refused.value)


def test_a_uuid_cursor_that_is_not_a_uuid_is_refused_too() -> None:
    with pytest.raises(InvalidCursorError):
        cursors.decode(forged("株式会社ABC", "not-a-uuid"), str, UUID)
