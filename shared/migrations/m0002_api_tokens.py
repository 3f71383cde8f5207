"""Bearer tokens (``shared/auth.py``): only their SHA-256 is stored."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor


def apply(curs: Cursor, _: Any) -> None:
    curs.execute("CREATE TABLE IF NOT EXISTS api_tokens (token_id uuid PRIMARY KEY, token_hash text UNIQUE NOT NULL, "
                 "role text NOT NULL, actor jsonb NOT NULL, issued_at timestamptz NOT NULL DEFAULT now(), "
                 "revoked_at timestamptz)")
