"""Per-batch SQL for the projections: a batch's rows go to PostgreSQL with one binary ``COPY``.

``Rows(*types)`` is a temporary table of the session (``pg_temp``, emptied at every commit) that a
statement reads like any table: ``INSERT … SELECT * FROM {rows} ON CONFLICT …`` or ``UPDATE … FROM
{rows} AS u(…)``. ``Rows.execute`` empties it, copies the batch's rows in (``COPY … FORMAT BINARY``:
psycopg dumps each row in C), then runs the statement: one statement however many rows a batch holds.
Measured on 20,000 timeline rows: 0.11 s and 0.03 s of Python, where the same rows as one binary array
per column in ``unnest(…)`` took 0.21 s and 0.08 s of Python (psycopg builds arrays in Python), and
``executemany`` more. Rows of one statement must not repeat a key an ``ON CONFLICT … DO UPDATE`` or
``UPDATE … FROM`` targets (PostgreSQL refuses to touch a row twice): callers key their rows in a dict
first. The temporary table lives as long as the session (created again after a rollback undid it), so a
statement costs two round trips more than with arrays: nothing next to a batch's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Identifier
from psycopg.types.json import set_json_dumps

_NAMES = {"int": "integer"}  # column types as psycopg's registry names them
_numbers = itertools.count()


def _json_as_is(document: Any) -> Any:
    """jsonb columns get their JSON as text already (pydantic's or orjson's dump): copied as it is."""
    return document


class Rows:
    """A temporary table of these PostgreSQL column types, and a statement over a batch's rows copied into it."""

    def __init__(self, *types: str) -> None:
        self.types = [_NAMES.get(t, t) for t in types]
        name = f"batch_rows_{next(_numbers)}"
        self.sql = Identifier("pg_temp", name)
        columns = SQL(", ").join(SQL("{0} {1}").format(Identifier(f"c{i}"), SQL(t)) for i, t in enumerate(types))
        # one round trip: made the first time in a session (again after a rollback undid it), emptied of what an
        # earlier statement of this transaction copied in
        self._prepare = SQL("CREATE TEMP TABLE IF NOT EXISTS {0} ({1}) ON COMMIT DELETE ROWS; DELETE FROM {0}").format(
            Identifier(name), columns)
        self._copy = SQL("COPY {0} FROM STDIN (FORMAT BINARY)").format(self.sql)

    def execute(self, curs: Cursor, statement: Composable, rows: Iterable[Sequence[Any]]) -> None:
        """Copy the rows into the table, then run the statement that reads them (``self.sql``); without rows, nothing
        (every statement here inserts or updates from the rows, so none would do nothing)."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        with curs.connection.cursor() as copying:
            copying.execute(self._prepare)
            set_json_dumps(_json_as_is, copying)
            with copying.copy(self._copy) as copy:
                copy.set_types(self.types)
                for row in rows:
                    copy.write_row(row)
        curs.execute(statement)
