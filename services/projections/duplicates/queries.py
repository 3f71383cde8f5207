"""Which companies two or more sales teams or sites are working at the same time.

The period is ``(as_of - window_days, as_of]``; ``as_of`` always comes from the caller
(a dashboard passes "now", an auditor any past moment), never from a clock here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from psycopg import Connection
from psycopg.sql import SQL, Identifier

from services.projections.duplicates.tables import ACTIVITY, CUSTOMERS


@dataclass(frozen=True)
class ActiveSide:
    """One team at one site, active on the company within the window."""

    team: str | None
    site: str | None
    users: tuple[str, ...]
    customer_ids: tuple[UUID, ...]  # the customer record(s) this side worked on
    first_at: datetime  # first and last activity within the window
    last_at: datetime
    events: int


@dataclass(frozen=True)
class DuplicateApproach:
    company_key: str
    company_names: tuple[str, ...]  # every registration of the company, however spelled
    customer_ids: tuple[UUID, ...]
    sides: tuple[ActiveSide, ...]  # ordered by first activity

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.team for s in self.sides if s.team is not None))

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.site for s in self.sides if s.site is not None))


_SIDES = """
WITH sides AS (
    SELECT company_key, team, site, array_agg(DISTINCT actor_user ORDER BY actor_user) AS users,
           array_agg(DISTINCT customer_id ORDER BY customer_id) AS customer_ids,
           min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS events
    FROM {activity} WHERE occurred_at > %(start)s AND occurred_at <= %(as_of)s
    GROUP BY company_key, team, site
)
SELECT company_key, team, site, users, customer_ids, first_at, last_at, events FROM sides
WHERE company_key IN (SELECT company_key FROM sides GROUP BY company_key
                      HAVING count(DISTINCT team) >= 2 OR count(DISTINCT site) >= 2)
ORDER BY company_key, first_at, team, site
"""

_CUSTOMERS = ("SELECT company_key, customer_id, company_name FROM {customers} WHERE company_key = ANY(%s) "
              "ORDER BY company_key, customer_id")


def duplicate_approaches(conn: Connection, *, as_of: datetime, window_days: int,
                         suffix: str = "") -> list[DuplicateApproach]:
    """Companies with >= 2 distinct sales teams or >= 2 distinct sites active in ``(as_of - window, as_of]``.

    Newest activity first. ``suffix``: the tables' suffix (tests and rebuilds).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a UTC offset (a naive time would be read in the server's time zone)")
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    params = {"start": as_of - timedelta(days=window_days), "as_of": as_of}
    activity = SQL(_SIDES).format(activity=Identifier(ACTIVITY + suffix))
    sides: dict[str, list[ActiveSide]] = {}
    for key, team, site, users, customer_ids, first_at, last_at, events in conn.execute(activity, params):
        sides.setdefault(key, []).append(
            ActiveSide(team, site, tuple(users), tuple(customer_ids), first_at, last_at, events))
    if not sides:
        return []
    customers: dict[str, list[tuple[UUID, str]]] = {}
    query = SQL(_CUSTOMERS).format(customers=Identifier(CUSTOMERS + suffix))
    for key, customer_id, company_name in conn.execute(query, (list(sides),)):
        customers.setdefault(key, []).append((customer_id, company_name))
    found = [DuplicateApproach(key, tuple(dict.fromkeys(name for _, name in customers.get(key, ()))),
                               tuple(c for c, _ in customers.get(key, ())), tuple(key_sides))
             for key, key_sides in sides.items()]
    found.sort(key=lambda d: (-max(s.last_at for s in d.sides).timestamp(), d.company_key))
    return found
