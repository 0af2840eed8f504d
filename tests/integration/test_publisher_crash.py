"""Stop a publisher in the middle of a batch and restart it: nothing doubled, nothing lost —
killed (SIGKILL: a crash) or stopped gracefully (SIGTERM: finish, commit, close)."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher
from schemas import Platform
from services.distributor.repo import add_connection
from tests.harness import RunningPipeline
from tests.integration.helpers import add_fault, job_event, ledger, new_tenant

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

PAGES = 6
JOBS = 10


@pytest.mark.parametrize("kill", [True, False], ids=["sigkill", "sigterm"])
async def test_stop_mid_batch_neither_doubles_nor_loses(
    db: asyncpg.Pool, running: RunningPipeline, kill: bool
) -> None:
    pipeline = running.endpoints
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    tenant_id = await db.fetchval(
        "SELECT tenant_id FROM distributor.connections WHERE account_id = $1",
        accounts[Platform.FACEBOOK],
    )
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    pages = [accounts[Platform.FACEBOOK]]
    for _ in range(PAGES - 1):
        page = f"page-{uuid.uuid4().hex[:8]}"
        await add_connection(db, cipher, tenant_id=tenant_id, platform=Platform.FACEBOOK,
                             account_id=page, token=f"token-{page}")  # fmt: skip
        pages.append(page)

    publisher = running.processes["publisher-facebook"]
    async with httpx.AsyncClient(timeout=10) as http:
        for page in pages:  # slow enough that the kill lands mid-call
            await add_fault(http, pipeline, account_id=page, action="latency",
                            latency_ms=250, operation="fb.*", times=None)  # fmt: skip
        job_ids = [f"job-{uuid.uuid4().hex[:10]}" for _ in range(JOBS)]
        for job_id in job_ids:
            response = await http.post(
                f"{pipeline.url('ingest')}/v1/job-events",
                json=job_event(job_id, image_url=None), headers=auth,
            )  # fmt: skip
            assert response.status_code == 202
        # Kill once some, but not all, posts are out.
        async with asyncio.timeout(30):
            while sum([len(await ledger(http, pipeline, p)) for p in pages]) < 3:
                await asyncio.sleep(0.05)
        # A graceful stop lets the records in hand finish first, so count before it.
        posted_before_kill = sum([len(await ledger(http, pipeline, p)) for p in pages])
        publisher.stop(kill=kill)
        killed_at = time.monotonic()
        assert posted_before_kill < JOBS * PAGES
        publisher.start()
        publisher.wait_ready(f"{pipeline.url('publisher-facebook')}/readyz")

        expected = {(job_id, page) for job_id in job_ids for page in pages}
        async with asyncio.timeout(90):
            while True:
                rows = await db.fetch(
                    "SELECT job_id, status FROM metrics.job_posts WHERE job_id = ANY($1::text[])",
                    job_ids,
                )
                if len(rows) == len(expected) and all(r["status"] == "posted" for r in rows):
                    break
                await asyncio.sleep(0.5)
        recovery_seconds = time.monotonic() - killed_at

        for page in pages:
            messages = [p["message"] for p in await ledger(http, pipeline, page)]
            assert len(messages) == JOBS, f"{page}: {len(messages)} posts for {JOBS} jobs"
            assert len(set(messages)) == JOBS  # one per job: no duplicate
        await http.delete(f"{pipeline.graph_api_url}/_sandbox/faults")
    print(f"killed after {posted_before_kill} posts; all {len(expected)} posted exactly once "
          f"{recovery_seconds:.1f}s after the kill")  # fmt: skip
