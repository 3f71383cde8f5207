"""The limits of the command models: every text and list documented with its maximum, and each rule.

The schema test walks the JSON schema of every command (shared/commands.py), of the ingest envelope
and of the command API's request bodies and headers, and fails for any string without maxLength or
array without maxItems, so a field added later cannot slip through.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from services.ingest.messages import EnvelopeFields
from shared.commands import COMMAND_TYPES, RecordTouchpoint, SetTemperature
from shared.events.limits import problems
from shared.settings import Settings

BOUNDED_FORMATS = {"uuid", "date-time", "date"}  # their own syntax bounds them
JST = timezone(timedelta(hours=9))


def unbounded(schema: Any, where: str, defs: dict[str, Any], seen: set[str] | None = None) -> list[str]:
    """Paths of every string without maxLength and array without maxItems in a schema, following $refs."""
    seen = set() if seen is None else seen
    found: list[str] = []
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            found += unbounded(item, f"{where}[{i}]", defs, seen)
        return found
    if not isinstance(schema, dict):
        return found
    if (ref := schema.get("$ref")) is not None:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            found += unbounded(defs[name], name, defs, seen)
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if "string" in types and "maxLength" not in schema and "enum" not in schema and "const" not in schema \
            and schema.get("format") not in BOUNDED_FORMATS:
        found.append(f"{where}: string without maxLength")
    if "array" in types and "maxItems" not in schema:
        found.append(f"{where}: array without maxItems")
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                found += unbounded(sub, f"{where}.{name}", defs, seen)
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "additionalProperties"):
            found += unbounded(value, where + ("[]" if key == "items" else ""), defs, seen)
    return found


def test_every_text_and_list_of_every_command_has_a_documented_maximum() -> None:
    found = []
    for name, command in COMMAND_TYPES.items():
        schema = command.model_json_schema()
        found += unbounded(schema, name, schema.get("$defs", {}))
    schema = EnvelopeFields.model_json_schema()
    found += unbounded(schema, "ingest envelope", schema.get("$defs", {}))
    assert found == []


def test_every_text_and_list_the_command_api_takes_has_a_documented_maximum() -> None:
    from services.command.app import create_app

    spec = create_app(Settings(database_url="postgresql://unused@127.0.0.1:1/unused")).openapi()
    defs = spec["components"]["schemas"]
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"].lower() != "authorization":  # a bearer token is looked up, never stored
                    found += unbounded(parameter["schema"], f"{method} {path} {parameter['name']}", defs)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                found += unbounded(content["schema"], f"{method} {path} body", defs)
    assert found == []


def touchpoint(**details: Any) -> dict[str, Any]:
    return {"details": {"channel": "phone", "direction": "outbound", "summary": "初回架電", **details}}


def refusal(model: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_every_text_naming_the_field(character: str) -> None:
    command = RecordTouchpoint.model_validate(touchpoint(summary="一行目\r\n二行目\tタブ\n"))  # tab, LF, CR: text
    assert command.details.summary == "一行目\r\n二行目\tタブ\n"
    assert refusal(RecordTouchpoint, touchpoint(summary=f"a{character}b")) == [
        ("details.summary", "text_control_character")]
    assert refusal(RecordTouchpoint, touchpoint(topics_of_interest=["営業管理", f"x{character}"])) == [
        ("details.topics_of_interest.1", "text_control_character")]
    assert refusal(SetTemperature, {"deal_id": "5b6debe0-952a-4b5d-92b3-f90cbd549e0f", "details": {
        "temperature": {"choice": "high", "note": f"n{character}"}}}) == [
        ("details.temperature.note", "text_control_character")]


def test_lone_surrogates_are_refused_where_pydantic_lets_them_through() -> None:
    """Models built in Python (tests, the import) skip pydantic's own string_unicode check for nested instances."""
    assert [(e["loc"], e["type"].type) for e in problems("a\ud800b", ("note",))] == [
        (("note",), "text_lone_surrogate")]
    assert problems("a\U0001F600b") == []  # a proper pair is one character


def test_the_ingest_actor_is_checked_too() -> None:
    fields = {"idempotency_key": "k-1", "actor": {"user": "tanaka\x00", "department": "sales"}}
    assert refusal(EnvelopeFields, fields) == [("actor.user", "text_control_character")]
    fields = {"idempotency_key": "k-1", "actor": {"user": "tanaka", "department": "sales", "site": "拠" * 101}}
    assert refusal(EnvelopeFields, fields) == [("actor.site", "string_too_long")]


@pytest.mark.parametrize(("moment", "fits"), [
    (datetime(1900, 1, 1, tzinfo=timezone.utc), True),
    (datetime(1900, 1, 1, 8, 59, tzinfo=JST), False),  # 1899-12-31T23:59Z
    (datetime(1900, 1, 1, 9, 0, tzinfo=JST), True),
    (datetime(2099, 12, 31, 23, 59, 59, tzinfo=timezone.utc), True),
    (datetime(2100, 1, 1, tzinfo=timezone.utc), False),
    (datetime(2100, 1, 1, 8, 59, tzinfo=JST), True),  # 2099-12-31T23:59Z
    (datetime(1, 1, 1, tzinfo=JST), False),
    (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-9))), False),
    (datetime(2030, 1, 10, 10, 0), True),  # without offset: compared as UTC
    (datetime(2100, 1, 1), False),
    (date(1900, 1, 1), True), (date(1899, 12, 31), False), (date(2099, 12, 31), True), (date(2100, 1, 1), False),
])
def test_the_window_of_dates_and_times(moment: date, fits: bool) -> None:
    assert (problems(moment) == []) is fits
