"""Auditor pages (監査): a customer's raw events, the state as of a time, the pipeline as of a date, the
hash-chain check."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.timeline_api.dashboard.session import may
from shared.auth import Permission as P

router = APIRouter(prefix="/ui/audit", include_in_schema=False, dependencies=[Depends(may(P.READ_AUDIT))])
