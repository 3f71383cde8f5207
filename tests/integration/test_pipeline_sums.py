"""Amount sums stay exact past 64 bits (each deal is at most MAX_YEN, but many of them add up)."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

import psycopg
from psycopg.types.json import Jsonb

from services.projections.pipeline.projection import PipelineProjection
from services.projections.pipeline.analytics import open_deal_counts
from services.projections.pipeline.deals import counts_by_stage
from shared.events.base import MAX_YEN
from shared.process import load_process_definition

DEALS = 10_000  # 10,000 x 10**15 = 10**19, past the largest bigint (about 9.22 x 10**18)


def test_sums_of_amounts_past_64_bits_are_exact(isolated) -> None:
    settings = isolated()
    process = load_process_definition()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        with conn.cursor() as curs:
            PipelineProjection(process).create_tables(curs)
            now = datetime(2026, 11, 1, tzinfo=timezone.utc)
            curs.executemany(
                "INSERT INTO pipeline_deals (deal_id, customer_id, phase, stage, status, bucket, amount, "
                "stage_entered_at, bant_confirmed, bant_complete, missing_information, win_reasons) "
                "VALUES (%s, %s, 'closing', 'in_approval', 'open', 'hot', %s, %s, 0, false, %s, %s)",
                [(uuid4(), uuid4(), MAX_YEN, now, Jsonb([]), Jsonb([])) for _ in range(DEALS)])
        assert counts_by_stage(conn, "open", None) == [(None, "closing", "in_approval", DEALS, DEALS * MAX_YEN)]
        assert open_deal_counts(conn, "approach")["phases"] == {"closing": (DEALS, DEALS * MAX_YEN)}
