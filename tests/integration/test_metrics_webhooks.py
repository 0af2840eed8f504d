"""Outbound lifecycle webhooks to a real local receiver that fails first: signed, retried
with backoff, dead-lettered after the last try, and sent again by `jobcast webhooks replay`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

from devtools.devstack.ports import free_port
from devtools.stack import Endpoints
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy
from jobcast.topics import ENGAGEMENT_EVENTS
from jobcast_cli.main import app as cli
from schemas import PublishStatus
from schemas.engagement import EngagementCollected, EngagementMetrics, EngagementSnapshot
from schemas.webhooks_out import OutboundWebhook, PostLifecycle
from services.metrics.readmodel.repo import migrate_metrics
from services.metrics.webhooks.domain import verify_webhook
from tests.integration.metrics_support import (
    T0,
    eventually,
    minutes,
    produce,
    produce_results,
    result,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
S = PublishStatus


@dataclass
class Receiver:
    """Answers 500 to the first `fail_first` requests of each hook name, then 200."""

    url: str
    fail_first: dict[str, int] = field(default_factory=dict)
    requests: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)

    def delivered(self, name: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for status, h, b in self.requests.get(name, []) if status == 200]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}")
    app = FastAPI()

    @app.post("/hook/{name}")
    async def hook(name: str, request: Request) -> Response:
        seen = state.requests.setdefault(name, [])
        status = 500 if len(seen) < state.fail_first.get(name, 0) else 200
        seen.append((status, dict(request.headers), await request.body()))
        return Response(status_code=status)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield state
    finally:
        server.should_exit = True
        await task


async def operator_tenant(
    db: asyncpg.Pool,
) -> tuple[uuid.UUID, str, dict[str, str], dict[str, str]]:
    """(tenant id, name, operator auth, tenant-scope auth)."""
    await migrate_tenancy(db)
    await migrate_metrics(db)
    tenant, tenant_key = await create_tenant(db, f"wh-{uuid.uuid4().hex[:10]}")
    operator_key = await add_api_key(db, tenant.tenant_id, KeyScope.OPERATOR)
    return (
        tenant.tenant_id,
        tenant.name,
        {"Authorization": f"Bearer {operator_key}"},
        {"Authorization": f"Bearer {tenant_key}"},
    )


def snapshot_event(posted: Any, checkpoint: int) -> EngagementCollected:
    p = posted.payload
    return EngagementCollected(
        tenant_id=posted.tenant_id,
        payload=EngagementSnapshot(
            post_key=p.post_key, platform=p.platform, connection_id=p.connection_id,
            job_id=p.job_id, platform_post_id=p.platform_post_id, posted_at=p.completed_at,
            checkpoint_seconds=checkpoint, collected_at=datetime.now(UTC),
            metrics=EngagementMetrics(views=1000, reactions=30, comments=4, shares=2,
                                      total_interactions=36),
        ),
    )  # fmt: skip


async def test_signed_lifecycle_webhooks_survive_a_failing_receiver(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    tenant, _, operator, tenant_scope = await operator_tenant(db)
    base = f"{pipeline.url('metrics')}/v1/webhooks"
    async with receiver() as hooks, httpx.AsyncClient(timeout=10) as http:
        hooks.fail_first["a"] = 1
        refused = await http.put(base, headers=tenant_scope, json={"url": f"{hooks.url}/hook/a"})
        assert refused.status_code == 403
        bad = await http.put(base, headers=operator, json={"url": "ftp://example.com/x"})
        assert bad.status_code == 422
        registered = await http.put(base, headers=operator, json={"url": f"{hooks.url}/hook/a"})
        assert registered.status_code == 201, registered.text
        secret = registered.json()["secret"]
        assert secret.startswith("whsec_"), "not a webhook secret"

        connection = uuid.uuid4()
        scheduled = result(tenant, "job-wh", connection, S.SCHEDULED, attempt=0, at=T0,
                           next_attempt_at=T0 + minutes(30))  # fmt: skip
        posted = result(tenant, "job-wh", connection, S.POSTED, at=T0 + minutes(30))
        await produce_results(pipeline.kafka_bootstrap_servers, [scheduled, posted])
        await produce(
            pipeline.kafka_bootstrap_servers, ENGAGEMENT_EVENTS, [snapshot_event(posted, 1)],
            lambda e: e.payload.post_key,
        )  # fmt: skip

        async def three() -> list[tuple[dict[str, str], bytes]] | None:
            got = hooks.delivered("a")
            return got if len(got) >= 3 else None

        delivered = await eventually(three, timeout=30)
        bodies = [OutboundWebhook.model_validate_json(body) for _, body in delivered]
        assert sorted(b.type.value for b in bodies) == [
            "engagement.updated", "post.posted", "post.scheduled",
        ]  # fmt: skip
        assert all(b.tenant_id == tenant for b in bodies)
        assert all(getattr(b.data, "post_key", None) == posted.payload.post_key for b in bodies)
        for headers, body in delivered:
            # (Results named, not expressions: a failure must not print the secret.)
            signature = headers["x-jobcast-signature"]
            genuine = verify_webhook(secret, signature, body, now=time.time())
            assert genuine, "the signature does not verify with the tenant's secret"
            forged = verify_webhook("whsec_other", signature, body, now=time.time())
            assert not forged
            assert headers["x-jobcast-event"] == json.loads(body)["type"]
            assert headers["x-jobcast-delivery"] == json.loads(body)["id"]
        posted_hook = next(b.data for b in bodies if b.type.value == "post.posted")
        assert isinstance(posted_hook, PostLifecycle)
        assert posted_hook.permalink == str(posted.payload.permalink)

        # The first request failed: the same delivery came again and then succeeded.
        first_status, first_headers, _ = hooks.requests["a"][0]
        assert first_status == 500
        retried = [h for s, h, _ in hooks.requests["a"] if s == 200]
        assert first_headers["x-jobcast-delivery"] in {h["x-jobcast-delivery"] for h in retried}

        shown = (await http.get(base, headers=operator)).json()
        assert shown["deliveries"] == {"pending": 0, "delivered": 3, "dead": 0}
        assert "whsec_" not in json.dumps(shown), "the secret is shown once only"


async def test_dead_deliveries_are_replayed(
    db: asyncpg.Pool, pipeline: Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, name, operator, _ = await operator_tenant(db)
    async with receiver() as hooks, httpx.AsyncClient(timeout=10) as http:
        hooks.fail_first["b"] = 1000
        registered = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks", headers=operator,
            json={"url": f"{hooks.url}/hook/b"},
        )  # fmt: skip
        assert registered.status_code == 201
        failed = result(tenant, "job-dead", uuid.uuid4(), S.FAILED, at=T0)
        await produce_results(pipeline.kafka_bootstrap_servers, [failed])

        async def dead() -> asyncpg.Record | None:
            row = await db.fetchrow(
                "SELECT state, attempts, last_status FROM metrics.webhook_deliveries"
                " WHERE tenant_id = $1",
                tenant,
            )
            return row if row is not None and row["state"] == "dead" else None

        row = await eventually(dead, timeout=30)
        assert (row["attempts"], row["last_status"]) == (3, 500)  # first try + 2 retries
        assert len(hooks.requests["b"]) == 3

        hooks.fail_first["b"] = 0
        monkeypatch.setenv("DATABASE_URL", pipeline.database_url)
        replayed = await asyncio.to_thread(
            CliRunner().invoke, cli, ["webhooks", "replay", "--tenant", name]
        )
        assert replayed.exit_code == 0, replayed.output
        assert "1 dead deliveries queued again" in replayed.output

        async def delivered() -> list[tuple[dict[str, str], bytes]] | None:
            got = hooks.delivered("b")
            return got or None

        [(headers, body)] = await eventually(delivered, timeout=30)
        assert OutboundWebhook.model_validate_json(body).type.value == "post.failed"
        assert headers["x-jobcast-delivery"] == hooks.requests["b"][0][1]["x-jobcast-delivery"]
