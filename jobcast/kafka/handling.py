"""What every consumer does with a record, whichever path fetched it (a faststream
subscriber, `jobcast.kafka.subscribe`, or a `ConcurrentConsumer`):

- not valid by the contract (`validating`): parked in `<topic>.dlq` (kind `invalid`), the
  consumer goes on;
- valid, and its handler fails on infrastructure (`jobcast.failures`: database or broker
  away, a timeout, a deadlock): retried in place (`settle`), then redelivered; never
  skipped. A consumer failing so for longer than JOBCAST_STALL_SECONDS is reported
  stalled (`jobcast.stalls`: `/readyz` 503, `jobcast_consumer_stalled` 1);
- valid, and its handler fails in any other way (a value Postgres refuses, a bug one odd
  record trips): it would fail the same on every try and hold up everything behind it, so
  that one record is isolated (`settle`'s `isolate`: parked in `<topic>.dlq`, kind
  `handler_failed`, the failure's type and message as reason) and the rest are handled.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Hashable,
    Mapping,
    Sequence,
)
from typing import Any, Protocol, TypeVar

from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter, ValidationError

from jobcast import metrics
from jobcast.failures import is_infrastructure
from jobcast.kafka.dead_letters import dead_letter
from jobcast.kafka.records import RecordMeta
from jobcast.kafka.retry import call_until_success
from jobcast.logs import event_fields, log_context
from jobcast.stalls import STALLS

log = logging.getLogger(__name__)
EventT = TypeVar("EventT")


class _Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


def settle(
    call: Callable[[], Awaitable[None]],
    *,
    group_id: str,
    topic: str,
    where: Collection[Hashable],
    retries: _Counter,
    delays: Sequence[float],
    attempts: int | None,
    isolate: Callable[[Exception], Awaitable[None]] | None,
    log_fields: Callable[[], Mapping[str, Any]],
) -> Coroutine[Any, Any, int]:
    """Run a consumer's `call` for one record (or batch) until it is done (await it).

    A failure of infrastructure is retried in place after `delays` (`attempts` tries, then
    raised for a redelivery; None: until it succeeds), each one reported to the stall
    watch at `where` (the partitions or records being retried), counted in `retries` and
    logged with `log_fields()`. Any other failure is handed to `isolate` at once; without
    `isolate`, every failure is retried. (A plain function: a record that succeeds at
    once, nearly all of them, costs no more than the retry loop itself.)
    """

    def on_failure(attempt: int, delay: float) -> None:
        failure = sys.exception()
        if failure is not None:
            for place in where:
                STALLS.failed(group_id, topic, place, failure)
        retries.inc()
        log.exception(
            "handler failed; retrying in place",
            extra={**log_fields(), "group": group_id, "attempt": attempt, "retry_in_s": delay},
        )

    return call_until_success(
        call,
        delays,
        on_failure=on_failure,
        retry_if=is_infrastructure if isolate is not None else None,
        isolate=isolate,
        attempts=attempts,
    )


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A short, field-naming reason for a dead letter (input values are left out)."""
    parts = []
    for error in exc.errors(include_input=False)[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "<record>"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


async def validate_or_dead_letter(
    broker: KafkaBroker, group_id: str, adapter: TypeAdapter[EventT], raw: Any
) -> EventT | None:
    """The record's event, or None once an invalid record is parked with the reason."""
    try:
        return adapter.validate_json(raw.value or b"")
    except ValidationError as exc:
        await _park_invalid(broker, group_id, raw, exc)
        return None


async def _park_invalid(broker: KafkaBroker, group_id: str, raw: Any, exc: ValidationError) -> None:
    await dead_letter(
        broker, raw, group_id=group_id, reason=describe_validation_error(exc), kind="invalid"
    )
    metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="dead_lettered").inc()


def validating(
    broker: KafkaBroker,
    group_id: str,
    adapter: TypeAdapter[EventT],
    handle: Callable[[EventT, RecordMeta], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """Wrap `handle` for raw records: validate, dead-letter the invalid, pass on the rest.

    Works on anything with aiokafka's record attributes (topic, partition, offset, key,
    value, headers): faststream's raw message and our `ConsumedRecord` alike.
    """

    async def route(raw: Any) -> None:
        started = time.perf_counter()
        where = metrics.record_log_fields(raw)
        # Validated before any log context is bound (validation logs nothing): a valid
        # record, nearly every one, then binds its fields once.
        try:
            event = adapter.validate_json(raw.value or b"")
        except ValidationError as exc:
            with log_context(**where):
                await _park_invalid(broker, group_id, raw, exc)
            return
        # The correlation id `record_log_fields` read already (as `record_meta` would).
        correlation_id = where.get("correlation_id")
        meta = RecordMeta(raw.topic, raw.partition, raw.offset, raw.key, correlation_id)
        with (
            log_context(**{**where, **event_fields(event)}),
            metrics.child(metrics.HANDLERS_IN_PROGRESS, raw.topic).track_inprogress(),
        ):
            await handle(event, meta)
        metrics.child(metrics.RECORDS_CONSUMED, raw.topic, "handled").inc()
        metrics.child(metrics.HANDLER_SECONDS, raw.topic).observe(time.perf_counter() - started)

    return route


def by_topic(
    routes: Mapping[str, Callable[[Any], Awaitable[None]]],
) -> Callable[[Any], Awaitable[None]]:
    """One consumer's record handler for several topics: each record to its topic's."""

    async def route(raw: Any) -> None:
        handle = routes.get(raw.topic)
        if handle is None:  # deterministic: isolated (dead-lettered), not retried
            raise LookupError(f"no handler for topic {raw.topic!r}")
        await handle(raw)

    return route
