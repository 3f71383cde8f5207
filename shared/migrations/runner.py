"""The migrations runner: numbered modules in order, once each, recorded in ``schema_migrations``.

A migration module is named ``mNNNN_<what>.py`` and defines ``apply(curs, target)``; it runs in one
transaction with the row that records it, so a failed migration leaves nothing behind and is tried again at
the next start. Its statements must also upgrade a database made before migrations existed (``IF NOT EXISTS``,
``ADD COLUMN IF NOT EXISTS``). A migration, once released, is never edited: a change is a new module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from shared.database import schema_lock
from shared.migrations import read_models
from shared.migrations.read_models import ReadModel
from shared.settings import Settings

NUMBERED = re.compile(r"m(\d{4}_\w+)")
TABLE = "schema_migrations"


@dataclass(frozen=True)
class Target:
    """What a migration may need besides its cursor: the database and the settings the store is made with."""

    url: str
    settings: Settings


def numbered() -> list[tuple[str, ModuleType]]:
    """(id, module) of every migration in this folder, in order: ``0001_event_store``, ..."""
    package = importlib.import_module(__package__)
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if NUMBERED.fullmatch(m.name))
    return [(name[1:], importlib.import_module(f"{__package__}.{name}")) for name in names]


def migrate(url: str, settings: Settings, models: Sequence[ReadModel] = ()) -> list[str]:
    """Apply what this database lacks; return a line per thing applied (none: it was up to date)."""
    applied: list[str] = []
    with schema_lock(url) as conn:
        with conn.transaction():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute(f"SELECT id FROM {TABLE}")}
        for migration_id, module in numbered():
            if migration_id in done:
                continue
            with conn.transaction(), conn.cursor() as curs:
                module.apply(curs, Target(url, settings))
                curs.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", (migration_id,))
            applied.append(f"migration {migration_id}")
        for model in models:
            with conn.transaction(), conn.cursor() as curs:
                applied += read_models.apply(curs, model)
    return applied
