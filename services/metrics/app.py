"""Wiring of the metrics service: subscribers (results, engagement snapshots, webhook
comments), the status hub, the engagement collector, the outbound webhook dispatcher, the
read API and webhook registration."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter

from jobcast.auth import caller_from_bearer, failure_limiter, operator_only, tenant_from_bearer
from jobcast.crypto import SecretKeyMissingError, TokenCipher
from jobcast.db import create_pool
from jobcast.graph.credentials import CredentialCache
from jobcast.graph.hosts import GraphHosts
from jobcast.graph.pacing import Throttle
from jobcast.graph.session import graph_session
from jobcast.http_edge import install_edge
from jobcast.kafka import (
    BatchRoute,
    FormerGroup,
    adopt_offsets,
    ensure_topics,
    make_broker,
    subscribe_validated_batch,
)
from jobcast.linkedin.client import LinkedInClient
from jobcast.public_http import public_only_client
from jobcast.rate_limits import RateLimiter
from jobcast.service import (
    BackgroundLoop,
    Cleanup,
    Service,
    add_ops_routes,
    tune_garbage_collector,
)
from jobcast.status_gauges import StatusGauges
from jobcast.tenancy import migrate_tenancy
from jobcast.topics import (
    CONNECTIONS_EVENTS,
    ENGAGEMENT_EVENTS,
    PLATFORM_WEBHOOKS,
    PUBLISH_RESULTS,
)
from schemas.connections import ConnectionEvent
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from schemas.webhooks import PlatformWebhookReceived
from services.metrics.effects import ENGAGEMENT_EFFECTS, live_effects
from services.metrics.engagement.collector import EngagementCollector
from services.metrics.engagement.handlers import WebhookComments
from services.metrics.readmodel.handlers import EngagementMaterialiser, ResultMaterialiser
from services.metrics.readmodel.repo import migrate_metrics
from services.metrics.readmodel.routes import read_router
from services.metrics.readmodel.stream import StatusHub
from services.metrics.settings import MetricsSettings
from services.metrics.webhooks.connections import ConnectionWebhooks
from services.metrics.webhooks.delivery import WebhookDispatcher
from services.metrics.webhooks.routes import webhooks_router

log = logging.getLogger(__name__)

GROUP_ID = "metrics"
# The groups these topics had before the read model read them all in one.
FORMER_GROUPS = (
    FormerGroup(ENGAGEMENT_EVENTS, f"{GROUP_ID}-engagement"),
    FormerGroup(PLATFORM_WEBHOOKS, f"{GROUP_ID}-webhooks"),
    FormerGroup(CONNECTIONS_EVENTS, f"{GROUP_ID}-connections"),
)


async def build(settings: MetricsSettings) -> Service:
    """Connect, migrate, subscribe, serve the read API and the live stream, collect."""
    dsn = settings.database_url.get_secret_value()
    pool = await create_pool(dsn)
    await migrate_tenancy(pool)
    await migrate_metrics(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    broker = make_broker(settings.kafka_bootstrap_servers, "metrics")
    # One consumer for every topic the read model is made of (each one more consumer would
    # fetch, heartbeat and commit on its own, whether there is work or not).
    await adopt_offsets(settings.kafka_bootstrap_servers, GROUP_ID, FORMER_GROUPS)
    subscribe_validated_batch(
        broker,
        GROUP_ID,
        [
            BatchRoute(
                PUBLISH_RESULTS, TypeAdapter(PublishCompleted),
                ResultMaterialiser(pool, effects=live_effects(settings)),
            ),
            BatchRoute(
                ENGAGEMENT_EVENTS, TypeAdapter(EngagementCollected),
                EngagementMaterialiser(pool, ENGAGEMENT_EFFECTS),
            ),
            BatchRoute(
                PLATFORM_WEBHOOKS, TypeAdapter(PlatformWebhookReceived), WebhookComments(pool)
            ),
            BatchRoute(CONNECTIONS_EVENTS, TypeAdapter(ConnectionEvent), ConnectionWebhooks(pool)),
        ],
        max_records=settings.batch_size,
        gather=True,  # no post waits for the read model: fewer, larger batches under load
    )  # fmt: skip
    hub = StatusHub(dsn, capacity=settings.sse_client_buffer)
    background: list[BackgroundLoop] = [hub.run, StatusGauges(pool).run]  # ops gauges
    cleanups: list[Cleanup] = [pool.close]
    app = FastAPI(title="jobcast read API", version="1")
    install_edge(app, max_body_bytes=settings.max_body_bytes)
    failures = failure_limiter(settings)
    try:
        cipher: TokenCipher | None = TokenCipher(settings.secret_key)
    except SecretKeyMissingError:
        log.warning("JOBCAST_SECRET_KEY is not set: no engagement, no outbound webhooks")
        cipher = None
    if cipher is not None:
        collector = _collector(settings, pool, broker, cipher, cleanups)
        outbound = public_only_client(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_loopback=settings.webhook_allow_loopback,
        )
        cleanups.append(outbound.close)
        dispatcher = WebhookDispatcher(
            pool=pool, cipher=cipher, http=outbound,
            retry_delays=settings.webhook_retry_delays,
            timeout_seconds=settings.webhook_timeout_seconds,
        )  # fmt: skip

        async def collect(stop: asyncio.Event) -> None:
            await collector.run(stop, settings.engagement_poll_seconds)

        async def dispatch(stop: asyncio.Event) -> None:
            await dispatcher.run(stop, settings.webhook_poll_seconds)

        background += [collect, dispatch]
        app.include_router(
            webhooks_router(
                pool, cipher, operator_only(caller_from_bearer(pool, failures=failures)),
                allow_insecure=settings.webhook_allow_insecure_urls,
                allow_loopback=settings.webhook_allow_loopback,
            )
        )  # fmt: skip

    async def listener_ready() -> bool:
        return hub.listening

    reads = RateLimiter[UUID](settings.read_rate_limit_per_second, settings.read_rate_limit_burst)
    app.include_router(
        read_router(
            pool, tenant_from_bearer(pool, failures=failures), hub,
            keepalive_seconds=settings.sse_keepalive_seconds, reads=reads,
        )
    )  # fmt: skip
    add_ops_routes(
        app,
        {
            "kafka": lambda: broker.ping(2.0),
            "postgres": lambda: pool.fetchval("SELECT 1"),
            "status_listener": listener_ready,
        },
    )
    tune_garbage_collector()  # results arrive in batches of thousands of records
    return Service("metrics", app, broker, cleanups=cleanups, background=background)


def _collector(
    settings: MetricsSettings,
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    cipher: TokenCipher,
    cleanups: list[Cleanup],
) -> EngagementCollector:
    """The engagement collector on its own Graph client and pacing."""
    http = graph_session(settings.graph_api_url, timeout_seconds=settings.graph_timeout_seconds)
    cleanups.append(http.close)
    throttle = Throttle(default_block_seconds=settings.rate_limit_block_seconds)
    graph = GraphHosts(
        http, settings.graph_api_version, settings.graph_app_secret,
        instagram_url=settings.graph_instagram_url, threads_url=settings.graph_threads_url,
        threads_version=settings.graph_threads_version, observe_usage=throttle.observe,
    )  # fmt: skip
    # LinkedIn posts' likes and comments, through the LinkedIn client on its own pool.
    linkedin = graph_session(
        settings.linkedin_api_url, timeout_seconds=settings.linkedin_timeout_seconds
    )
    cleanups.append(linkedin.close)
    return EngagementCollector(
        linkedin=LinkedInClient(linkedin, settings.linkedin_api_version),
        pool=pool,
        broker=broker,
        graph=graph,
        credentials=CredentialCache(
            pool, cipher, ttl_seconds=settings.engagement_token_cache_seconds
        ),
        throttle=throttle,
        retry_delays=settings.engagement_retry_delays,
        lease_seconds=settings.engagement_lease_seconds,
        batch=settings.engagement_batch,
    )
