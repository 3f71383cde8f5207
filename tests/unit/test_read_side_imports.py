"""The read side reads the store without the write application, and one API never imports the other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ_SIDE = ["services.relay.app", "services.projections.app", "services.projections.rebuild",
             "services.projections.retry", "services.projections.status", "services.timeline_api.app"]


def imported_by(modules: list[str]) -> set[str]:
    """Every module a fresh interpreter holds after importing these (what they import, transitively)."""
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(result.stdout))


def test_nothing_on_the_read_side_imports_the_write_application() -> None:
    loaded = imported_by(READ_SIDE)
    assert {"shared.event_store", "shared.migrations"} <= loaded
    assert not {m for m in loaded if m in ("shared.application", "shared.bootstrap", "shared.commands")}


def test_the_timeline_api_imports_nothing_of_the_command_api() -> None:
    loaded = imported_by(["services.timeline_api.app"])
    assert not {m for m in loaded if m == "services.command" or m.startswith("services.command.")}


def test_no_read_side_source_names_the_write_application() -> None:
    """Also a lazy import inside a function would be found: no read-side module names it at all."""
    for package in ("services/relay", "services/projections", "services/timeline_api"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "shared.application" not in text and "build_customers" not in text, path
