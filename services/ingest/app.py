"""Wiring of the ingest service: pool, broker, HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from functools import partial
from uuid import UUID

import asyncpg
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import Receive, Scope, Send

from jobcast.auth import caller_from_bearer, failure_limiter, operator_only, tenant_from_bearer
from jobcast.db import create_pool
from jobcast.http_edge import BodyLimit, install_edge
from jobcast.kafka import (
    ConcurrentConsumer,
    OrderedProducer,
    dead_letters_for,
    ensure_topics,
    make_broker,
)
from jobcast.metrics import observed
from jobcast.rate_limits import RateLimiter
from jobcast.service import Service, add_ops_routes
from jobcast.tenancy import migrate_tenancy
from jobcast.topics import JOBS_INCOMING
from services.ingest.accepting import JobEventAcceptor
from services.ingest.incoming import GROUP_ID as INCOMING_GROUP
from services.ingest.incoming import IncomingRelay
from services.ingest.operator import OperatorDesk
from services.ingest.operator_routes import operator_router
from services.ingest.repo import (
    delivery_seen,
    migrate_ingest,
    prune_deliveries,
    remember_delivery,
)
from services.ingest.routes import PATH, JobEventsEndpoint
from services.ingest.settings import IngestSettings
from services.ingest.webhooks import (
    WEBHOOK_PATH,
    kafka_deliver,
    webhook_router,
)

# No OpenTelemetry here: FastAPI's check for a configured provider alone was a visible
# share of a small request's CPU (it reads the environment on every request).
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class IngestApp(FastAPI):
    """The ingest HTTP app; `POST /v1/job-events` is answered at the entry point, ahead of
    FastAPI's middleware and routing (see `JobEventsEndpoint`), everything else as usual.
    Both ways, bodies are bounded by the same `BodyLimit` (`max_body_bytes`, or the path's
    own limit in `path_limits`)."""

    def __init__(
        self,
        job_events: JobEventsEndpoint,
        *,
        max_body_bytes: int,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        super().__init__(title="jobcast ingest", version="1", telemetry=_NO_TELEMETRY)
        self._job_events = BodyLimit(job_events.asgi, max_body_bytes, path_limits)
        self.include_router(job_events.router())
        install_edge(self, max_body_bytes=max_body_bytes, path_limits=path_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PATH:
            await self._job_events(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def build(settings: IngestSettings) -> Service:
    """Connect to Postgres and Kafka and assemble the HTTP app."""
    pool = await create_pool(settings.database_url.get_secret_value())
    await migrate_tenancy(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    broker = make_broker(settings.kafka_bootstrap_servers, "ingest")
    # The acceptor hands over whole flushes, so no linger (see OrderedProducer).
    producer = OrderedProducer(settings.kafka_bootstrap_servers, "ingest-job-events", linger_ms=0)
    await producer.start()
    acceptor = JobEventAcceptor(
        pool,
        producer,
        max_events_per_flush=settings.accept_max_events_per_flush,
        max_flushes_in_flight=settings.accept_flushes_in_flight,
        linger_seconds=settings.accept_linger_seconds,
        enough_events=min(settings.accept_linger_events, settings.accept_max_events_per_flush),
    )

    await migrate_ingest(pool)
    limiter = RateLimiter[UUID](settings.rate_limit_per_second, settings.rate_limit_burst)
    failures = failure_limiter(settings)
    app = IngestApp(
        JobEventsEndpoint(
            acceptor,
            tenant_from_bearer(pool, failures=failures),
            limiter,
            max_event_bytes=settings.max_event_bytes,
        ),
        max_body_bytes=settings.max_body_bytes,
        path_limits={WEBHOOK_PATH: settings.webhook_max_body_bytes},
    )
    app.include_router(
        operator_router(
            operator_only(caller_from_bearer(pool, failures=failures)), OperatorDesk(pool, broker)
        )
    )
    app.include_router(
        webhook_router(
            verify_token=settings.meta_webhook_verify_token,
            app_secret=settings.meta_app_secret,
            deliver=kafka_deliver(broker),
            seen=partial(delivery_seen, pool),
            remember=partial(remember_delivery, pool),
        )
    )

    async def prune_webhook_digests(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await prune_deliveries(pool, settings.webhook_retention_hours)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=3600)

    incoming = ConcurrentConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[JOBS_INCOMING],
        group_id=INCOMING_GROUP,
        handle=observed(IncomingRelay(pool, broker, acceptor, settings.max_event_bytes)),
        max_in_flight=settings.incoming_max_in_flight,
        client_id="ingest",
        on_poison=dead_letters_for(broker, INCOMING_GROUP),  # a record no retry can help
    )

    async def relay_incoming(stop: asyncio.Event) -> None:
        await incoming.start()
        await stop.wait()
        await incoming.stop()

    add_ops_routes(
        app,
        {
            "kafka": lambda: broker.ping(2.0),
            "postgres": lambda: pool.fetchval("SELECT 1"),
            "assignment": incoming.settled,
        },
    )
    # Everything allocated so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise walk ~80,000 start-up objects and stalled
    # every request for ~70-100 ms now and then (measured), above the p99 target alone.
    gc.freeze()
    return Service(
        "ingest",
        app,
        broker,
        # Run in reverse: in-flight submissions finish, then the producer, then the pool.
        cleanups=[pool.close, producer.stop, acceptor.drain],
        background=[relay_incoming, prune_webhook_digests],
    )
