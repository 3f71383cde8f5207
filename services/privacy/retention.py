"""``customer-timeline personal-data retention``: erase the contacts of customers idle past retention (APPI Art. 22).

A contact is past retention when their personal data is still held (their key exists) and their customer's last
activity is more than ``PERSONAL_DATA_RETENTION_YEARS`` years ago. Last activity is the latest ``occurred_at`` of
the customer's events other than record keeping (merges, privacy requests: ``shared.events.RECORD_KEEPING``),
read from the pipeline read model (each customer's last touch per department), over the customer's merge group
(a customer merged into another counts as active while its survivor is). A customer with no touch at all
(it cannot hold a contact, since adding one is a touch; kept for data from before last touches were kept)
counts from when the contact's key was made, i.e. when their data was first stored.

Before deciding, the read models are brought up to date (from the event store) for the customers concerned: those
the pipeline has not reached, and those it shows as past retention (a touch not applied yet keeps a customer
active). A dry run lists and changes nothing else; a real run erases each contact with ``EraseContact(reason=
"retention")`` on its customer's stream (the key is deleted with the event), reporting and skipping a contact
that is refused (erased meanwhile, a customer merged into another, ...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL

from services.projections.pipeline.customers import CustomerActivity, last_activity
from shared.commands import EraseContact
from shared.domain.errors import DomainError
from shared.events import Actor

DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class PastRetention:
    contact_id: UUID
    customer_id: UUID
    company_name: str
    last_activity: datetime
    years_idle: float


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar day ``years`` years earlier (29 February: the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def past_retention(office: Any, settings: Any, now: datetime | None = None) -> list[PastRetention]:
    """The contacts whose data is still held and whose customer has been idle past retention, by customer."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    cutoff = years_before(now, settings.personal_data_retention_years)
    keys = _live_keys(office)
    customers = sorted({k["customer_id"] for k in keys})
    with psycopg.connect(office.database_url) as conn:
        activity = last_activity(conn, customers)
        stale = [c for c in customers if c not in activity or _idle(activity[c], cutoff)]
        caught_up: set[UUID] = set()
        while todo := sorted(_with_groups(stale, activity) - caught_up):  # decide on what the event store holds now
            office.catch_up(todo)
            caught_up.update(todo)
            activity.update(last_activity(conn, stale))  # a survivor seen only now is caught up in the next round
    found = []
    for key in keys:
        known = activity.get(key["customer_id"])
        if known is None:
            continue  # not in the event store as a customer (cannot happen: a key is made with a customer's event)
        last = known.last_activity or key["created_at"]
        if last < cutoff:
            found.append(PastRetention(key["subject_id"], key["customer_id"], known.company_name, last,
                                       (now - last).total_seconds() / 86400 / DAYS_PER_YEAR))
    return sorted(found, key=lambda p: (p.last_activity, str(p.customer_id), str(p.contact_id)))


def run_retention(office: Any, settings: Any, actor: Actor, dry_run: bool, now: datetime | None = None) -> int:
    """List (``dry_run``) or erase the contacts past retention; the exit code (0: done, refusals reported)."""
    found = past_retention(office, settings, now)
    years = settings.personal_data_retention_years
    if dry_run:
        _print_table(found, settings)
        print(f"{len(found)} contacts past retention of {years} years (no change: dry run)")
        return 0
    erased = refused = 0
    for item in found:
        try:
            office.execute(item.customer_id, EraseContact(contact_id=item.contact_id, reason="retention"), actor)
        except DomainError as error:
            refused += 1
            print(f"refused  {item.contact_id}  customer {item.customer_id} ({item.company_name}): {error}")
            continue
        erased += 1
        print(f"erased   {item.contact_id}  customer {item.customer_id} ({item.company_name}), last activity "
              f"{_day(item.last_activity, settings)}, idle {item.years_idle:.1f} years")
    print(f"{erased} contacts past retention of {years} years erased" + (f"; {refused} refused" if refused else ""))
    return 0


def _live_keys(office: Any) -> list[dict[str, Any]]:
    """Each contact whose key still exists: subject_id, customer_id, created_at."""
    with office.customers.event_recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(SQL("SELECT subject_id, customer_id, created_at FROM {0} WHERE key IS NOT NULL").format(
            office.customers.event_recorder.keys_table))
        return [dict(row) for row in curs.fetchall()]


def _idle(known: CustomerActivity, cutoff: datetime) -> bool:
    """Past retention as far as the pipeline shows (no touch at all: judged by the keys' dates, later)."""
    return known.last_activity is None or known.last_activity < cutoff


def _with_groups(customers: Iterable[UUID], activity: dict[UUID, CustomerActivity]) -> set[UUID]:
    """The customers and the survivors of their merge groups (whose touches count for them)."""
    ids = set(customers)
    ids |= {activity[c].group_id for c in customers if c in activity}
    return ids


def _day(moment: datetime, settings: Any) -> str:
    return moment.astimezone(settings.timezone).date().isoformat()


def _print_table(found: list[PastRetention], settings: Any) -> None:
    if found:
        print_table(("contact", "customer", "company", "last activity", "years idle"),
                    [(str(p.contact_id), str(p.customer_id), p.company_name, _day(p.last_activity, settings),
                      f"{p.years_idle:.1f}") for p in found])


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns aligned as a terminal shows them."""
    widths = [max(_width(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip())


def _width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
