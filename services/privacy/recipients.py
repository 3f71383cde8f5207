"""``customer-timeline personal-data recipients``: who receives personal data, and what (APPI Arts. 29-30).

Three parts:
- recipients: each projection's Kafka consumer group (``<CONSUMER_GROUP_PREFIX>-<projection>``) with what its read
  model may receive (``personal_data`` of its class: a new read model says its own), and ingest's consumer group;
- topics: what each Kafka topic holds. The events topic carries personal fields sealed (ciphertext: unreadable
  without the contact's key, so an erasure makes its copies unreadable, not deleted); the ingest topics carry the
  commands as the apps send them, in plain text (contact names, e-mails, phones, the words of touchpoints and
  tickets) until Kafka's retention deletes them: an erasure does not reach them;
- disclosures: each ``PersonalDataDisclosed`` event (to whom, about which contact, when, how many items), found
  through the timeline read model and read from the event store.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from services.privacy.retention import print_table
from services.projections.registry import PROJECTIONS
from services.projections.timeline.queries import disclosure_entries
from shared.events import PersonalDataDisclosed

KEY_ACCESS = "personal fields arrive sealed; its worker opens them with the contacts' keys (personal_data_keys)"


def recipients(settings: Any) -> list[dict[str, str]]:
    """Every consumer group that receives personal data, with what it reads and what it may receive."""
    found = [{"recipient": f"{settings.consumer_group_prefix}-{name}", "kind": "consumer group",
              "reads": f"{settings.events_topic} (and the event store)",
              "may_receive": f"{cls.personal_data}; {KEY_ACCESS}"} for name, cls in PROJECTIONS.items()]
    found.append({"recipient": settings.ingest_group, "kind": "consumer group", "reads": settings.ingest_topic,
                  "may_receive": "commands as the apps send them, in plain text: contact names, titles, e-mails, "
                                 "phones, the words of touchpoints and tickets; it seals them into events"})
    return found


def topics(settings: Any) -> list[dict[str, str]]:
    """What each Kafka topic holds of personal data (until the topic's retention deletes it)."""
    sealed = "events with personal fields sealed (ciphertext): after an erasure unreadable, not deleted"
    plain = ("PLAIN TEXT as the apps send it: contact names, titles, e-mails, phones, touchpoint and ticket texts; "
             "an erasure does not reach it (kept until the topic's retention deletes it)")
    return [
        {"topic": settings.events_topic, "holds": sealed},
        {"topic": settings.dead_letter_topic, "holds": f"copies of events no read model could apply: {sealed}"},
        {"topic": settings.ingest_topic, "holds": f"commands from sales, CS, support and tech apps: {plain}"},
        {"topic": settings.ingest_dead_letter_topic, "holds": f"commands ingest could not read or append: {plain}"},
        {"topic": settings.ingest_results_topic, "holds": "one outcome per command: ids, event types, versions, "
                                                          "error messages; no contact's details"},
    ]


def disclosures(office: Any) -> list[dict[str, Any]]:
    """Each disclosure made, oldest first: when, by whom, to whom, about which contact of which customer."""
    with psycopg.connect(office.database_url) as conn:
        entries = disclosure_entries(conn)
    found = []
    for entry in entries:
        events = office.customers.reader.stream(entry.customer_id, entry.stream_version - 1, entry.stream_version)
        event = events[0] if events else None
        if not isinstance(event, PersonalDataDisclosed):
            continue  # cannot happen: the timeline's entry is of this event
        found.append({"disclosed_at": event.occurred_at.isoformat(), "recipient": event.recipient,
                      "contact_id": str(event.contact_id), "customer_id": str(entry.customer_id),
                      "company_name": entry.company_name, "items": event.items, "format": event.format,
                      "by": event.actor.user})
    return found


def print_recipients(office: Any, settings: Any, fmt: str) -> int:
    """Print the recipients, topics and disclosures as a table (default) or JSON; the exit code."""
    listing = {"recipients": recipients(settings), "topics": topics(settings), "disclosures": disclosures(office)}
    if fmt == "json":
        print(json.dumps(listing, ensure_ascii=False, indent=2))
        return 0
    print("Recipients of personal data (APPI Arts. 29-30)")
    print_table(("consumer group", "reads", "may receive"),
                [(r["recipient"], r["reads"], r["may_receive"]) for r in listing["recipients"]])
    print()
    print("Kafka topics")
    print_table(("topic", "holds"), [(t["topic"], t["holds"]) for t in listing["topics"]])
    print()
    print(f"Disclosures ({len(listing['disclosures'])})")
    if listing["disclosures"]:
        print_table(("disclosed at", "recipient", "contact", "customer", "company", "items", "format", "by"),
                    [(d["disclosed_at"], d["recipient"], d["contact_id"], d["customer_id"], d["company_name"] or "",
                      str(d["items"]), d["format"], d["by"]) for d in listing["disclosures"]])
    return 0
