"""Reading a customer's timeline: newest first, filtered, one page at a time.

Entries are ordered by when they happened (``occurred_at``), then by stream version and
event id, all descending; the three are unique, so a cursor holding them says exactly
where the next page starts, even when new entries arrive in between (and over the
streams of merged customers). Cursors
are the read models' one codec (``services.projections.cursors``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import Connection
from psycopg.rows import class_row
from psycopg.sql import SQL, Identifier

from services.projections import cursors
from services.projections.timeline.tables import ENTRIES


@dataclass(frozen=True)
class TimelineEntry:
    event_id: UUID
    customer_id: UUID
    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor_user: str
    department: str
    team: str | None
    site: str | None
    kind: str
    summary_ja: str
    summary_en: str
    deal_id: UUID | None
    ticket_id: UUID | None
    company_name: str | None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None  # pass as ``before`` for the next (older) page; None: this is the last page


def customer_timeline(conn: Connection, customer_id: UUID | Sequence[UUID], *, departments: Collection[str] | None = None,
                      kinds: Collection[str] | None = None, since: datetime | None = None,
                      until: datetime | None = None, limit: int = 50, before: str | None = None,
                      suffix: str = "") -> TimelinePage:
    """One page of a customer's timeline (or of several customers', merged), newest first.

    ``departments`` / ``kinds``: keep only entries of these departments (sales, cs,
    support, tech) / event kinds (class names). ``since`` <= occurred_at < ``until``.
    ``before``: the ``next_cursor`` of the previous page (else ``InvalidCursorError``).
    ``suffix``: the tables' suffix (tests and rebuilds use suffixed tables).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    ids = [customer_id] if isinstance(customer_id, UUID) else list(customer_id)
    conditions, params = [SQL("customer_id = ANY(%s)")], [ids]
    if departments is not None:
        conditions.append(SQL("department = ANY(%s)"))
        params.append(list(departments))
    if kinds is not None:
        conditions.append(SQL("kind = ANY(%s)"))
        params.append(list(kinds))
    if since is not None:
        conditions.append(SQL("occurred_at >= %s"))
        params.append(since)
    if until is not None:
        conditions.append(SQL("occurred_at < %s"))
        params.append(until)
    if before is not None:
        conditions.append(SQL("(occurred_at, stream_version, event_id) < (%s, %s, %s)"))
        params.extend(cursors.decode(before, cursors.aware, cursors.bigint, UUID))
    query = SQL("SELECT event_id, customer_id, stream_version, occurred_at, recorded_at, actor_user, department, "
                "team, site, kind, summary_ja, summary_en, deal_id, ticket_id, company_name FROM {0} "
                "WHERE {1} ORDER BY occurred_at DESC, stream_version DESC, event_id DESC LIMIT %s").format(
        Identifier(ENTRIES + suffix), SQL(" AND ").join(conditions))
    with conn.cursor(row_factory=class_row(TimelineEntry)) as curs:
        entries = curs.execute(query, [*params, limit + 1]).fetchall()
    if len(entries) <= limit:
        return TimelinePage(entries, None)
    last = entries[limit - 1]
    return TimelinePage(entries[:limit], cursors.encode(last.occurred_at, last.stream_version, last.event_id))


def entries_of_events(conn: Connection, event_ids: Collection[UUID], suffix: str = "") -> list[TimelineEntry]:
    """The entries of these events (any customer), oldest first: what the timeline holds about them (a disclosure
    lists a person's entries this way)."""
    query = SQL("SELECT event_id, customer_id, stream_version, occurred_at, recorded_at, actor_user, department, "
                "team, site, kind, summary_ja, summary_en, deal_id, ticket_id, company_name FROM {0} "
                "WHERE event_id = ANY(%s) ORDER BY occurred_at, stream_version, event_id").format(
        Identifier(ENTRIES + suffix))
    with conn.cursor(row_factory=class_row(TimelineEntry)) as curs:
        return curs.execute(query, [list(event_ids)]).fetchall()


@dataclass(frozen=True)
class DisclosureEntry:
    customer_id: UUID
    stream_version: int
    occurred_at: datetime
    actor_user: str
    company_name: str | None
    summary_en: str


def disclosure_entries(conn: Connection, suffix: str = "") -> list[DisclosureEntry]:
    """Every disclosure of personal data (``PersonalDataDisclosed``) the timeline holds, oldest first: the
    third-party records (APPI Arts. 29-30); the event itself (at customer and stream version) says to whom,
    about which contact and how many items."""
    query = SQL("SELECT customer_id, stream_version, occurred_at, actor_user, company_name, summary_en FROM {0} "
                "WHERE kind = 'PersonalDataDisclosed' ORDER BY occurred_at, customer_id, stream_version").format(
        Identifier(ENTRIES + suffix))
    with conn.cursor(row_factory=class_row(DisclosureEntry)) as curs:
        return curs.execute(query).fetchall()
