"""Reading a consumed record's headers safely: whatever a producer put there.

Kafka allows a header with a null value, the same key several times, any bytes as a value
and a great many headers. None of that may make a consumer raise: a raise on a record's
headers would stall its partition (the record comes back and fails again). Every reader of
headers (log fields, the correlation id, dead letters, faststream's parser) goes through
here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Header = tuple[str, bytes | None]

# What a dead letter keeps of the original headers: the reason must always fit beside them.
DEAD_LETTER_MAX_HEADERS = 64
DEAD_LETTER_MAX_VALUE_CHARS = 1024
DEAD_LETTER_MAX_TOTAL_CHARS = 16 * 1024
_TEXT_CHARS = 256  # a header value read for logs or as an id


def headers_of(record: Any) -> Sequence[Header]:
    """The record's headers as (key, value or None); never raises on what is there."""
    headers = getattr(record, "headers", None) or ()
    out: list[Header] = []
    for item in headers:
        try:
            key, value = item
        except (TypeError, ValueError):
            continue  # not a pair: nothing a reader could use
        out.append((_text(key), _bytes(value)))
    return out


def header_text(record: Any, name: str, limit: int = _TEXT_CHARS) -> str | None:
    """The last value of header `name` as text (U+FFFD for bytes that are not UTF-8, cut
    to `limit` characters); None when absent or null. The last, as Kafka's
    `Headers.lastHeader` and faststream's parser read a repeated key."""
    found: object = None
    for item in getattr(record, "headers", None) or ():  # per record: no copy made
        try:
            key, value = item
        except (TypeError, ValueError):
            continue
        if key == name:
            found = value
    raw = _bytes(found)
    if raw is None:
        return None
    return raw[: limit * 4].decode("utf-8", "replace")[:limit]


def readable_headers(headers: Iterable[Header]) -> tuple[tuple[str, bytes], ...]:
    """Headers every value of which decodes as UTF-8 (null becomes empty, other bytes are
    replaced by U+FFFD): what faststream's parser needs to decode them strictly."""
    return tuple(
        (key, b"" if value is None else value.decode("utf-8", "replace").encode())
        for key, value in headers
    )


def dead_letter_headers(record: Any, reserved: Iterable[str]) -> tuple[dict[str, str], int]:
    """The original headers a dead letter carries, as text, and how many were left out
    or shortened.

    Capped in count and size so the dead letter (with its reason) still fits however
    large the original headers were; names in `reserved` (the x-dlq-* headers about to
    be written) are left out so they cannot be forged; for a repeated key the last
    value is kept (a dead letter's headers are a map). A null value becomes empty.
    """
    skip = set(reserved)
    kept: dict[str, str] = {}
    dropped = total = 0
    for key, value in headers_of(record):
        text = "" if value is None else value.decode("utf-8", "replace")
        size = len(key) + min(len(text), DEAD_LETTER_MAX_VALUE_CHARS)
        if (
            key in skip
            or (key not in kept and len(kept) >= DEAD_LETTER_MAX_HEADERS)
            or total + size > DEAD_LETTER_MAX_TOTAL_CHARS
        ):
            dropped += 1
            continue
        if len(text) > DEAD_LETTER_MAX_VALUE_CHARS:
            text = text[:DEAD_LETTER_MAX_VALUE_CHARS]
            dropped += 1  # counted too: the value is not whole
        kept[key] = text
        total += size
    return kept, dropped


def _text(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8", "replace")
    return str(key)


def _bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    # Not bytes at all (a str from a test double...): its text, never bytes(int) zeros.
    return str(value).encode("utf-8", "replace")
