"""The read models as the migrations see them (``shared/migrations/read_models.py``): one per projection of the
registry, whose own statements make its tables."""

from __future__ import annotations

from services.projections.base import Projection
from services.projections.registry import PROJECTIONS
from shared.process import ProcessDefinition


def read_models(process: ProcessDefinition) -> list[Projection]:
    return [projection(process) for projection in PROJECTIONS.values()]
