"""How every consumer of ours waits for records.

A fetch with nothing to return waits on the broker for up to `FETCH_MAX_WAIT_MS`. A longer
wait would mean fewer idle fetches, but aiokafka sends one fetch per broker at a time, and a
partition becomes fetchable again only after its records are handled: at a trickle, the
next record of that partition waits for the outstanding fetch of the others to return.
So the wait stays at the client's default, and it also bounds how long a stopping consumer
waits for its last fetch.

aiokafka's fetch task also wakes every `consumer_timeout_ms` to look for work it is
otherwise told about (fetch answers, records consumed, assignment and metadata changes);
the default 200 ms made five idle passes a second per consumer.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

FETCH_MAX_WAIT_MS = 500
FETCHER_WAKE_MS = 1000

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


def polls_without_napping(subscriber: Any) -> None:
    """Make a faststream batch subscriber wait for records only in aiokafka's `getmany`.

    After a poll that found nothing, faststream's batch subscriber sleeps for its batch
    timeout before polling again, and a record that arrives meanwhile waits out the nap:
    at a trickle, up to that long on every hop a job takes through such a subscriber.
    `getmany` already waits up to its timeout and returns as soon as a record is there, so
    the nap adds latency and saves nothing. The subscriber's `get_msg` (what its consume
    loop calls for each batch) is replaced by one that only polls.
    """
    max_records = subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(timeout_ms=FETCH_MAX_WAIT_MS, max_records=max_records)
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg
