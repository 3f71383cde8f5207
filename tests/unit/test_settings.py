"""Settings: ingest's consumer group is its own setting, and by default the group it has always joined."""

from __future__ import annotations

from shared.settings import Settings


def test_ingest_keeps_the_group_it_joined_before_it_had_a_setting() -> None:
    assert Settings(_env_file=None).ingest_group == "projection-ingest"
    assert Settings(_env_file=None, consumer_group_prefix="acme").ingest_group == "acme-ingest"


def test_ingest_group_and_timeouts_are_set_apart_from_the_projections() -> None:
    settings = Settings(_env_file=None, ingest_consumer_group="crm-ingest", ingest_max_poll_interval_ms=30_000,
                        projection_max_poll_interval_ms=5_000)
    assert (settings.ingest_group, settings.ingest_max_poll_interval_ms) == ("crm-ingest", 30_000)
    assert settings.projection_max_poll_interval_ms == 5_000
