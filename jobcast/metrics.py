"""Prometheus metrics shared by every service (names follow Prometheus conventions).

Labels are bounded by construction: topics, groups, partitions, outcomes and reasons from
fixed sets — never a job id, a post key, a tenant or a token. Service-specific metrics
live beside their service (`services/<name>/metrics.py`); gauges computed from Postgres
(posts by status, timers, token expiry) live in `jobcast.status_gauges`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from jobcast.logs import log_context
from jobcast.record_headers import header_text
from schemas import headers as h

RecordT = TypeVar("RecordT")

RECORDS_CONSUMED = Counter(
    "jobcast_records_consumed_total",
    "Records consumed, by topic and outcome (handled, duplicate, dead_lettered)",
    ["topic", "outcome"],
)
RECORDS_PRODUCED = Counter(
    "jobcast_records_produced_total", "Records produced, by topic", ["topic"]
)
PRODUCE_FAILURES = Counter(
    "jobcast_records_produce_failures_total",
    "Records the broker did not take (the caller retries or redelivers), by topic",
    ["topic"],
)
DLQ_RECORDS = Counter(
    "jobcast_dlq_records_total", "Records sent to a dead-letter topic", ["topic", "reason"]
)
HANDLER_SECONDS = Histogram(
    "jobcast_handler_duration_seconds",
    "Time to handle one consumed record (retries in place included)",
    ["topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HANDLER_RETRIES = Counter(
    "jobcast_handler_retries_total", "In-place retries after a handler error", ["topic"]
)
HANDLERS_IN_PROGRESS = Gauge(
    "jobcast_handlers_in_progress",
    "Consumed records whose handler is running now, by topic",
    ["topic"],
)


M = TypeVar("M", Counter, Gauge, Histogram)


@functools.cache
def child(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, remembered: prometheus_client looks labels up anew on
    every call (a few µs each), which a hot path pays several times per record. Label
    values are bounded by design, so the cache is too."""
    return metric.labels(*values)


def count_produced(topic: str, records: int = 1) -> None:
    """Records the broker took; the topic's failure series is created with it (at 0),
    so failure rates read 0 rather than "no data" while all is well."""
    child(RECORDS_PRODUCED, topic).inc(records)
    child(PRODUCE_FAILURES, topic)


def record_log_fields(raw: Any) -> dict[str, Any]:
    """Where a consumed record is and the chain it belongs to, for `log_context`
    (aiokafka's records and faststream's raw messages alike; never the key or value)."""
    fields: dict[str, Any] = {
        "topic": raw.topic,
        "partition": raw.partition,
        "offset": raw.offset,
    }
    for name, field in ((h.CORRELATION_ID, "correlation_id"), (h.CAUSATION_ID, "causation_id")):
        value = header_text(raw, name)  # null, repeated, not UTF-8, huge: all read safely
        if value is not None:
            fields[field] = value
    return fields


def observed(handle: Callable[[RecordT], Awaitable[None]]) -> Callable[[RecordT], Awaitable[None]]:
    """Wrap a raw-record handler with the per-record basics: latency, in-progress count,
    and the record's place and correlation ids bound to every log line it writes.

    For handlers that take records directly (not through `jobcast.kafka.validating`,
    which does the same itself).
    """

    async def wrapped(raw: RecordT) -> None:
        topic = getattr(raw, "topic", "")
        started = time.perf_counter()
        with (
            log_context(**record_log_fields(raw)),
            HANDLERS_IN_PROGRESS.labels(topic=topic).track_inprogress(),
        ):
            await handle(raw)
        HANDLER_SECONDS.labels(topic=topic).observe(time.perf_counter() - started)

    return wrapped
