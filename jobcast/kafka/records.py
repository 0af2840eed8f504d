"""A consumed record as handlers see it: the record itself (`ConsumedRecord`, what a
`ConcurrentConsumer` hands over) and where an event came from (`RecordMeta`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobcast.record_headers import header_text, headers_of
from schemas import headers as h


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """One Kafka record as handed to a handler (value is b"" for a tombstone; a header's
    value is None where the producer wrote a null one, which Kafka allows)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Where a consumed record came from and the chain it belongs to."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    correlation_id: str | None


def consumed_record(raw: Any) -> ConsumedRecord:
    """From an aiokafka record."""
    return ConsumedRecord(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value or b"",
        headers=tuple(headers_of(raw)),
        timestamp_ms=raw.timestamp,
    )


def record_meta(raw: Any) -> RecordMeta:
    """Of anything with aiokafka's record attributes."""
    return RecordMeta(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        correlation_id=header_text(raw, h.CORRELATION_ID),
    )
