"""Wiring shared by every publisher: pool, broker, the platform's API, the consumer of its
commands and of operator retries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import FastAPI
from pydantic import TypeAdapter

from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.graph.pacing import RetryPolicy, Throttle
from jobcast.http_edge import install_edge
from jobcast.kafka import (
    ConcurrentConsumer,
    EventBatches,
    FormerGroup,
    OrderedProducer,
    adopt_offsets,
    by_topic,
    dead_letters_for,
    ensure_topics,
    make_broker,
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
from services.publishing.platform import PlatformApi
from services.publishing.posting import ApiT, Poster
from services.publishing.repo import migrate_publishing
from services.publishing.settings import PublisherSettings
from services.publishing.worker import AFTER_CALL_LINGER_SECONDS, PublishWorker


async def build_publisher(
    settings: PublisherSettings,
    platform: Platform,
    poster: Poster[ApiT],
    api: Callable[[Throttle], PlatformApi[ApiT]],
) -> Service:
    """Assemble a publisher for `platform` around its poster and its API (made here, inside
    the event loop, with the publisher's throttle: rate-limit headers feed it)."""
    name = f"publisher-{platform.value}"
    cipher = TokenCipher(settings.secret_key)
    pool = await create_pool(settings.database_url.get_secret_value())
    await migrate_publishing(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    throttle = Throttle(default_block_seconds=settings.rate_limit_block_seconds)
    platform_api = api(throttle)
    metrics.export_zero_series(platform.value)
    broker = make_broker(settings.kafka_bootstrap_servers, name)
    # Results, one per record, go out through a producer of their own, many at once.
    results = OrderedProducer(settings.kafka_bootstrap_servers, f"{name}-results")
    await results.start()
    worker = PublishWorker(
        platform=platform,
        pool=pool,
        broker=broker,
        results=EventBatches(results, linger_seconds=AFTER_CALL_LINGER_SECONDS),
        api=platform_api,
        cipher=cipher,
        poster=poster,
        throttle=throttle,
        retry_policy=RetryPolicy(settings.retry_delays, settings.max_attempts),
        confirm_delays=settings.confirm_delays,
        lease_seconds=settings.lease_seconds,
    )
    # Many accounts at once, each job's commands in order (the record key is the
    # connection id; see lanes.py); offsets are committed only below records fully done.
    # Operator retries come through the same consumer: each publisher reads every command
    # (its own group) and acts only on its platform's failed posts; the timer loop then
    # runs them. One consumer for both: each one more would fetch, heartbeat and commit on
    # its own, whether there is work or not.
    commands = publish_topic(platform)
    await adopt_offsets(
        settings.kafka_bootstrap_servers, name, [FormerGroup(OPERATOR_COMMANDS, f"{name}-operator")]
    )
    consumer = ConcurrentConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[commands, OPERATOR_COMMANDS],
        group_id=name,
        handle=by_topic(
            {
                commands: validating(broker, name, TypeAdapter(PublishRequested), worker),
                OPERATOR_COMMANDS: validating(
                    broker,
                    name,
                    TypeAdapter(OperatorCommandIssued),
                    OperatorRetries(pool, platform, worker.wake_timers),
                ),
            }
        ),
        max_in_flight=settings.max_in_flight,
        lane_of=job_lanes(settings.per_account_concurrency, commands),
        lane_ahead=settings.prepare_ahead,
        client_id=name,
        on_poison=dead_letters_for(broker, name),  # a command no retry can help: parked
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
        cleanups=[results.stop, pool.close, platform_api.close],
        background=[consume, timers],
    )
