"""The events topic's message format: encode (relay), identify and decode (projection workers)."""

from __future__ import annotations

from uuid import UUID, uuid4

import orjson
import pytest

from shared import wire
from shared.domain.customer import CommandContext, Customer
from shared.events import Actor, CustomerRegistered, TouchpointRecorded
from shared.events.customer import CompanyProfile, TouchpointDetails
from shared.process import load_process_definition

CTX = CommandContext(load_process_definition(), Actor(user="tanaka", department="sales", team="本社営業1課",
                                                       site="東京本社"))


@pytest.fixture
def events() -> list:
    """A registration and a touchpoint, as the aggregate records them (no database)."""
    customer = Customer.register(uuid4(), CompanyProfile(company_name="株式会社ABC商事", industry="製造業"), CTX)
    customer.record_touchpoint(TouchpointDetails(channel="phone", direction="outbound", summary="初回架電"), CTX)
    return customer.collect_events()


def _message(event, position: int = 7, **options) -> tuple[bytes, bytes]:
    return wire.encode(event.topic(), position, event.stored_state(), **options)


def test_a_message_carries_the_envelope_and_the_stored_event_keyed_by_customer(events) -> None:
    registered = events[0]
    key, value = _message(registered)
    message = orjson.loads(value)
    assert key == str(registered.originator_id).encode()
    assert {k: message[k] for k in ("event_type", "schema_version", "customer_id", "stream_version", "position")} \
        == {"event_type": "CustomerRegistered", "schema_version": 2, "customer_id": str(registered.originator_id),
            "stream_version": 1, "position": 7}
    assert message["actor"]["team"] == "本社営業1課" and message["payload"]["company_name"] == "株式会社ABC商事"
    assert "class_version" not in message["payload"]  # the schema version travels in the envelope


def test_identify_names_the_stored_event_and_decode_gives_it_back(events) -> None:
    for position, event in enumerate(events, 100):
        _, value = _message(event, position)
        assert wire.identify(value) == wire.Identity(position, event.originator_id, event.originator_version,
                                                     type(event).__name__, event.event_id)
        delivered = wire.decode(value)
        assert type(delivered.event) is type(event) and delivered.position == position
        assert delivered.event.model_dump() == event.model_dump()
    assert isinstance(wire.decode(_message(events[1])[1]).event, TouchpointRecorded)


def test_an_old_schema_version_is_upcast_when_decoded(events) -> None:
    _, value = _message(events[0])
    message = orjson.loads(value)
    del message["payload"]["company_key"]
    message["schema_version"] = 1
    event = wire.decode(orjson.dumps(message)).event
    assert isinstance(event, CustomerRegistered) and event.company_key == events[0].company_key


def test_an_event_too_large_for_the_broker_goes_without_its_payload(events) -> None:
    event = events[1]
    key, whole = _message(event)
    key, value = _message(event, max_bytes=len(whole) + len(key) + wire.MESSAGE_OVERHEAD - 1)
    message = orjson.loads(value)
    assert (message["payload"], message["payload_omitted"], message["stream_version"]) == (None, "too_large", 2)
    assert wire.identify(value).event_id is None  # the worker takes the event from the store by its position
    with pytest.raises(wire.PoisonMessageError, match="invalid payload"):
        wire.decode(value)
    assert orjson.loads(_message(event, max_bytes=len(whole) + len(key) + wire.MESSAGE_OVERHEAD)[1])["payload"]


def test_a_stored_event_whose_payload_cannot_be_read_is_named_by_its_row() -> None:
    customer_id = uuid4()
    key, value = wire.encode(CustomerRegistered.topic(), 9, b"\xff not json", customer_id=customer_id,
                             stream_version=3)
    message = orjson.loads(value)
    assert key == str(customer_id).encode()
    assert (message["payload"], message["payload_omitted"], message["stream_version"]) == (None, "unreadable", 3)
    assert wire.identify(value) == wire.Identity(9, customer_id, 3, "CustomerRegistered", None)
    with pytest.raises(orjson.JSONDecodeError):  # without the row's customer and version there is nothing to name
        wire.encode(CustomerRegistered.topic(), 9, b"\xff not json")


@pytest.mark.parametrize(("value", "reason"), [
    (None, "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"event_type": "DealDeleted", "position": 1}', "unknown event type 'DealDeleted'"),
    (b'{"event_type": "DealOpened", "customer_id": "00000000-0000-4000-8000-000000000000"}', "missing field"),
    (b'{"event_type": "DealOpened", "position": 1, "customer_id": "x", "stream_version": 1}', "invalid field"),
    (b'{"event_type": "DealOpened", "position": "one", "customer_id": "00000000-0000-4000-8000-000000000000", '
     b'"stream_version": 1}', "invalid field"),
    (b'["a", "list"]', "invalid field"),
])
def test_a_message_that_names_no_stored_event_is_poison(value: bytes | None, reason: str) -> None:
    with pytest.raises(wire.PoisonMessageError, match=reason):
        wire.identify(value)


@pytest.mark.parametrize(("value", "reason"), [
    (b"{", "not JSON"),
    (b'{"event_type": "DealDeleted", "payload": {}}', "unknown event type or missing field"),
    (b'{"event_type": "DealOpened", "schema_version": 1, "position": 1, "payload": {"title": 1}}',
     "invalid payload"),
])
def test_decode_refuses_what_is_not_an_event(value: bytes, reason: str) -> None:
    with pytest.raises(wire.PoisonMessageError, match=reason):
        wire.decode(value)


def test_identity_of_a_forged_event_id_is_read_as_given() -> None:
    forged = uuid4()
    value = orjson.dumps({"event_type": "DealOpened", "position": 5, "customer_id": str(uuid4()),
                          "stream_version": 2, "payload": {"event_id": str(forged)}})
    assert wire.identify(value).event_id == UUID(str(forged))  # the worker compares it with the stored event
