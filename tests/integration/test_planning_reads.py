"""What planning a poll's new jobs reads of its tenants comes in one statement, and is
what the one-tenant reads give (profile, paused scopes, planned connections); their posts
are stored in one statement too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from schemas.platforms import Platform
from schemas.publish import PostContent, PublishCommand
from services.distributor.models import TenantProfile
from services.distributor.repo import (
    PlanningReads,
    add_connection,
    migrate_distributor,
    planned_connections,
    planning_reads,
    set_connection_status,
)
from services.distributor.repo_posts import NewPost, insert_posts, pause, paused_scopes
from services.distributor.repo_profiles import get_profile, put_profile
from services.distributor.schedule import PostState

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_one_statement_reads_what_the_per_tenant_reads_do(db: asyncpg.Pool) -> None:
    await migrate_distributor(db)
    cipher = TokenCipher(SecretStr(generate_key()))
    busy, bare, paused_only = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await put_profile(db, busy, TenantProfile(footer="Lamar sekarang", hashtags=("#BaliJobs",)))
    accounts = [
        (Platform.INSTAGRAM, "ig-2", "active"),
        (Platform.FACEBOOK, "page-b", "needs_reconnect"),
        (Platform.FACEBOOK, "page-a", "active"),
        (Platform.THREADS, "th-1", "disabled"),  # not planned for
    ]
    for platform, account, status in accounts:
        connection = await add_connection(db, cipher, tenant_id=busy, platform=platform,
                                          account_id=account, token=f"tok-{account}")  # fmt: skip
        if status != "active":
            await set_connection_status(db, connection.connection_id, busy, status)
    async with db.acquire() as conn:
        await pause(conn, busy, Platform.INSTAGRAM, "ops", "checking captions")
        await pause(conn, paused_only, None, "ops", "holiday")
        tenants = [busy, bare, paused_only]
        reads = await planning_reads(conn, tenants)
        scopes = await paused_scopes(conn, tenants)
        assert set(reads) == set(tenants)
        for tenant in tenants:
            read = reads[tenant]
            assert read.profile == await get_profile(conn, tenant)
            assert read.paused == scopes.get(tenant, frozenset())
            assert read.connections == await planned_connections(conn, tenant)
    assert [c.account_id for c in reads[busy].connections] == ["page-a", "page-b", "ig-2"]
    assert reads[busy].paused == {"instagram"}
    assert reads[busy].profile.footer == "Lamar sekarang"
    assert reads[bare] == PlanningReads(TenantProfile(), frozenset(), [])
    assert reads[paused_only].connections == []


async def test_one_statement_plans_the_posts_of_many_tenants_each_under_its_own(
    db: asyncpg.Pool,
) -> None:
    await migrate_distributor(db)
    now = datetime.now(UTC)
    content = PostContent(text="Cook at Warung", link="https://jobs.example.com/1")

    def new_post(job: str) -> NewPost:
        command = PublishCommand(
            post_key="pk_" + uuid.uuid4().hex, platform=Platform.FACEBOOK,
            connection_id=uuid.uuid4(), account_id="page-1", job_id=job, revision=1,
            content=content,
        )  # fmt: skip
        return NewPost(command, PostState.SENT, now, f"corr-{job}", now)

    one, other = uuid.uuid4(), uuid.uuid4()
    owned = [(one, new_post("job-1")), (one, new_post("job-2")), (other, new_post("job-1"))]
    keys = {p.command.post_key: t for t, p in owned}
    async with db.acquire() as conn:
        assert await insert_posts(conn, owned) == set(keys)
        assert await insert_posts(conn, owned) == set()  # a replay plans nothing new
        rows = await conn.fetch(
            "SELECT post_key, tenant_id, job_id, correlation_id FROM distributor.posts"
            " WHERE post_key = ANY($1::text[])",
            list(keys),
        )
    assert {r["post_key"]: r["tenant_id"] for r in rows} == keys
    assert all(r["correlation_id"] == f"corr-{r['job_id']}" for r in rows)
