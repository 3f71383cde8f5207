"""What the door admits: text a database can store, bounded lengths and lists, sane times.

PostgreSQL ``text`` and ``jsonb`` refuse NUL, orjson cannot encode a lone surrogate, a Kafka
message holds 1 MiB, and the read models do date arithmetic. So every command that comes in
(HTTP body, ingest message, import row: the models of ``shared/commands.py``) is checked by
``refuse_unfit`` after its fields are parsed:

- no control character in any text, except tab, line feed and carriage return, and no lone surrogate;
- every text and list within its ``Limit``;
- every date and time in ``[EARLIEST, LATEST)``; a time without UTC offset is compared as UTC.

Stored events are read back without these checks (they run in the command models only, never in
the event classes that share the detail models), so an event stored before a rule existed still
loads and decoding costs nothing more. A limit on a field that stored events carry is therefore a
``Limit`` when old events may break it; ``Field(max_length=...)`` (checked on reading too) is for
limits that held since the field existed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticKnownError

EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)  # not included
_NAIVE_EARLIEST, _NAIVE_LATEST = EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None)

# C0 controls but tab, LF and CR (browsers' textareas send CRLF), DEL, C1 controls, lone surrogates.
_UNFIT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NOTHING_TO_CHECK = frozenset({bool, int, float, UUID})


@dataclass(frozen=True, slots=True)
class Limit:
    """A maximum checked at the door only: characters of a text (or of each text item of a list), items of a list."""

    max_length: int | None = None
    max_items: int | None = None

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string" and self.max_length is not None:
                branch["maxLength"] = self.max_length
            elif branch.get("type") == "array":
                if self.max_items is not None:
                    branch["maxItems"] = self.max_items
                if self.max_length is not None and branch.get("items", {}).get("type") == "string":
                    branch["items"]["maxLength"] = self.max_length
        return schema


LISTED_PROBLEMS = 20  # a refusal (HTTP, ingest, import) names this many of its problems, and counts them all


def listed_problems(found: Sequence[Any], field: Callable[[tuple], str]) -> tuple[list[dict[str, str]], str]:
    """The first LISTED_PROBLEMS of pydantic's problems as ``{"field", "message"}`` (``field`` names a problem's
    location), and one message naming them, with how many more there are."""
    fields = [{"field": field(e["loc"]), "message": e["msg"]} for e in found[:LISTED_PROBLEMS]]
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    if len(found) > LISTED_PROBLEMS:
        text += f"; and {len(found) - LISTED_PROBLEMS} more"
    return fields, text


def refuse_unfit(model: BaseModel) -> None:
    """Raise a ValidationError naming every value of ``model`` (and what it holds) that the door refuses."""
    if found := problems(model):
        raise ValidationError.from_exception_data(type(model).__name__, found)


def problems(value: Any, loc: tuple[str | int, ...] = (), limit: Limit | None = None) -> list[InitErrorDetails]:
    """What is wrong with a value: a model (its fields, recursively), a text, a list, a date or a time."""
    found: list[InitErrorDetails] = []
    _check(value, limit, loc, found)
    return found


def message(problem: InitErrorDetails) -> str:
    kind = problem["type"]
    if isinstance(kind, PydanticCustomError):
        return kind.message()
    return PydanticKnownError(kind, problem["ctx"]).message()


def _check(value: Any, limit: Limit | None, loc: tuple[str | int, ...], found: list[InitErrorDetails]) -> None:
    if value is None or type(value) in _NOTHING_TO_CHECK:
        return
    if isinstance(value, str):
        _text(value, limit, loc, found)
    elif isinstance(value, BaseModel):
        for name, field_limit in _limits(type(value)):
            item = getattr(value, name)
            if item is None or type(item) in _NOTHING_TO_CHECK:
                continue  # the usual fields decided here: no call, no location built (this runs for every command)
            if type(item) is str and (field_limit is None or field_limit.max_length is None
                                      or len(item) <= field_limit.max_length) and _UNFIT.search(item) is None:
                continue
            _check(item, field_limit, (*loc, name), found)
    elif isinstance(value, (tuple, list)):
        if limit is not None and limit.max_items is not None and len(value) > limit.max_items:
            found.append(_error(loc, value, "too_long", {
                "field_type": "List", "max_length": limit.max_items, "actual_length": len(value)}))
            return  # refused as a whole: its items are not worth walking
        for i, item in enumerate(value):
            _check(item, limit, (*loc, i), found)
    elif isinstance(value, datetime):
        if not _in_window(value):
            found.append(_error(loc, value, PydanticCustomError(
                "datetime_out_of_window", "must be from {earliest} up to (not including) {latest}",
                {"earliest": "1900-01-01T00:00:00Z", "latest": "2100-01-01T00:00:00Z"})))
    elif isinstance(value, date) and not EARLIEST.date() <= value < LATEST.date():
        found.append(_error(loc, value, PydanticCustomError(
            "date_out_of_window", "must be from {earliest} up to (not including) {latest}",
            {"earliest": "1900-01-01", "latest": "2100-01-01"})))


def _text(value: str, limit: Limit | None, loc: tuple[str | int, ...], found: list[InitErrorDetails]) -> None:
    if limit is not None and limit.max_length is not None and len(value) > limit.max_length:
        found.append(_error(loc, value, "string_too_long", {"max_length": limit.max_length}))
    if (unfit := _UNFIT.search(value)) is not None:
        character = f"U+{ord(unfit.group()):04X}"
        if "\ud800" <= unfit.group() <= "\udfff":
            error = PydanticCustomError("text_lone_surrogate", "lone surrogate {character} is not allowed",
                                        {"character": character})
        else:
            error = PydanticCustomError(
                "text_control_character",
                "control character {character} is not allowed (tab, line feed and carriage return are)",
                {"character": character})
        found.append(_error(loc, value, error))


def _in_window(moment: datetime) -> bool:
    if not EARLIEST.year - 1 <= moment.year <= LATEST.year:
        return False  # decided before any offset arithmetic, which overflows near year 1 and 9999
    if moment.utcoffset() is None:
        return _NAIVE_EARLIEST <= moment.replace(tzinfo=None) < _NAIVE_LATEST
    return EARLIEST <= moment < LATEST


def _error(loc: tuple[str | int, ...], value: Any, error: PydanticCustomError | str,
           ctx: dict[str, Any] | None = None) -> InitErrorDetails:
    """A custom error, or one of pydantic's own by its type (same message as pydantic's own check gives)."""
    if ctx is None:
        return InitErrorDetails(type=error, loc=loc, input=value)
    return InitErrorDetails(type=error, loc=loc, input=value, ctx=ctx)


@cache
def _limits(cls: type[BaseModel]) -> tuple[tuple[str, Limit | None], ...]:
    """Each field of a model class with its Limit, if it has one."""
    return tuple((name, next((m for m in field.metadata if isinstance(m, Limit)), None))
                 for name, field in cls.model_fields.items())
