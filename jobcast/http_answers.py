"""Reading jobcast's own HTTP answers as a client (the CLI, the console): how long a 429
asks to wait, and the reason a refusal gives."""

from __future__ import annotations

import math

from jobcast.http_client import Answer

MAX_RETRY_AFTER = 60.0
"""The longest single wait for a 429, in seconds: a longer Retry-After is waited in steps."""


def retry_after_seconds(response: Answer) -> float:
    """The answer's Retry-After in seconds (whole seconds, as jobcast sends it), bounded to
    [0.1, MAX_RETRY_AFTER]; 1 when it is missing or not a number."""
    try:
        wait = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0
    return min(max(wait, 0.1), MAX_RETRY_AFTER) if math.isfinite(wait) else 1.0


def refusal_reason(response: Answer) -> str:
    """The `detail` of a jobcast error answer (shortened; a 422's list of field errors as
    their messages), else the status's phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail)[:300] if detail else response.reason
