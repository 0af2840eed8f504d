"""How every consumer of ours waits for records: long fetches, few wake-ups when idle.

A fetch with nothing to return waits on the broker for up to `FETCH_MAX_WAIT_MS` and
answers as soon as a record arrives, so a longer wait costs no latency; with the client's
default (500 ms) each idle consumer sent two fetches a second, which the broker and the
client both paid for. aiokafka sends one fetch per broker at a time, so a partition that
becomes fetchable while a fetch is out (a seek back after a NACK or over the in-flight
cap, a resumed partition) waits for that fetch to return: the wait stays a few seconds.

aiokafka's fetch task also wakes every `consumer_timeout_ms` to look for work it is
otherwise told about (fetch answers, records consumed, assignment and metadata changes);
the default 200 ms made five idle passes a second per consumer.
"""

from __future__ import annotations

from typing import Any

FETCH_MAX_WAIT_MS = 3000
FETCHER_WAKE_MS = 1000


def consumer_waits() -> dict[str, Any]:
    """The settings above as aiokafka (and faststream's subscriber) take them."""
    return {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, "consumer_timeout_ms": FETCHER_WAKE_MS}
