"""Verifying a customer's hash chain straight from the stored rows.

Each stored event names the hash of the one before it (``prev_hash``); the hash of
an event covers its type and its exact stored bytes. Recomputing the chain from the
rows, and comparing its end with the recorded stream head, detects any edited,
reordered, inserted or deleted event.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import orjson
from psycopg.sql import SQL, Identifier

from shared.events.base import GENESIS_HASH, stored_hash
from shared.persistence import CustomerEventRecorder


@dataclass(frozen=True)
class ChainReport:
    customer_id: UUID
    events_checked: int
    intact: bool
    first_broken_version: int | None = None
    problem: str | None = None


def verify_chain(recorder: CustomerEventRecorder, customer_id: UUID) -> ChainReport:
    statement = SQL("SELECT originator_version, topic, state FROM {0}.{1} WHERE originator_id = %s "
                    "ORDER BY originator_version").format(Identifier(recorder.datastore.schema),
                                                          Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (customer_id,))
        rows = curs.fetchall()
    expected_hash, checked = GENESIS_HASH, 0
    for expected_version, row in enumerate(rows, start=1):
        version, state = row["originator_version"], bytes(row["state"])
        if version != expected_version:
            return ChainReport(customer_id, checked, False, expected_version, f"event {expected_version} is missing")
        try:
            claimed = orjson.loads(state).get("prev_hash")
        except orjson.JSONDecodeError:
            return ChainReport(customer_id, checked, False, version, "stored state is not JSON")
        if claimed != expected_hash:
            broken = version - 1 if version > 1 else version
            return ChainReport(customer_id, checked, False, broken,
                               f"event {version} names prev_hash {claimed}, but event {version - 1} hashes to "
                               f"{expected_hash}" if version > 1 else "the first event does not start the chain")
        expected_hash, checked = stored_hash(row["topic"], state), checked + 1
    head = recorder.stream_head(customer_id)
    if head is not None and head != (len(rows), expected_hash):
        return ChainReport(customer_id, checked, False, len(rows) or None,
                           f"the stream head records version {head[0]} with hash {head[1]}, the rows end at "
                           f"version {len(rows)} with hash {expected_hash}")
    return ChainReport(customer_id, checked, True)
