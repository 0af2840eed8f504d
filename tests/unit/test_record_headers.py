"""Headers as producers may write them (null values, repeated keys, any bytes, thousands of
them) are read without raising, by every reader: ids, log fields, the consumer's records,
dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobcast import metrics
from jobcast.kafka.records import consumed_record as _to_record
from jobcast.record_headers import (
    DEAD_LETTER_MAX_TOTAL_CHARS,
    dead_letter_headers,
    header_text,
    headers_of,
    readable_headers,
)
from schemas import headers as h


@dataclass
class Raw:
    headers: Any
    topic: str = "t"
    partition: int = 0
    offset: int = 7
    key: bytes | None = b"k"
    value: bytes | None = b"{}"
    timestamp: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


ODD = [
    (h.CORRELATION_ID, None),
    ("x-binary", b"\xff\xfe\x00"),
    (h.CAUSATION_ID, b"cause-1"),
    (h.CORRELATION_ID, b"corr-2"),
    ("x-empty", b""),
]


def test_null_repeated_and_binary_values_are_read_safely() -> None:
    raw = Raw(ODD)
    assert header_text(raw, h.CORRELATION_ID) == "corr-2"  # the last one, as Kafka's lastHeader
    assert header_text(raw, "x-binary") == "\ufffd\ufffd\x00"
    assert header_text(raw, "absent") is None
    assert header_text(Raw([(h.CORRELATION_ID, None)]), h.CORRELATION_ID) is None
    assert header_text(Raw(None), h.CORRELATION_ID) is None
    assert len(header_text(Raw([("big", b"a" * 1_000_000)]), "big") or "") == 256
    assert headers_of(Raw([("k", bytearray(b"v")), ("n", None), "junk"])) == [
        ("k", b"v"),
        ("n", None),
    ]


def test_readable_headers_decode_strictly_for_faststream() -> None:
    for _, value in readable_headers(headers_of(Raw(ODD))):
        value.decode()  # strict: what faststream's parser does


def test_log_fields_and_consumed_records_take_null_values() -> None:
    raw = Raw([(h.CORRELATION_ID, None), (h.CAUSATION_ID, b"\xff")])
    fields = metrics.record_log_fields(raw)
    assert "correlation_id" not in fields
    assert fields["causation_id"] == "\ufffd"
    record = _to_record(raw)
    assert record.headers == ((h.CORRELATION_ID, None), (h.CAUSATION_ID, b"\xff"))


def test_dead_letter_headers_are_capped_and_cannot_forge_the_reason() -> None:
    many = [(f"x-{n}", b"v" * 100) for n in range(1_000)]
    huge = [("x-huge", b"h" * 1_000_000)]
    forged = [(h.DLQ_REASON, b"all good"), (h.DLQ_TOPIC, b"elsewhere")]
    kept, cut = dead_letter_headers(
        Raw([*forged, *huge, *many, ("x-null", None)]), reserved=(h.DLQ_REASON, h.DLQ_TOPIC)
    )
    assert h.DLQ_REASON not in kept
    assert h.DLQ_TOPIC not in kept
    assert len(kept["x-huge"]) == 1024
    assert sum(len(k) + len(v) for k, v in kept.items()) <= DEAD_LETTER_MAX_TOTAL_CHARS
    assert len(kept) <= 64
    assert cut >= 1_000 - 64 + 3  # forged ones, the cut value and what did not fit
    small, none_cut = dead_letter_headers(Raw([("a", None), ("a", b"2")]), reserved=())
    assert small == {"a": "2"}
    assert none_cut == 0
