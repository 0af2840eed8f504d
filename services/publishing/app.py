"""Wiring shared by both publishers: pool, broker, Graph client, the command subscriber."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from pydantic import TypeAdapter

from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.graph.client import GraphClient
from jobcast.graph.pacing import RetryPolicy, Throttle
from jobcast.http_edge import install_edge
from jobcast.http_transport import LeanClient, LeanTransport
from jobcast.kafka import (
    ConcurrentConsumer,
    dead_letters_for,
    ensure_topics,
    make_broker,
    subscribe_validated,
    validating,
)
from jobcast.service import Service, add_ops_routes, tune_garbage_collector
from jobcast.topics import OPERATOR_COMMANDS, publish_topic
from schemas.operator import OperatorCommandIssued
from schemas.platforms import Platform
from schemas.publish import PublishRequested
from services.publishing import metrics
from services.publishing.lanes import job_lanes
from services.publishing.operator import OperatorRetries
from services.publishing.posting import Poster
from services.publishing.repo import migrate_publishing
from services.publishing.settings import PublisherSettings
from services.publishing.worker import PublishWorker

# Below the common 5 s server keep-alive, so an idle connection is never reused just as
# the server closes it (a request lost to a reset).
_KEEPALIVE_EXPIRY = 4.0


def graph_http_clients(settings: PublisherSettings) -> list[httpx.AsyncClient]:
    """HTTP clients for the Graph API, per GRAPH_HTTP_TRANSPORT.

    lean: one LeanClient (LeanTransport, no cookies, GraphClient's cheap path) with the
    whole connection budget (its pool needs no sharding). httpx: the default transport in shards.
    """
    budget = settings.graph_http_shards * settings.graph_connections_per_shard
    if settings.graph_http_transport == "lean":
        transport = LeanTransport(max_connections=budget, keepalive_expiry=_KEEPALIVE_EXPIRY)
        return [
            LeanClient(
                transport=transport,
                base_url=settings.graph_api_url,
                timeout=settings.graph_timeout_seconds,
            )
        ]
    per_shard = settings.graph_connections_per_shard
    limits = httpx.Limits(
        max_connections=per_shard,
        max_keepalive_connections=per_shard,
        keepalive_expiry=_KEEPALIVE_EXPIRY,
    )
    return [
        httpx.AsyncClient(
            base_url=settings.graph_api_url, timeout=settings.graph_timeout_seconds, limits=limits
        )
        for _ in range(settings.graph_http_shards)
    ]


async def build_publisher(
    settings: PublisherSettings, platform: Platform, poster: Poster
) -> Service:
    """Assemble a publisher for `platform` around its poster."""
    name = f"publisher-{platform.value}"
    cipher = TokenCipher(settings.secret_key)
    pool = await create_pool(settings.database_url.get_secret_value())
    await migrate_publishing(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    shards = graph_http_clients(settings)
    throttle = Throttle(default_block_seconds=settings.rate_limit_block_seconds)
    graph = GraphClient(
        shards,
        settings.graph_api_version,
        settings.graph_app_secret,
        throttle.observe,
        platform=platform.value,
    )
    metrics.export_zero_series(platform.value)
    broker = make_broker(settings.kafka_bootstrap_servers, name)
    worker = PublishWorker(
        platform=platform,
        pool=pool,
        broker=broker,
        graph=graph,
        cipher=cipher,
        poster=poster,
        throttle=throttle,
        retry_policy=RetryPolicy(settings.retry_delays, settings.max_attempts),
        confirm_delays=settings.confirm_delays,
        lease_seconds=settings.lease_seconds,
    )
    # Many accounts at once, each job's commands in order (the record key is the
    # connection id; see lanes.py); offsets are committed only below records fully done.
    consumer = ConcurrentConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[publish_topic(platform)],
        group_id=name,
        handle=validating(broker, name, TypeAdapter(PublishRequested), worker),
        max_in_flight=settings.max_in_flight,
        lane_of=job_lanes(settings.per_account_concurrency),
        client_id=name,
        on_poison=dead_letters_for(broker, name),  # a command no retry can help: parked
    )

    # Operator retries: each publisher reads every command (its own group) and acts only
    # on its platform's failed posts; the timer loop then runs them.
    subscribe_validated(
        broker,
        OPERATOR_COMMANDS,
        f"{name}-operator",
        TypeAdapter(OperatorCommandIssued),
        OperatorRetries(pool, platform),
    )

    async def consume(stop: asyncio.Event) -> None:
        await consumer.start()
        await stop.wait()
        await consumer.stop(timeout=settings.stop_timeout_seconds)

    async def timers(stop: asyncio.Event) -> None:
        await worker.run_timers(stop, settings.timer_poll_seconds)

    app = FastAPI(title=f"jobcast {name}", version="1")
    install_edge(app)  # ops endpoints only: no route takes a body
    add_ops_routes(
        app,
        {
            "kafka": lambda: broker.ping(2.0),
            "postgres": lambda: pool.fetchval("SELECT 1"),
            "assignment": consumer.ping,
        },
    )
    # Measured on the Instagram publisher with default thresholds: ~21% of its CPU in the
    # cyclic collector (full passes ~130 ms each, over every start-up object).
    tune_garbage_collector()
    return Service(
        name,
        app,
        broker,
        cleanups=[pool.close, *(shard.aclose for shard in shards)],
        background=[consume, timers],
    )
