"""Lookup files: more columns for each row, found in a second CSV or Excel file by one of the row's values.

A mapping's ``lookups`` names the file (relative to the mapping file), the column of the imported
file whose value is looked up (``column``) and the column of the lookup file holding it (``key``, by
default the same header). The lookup file's other columns are joined to the row under their own
headers, so ``columns`` can name them like any column (``team: manager``, ``site: regional_office``).

Keys are compared as text, NFKC-normalised and stripped (``Ｃ００１`` is ``C001``). A key that the
lookup file holds twice with different values is refused when the file is opened; a row whose
value is not in the lookup file is refused, naming the value and the file; an empty value joins
nothing (the fields' defaults apply).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.importer import ImportSetupError
from services.importer.mapping import Lookup, Mapping
from services.importer.readers import open_table


class LookupMiss(ValueError):
    """A row's value that its lookup file does not hold."""


@dataclass(frozen=True)
class LookupTable:
    spec: Lookup
    source: str
    headers: tuple[str, ...]  # the columns it joins (its key column excluded)
    rows: dict[str, dict[str, Any]]  # key -> the joined cells

    def join(self, cells: dict[str, Any]) -> dict[str, Any]:
        value = cells.get(self.spec.column)
        key = lookup_key(value)
        if not key:
            return cells
        found = self.rows.get(key)
        if found is None:
            raise LookupMiss(f"{self.spec.column}: '{key}' is not in {Path(self.source).name} "
                             f"(column {self.spec.key_column})")
        return {**cells, **found}


def lookup_key(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def load_lookups(mapping: Mapping, base: Path, headers: list[str]) -> list[LookupTable]:
    """Open every lookup file of ``mapping`` (paths relative to ``base``); ``headers`` are the imported
    file's, which a lookup file's columns may not repeat."""
    tables: list[LookupTable] = []
    taken = set(headers)
    for spec in mapping.lookups:
        table = open_table(base / spec.file, sheet=spec.sheet, header_row=spec.header_row)
        if spec.key_column not in table.headers:
            raise ImportSetupError(f"{table.source}: no column '{spec.key_column}' (the lookup key); the columns "
                                   f"there are: {', '.join(repr(h) for h in table.headers if h)}")
        joined = tuple(h for h in table.headers if h and h != spec.key_column)
        clash = sorted(taken.intersection(joined))
        if clash:
            raise ImportSetupError(f"{table.source}: column(s) {', '.join(repr(h) for h in clash)} are also in "
                                   "the imported file (or an earlier lookup); rename them in one of the files")
        taken.update(joined)
        rows: dict[str, dict[str, Any]] = {}
        first_row: dict[str, int] = {}
        for number, cells in table.rows:
            key = lookup_key(cells.get(spec.key_column))
            if not key:
                continue
            values = {h: cells.get(h) for h in joined}
            if key in rows and rows[key] != values:
                raise ImportSetupError(f"{table.source}: key '{key}' is in rows {first_row[key]} and {number} "
                                       "with different values; a lookup key must name one row")
            rows.setdefault(key, values)
            first_row.setdefault(key, number)
        tables.append(LookupTable(spec, table.source, joined, rows))
    return tables
