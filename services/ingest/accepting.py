"""Accepting validated job events: drop repeats, append the rest to `jobs.events`, remember.

The HTTP API and the `jobs.incoming` relay both hand their events to one `JobEventAcceptor`,
which lets concurrent submissions share each step (see `batching`): one SELECT for the
repeats, one produce request, one INSERT, however many requests and tenants are in a flush.
That is why it takes only `EncodedEvent`s: each one was measured against the broker's
record limit on its own, so no event can fail a produce request shared with others.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from jobcast.batching import MicroBatcher
from jobcast.kafka import OrderedProducer, OutgoingEvent
from jobcast.topics import JOBS_EVENTS
from services.ingest.domain import EncodedEvent, first_sightings
from services.ingest.repo import accepted_among, remember_accepted_events


class JobEventAcceptor:
    """Idempotent on (tenant, event id): an event is published once however often it is sent.

    `accept` returns only once every new event is in Kafka (acks=all) *and* remembered:
    the order matters. A crash between the two re-publishes on the client's retry, which
    every consumer absorbs; the other order could lose an event.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: OrderedProducer,
        *,
        max_events_per_flush: int = 2_000,
        max_flushes_in_flight: int = 1,
        linger_seconds: float = 0.0,
        enough_events: int | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._batcher: MicroBatcher[Sequence[EncodedEvent], set[UUID]] = MicroBatcher(
            self._flush,
            max_weight=max_events_per_flush,
            max_in_flight=max_flushes_in_flight,
            weight=len,
            linger_seconds=linger_seconds,
            enough_weight=enough_events,
        )

    async def accept(self, events: Sequence[EncodedEvent]) -> set[UUID]:
        """Publish the events not accepted before; the ids this submission was first to send
        (a repeat, from earlier or within the same flush, is left out)."""
        if not events:
            return set()
        return await self._batcher.submit(events)

    async def drain(self) -> None:
        """Wait for submissions in progress (at shutdown, before the producer stops)."""
        await self._batcher.drain()

    async def _flush(self, submissions: Sequence[Sequence[EncodedEvent]]) -> list[set[UUID]]:
        keys = [(e.tenant_id, e.event_id) for events in submissions for e in events]
        sightings = first_sightings(submissions, await accepted_among(self._pool, keys))
        await self._producer.send_all(_outgoing(e) for e in sightings.publish)
        await remember_accepted_events(self._pool, [e.event for e in sightings.publish])
        return sightings.first_seen


def _outgoing(encoded: EncodedEvent) -> OutgoingEvent:
    # A job event starts its chain: its own id is the correlation id (as publish_first_event).
    # The JSON rendered when the event was measured is the one produced.
    event = encoded.event
    return OutgoingEvent(
        JOBS_EVENTS,
        event.payload.job_id,
        encoded,
        correlation_id=str(event.event_id),
        event_type=event.event_type,
    )
