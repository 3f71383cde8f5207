"""CS and support pages (カスタマーサクセス・サポート): customer search and the customer page."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.timeline_api.dashboard.session import may
from shared.auth import Permission as P

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(may(P.READ_CUSTOMERS))])
