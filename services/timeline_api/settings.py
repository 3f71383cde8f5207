"""Settings of the timeline API: the shared settings plus where it listens and how it reads.

Kept beside the service (not in ``shared/settings.py``) because only ``serve timeline`` reads
them; every shared variable (``DATABASE_URL``, ``DUPLICATE_WINDOW_DAYS`` ...) means the same here.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from shared.settings import Settings


class TimelineApiSettings(Settings):
    timeline_host: str = "127.0.0.1"
    timeline_port: int = Field(default=8001, description="where `serve timeline` listens")
    timeline_pool_size: int = Field(default=8, ge=1, description="read connections of the timeline API")
    timeline_statement_timeout: int = Field(default=15, ge=1, description="seconds a read query may run")
    business_timezone: str = Field(
        default="Asia/Tokyo", description="how a date (2026-02-01) or a time without UTC offset in a query is read")

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    @classmethod
    def of(cls, settings: Settings | None) -> TimelineApiSettings:
        """These settings for given shared settings (the timeline's own come from the environment)."""
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump()) if settings is not None else cls()
