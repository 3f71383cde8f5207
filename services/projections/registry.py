"""The projections by name: one consumer group and one set of read tables each."""

from __future__ import annotations

from services.projections.base import Projection
from services.projections.pipeline import PipelineProjection


def projection_classes() -> dict[str, type[Projection]]:
    classes: list[type[Projection]] = [PipelineProjection]
    try:
        from services.projections.duplicates import DuplicatesProjection
        from services.projections.timeline import TimelineProjection

        classes += [TimelineProjection, DuplicatesProjection]
    except ImportError:  # pragma: no cover - while those modules are being written
        pass
    return {cls.name: cls for cls in classes}
