"""Replay: every consumer group back to the earliest offset; nothing may change.

A varied history first, on a stack of its own (rewinding the session's groups would
replay every other test's records under their feet): jobs over HTTP and over
`jobs.incoming`, a disabled platform, a connection that needs reconnecting, a scheduled
job, updates (Facebook edits) and closes (deletes), a 5xx that still posted (Facebook,
Threads), a timeout after the post was made, a permanent error then an operator retry, and
garbage on two topics. Then `tests/suites/replay.py` rewinds all groups with `jobcast replay` and
compares the sandbox ledger and every read-model table before and after.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.graph.hosts import LoginKind
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy
from jobcast.topics import JOBS_EVENTS, JOBS_INCOMING, PUBLISH_RESULTS
from schemas import Platform
from services.distributor.repo import add_connection, migrate_distributor, set_connection_status
from tests.integration.helpers import LOGINS, job_event
from tests.suites.chaos import account_id_for
from tests.suites.replay import ReplayVerdict, replay_everything
from tests.suites.stack import OwnInfra, Pipeline, own_stack, run_async
from tests.suites.verdict import show

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

AT_REST = ("posted", "failed", "skipped", "unconfirmed", "scheduled", "edited", "deleted",
           "cannot_delete", "cancelled")  # fmt: skip


class History:
    """Makes the varied history the replay must leave untouched."""

    def __init__(self, pipeline: Pipeline, pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
        self.pipeline = pipeline
        self.pool = pool
        self.http = http
        self.accounts: list[str] = []
        self.cipher = TokenCipher(SecretStr(pipeline.endpoints.secret_key))

    async def tenant(self, platforms: list[Platform]) -> tuple[uuid.UUID, str, list[str]]:
        tenant, key = await create_tenant(self.pool, f"replay-{uuid.uuid4().hex[:8]}")
        accounts: list[str] = []
        for platform in platforms:
            account = account_id_for(platform, 0, len(self.accounts) + len(accounts))
            await add_connection(
                self.pool, self.cipher, tenant_id=tenant.tenant_id, platform=platform,
                account_id=account, token=f"t-{account}",
                login=LOGINS.get(platform, LoginKind.FACEBOOK),
            )  # fmt: skip
            accounts.append(account)
        self.accounts += accounts
        return tenant.tenant_id, key, accounts

    async def submit(self, key: str, events: list[dict[str, Any]]) -> None:
        response = await self.http.post(
            f"{self.pipeline.url('ingest')}/v1/job-events",
            json={"events": events},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 202, response.text
        assert len(response.json()["accepted"]) == len(events), response.text

    async def fault(self, **rule: Any) -> None:
        response = await self.http.post(
            f"{self.pipeline.endpoints.graph_api_url}/_sandbox/faults", json=rule
        )
        assert response.status_code == 201, response.text

    async def settled(self, tenants: list[uuid.UUID], expected: int) -> list[asyncpg.Record]:
        async with asyncio.timeout(90):
            while True:
                rows = await self.pool.fetch(
                    "SELECT post_key, job_id, platform, action, status FROM metrics.job_posts"
                    " WHERE tenant_id = ANY($1::uuid[])",
                    tenants,
                )
                pending = await self.pool.fetchval(
                    "SELECT count(*) FROM publishing.post_claims WHERE state IN"
                    " ('in_progress', 'retry_scheduled')"
                    " OR (state = 'unconfirmed' AND next_attempt_at IS NOT NULL)"
                )
                if (
                    len(rows) >= expected
                    and not pending
                    and all(r["status"] in AT_REST for r in rows)
                ):
                    return rows
                await asyncio.sleep(0.5)


async def make_history(pipeline: Pipeline, pool: asyncpg.Pool) -> list[str]:
    """Returns the accounts whose ledger the replay must leave alone."""
    await migrate_tenancy(pool)
    await migrate_distributor(pool)
    async with httpx.AsyncClient(timeout=15) as http:
        h = History(pipeline, pool, http)
        a_id, a_key, (a_fb, a_ig, a_stale, a_th, a_li) = await h.tenant(
            [
                Platform.FACEBOOK,
                Platform.INSTAGRAM,
                Platform.FACEBOOK,
                Platform.THREADS,
                Platform.LINKEDIN,
            ]
        )
        stale = await pool.fetchval(
            "SELECT connection_id FROM distributor.connections WHERE account_id = $1", a_stale
        )
        await set_connection_status(pool, stale, a_id, "needs_reconnect")
        b_id, b_key, (b_fb,) = await h.tenant([Platform.FACEBOOK])
        b_operator = await add_api_key(pool, b_id, KeyScope.OPERATOR)

        # Faults: a 5xx that posted, a timeout after the post was made, a permanent error.
        await h.fault(action="http_500_after_create", account_id=a_fb, operation="fb.*",
                      method="POST")  # fmt: skip
        await h.fault(action="timeout", after_create=True, timeout_s=2.5, account_id=a_ig,
                      operation="ig.media_publish")  # fmt: skip
        await h.fault(action="error", code=100, account_id=b_fb, operation="fb.*",
                      method="POST")  # fmt: skip
        await h.fault(action="http_500_after_create", account_id=a_th,
                      operation="threads.publish")  # fmt: skip
        await h.fault(action="http_500_after_create", account_id=a_li,
                      operation="li.posts.create")  # fmt: skip

        a_jobs = [f"replay-a-{n}" for n in range(12)]
        events = [job_event(j) for j in a_jobs[:10]]
        events.append(job_event(a_jobs[10], platform_settings={"instagram": {"enabled": False}}))
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        events.append(job_event(a_jobs[11], publish_at=later))
        await h.submit(a_key, events)
        b_jobs = [f"replay-b-{n}" for n in range(6)]
        await h.submit(b_key, [job_event(j) for j in b_jobs[:3]])
        producer = AIOKafkaProducer(bootstrap_servers=pipeline.endpoints.kafka_bootstrap_servers)
        await producer.start()
        try:
            for job_id in b_jobs[3:]:  # straight onto the raw topic, as upstream may
                record = {**job_event(job_id), "tenant_id": str(b_id)}
                await producer.send_and_wait(JOBS_INCOMING, json.dumps(record).encode(),
                                             key=job_id.encode())  # fmt: skip
            for topic in (JOBS_EVENTS, PUBLISH_RESULTS, JOBS_INCOMING):
                for garbage in (b"not json", b'{"event_type": "job.exploded"}', b"[]"):
                    await producer.send_and_wait(topic, garbage, key=b"replay-garbage")
        finally:
            await producer.stop()
        # a: 12 jobs × (FB, IG, stale FB, Threads, LinkedIn) = 60 rows; b: 6 FB posts.
        rows = await h.settled([a_id, b_id], 60 + 6)

        # Updates (a Facebook and a LinkedIn edit each; Instagram and Threads cannot edit) and
        # closes (Threads deletes too).
        await h.submit(a_key, [
            {"event_type": "job.updated", "payload": {**job_event(j)["payload"],
             "revision": 2, "title": f"Senior cook {j}"}} for j in a_jobs[:2]
        ] + [
            {"event_type": "job.closed", "payload": {"job_id": j, "reason": "filled"}}
            for j in a_jobs[2:4]
        ])  # fmt: skip
        # The post the permanent error failed: an operator retries it.
        [failed] = [r["post_key"] for r in rows if r["status"] == "failed"]
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/operator/posts/{failed}/retry",
            json={"reason": "fixed"},
            headers={"Authorization": f"Bearer {b_operator}"},
        )
        assert response.status_code == 202, response.text
        async with asyncio.timeout(60):
            while (
                await pool.fetchval(
                    "SELECT status FROM metrics.job_posts WHERE post_key = $1", failed
                )
                != "posted"
            ):
                await asyncio.sleep(0.3)
        await h.settled([a_id, b_id], 60 + 6 + 4)  # + the four edits (and deletes, if any)
        return h.accounts


async def scenario(infra: OwnInfra, pipeline: Pipeline) -> ReplayVerdict:
    pool = await create_pool(infra.database_url, max_size=4)
    try:
        accounts = await make_history(pipeline, pool)
        return await replay_everything(pipeline, pool, accounts)
    finally:
        await pool.close()


def test_replaying_every_group_changes_nothing(pytestconfig: pytest.Config) -> None:
    with own_stack(prefix="jobcast-replay-") as (infra, pipeline):
        verdict = run_async(scenario(infra, pipeline))
    show(pytestconfig, verdict.line())
    assert verdict.ok, verdict.details()
    assert sum(verdict.groups.values()) > 0
    assert verdict.tables.get("job_posts", 0) >= 44
