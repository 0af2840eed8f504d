"""Operator commands end to end: scopes, the audit, the event on `operator.commands`, the
CLI, and a publisher retrying a failed post (once, never a posted one)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from devtools.stack import Endpoints
from jobcast.db import create_pool
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy
from jobcast.topics import OPERATOR_COMMANDS, PUBLISH_RESULTS
from jobcast_cli.main import app
from schemas import Platform, PublishCompleted, PublishStatus
from schemas.operator import OperatorAction, OperatorCommandIssued
from services.ingest.repo import migrate_ingest
from services.publishing import repo as claims
from services.publishing.repo import migrate_publishing
from tests.harness import Infra
from tests.integration.helpers import (
    add_fault,
    job_event,
    ledger,
    new_tenant,
    read_topic,
    results_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def operator_key(db: asyncpg.Pool, auth: dict[str, str]) -> dict[str, str]:
    """An operator-scope key for the tenant that `auth` (a tenant key) belongs to."""
    tenant_id = await db.fetchval(
        "SELECT tenant_id FROM tenancy.api_keys WHERE key_prefix = $1",
        auth["Authorization"].removeprefix("Bearer ")[:8],
    )
    return {"Authorization": f"Bearer {await add_api_key(db, tenant_id, KeyScope.OPERATOR)}"}


async def commands_of(bootstrap: str, tenant_id: uuid.UUID, count: int) -> list[Any]:
    """The tenant's records on `operator.commands` (raw records: key, value, headers)."""

    def pick(record: Any) -> Any:
        try:
            event = OperatorCommandIssued.model_validate_json(record.value)
        except ValueError:
            return None
        return record if event.tenant_id == tenant_id else None

    return await read_topic(
        bootstrap, OPERATOR_COMMANDS, pick, until=lambda kept: len(kept) >= count
    )


async def test_operator_endpoints_need_operator_scope_and_are_audited(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    await migrate_tenancy(db)
    tenant, tenant_key = await create_tenant(db, f"ops-{uuid.uuid4().hex[:8]}")
    op_key = await add_api_key(db, tenant.tenant_id, KeyScope.OPERATOR)
    as_tenant = {"Authorization": f"Bearer {tenant_key}"}
    as_operator = {"Authorization": f"Bearer {op_key}"}
    base = f"{pipeline.url('ingest')}/v1/operator"
    post_key = "pk_" + uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.post(f"{base}/pause", headers=as_tenant)
        assert refused.status_code == 403
        assert "operator scope" in refused.json()["detail"]
        assert (await http.get(f"{base}/audit", headers=as_tenant)).status_code == 403
        assert (await http.post(f"{base}/pause")).status_code == 401

        cancel = await http.post(
            f"{base}/posts/{post_key}/cancel", json={"reason": "wrong city"}, headers=as_operator
        )
        assert cancel.status_code == 202, cancel.text
        pause = await http.post(
            f"{base}/pause", json={"platform": "instagram"}, headers=as_operator
        )
        assert pause.status_code == 202, pause.text
        invalid = await http.post(f"{base}/jobs/a%20b/approve", headers=as_operator)
        assert invalid.status_code == 422
        # The operator key still does what a tenant key does.
        submitted = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event("ops-1"), headers=as_operator
        )
        assert submitted.status_code == 202

        records = await commands_of(pipeline.kafka_bootstrap_servers, tenant.tenant_id, 2)
        events = [OperatorCommandIssued.model_validate_json(r.value) for r in records]
        assert [str(e.event_id) for e in events] == [
            cancel.json()["command_id"], pause.json()["command_id"],
        ]  # fmt: skip
        assert {r.key for r in records} == {str(tenant.tenant_id).encode()}
        first, second = (e.payload for e in events)
        assert (first.action, first.post_key, first.reason) == (
            OperatorAction.CANCEL, post_key, "wrong city",
        )  # fmt: skip
        assert (second.action, second.platform) == (OperatorAction.PAUSE, Platform.INSTAGRAM)
        assert {e.payload.actor for e in events} == {f"api-key:{op_key[:8]}"}
        assert not any(op_key.encode() in r.value for r in records)

        listing = await http.get(f"{base}/audit", params={"limit": 1}, headers=as_operator)
        assert listing.status_code == 200
        [newest] = listing.json()["entries"]
        assert newest["command_id"] == pause.json()["command_id"]
        assert (newest["target"], newest["actor"]) == (
            "platform:instagram",
            f"api-key:{op_key[:8]}",
        )
        assert newest["published_at"] is not None
        older = await http.get(
            f"{base}/audit", params={"cursor": listing.json()["next_cursor"]}, headers=as_operator
        )
        assert [e["command_id"] for e in older.json()["entries"]] == [cancel.json()["command_id"]]
        assert older.json()["entries"][0]["reason"] == "wrong city"
        assert older.json()["next_cursor"] is None
        assert op_key not in listing.text + older.text


