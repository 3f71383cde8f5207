"""Events stored before the limits existed still load: the limits are the door's, not the event store's.

The command models now refuse a NUL, a 2 MB note, 1,000 topics or year 1; events that hold such
values (written before, here straight through the aggregate, which does not check the door) are
still read back by the mapper, replayed by the aggregate and decoded from the events topic.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared import commands as c
from shared.domain.customer import CommandContext, Customer
from shared.events import Actor, Selection
from shared.events.customer import CompanyProfile, TouchpointDetails
from shared.events.deal import DealDetails, TemperatureDetails
from shared.wire import decode, encode

JST = timezone(timedelta(hours=9))
YEAR_ONE = datetime(1, 1, 1, tzinfo=JST)
OLD_ACTOR = Actor(user="旧\x00ユーザー", department="sales", site="東京\x1b本社")
NOTE = "x" * 2_000_000
TOPICS = tuple(f"関心{i}\x07" for i in range(1_000))


def test_the_door_refuses_these_values_and_the_store_still_reads_events_that_hold_them(customers, db) -> None:
    deal_id = str(uuid.uuid4())
    with pytest.raises(ValidationError):
        c.SetTemperature.model_validate({"deal_id": deal_id, "details": {"temperature": {"choice": "high",
                                                                                          "note": NOTE}}})
    with pytest.raises(ValidationError):
        c.RecordTouchpoint.model_validate({"details": {"channel": "phone", "direction": "outbound", "summary": "s",
                                                       "topics_of_interest": TOPICS}})
    with pytest.raises(ValidationError):
        c.RegisterCustomer.model_validate({"details": {"company_name": "株式会社\x00旧"}})

    ctx = CommandContext(customers.process, OLD_ACTOR, occurred_at=YEAR_ONE)
    customer_id = uuid.uuid4()
    customer = Customer.register(customer_id, CompanyProfile(company_name="株式会社\x00旧"), ctx)
    deal = customer.open_deal(DealDetails(title="旧案件", owner="tanaka", expected_close=date(1, 1, 1)), ctx)
    customer.set_temperature(deal, TemperatureDetails(temperature=Selection(choice="high", note=NOTE)), ctx)
    customer.record_touchpoint(TouchpointDetails(channel="phone", direction="outbound", summary="旧\x00接点",
                                                 topics_of_interest=TOPICS), ctx)
    customers.save(customer)

    replayed = customers.repository.get(customer_id, projector_func=Customer.project)  # from the store, no cache
    assert (replayed.version, replayed.state.company_name) == (4, "株式会社\x00旧")
    assert replayed.state.head_hash == customer.state.head_hash  # the chain holds over the stored bytes
    rows = db.execute("SELECT notification_id, topic, state FROM customers_events WHERE originator_id = %s "
                      "ORDER BY originator_version", (customer_id,)).fetchall()
    events = [decode(encode(topic, position, bytes(state))[1]).event for position, topic, state in rows]
    assert [type(e).__name__ for e in events] == ["CustomerRegistered", "DealOpened", "TemperatureSet",
                                                  "TouchpointRecorded"]
    assert events[2].temperature.note == NOTE and events[3].topics_of_interest == TOPICS
    assert events[0].occurred_at == YEAR_ONE and events[1].expected_close == date(1, 1, 1)
    assert events[0].actor == OLD_ACTOR
