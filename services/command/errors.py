"""The command API's error answers: the shared handlers (``services/http_errors.py``) and its routes' list."""

from __future__ import annotations

from services.http_errors import LISTED_PROBLEMS, error_responses

ERROR_RESPONSES = error_responses({
    400: "a body that cannot be read (e.g. not UTF-8)",
    404: "unknown customer, deal or other referenced item",
    409: "stale expected version, unmet transition criteria, or a state the command does not fit",
    413: "a body larger than the server's MAX_REQUEST_BYTES (`body_too_large`)",
    422: f"invalid fields (the first {LISTED_PROBLEMS} named, `count` of them all), or an idempotency key reused",
})
