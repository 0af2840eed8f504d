"""What the metrics service lets through, end to end: webhook URLs that reach non-public
hosts are refused at registration and at delivery, and a live stream ends once its API
key is revoked. The pipeline allows http:// and loopback receivers (tests/harness.py);
everything else non-public stays refused, and nothing here connects beyond loopback."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from devtools.stack import Endpoints
from jobcast.auth import KEY_CACHE_SECONDS
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast_cli.main import app as cli
from schemas import PublishStatus
from services.metrics.readmodel.repo import migrate_metrics
from tests.integration.metrics_support import T0, eventually, produce_results, result
from tests.integration.test_metrics_webhooks import operator_tenant, receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    "url",
    [
        "https://0/hook",  # 0.0.0.0: connecting to it reaches this machine
        "http://0:8085/hook",
        "https://kafka:9092/hook",
        "https://postgres/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://0xa9fea9fe/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_registration_refuses_urls_that_reach_non_public_hosts(
    db: asyncpg.Pool, pipeline: Endpoints, url: str
) -> None:
    _, _, operator, _ = await operator_tenant(db)
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks", headers=operator, json={"url": url}
        )
        shown = await http.get(f"{pipeline.url('metrics')}/v1/webhooks", headers=operator)
    assert answer.status_code == 422  # (no `.text`: a 201 would show the secret)
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "url"]
    assert error["msg"].startswith("url must reach a public host (")
    assert shown.status_code == 404  # nothing was registered


async def test_a_stored_url_reaching_a_non_public_address_is_refused_at_delivery(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    tenant, _, operator, _ = await operator_tenant(db)
    async with receiver() as hooks, httpx.AsyncClient(timeout=10) as http:
        port = hooks.url.rsplit(":", 1)[1]
        registered = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks", headers=operator,
            json={"url": f"{hooks.url}/hook/direct"},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        # As if registered before registration refused it: `0` is 0.0.0.0, which the
        # kernel answers on loopback (here, the receiver), and the allow-loopback setting
        # does not let it through.
        await db.execute(
            "UPDATE metrics.webhook_endpoints SET url = $2 WHERE tenant_id = $1",
            tenant,
            f"http://0:{port}/hook/zero",
        )
        failed = result(tenant, "job-refused", uuid.uuid4(), PublishStatus.FAILED, at=T0)
        await produce_results(pipeline.kafka_bootstrap_servers, [failed])

        async def settled() -> asyncpg.Record | None:
            row = await db.fetchrow(
                "SELECT state, attempts, last_status, last_error"
                " FROM metrics.webhook_deliveries WHERE tenant_id = $1",
                tenant,
            )
            return row if row is not None and row["state"] != "pending" else None

        row = await eventually(settled, timeout=30)
        assert dict(row) == {
            "state": "dead",  # at once: not retried
            "attempts": 1,
            "last_status": None,
            "last_error": "refused: 0.0.0.0 is an unspecified address",
        }
        assert hooks.requests == {}, "the receiver behind 0.0.0.0 was reached"
        shown = (await http.get(f"{pipeline.url('metrics')}/v1/webhooks", headers=operator)).json()
        assert shown["deliveries"] == {"pending": 0, "delivered": 0, "dead": 1}


async def test_a_stream_ends_once_its_key_is_revoked(
    db: asyncpg.Pool, pipeline: Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate_tenancy(db)
    await migrate_metrics(db)
    tenant, api_key = await create_tenant(db, f"sse-{uuid.uuid4().hex[:10]}")
    lines: list[str] = []
    connected = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=KEY_CACHE_SECONDS + 30)) as http,
            http.stream(
                "GET",
                f"{pipeline.url('metrics')}/v1/stream",
                headers={"Authorization": f"Bearer {api_key}"},
            ) as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                lines.append(line)
                connected.set()

    reader = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(connected.wait(), 15)
        await asyncio.sleep(1.5)  # the stream is past its first checks, key still live
        assert not reader.done()
        # The operator's path: `jobcast api-keys revoke`.
        monkeypatch.setenv("DATABASE_URL", pipeline.database_url)
        revoked = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["api-keys", "revoke", "--tenant", tenant.name, "--key", api_key],
        )
        assert revoked.exit_code == 0, revoked.output
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Within the key cache's time (and here within a keep-alive: 1 s in tests).
        await asyncio.wait_for(asyncio.shield(reader), KEY_CACHE_SECONDS + 5)
        took = loop.time() - started
    finally:
        reader.cancel()
    assert "event: revoked" in lines
    assert took < KEY_CACHE_SECONDS + 5
