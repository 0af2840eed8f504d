"""Dead letters as the operator sees them: pure decisions, no I/O.

A dead letter is a record of `<topic>.dlq` written by `jobcast.kafka.dead_letter`: the
original value, key and headers, plus `x-dlq-*` headers saying where it came from and why
(`schemas.headers`). What is shown of one always goes through `jobcast.logs.redact`: a
dead letter is raw input, and raw input may hold a token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobcast.logs import redact, redact_text
from jobcast.topics import dead_letter_topic
from schemas import headers as h

DLQ_SUFFIX = dead_letter_topic("")
DLQ_HEADER_PREFIX = "x-dlq-"
REPLAY_OF = h.DLQ_REPLAY_OF
"""Set on every replayed record: the dead letter it came from (`<dlq-topic>:<p>:<offset>`).
It starts with `x-dlq-` so a replayed record that is dead-lettered again is replayed under
its new id, never chained."""

PREVIEW_CHARS = 4096


@dataclass(frozen=True, slots=True, order=True)
class DeadLetterId:
    """Where a dead letter is: `<dlq-topic>:<partition>:<offset>`."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> DeadLetterId:
        """`jobs.events.dlq:0:12` (Kafka topic names never hold a colon); ValueError if not."""
        topic, partition, offset = _split_id(text)
        if not topic.endswith(DLQ_SUFFIX):
            # `jobs.events:0:12` would be a place in the original topic, not a dead letter.
            raise ValueError(f"{text!r}: name the dead-letter topic ({topic}{DLQ_SUFFIX}:...)")
        return cls(topic, partition, offset)


def _split_id(text: str) -> tuple[str, int, int]:
    parts = text.strip().rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"{text!r} is not <dlq-topic>:<partition>:<offset>")
    try:
        partition, offset = int(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"{text!r}: partition and offset are numbers") from None
    if partition < 0 or offset < 0:
        raise ValueError(f"{text!r}: partition and offset are not negative")
    return parts[0], partition, offset


