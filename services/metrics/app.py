"""Wiring of the metrics service: the results subscriber and the read API."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import TypeAdapter

from jobcast.auth import tenant_from_bearer
from jobcast.db import create_pool
from jobcast.kafka import ensure_topics, make_broker, subscribe_validated
from jobcast.service import Service, add_ops_routes
from jobcast.tenancy import migrate_tenancy
from jobcast.topics import PUBLISH_RESULTS
from schemas.publish import PublishCompleted
from services.metrics.handlers import ResultMaterialiser
from services.metrics.repo import migrate_metrics
from services.metrics.routes import read_router
from services.metrics.settings import MetricsSettings

GROUP_ID = "metrics"


async def build(settings: MetricsSettings) -> Service:
    """Connect, migrate, subscribe to results, serve the read API."""
    pool = await create_pool(settings.database_url.get_secret_value())
    await migrate_tenancy(pool)
    await migrate_metrics(pool)
    await ensure_topics(settings.kafka_bootstrap_servers)
    broker = make_broker(settings.kafka_bootstrap_servers, "metrics")
    subscribe_validated(
        broker, PUBLISH_RESULTS, GROUP_ID, TypeAdapter(PublishCompleted), ResultMaterialiser(pool)
    )
    app = FastAPI(title="jobcast read API", version="1")
    app.include_router(read_router(pool, tenant_from_bearer(pool)))
    add_ops_routes(
        app, {"kafka": lambda: broker.ping(2.0), "postgres": lambda: pool.fetchval("SELECT 1")}
    )
    return Service("metrics", app, broker, cleanups=[pool.close])
