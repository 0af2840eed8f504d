"""How every consumer of ours waits for records.

A fetch with nothing to return waits on the broker for up to `FETCH_MAX_WAIT_MS`, then the
client sends the next one: an idle consumer fetches twice a second, and each fetch costs the
broker and the client. While records come, that wait must stay short: aiokafka sends one
fetch per broker at a time, and a partition whose records are still buffered when a fetch
goes out is left out of it, so its next records wait for that fetch to return. So the wait
follows the traffic (`FetchPacing`): short while records come or are being handled, long
once a consumer has been idle a while (its buffers are empty then, so every partition is in
the fetch, and the first record ends the wait at once).

aiokafka's fetch task also wakes every `consumer_timeout_ms` to look for work it is
otherwise told about (fetch answers, records consumed, assignment and metadata changes);
the default 200 ms made five idle passes a second per consumer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from itertools import chain
from typing import Any

log = logging.getLogger(__name__)

FETCH_MAX_WAIT_MS = 500
FETCHER_WAKE_MS = 1000
# An idle consumer's fetches, and how long it must have been idle to send them.
IDLE_FETCH_WAIT_MS = 5000
QUIET_BEFORE_IDLE_S = 10.0

# A consumer whose records may wait a moment (the read model: no post waits for it) lets
# the broker gather a batch instead. A fetch returns once this much has come in, or after
# `GATHER_WAIT_MS` with what there is; it is the fetch, not the handler, that sets a batch's
# size: aiokafka fetches a partition again as soon as its records are taken, so without a
# minimum a busy topic arrives a few records per fetch, each fetch with its own commit,
# transaction and statements.
GATHER_MIN_BYTES = 64 * 1024
GATHER_WAIT_MS = 250


def consumer_waits() -> dict[str, Any]:
    """The settings above as aiokafka (and faststream's subscriber) take them."""
    return {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, "consumer_timeout_ms": FETCHER_WAKE_MS}


def gathering_waits() -> dict[str, Any]:
    """What a consumer that lets the broker gather its batches sets beyond `consumer_waits`."""
    return {"fetch_min_bytes": GATHER_MIN_BYTES, "fetch_max_wait_ms": GATHER_WAIT_MS}


class FetchPacing:
    """Switches a consumer's fetches between its usual waits and idle ones.

    Idle: nothing polled for `QUIET_BEFORE_IDLE_S` and nothing being handled. Its fetches
    then wait `IDLE_FETCH_WAIT_MS` and return on the first byte (a gathering consumer's
    minimum would otherwise hold a lone record for the whole wait). The first record ends
    such a fetch, and the usual waits are back before the next fetch is sent: aiokafka sends
    none while the records it returned are still buffered, and `after_poll` runs as soon as
    `getmany` hands them over.

    Kafka answers a connection's requests in order, so whatever else a consumer asks of
    the broker on its connection while idle (end offsets, a position after a rebalance)
    waits behind such a fetch, up to `IDLE_FETCH_WAIT_MS`; commits and heartbeats go to
    the group coordinator on a connection of their own.

    aiokafka has no setting for this: the fetcher reads its wait and minimum from two
    private attributes each time it builds a request. A consumer without them (another
    aiokafka) keeps its usual waits, with one warning.
    """

    def __init__(
        self,
        busy_wait_ms: int = FETCH_MAX_WAIT_MS,
        busy_min_bytes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._busy = (busy_wait_ms, busy_min_bytes)
        self._clock = clock
        self._last_records = clock()
        self.idle = False

    @property
    def poll_timeout_ms(self) -> int:
        """How long the next `getmany` may wait (it returns on the first record anyway)."""
        return IDLE_FETCH_WAIT_MS if self.idle else FETCH_MAX_WAIT_MS

    def after_poll(self, consumer: Any, records: int, handling: int = 0) -> None:
        """What a poll brought (`records`) and how many records are still being handled."""
        now = self._clock()
        if records or handling:
            self._last_records = now
            if self.idle:
                self.idle = False
                _set_fetch_waits(consumer, *self._busy)
        elif not self.idle and now - self._last_records >= QUIET_BEFORE_IDLE_S:
            self.idle = _set_fetch_waits(consumer, IDLE_FETCH_WAIT_MS, 1)


_warned = False


def _set_fetch_waits(consumer: Any, wait_ms: int, min_bytes: int) -> bool:
    global _warned  # noqa: PLW0603 - one warning per process, not per poll
    fetcher: Any = getattr(consumer, "_fetcher", None)
    if not hasattr(fetcher, "_fetch_max_wait_ms") or not hasattr(fetcher, "_fetch_min_bytes"):
        if not _warned:
            _warned = True
            log.warning("this aiokafka has no fetch waits to pace; idle fetches stay short")
        return False
    fetcher._fetch_max_wait_ms = wait_ms  # private: see FetchPacing
    fetcher._fetch_min_bytes = min_bytes
    return True


def polls_without_napping(subscriber: Any, pacing: FetchPacing) -> None:
    """Make a faststream batch subscriber wait for records only in aiokafka's `getmany`,
    its fetches paced by `pacing`.

    After a poll that found nothing, faststream's batch subscriber sleeps for its batch
    timeout before polling again, and a record that arrives meanwhile waits out the nap:
    at a trickle, up to that long on every hop a job takes through such a subscriber.
    `getmany` already waits up to its timeout and returns as soon as a record is there, so
    the nap adds latency and saves nothing. The subscriber's `get_msg` (what its consume
    loop calls for each batch, after the previous one was handled) is replaced by one that
    only polls.
    """
    max_records = subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(timeout_ms=pacing.poll_timeout_ms, max_records=max_records)
        records = tuple(chain.from_iterable(batches.values()))
        pacing.after_poll(consumer, len(records))
        return records

    subscriber.get_msg = get_msg
