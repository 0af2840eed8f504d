"""Dead letters: a record no consumer can take, parked in `<topic>.dlq` with the reason.

A dead letter keeps the original value, key and headers (read safely and capped, see
`jobcast.record_headers`) and adds the x-dlq-* headers; `jobcast_dlq_records_total{topic,
reason}` counts them by kind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from faststream.kafka import KafkaBroker

from jobcast import metrics
from jobcast.failures import describe_failure
from jobcast.kafka.produce import publish_record
from jobcast.record_headers import dead_letter_headers
from jobcast.topics import dead_letter_topic
from schemas import headers as h

log = logging.getLogger(__name__)

# The dead-letter kind of a valid record whose handler failed deterministically.
HANDLER_FAILED = "handler_failed"
# What is kept of a record too large to be dead-lettered whole (x-dlq-truncated says so).
_DLQ_KEPT_BYTES = 64 * 1024
# Headers a dead letter writes itself: copies of them from the original are left out.
_DLQ_HEADERS = (
    h.DLQ_REASON,
    h.DLQ_KIND,
    h.DLQ_TOPIC,
    h.DLQ_PARTITION,
    h.DLQ_OFFSET,
    h.DLQ_GROUP,
    h.DLQ_TRUNCATED,
    h.DLQ_HEADERS_CUT,
)


async def dead_letter(
    broker: KafkaBroker, raw: Any, *, group_id: str, reason: str, kind: str
) -> None:
    """Park an unprocessable record with its original bytes, key, headers and the reason.

    Never fails because of the original headers (null values, repeated keys, bytes that
    are not UTF-8, thousands of them): they are read safely and capped, and the x-dlq-*
    headers always win over copies of them.
    """
    headers, cut = dead_letter_headers(raw, reserved=_DLQ_HEADERS)
    headers.update(
        {
            h.DLQ_REASON: reason[:4000],
            h.DLQ_KIND: kind,
            h.DLQ_TOPIC: raw.topic,
            h.DLQ_PARTITION: str(raw.partition),
            h.DLQ_OFFSET: str(raw.offset),
            h.DLQ_GROUP: group_id,
        }
    )
    if cut:
        headers[h.DLQ_HEADERS_CUT] = str(cut)
    dlq = dead_letter_topic(raw.topic)
    value = raw.value or b""
    try:
        await publish_record(broker, dlq, value, key=raw.key, headers=headers)
    except MessageSizeTooLargeError:
        # A record near the broker's size limit no longer fits once the reason is added;
        # retrying could never succeed and would stall the partition. Park its head.
        headers[h.DLQ_TRUNCATED] = str(len(value))
        await publish_record(broker, dlq, value[:_DLQ_KEPT_BYTES], key=raw.key, headers=headers)
    metrics.DLQ_RECORDS.labels(topic=raw.topic, reason=kind).inc()
    log.warning(
        "record dead-lettered",
        extra={
            "topic": raw.topic,
            "partition": raw.partition,
            "offset": raw.offset,
            "kind": kind,
            "reason": reason[:500],
        },
    )


async def dead_letter_failed(
    broker: KafkaBroker, group_id: str, raw: Any, exc: BaseException
) -> None:
    """Park a valid record whose handler failed in a way no retry can change (kind
    `handler_failed`, the failure's type and message, secrets redacted, as reason)."""
    log.error(
        "handler failed on this record in a way no retry can change; dead-lettering it",
        exc_info=exc,
        extra={"topic": raw.topic, "partition": raw.partition, "offset": raw.offset},
    )
    await dead_letter(
        broker, raw, group_id=group_id, reason=describe_failure(exc), kind=HANDLER_FAILED
    )
    metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="dead_lettered").inc()


def dead_letters_for(
    broker: KafkaBroker, group_id: str
) -> Callable[[Any, BaseException], Awaitable[None]]:
    """`dead_letter_failed` as a hook (`ConcurrentConsumer`'s `on_poison`): park the
    record with the failure."""

    async def park(raw: Any, exc: BaseException) -> None:
        await dead_letter_failed(broker, group_id, raw, exc)

    return park
