"""Each read model's tables, made from the read model's own statements, and whether they need a rebuild.

A read model's *definition* is the text of its CREATE statements (tables and indexes, its versions and dead
letters tables included); ``read_models`` keeps the fingerprint of the definition its live tables were made
with. The runner creates the tables that are missing; when the code's definition differs from the recorded one
(an upgrade changed a column or an index), the read model is marked ``rebuild_needed_since``: ``projections
status`` shows it, and ``projections rebuild NAME`` makes the tables anew and clears the mark. Nothing is
rebuilt automatically (a rebuild of a large store takes minutes and the old tables keep serving meanwhile).
A database whose tables were made before migrations existed has its definition recorded as the code's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from psycopg import Cursor
from psycopg.sql import Composable

TABLE = "read_models"


class ReadModel(Protocol):
    name: str

    def all_tables(self) -> tuple[str, ...]: ...

    def create_statements(self) -> Sequence[Composable]: ...

    def create_tables(self, curs: Cursor) -> None: ...


def definition(curs: Cursor, model: ReadModel) -> str:
    return ";\n".join(statement.as_string(curs) for statement in model.create_statements())


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apply(curs: Cursor, model: ReadModel) -> list[str]:
    """Create the missing tables and compare the definition; return what was done (nothing: up to date)."""
    text = definition(curs, model)
    wanted = fingerprint(text)
    missing = [t for t in model.all_tables() if curs.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None]
    model.create_tables(curs)
    row = curs.execute(f"SELECT fingerprint, rebuild_needed_since FROM {TABLE} WHERE name = %s",
                       (model.name,)).fetchone()
    done = [f"read model {model.name}: created {', '.join(missing)}"] if missing else []
    if len(missing) == len(model.all_tables()):  # all made just now, from the code's definition
        record_rebuilt(curs, model)
        return done
    if row is None:
        curs.execute(f"INSERT INTO {TABLE} (name, fingerprint, definition) VALUES (%s, %s, %s)",
                     (model.name, wanted, text))
        return done or [f"read model {model.name}: definition recorded (tables in place)"]
    recorded, since = row
    if recorded != wanted and since is None:
        curs.execute(f"UPDATE {TABLE} SET rebuild_needed_since = now() WHERE name = %s", (model.name,))
        done.append(f"read model {model.name}: definition changed, needs rebuild "
                    f"(customer-timeline projections rebuild {model.name})")
    elif recorded == wanted and since is not None:
        curs.execute(f"UPDATE {TABLE} SET rebuild_needed_since = NULL WHERE name = %s", (model.name,))
        done.append(f"read model {model.name}: definition as its tables were made again, no rebuild needed")
    return done


def record_rebuilt(curs: Cursor, model: ReadModel) -> None:
    """The live tables were made anew from the code's definition (a rebuild): record it, clear the mark."""
    text = definition(curs, model)
    curs.execute(f"INSERT INTO {TABLE} (name, fingerprint, definition) VALUES (%s, %s, %s) ON CONFLICT (name) DO "
                 "UPDATE SET fingerprint = EXCLUDED.fingerprint, definition = EXCLUDED.definition, "
                 "recorded_at = now(), rebuild_needed_since = NULL", (model.name, fingerprint(text), text))


def needing_rebuild(curs: Cursor) -> set[str]:
    """The read models whose tables were made with an older definition than the one recorded as wanted."""
    if curs.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()[0] is None:
        return set()
    return {row[0] for row in curs.execute(f"SELECT name FROM {TABLE} WHERE rebuild_needed_since IS NOT NULL")}