def test_cli_ops_writes_the_audit_and_publishes(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", infra.database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    runner = CliRunner()
    name = f"cli-ops-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(app, ["tenants", "create", name])
    assert created.exit_code == 0, created.output
    tenant_id = uuid.UUID(created.output.split("tenant_id=")[1].split()[0])
    operator = runner.invoke(app, ["api-keys", "create", "--tenant", name, "--scope", "operator"])
    assert operator.exit_code == 0, operator.output
    assert "operator" in runner.invoke(app, ["api-keys", "list", "--tenant", name]).output

    post_key = "pk_" + uuid.uuid4().hex
    retried = runner.invoke(
        app, ["ops", "retry", "--tenant", name, "--post-key", post_key, "--reason", "token fixed"]
    )
    assert retried.exit_code == 0, retried.output
    paused = runner.invoke(
        app, ["ops", "pause", "--tenant", name, "--platform", "facebook", "--actor", "alice"]
    )
    assert paused.exit_code == 0, paused.output
    ids = [r.output.split("command_id=")[1].split()[0] for r in (retried, paused)]

    no_target = runner.invoke(app, ["ops", "retry", "--tenant", name])
    assert no_target.exit_code == 2
    assert "post_key" in no_target.output
    both = runner.invoke(
        app, ["ops", "cancel", "--tenant", name, "--post-key", post_key, "--job-id", "j-1"]
    )
    assert both.exit_code == 2
    assert runner.invoke(app, ["ops", "resume", "--tenant", "no-such-tenant"]).exit_code == 2

    async def check() -> None:
        pool = await create_pool(infra.database_url, max_size=1)
        try:
            rows = await pool.fetch(
                "SELECT event_id, actor, action, target, reason, published_at"
                " FROM ingest.operator_audit WHERE tenant_id = $1 ORDER BY issued_at",
                tenant_id,
            )
        finally:
            await pool.close()
        assert [str(r["event_id"]) for r in rows] == ids  # refused commands leave no row
        retry_row, pause_row = rows
        assert retry_row["actor"].startswith("cli:")
        assert "@" in retry_row["actor"]
        assert (retry_row["action"], retry_row["target"], retry_row["reason"]) == (
            "retry", f"post:{post_key}", "token fixed",
        )  # fmt: skip
        assert (pause_row["actor"], pause_row["target"]) == ("alice", "platform:facebook")
        assert all(r["published_at"] is not None for r in rows)
        records = await commands_of(infra.kafka_bootstrap_servers, tenant_id, 2)
        events = [OperatorCommandIssued.model_validate_json(r.value) for r in records]
        assert [str(e.event_id) for e in events] == ids
        assert events[0].payload.actor == retry_row["actor"]

    asyncio.run(check())


async def wait_for_status(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str, status: str
) -> dict[str, Any]:
    """Poll the read model until the job's one post has `status`."""
    async with asyncio.timeout(30):
        while True:
            response = await http.get(
                f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth
            )
            posts = response.json()["posts"] if response.status_code == 200 else []
            if posts and posts[0]["status"] == status:
                return dict(posts[0])
            await asyncio.sleep(0.2)


def facebook_statuses(results: list[PublishCompleted]) -> list[tuple[str, int]]:
    return [
        (r.payload.status.value, r.payload.attempt)
        for r in results
        if r.payload.platform is Platform.FACEBOOK
    ]


async def failed_post(
    http: httpx.AsyncClient,
    pipeline: Endpoints,
    auth: dict[str, str],
    page: str,
    *,
    fault: dict[str, Any],
    attempt: int,
) -> tuple[str, str]:
    """Submit a job whose Facebook post `fault` makes fail at `attempt`: (job id, post key)."""
    await add_fault(http, pipeline, account_id=page, operation="fb.feed", **fault)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    submitted = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events",
        json=job_event(job_id, image_url=None),
        headers=auth,
    )
    assert submitted.status_code == 202
    results = await results_of(
        pipeline, job_id, lambda rs: ("failed", attempt) in facebook_statuses(rs)
    )
    return job_id, results[-1].payload.post_key


async def retry(
    http: httpx.AsyncClient, pipeline: Endpoints, operator: dict[str, str], post_key: str
) -> None:
    response = await http.post(
        f"{pipeline.url('ingest')}/v1/operator/posts/{post_key}/retry",
        json={"reason": "page permissions fixed"},
        headers=operator,
    )
    assert response.status_code == 202, response.text


