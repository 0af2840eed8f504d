"""The contract's bounds, stated once: every limit here is one that storage and transport hold.

A value inside these bounds is stored, sent and rendered by every service; a value outside
them is refused at the edge (HTTP 422 naming the field, a `rejected` outcome in a batch, or
a dead letter on a raw topic). The models use these types and numbers, and the JSON Schema
files carry them (`python -m schemas.export`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field
from pydantic.config import JsonDict

MAX_BIGINT = 2**63 - 1
"""Postgres `bigint`: the largest counter (revision) any column holds."""

MAX_INT = 2**31 - 1
"""Postgres `integer`: the largest small count (attempts, seconds, milliseconds)."""

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Every instant in the contract lies in [EARLIEST, LATEST): far enough for any schedule,
near enough that no time-zone shift or added delay can overflow Python's datetime."""

WINDOW_SCHEMA: JsonDict = {
    "formatMinimum": EARLIEST.isoformat(),
    "formatExclusiveMaximum": LATEST.isoformat(),
}
"""The window as JSON Schema keywords (ajv's for `format`-ed strings) on every time field."""

MAX_EVENT_BYTES = 900_000
"""The largest encoded event (its JSON) a producer may write: the broker takes records up
to ~1 MiB, and a record also carries its key, headers and, dead-lettered, the reason."""

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
TEXT_PATTERN = "^[^\\u0000\\ud800-\\udfff]*$"
"""What `Text` allows, as the JSON Schema pattern the exported files carry."""


def check_text(value: str) -> str:
    """Refuse NUL (no Postgres text or jsonb holds it) and unpaired surrogates (no UTF-8
    encoder writes them): either would be accepted here and fail a consumer later."""
    if not value.isascii() or "\x00" in value:
        found = _FORBIDDEN.search(value)
        if found is not None:
            char = found.group()
            raise ValueError(
                "text must not contain NUL"
                if char == "\x00"
                else f"text must not contain an unpaired surrogate (U+{ord(char):04X})"
            )
    return value


def scrub_text(value: str) -> str:
    """`value` with NUL and unpaired surrogates replaced by U+FFFD: for text from outside
    the contract (a platform's error message) that must become contract text, not fail."""
    if value.isascii() and "\x00" not in value:
        return value
    return _FORBIDDEN.sub("\ufffd", value)


Text = Annotated[str, Field(pattern=r"^[^\x00]*$", json_schema_extra={"pattern": TEXT_PATTERN})]
"""Any free text of the contract (a length bound is added where the text is declared).

The same rule as `check_text`, enforced in pydantic-core: NUL by the pattern (Rust's regex,
cheaper than a Python validator per field on the hot paths), an unpaired surrogate because
a pattern needs the text as UTF-8 (`string_unicode`); the JSON parser refuses one already.
The exported schema states both."""


MAX_URL = 2_083
"""The longest URL, as pydantic's `HttpUrl` holds it (its own limit)."""


def check_url_length(value: Any) -> Any:
    """Refuse a URL whose normal form is longer than `MAX_URL`: a short URL with non-ASCII
    text grows when it is percent-encoded, and would be refused when the next service reads
    the event (it gets the normal form) though the edge accepted it."""
    if value is not None and len(str(value)) > MAX_URL:
        raise ValueError(f"URL longer than {MAX_URL} characters once encoded")
    return value


def check_instant(value: datetime) -> datetime:
    """Refuse an aware instant outside [EARLIEST, LATEST) (compared in UTC, overflow-safe)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(_window_message()) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(_window_message())
    return utc


def check_wall_time(value: datetime) -> datetime:
    """Refuse a naive local time that could not lie in the window in any time zone."""
    naive = value.replace(tzinfo=UTC)
    if not EARLIEST.replace(day=2) <= naive < LATEST.replace(year=2099, month=12, day=31):
        raise ValueError(_window_message())
    return value


def _window_message() -> str:
    return f"time must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()} (exclusive)"
