"""Wiring of the distributor: pool, broker, the `jobs.events` subscriber."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import TypeAdapter

from jobcast.db import create_pool
from jobcast.kafka import ensure_topics, make_broker, subscribe_validated
from jobcast.service import Service, add_ops_routes
from jobcast.topics import CONNECTIONS_EVENTS, JOBS_EVENTS
from schemas.connections import ConnectionStatusChanged
from schemas.jobs import JobEvent
from services.distributor.handlers import ConnectionEventHandler, JobEventHandler
from services.distributor.repo import migrate_distributor
from services.distributor.settings import DistributorSettings

GROUP_ID = "distributor"


async def build(settings: DistributorSettings) -> Service:
    """Connect, migrate, and subscribe to job events."""
    pool = await create_pool(settings.database_url.get_secret_value())
    await migrate_distributor(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    broker = make_broker(settings.kafka_bootstrap_servers, "distributor")
    subscribe_validated(
        broker, JOBS_EVENTS, GROUP_ID, TypeAdapter(JobEvent), JobEventHandler(pool, broker)
    )
    subscribe_validated(
        broker,
        CONNECTIONS_EVENTS,
        f"{GROUP_ID}-connections",
        TypeAdapter(ConnectionStatusChanged),
        ConnectionEventHandler(pool),
    )
    app = FastAPI(title="jobcast distributor", version="1")
    add_ops_routes(
        app, {"kafka": lambda: broker.ping(2.0), "postgres": lambda: pool.fetchval("SELECT 1")}
    )
    return Service("distributor", app, broker, cleanups=[pool.close])
