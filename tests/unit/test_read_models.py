"""Each read model is one unit: its tables named in one place, beside its handlers and its queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.projections.duplicates import tables as duplicates
from services.projections.pipeline import tables as pipeline
from services.projections.registry import PROJECTIONS
from services.projections.timeline import tables as timeline
from shared.process import load_process_definition

ROOT = Path(__file__).resolve().parents[2]
PROCESS = load_process_definition()
UNITS = {"pipeline": pipeline, "timeline": timeline, "duplicates": duplicates}


@pytest.mark.parametrize("name", list(UNITS))
def test_each_projection_is_made_of_its_read_models_tables(name: str) -> None:
    tables, projection = UNITS[name], PROJECTIONS[name](PROCESS)
    assert (projection.name, projection.tables) == (tables.NAME, tables.TABLES)
    assert list(projection.schema()) == list(tables.TABLES)  # every table has its statements, nothing else
    assert set(PROJECTIONS) == set(UNITS)


def test_the_pipelines_version_table_is_the_one_the_machinery_keeps() -> None:
    assert PROJECTIONS["pipeline"](PROCESS).versions_table == pipeline.VERSIONS


def test_a_read_models_tables_are_named_only_inside_its_own_package() -> None:
    """So the API serves queries and never names a table, and a table can be renamed in one place."""
    spelled = []
    for name, tables in UNITS.items():
        own = ROOT / "services" / "projections" / name
        for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
            if own in path.parents:
                continue
            text = path.read_text(encoding="utf-8")
            spelled += [(str(path.relative_to(ROOT)), table) for table in tables.TABLES if table in text]
    assert spelled == []
