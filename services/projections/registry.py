"""The projections by name: one consumer group and one set of read tables each."""

from __future__ import annotations

from services.projections.base import Projection
from services.projections.duplicates.projection import DuplicatesProjection
from services.projections.pipeline.projection import PipelineProjection
from services.projections.timeline.projection import TimelineProjection

PROJECTIONS: dict[str, type[Projection]] = {
    cls.name: cls for cls in (PipelineProjection, TimelineProjection, DuplicatesProjection)
}
