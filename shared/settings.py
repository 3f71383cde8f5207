"""All settings in one place, read from the environment (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded server under data_dir")
    data_dir: Path = Field(default=Path(".data"), description="where embedded servers keep their data")
    process_definition: Path | None = Field(
        default=None, description="the company's sales process YAML; unset uses the packaged default")
    snapshot_interval: int = Field(default=100, ge=0, description="snapshot a customer every N events (0: never)")
    write_batch_size: int = Field(default=500, ge=1, description="most commands saved in one transaction")
    postgres_pool_size: int = Field(default=8, ge=1)
    postgres_lock_timeout: int = Field(default=5, ge=1, description="seconds to wait for the event table lock")
    postgres_idle_in_transaction_timeout: int = Field(default=10, ge=1)
    command_host: str = "127.0.0.1"
    command_port: int = 8000
    command_workers: int = Field(default=1, ge=1, description="processes serving the command API")
    timeline_host: str = "127.0.0.1"
    timeline_port: int = Field(default=8001, description="where `serve timeline` listens")
    timeline_pool_size: int = Field(default=8, ge=1, description="read connections of the timeline API")
    timeline_statement_timeout: int = Field(default=15, ge=1, description="seconds a read query may run")
    max_request_bytes: int = Field(default=256 * 1024, ge=1024,
                                   description="largest request body either API reads (else 413)")
    metrics_port: int | None = Field(default=None, description="relay, projection worker, ingest: serve Prometheus "
                                                               "metrics on this port (unset: none)")
    metrics_host: str = Field(default="127.0.0.1", description="address those metrics listen on (0.0.0.0 in a "
                                                               "container)")
    retry_cap_seconds: float = Field(default=5.0, gt=0, description="longest pause between retries in an outage")
    business_timezone: str = Field(
        default="Asia/Tokyo", description="how a date (2026-02-01) or a time without UTC offset in a query is read")

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka brokers; unset starts a local Kafka-protocol broker (tansu)")
    local_broker_port: int = Field(default=9092, description="port of the local broker started when unset")
    local_broker: Literal["auto", "kafka", "tansu"] = Field(
        default="auto", description="the broker `customer-timeline dev` starts when KAFKA_BOOTSTRAP_SERVERS is unset: "
                                    "Apache Kafka (infra/kafka) where Java is installed, else tansu")
    events_topic: str = "customer-events"
    events_topic_partitions: int = Field(default=6, ge=1)
    dead_letter_topic: str = "customer-events.dead-letter"
    kafka_max_message_bytes: int = Field(
        default=1024 * 1024, ge=64 * 1024,
        description="largest message the producers send and the topics accept (max.message.bytes); a bigger "
                    "event is published without its payload, which consumers read from the event store")
    relay_batch_size: int = Field(default=2000, ge=1, description="most events published per relay round")
    projection_batch_size: int = Field(default=2000, ge=1, description="most messages a projection applies per transaction")
    import_processes: int = Field(default=1, ge=1, description="processes `customer-timeline import` runs at once, "
                                                               "each a share of the customer codes")
    rebuild_processes: int = Field(default=0, ge=0, description="processes a rebuild replays the event store in, each "
                                                                "a slice of the customers (0: one per core)")
    projection_max_poll_interval_ms: int = Field(default=10_000, description="also the consumer group's rebalance timeout")
    projection_session_timeout_ms: int = 6_000
    consumer_group_prefix: str = Field(default="projection", description="consumer group = <prefix>-<projection>")
    ingest_topic: str = Field(default="customer-commands", description="commands from sales, CS, support and tech apps")
    ingest_topic_partitions: int = Field(default=6, ge=1)
    ingest_results_topic: str = Field(default="customer-command-results", description="one outcome per command, keyed by idempotency key")
    ingest_dead_letter_topic: str = "customer-commands.dead-letter"
    ingest_batch_size: int = Field(default=2000, ge=1, description="most commands appended in one transaction")
    ingest_consumer_group: str | None = Field(
        default=None, description="ingest's consumer group; unset: <CONSUMER_GROUP_PREFIX>-ingest, the group ingest "
                                  "has always joined, so a deployment keeps its committed offsets")
    ingest_max_poll_interval_ms: int = Field(default=10_000, description="also ingest's group rebalance timeout")
    ingest_session_timeout_ms: int = 6_000
    duplicate_window_days: int = Field(default=90, ge=1,
                                       description="window in which two teams or sites on one company count as duplicate approach")

    personal_data_retention_years: int = Field(
        default=5, ge=1, description="contacts of customers with no activity for this many years are past retention "
                                     "(`customer-timeline personal-data retention`)")
    personal_key_cache_seconds: float = Field(
        default=10.0, ge=0, description="how long a process keeps a contact's key in memory: an erasure by another "
                                        "process is honoured within this time")

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @property
    def ingest_group(self) -> str:
        return self.ingest_consumer_group or f"{self.consumer_group_prefix}-ingest"

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)