def dlq_topic_of(topic: str) -> str:
    """The dead-letter topic named by `topic`: itself if it is one, else its `.dlq`."""
    return topic if topic.endswith(DLQ_SUFFIX) else dead_letter_topic(topic)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic, with its `x-dlq-*` headers read."""

    id: DeadLetterId
    timestamp_ms: int
    key: bytes | None
    value: bytes
    size: int  # of the value as parked (it may have been dropped from `value` for listing)
    headers: tuple[tuple[str, bytes], ...]
    digest: bytes = b""  # SHA-256 of the value as parked

    @classmethod
    def from_record(cls, record: Any, *, keep_value: bool = True) -> DeadLetter:
        """From an aiokafka `ConsumerRecord`."""
        value = record.value or b""
        return cls(
            id=DeadLetterId(record.topic, record.partition, record.offset),
            timestamp_ms=record.timestamp,
            key=record.key,
            value=value if keep_value else b"",
            size=len(value),
            headers=tuple((k, bytes(v or b"")) for k, v in record.headers or ()),
            digest=hashlib.sha256(value).digest(),
        )

    def header(self, name: str) -> str | None:
        """The last value of header `name`, as text (None when absent)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value.decode("utf-8", "replace")
        return found

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def original_topic(self) -> str | None:
        return self.header(h.DLQ_TOPIC)

    @property
    def original_partition(self) -> int | None:
        return _int_or_none(self.header(h.DLQ_PARTITION))

    @property
    def original_offset(self) -> int | None:
        return _int_or_none(self.header(h.DLQ_OFFSET))

    @property
    def group(self) -> str | None:
        return self.header(h.DLQ_GROUP)

    @property
    def reason(self) -> str:
        return self.header(h.DLQ_REASON) or ""

    @property
    def truncated_from(self) -> int | None:
        """The original size when only the head of the record was parked."""
        raw = self.header(h.DLQ_TRUNCATED)
        if raw is None:
            return None
        return _int_or_none(raw) or -1  # present but unreadable: truncated all the same

    @property
    def replay_of(self) -> str | None:
        """Set when this dead letter is a replayed record that failed again."""
        return self.header(REPLAY_OF)

    @property
    def origin(self) -> Origin | None:
        """The original record, when the headers say where it was."""
        topic, partition, offset = (
            self.original_topic, self.original_partition, self.original_offset
        )  # fmt: skip
        if topic is None or partition is None or offset is None:
            return None
        return Origin(topic, partition, offset, self.digest)

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it was dead-lettered (no `x-dlq-*`)."""
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX)]


@dataclass(frozen=True, slots=True)
class Origin:
    """The record a dead letter was made of. Every group that failed on it parks its own
    dead letter of it, but one replay reaches every group: it is sent once for all. The
    digest tells it from another record at the same place (a topic created anew)."""

    topic: str
    partition: int
    offset: int
    digest: bytes


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def why_not_replayable(letter: DeadLetter) -> str | None:
    """Why `letter` cannot be re-sent as it is, or None when it can."""
    if letter.original_topic is None:
        return f"no {h.DLQ_TOPIC} header: not a jobcast dead letter, its origin is unknown"
    if letter.truncated_from is not None:
        size = f"{letter.truncated_from} bytes" if letter.truncated_from >= 0 else "its size"
        return (
            f"truncated: only the first {letter.size} bytes of {size} were parked"
            f" ({h.DLQ_TRUNCATED}); re-send the original from its producer instead"
        )
    return None


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The headers a replayed record carries: the original ones and where it came from."""
    return [*letter.original_headers(), (REPLAY_OF, str(letter.id).encode())]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters a command is about (all conditions hold; None: any)."""

    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None  # a case-insensitive part of x-dlq-reason
    ids: frozenset[DeadLetterId] = field(default_factory=frozenset)

    def matches(self, letter: DeadLetter) -> bool:
        if self.ids and letter.id not in self.ids:
            return False
        if self.since is not None and letter.time < self.since:
            return False
        if self.until is not None and letter.time >= self.until:
            return False
        return self.reason is None or self.reason.casefold() in letter.reason.casefold()


def newest_first(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """By the time they were parked, newest first (ties: the later offset first)."""
    return sorted(letters, key=lambda d: (d.timestamp_ms, d.id), reverse=True)


def by_offset(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """By DLQ topic, partition and offset: the order they were parked in, per partition."""
    return sorted(letters, key=lambda d: d.id)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str, now: datetime) -> datetime:
    """A point in time: a duration back from `now` (`90s`, `15m`, `2h`, `3d`, `1w`) or an
    ISO 8601 time (UTC when it names no zone). ValueError when it is neither."""
    duration = _DURATION.match(text)
    if duration:
        seconds = float(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90s, 15m, 2h, 3d, 1w) nor an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Everything a terminal might act on (escapes, bidi overrides, NUL) is shown escaped.
def safe_text(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every non-printable character escaped (`\\x1b`, `\\u202e`)."""
    if text.isprintable():
        return text
    kept = "\n\t" if keep_newlines else ""
    out = []
    for ch in text:
        if ch.isprintable() or ch in kept:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def printable_key(key: bytes | None, limit: int = 80) -> str:
    """A record key as one safe line: its text when it is UTF-8, else `0x` and hex."""
    if key is None:
        return "-"
    try:
        text = key.decode()
    except UnicodeDecodeError:
        text = "0x" + key.hex()
    text = safe_text(redact_text(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_headers(letter: DeadLetter) -> dict[str, str]:
    """Every header as text, secret-looking names and values redacted, safe to print."""
    texts = {k: v.decode("utf-8", "backslashreplace") for k, v in letter.headers}
    return {safe_text(k): safe_text(str(v)) for k, v in redact(texts).items()}


@dataclass(frozen=True, slots=True)
class ValuePreview:
    text: str
    kind: str  # "json", "text" or "binary"
    cut: int  # characters left out (0: all of it is shown)


def preview_value(value: bytes, *, full: bool = False, limit: int = PREVIEW_CHARS) -> ValuePreview:
    """The value for a person: pretty JSON when it is JSON, else escaped text; secrets
    redacted (before cutting, so no cut leaves half a token to match nothing)."""
    try:
        parsed = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        parsed = _NOT_JSON
    if parsed is not _NOT_JSON:
        text = json.dumps(redact(parsed), indent=2, ensure_ascii=False)
        kind = "json"
    else:
        try:
            text, kind = value.decode(), "text"
        except UnicodeDecodeError:
            text, kind = value.decode("utf-8", "backslashreplace"), "binary"
        text = redact_text(text)
    text = safe_text(text, keep_newlines=True)
    if full or len(text) <= limit:
        return ValuePreview(text, kind, 0)
    return ValuePreview(text[:limit], kind, len(text) - limit)


_NOT_JSON = object()


def summary(letter: DeadLetter) -> dict[str, Any]:
    """What `dlq list --json` gives for one dead letter (redacted, safe to print)."""
    return {
        "id": str(letter.id),
        "dlq_topic": letter.id.topic,
        "dlq_partition": letter.id.partition,
        "dlq_offset": letter.id.offset,
        "topic": letter.original_topic,
        "partition": letter.original_partition,
        "offset": letter.original_offset,
        "group": letter.group,
        "reason": safe_text(redact_text(letter.reason)),
        "time": letter.time.isoformat(timespec="milliseconds"),
        "size": letter.size,
        "truncated_from": letter.truncated_from,
        "key": printable_key(letter.key, limit=1000),
        "replay_of": letter.replay_of,
    }


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned columns (the last column is left ragged)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