async def test_retry_reposts_a_failed_post_once_and_leaves_a_posted_one_alone(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    operator = await operator_key(db, auth)
    async with httpx.AsyncClient(timeout=10) as http:
        # A permanent error (code 100), once: the post fails for good.
        permanent = {"action": "error", "code": 100, "http_status": 400, "times": 1}
        job_id, post_key = await failed_post(http, pipeline, auth, page, fault=permanent, attempt=1)
        await wait_for_status(http, pipeline, auth, job_id, "failed")
        assert await ledger(http, pipeline, page) == []

        await retry(http, pipeline, operator, post_key)
        results = await results_of(
            pipeline, job_id, lambda rs: ("posted", 2) in facebook_statuses(rs)
        )
        assert facebook_statuses(results) == [("failed", 1), ("posted", 2)]
        assert results[-1].payload.permalink is not None
        assert len(await ledger(http, pipeline, page)) == 1
        # The later attempt outranks the failure in the read model.
        assert (await wait_for_status(http, pipeline, auth, job_id, "posted"))["attempt"] == 2

        # Retrying a posted post does nothing: no new result, still one post on the Page.
        await retry(http, pipeline, operator, post_key)
        await asyncio.sleep(2)
        after = await read_topic(
            pipeline.kafka_bootstrap_servers,
            PUBLISH_RESULTS,
            lambda r: r if post_key.encode() == r.key else None,
            for_seconds=3,
        )
        assert len(after) == 2
        assert len(await ledger(http, pipeline, page)) == 1


async def test_retry_starts_a_fresh_series_of_attempts(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    operator = await operator_key(db, auth)
    async with httpx.AsyncClient(timeout=10) as http:
        # The test pipeline allows 4 attempts: 4 proven-not-posted 5xx fail the post.
        job_id, post_key = await failed_post(
            http, pipeline, auth, page, fault={"action": "http_500", "times": 4}, attempt=4
        )
        # One more 5xx after the retry: a fresh series retries it instead of failing.
        await add_fault(http, pipeline, account_id=page, action="http_500",
                        operation="fb.feed", times=1)  # fmt: skip
        await retry(http, pipeline, operator, post_key)
        results = await results_of(
            pipeline, job_id, lambda rs: any(s == "posted" for s, _ in facebook_statuses(rs))
        )
        assert facebook_statuses(results)[-3:] == [
            ("failed", 4), ("retry_scheduled", 6), ("posted", 6),
        ]  # fmt: skip
        assert len(await ledger(http, pipeline, page)) == 1


async def test_only_failed_claims_of_the_tenant_and_platform_are_reopened(
    db: asyncpg.Pool,
) -> None:
    """The claim-table rule, on rows no running publisher owns (platform `test`)."""
    await migrate_publishing(db)
    await migrate_ingest(db)
    tenant_id, other_tenant = uuid.uuid4(), uuid.uuid4()

    async def claim(state: str, status: str | None, attempt: int = 3) -> str:
        post_key = "pk_" + uuid.uuid4().hex
        result = None if status is None else f'{{"payload": {{"status": "{status}"}}}}'
        await db.execute(
            """INSERT INTO publishing.post_claims
                   (post_key, platform, tenant_id, connection_id, job_id, state, attempt,
                    command_event, result_event, progress)
               VALUES ($1, 'test', $2, $3, 'job-x', $4, $5, '{}'::jsonb, $6::jsonb,
                       '{"container_id": "c-1"}'::jsonb)""",
            post_key, tenant_id, uuid.uuid4(), state, attempt, result,
        )  # fmt: skip
        return post_key

    async def reopen(post_key: str, *, tenant: uuid.UUID = tenant_id, platform: str = "test",
                     command_id: uuid.UUID | None = None) -> object:  # fmt: skip
        return await claims.reopen_failed(
            db, tenant_id=tenant, post_key=post_key, platform=platform,
            command_id=command_id or uuid.uuid4(),
        )  # fmt: skip

    failed = await claim("done", PublishStatus.FAILED.value)
    command_id = uuid.uuid4()
    assert await reopen(failed, tenant=other_tenant) is claims.RetryRefused.UNKNOWN
    assert await reopen(failed, platform="facebook") is claims.RetryRefused.OTHER_PLATFORM
    assert await reopen(failed, command_id=command_id) == claims.Reopened(4)
    row = await db.fetchrow(
        "SELECT state, attempt, series_start, progress, next_attempt_at <= now() AS due"
        " FROM publishing.post_claims WHERE post_key = $1",
        failed,
    )
    assert row is not None
    assert (row["state"], row["attempt"], row["series_start"], row["due"]) == (
        "retry_scheduled", 4, 4, True,
    )  # fmt: skip
    assert row["progress"] == "{}"
    await db.execute(  # the retry fails again; the same command, redelivered, is not re-applied
        "UPDATE publishing.post_claims SET state = 'done' WHERE post_key = $1", failed
    )
    assert await reopen(failed, command_id=command_id) is claims.RetryRefused.ALREADY_APPLIED
    assert await reopen(failed) == claims.Reopened(5)

    for state, status in [
        ("done", "posted"), ("done", "skipped"), ("unconfirmed", "unconfirmed"),
        ("retry_scheduled", "retry_scheduled"), ("in_progress", None),
    ]:  # fmt: skip
        assert await reopen(await claim(state, status)) is claims.RetryRefused.NOT_FAILED, state
    assert await reopen("pk_" + uuid.uuid4().hex) is claims.RetryRefused.UNKNOWN
