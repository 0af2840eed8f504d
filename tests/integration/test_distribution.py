"""The distributor on the real pipeline: schedules, DST, restarts, approval, pause, lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from jobcast.topics import JOBS_EVENTS, OPERATOR_COMMANDS
from schemas import Platform, PublishAction, PublishCompleted, PublishStatus
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued
from services.distributor.models import TenantProfile
from services.distributor.repo_profiles import put_profile
from tests.harness import RunningPipeline
from tests.integration.helpers import (
    add_fault,
    job_event,
    ledger,
    new_tenant,
    read_topic,
    results_of,
    send_raw,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Tenant:
    """A test tenant with a Facebook Page and an Instagram account."""

    def __init__(self, auth: dict[str, str], accounts: dict[Platform, str], tenant_id: UUID):
        self.auth = auth
        self.accounts = accounts
        self.tenant_id = tenant_id
        self.fb = accounts[Platform.FACEBOOK]
        self.ig = accounts[Platform.INSTAGRAM]


async def make_tenant(db: asyncpg.Pool, running: RunningPipeline, **profile: Any) -> Tenant:
    auth, accounts = await new_tenant(db, running.endpoints)
    tenant_id = await db.fetchval(
        "SELECT tenant_id FROM distributor.connections WHERE account_id = $1",
        accounts[Platform.FACEBOOK],
    )
    if profile:
        await put_profile(db, tenant_id, TenantProfile(**profile))
    return Tenant(auth, accounts, tenant_id)


async def send(
    http: httpx.AsyncClient, running: RunningPipeline, tenant: Tenant, event: dict[str, Any]
) -> None:
    response = await http.post(
        f"{running.endpoints.url('ingest')}/v1/job-events", json=event, headers=tenant.auth
    )
    assert response.status_code == 202, response.text
    assert response.json()["results"][0]["status"] == "accepted", response.text


async def operator(running: RunningPipeline, tenant: Tenant, **fields: Any) -> None:
    """Issue an operator command straight onto its topic (ingest's endpoints are tested apart)."""
    event = OperatorCommandIssued(
        tenant_id=tenant.tenant_id, payload=OperatorCommand(actor="test-operator", **fields)
    )
    await send_raw(
        running.endpoints.kafka_bootstrap_servers,
        OPERATOR_COMMANDS,
        [(str(tenant.tenant_id).encode(), event.model_dump_json().encode())],
    )


def statuses(*wanted: tuple[PublishStatus, int]) -> Callable[[list[PublishCompleted]], bool]:
    def check(results: list[PublishCompleted]) -> bool:
        return all(
            sum(r.payload.status is status for r in results) >= count for status, count in wanted
        )

    return check


def updated(job_id: str, revision: int, **changes: Any) -> dict[str, Any]:
    event = job_event(job_id, revision=revision, **changes)
    event["event_type"] = "job.updated"
    return event


def closed(job_id: str, reason: str = "filled") -> dict[str, Any]:
    return {"event_type": "job.closed", "payload": {"job_id": job_id, "reason": reason}}


async def schedule(
    http: httpx.AsyncClient, running: RunningPipeline, tenant: Tenant, due: datetime
) -> str:
    """A new job due at `due`, once both its posts are reported scheduled; its id."""
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    await send(http, running, tenant, job_event(job_id, publish_at=due.isoformat()))
    await results_of(running.endpoints, job_id, statuses((PublishStatus.SCHEDULED, 2)))
    return job_id


async def post_now(http: httpx.AsyncClient, running: RunningPipeline, tenant: Tenant) -> str:
    """A new job due now, once both its posts are reported posted; its id."""
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    await send(http, running, tenant, job_event(job_id))
    await results_of(running.endpoints, job_id, statuses((PublishStatus.POSTED, 2)))
    return job_id


async def eventually(check: Callable[[], Any], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.2)


async def test_a_scheduled_job_waits_for_its_time(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    due = datetime.now(UTC) + timedelta(seconds=4)
    async with httpx.AsyncClient(timeout=10) as http:
        await send(http, running, tenant, job_event(job_id, publish_at=due.isoformat()))
        results = await results_of(
            running.endpoints, job_id, statuses((PublishStatus.SCHEDULED, 2))
        )
        scheduled = [r.payload for r in results if r.payload.status is PublishStatus.SCHEDULED]
        assert {r.next_attempt_at for r in scheduled} == {due}
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1.5))
        assert await ledger(http, running.endpoints, tenant.fb) == []
        assert await ledger(http, running.endpoints, tenant.ig) == []
        await results_of(running.endpoints, job_id, statuses((PublishStatus.POSTED, 2)))
        assert datetime.now(UTC) >= due
        assert len(await ledger(http, running.endpoints, tenant.fb)) == 1
        assert len(await ledger(http, running.endpoints, tenant.ig)) == 1


async def test_a_wall_clock_time_skipped_by_dst_posts_after_the_gap(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    # New York springs forward on 2027-03-14: 02:30 local does not exist and means 03:30
    # EDT = 07:30 UTC. The distributor's clock is moved to 5 s before that.
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    due = datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    running.shift_distributor_clock((due - datetime.now(UTC)).total_seconds() - 5)
    try:
        await asyncio.sleep(0.2)  # the clock re-reads its offset at most every 50 ms
        async with httpx.AsyncClient(timeout=10) as http:
            await send(
                http,
                running,
                tenant,
                job_event(job_id, publish_at="2027-03-14T02:30:00", timezone="America/New_York"),
            )
            results = await results_of(
                running.endpoints, job_id, statuses((PublishStatus.SCHEDULED, 2))
            )
            assert {r.payload.next_attempt_at for r in results} == {due}
            await asyncio.sleep(2.5)
            assert await ledger(http, running.endpoints, tenant.fb) == []
            await results_of(running.endpoints, job_id, statuses((PublishStatus.POSTED, 2)))
            assert len(await ledger(http, running.endpoints, tenant.fb)) == 1
    finally:
        running.shift_distributor_clock(0)


async def test_timers_survive_a_crash_and_past_due_ones_fire_at_start(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    distributor = running.processes["distributor"]
    job_ids = [f"job-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    due = datetime.now(UTC) + timedelta(seconds=3)
    async with httpx.AsyncClient(timeout=10) as http:
        for job_id in job_ids:
            await send(http, running, tenant, job_event(job_id, publish_at=due.isoformat()))
        for job_id in job_ids:
            await results_of(running.endpoints, job_id, statuses((PublishStatus.SCHEDULED, 2)))
        distributor.stop(kill=True)
        try:
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
            assert await ledger(http, running.endpoints, tenant.fb) == []
        finally:
            distributor.start()
            distributor.wait_ready(f"{running.endpoints.url('distributor')}/readyz")
        for job_id in job_ids:
            await results_of(running.endpoints, job_id, statuses((PublishStatus.POSTED, 2)))
        fb = await ledger(http, running.endpoints, tenant.fb)
        ig = await ledger(http, running.endpoints, tenant.ig)
        assert len(fb) == len(ig) == len(job_ids), (len(fb), len(ig))


async def test_approval_gate(db: asyncpg.Pool, running: RunningPipeline) -> None:
    tenant = await make_tenant(db, running, require_approval=True)
    approved, rejected = (f"job-{uuid.uuid4().hex[:10]}" for _ in range(2))
    async with httpx.AsyncClient(timeout=10) as http:
        for job_id in (approved, rejected):
            await send(http, running, tenant, job_event(job_id))
            await results_of(
                running.endpoints, job_id, statuses((PublishStatus.AWAITING_APPROVAL, 2))
            )
        await asyncio.sleep(1.0)
        assert await ledger(http, running.endpoints, tenant.fb) == []
        await operator(running, tenant, action=OperatorAction.APPROVE, job_id=approved)
        await operator(running, tenant, action=OperatorAction.REJECT, job_id=rejected, reason="pay")
        await results_of(running.endpoints, approved, statuses((PublishStatus.POSTED, 2)))
        results = await results_of(
            running.endpoints, rejected, statuses((PublishStatus.CANCELLED, 2))
        )
        reasons = {r.payload.error.message for r in results if r.payload.error}
        assert reasons == {"rejected by test-operator: pay"}
        await asyncio.sleep(1.0)
        assert len(await ledger(http, running.endpoints, tenant.fb)) == 1


async def test_pause_holds_and_resume_releases_in_order(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_ids = [f"job-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    await operator(running, tenant, action=OperatorAction.PAUSE, platform=Platform.FACEBOOK)
    await asyncio.sleep(1.0)  # the command is applied before the jobs arrive
    async with httpx.AsyncClient(timeout=10) as http:
        for job_id in job_ids:
            await send(http, running, tenant, job_event(job_id))
        for job_id in job_ids:
            await results_of(
                running.endpoints,
                job_id,
                statuses((PublishStatus.HELD, 1), (PublishStatus.POSTED, 1)),
            )
        assert await ledger(http, running.endpoints, tenant.fb) == []
        assert len(await ledger(http, running.endpoints, tenant.ig)) == len(job_ids)
        await operator(running, tenant, action=OperatorAction.RESUME, platform=Platform.FACEBOOK)
        for job_id in job_ids:
            await results_of(running.endpoints, job_id, statuses((PublishStatus.POSTED, 2)))
        posts = await ledger(http, running.endpoints, tenant.fb)
        # Jobs reach the distributor over several partitions, so "in order" means the order
        # they were due in (and planned in, for equal due times).
        due_order = await db.fetch(
            """SELECT job_id FROM distributor.posts
               WHERE tenant_id = $1 AND platform = 'facebook' ORDER BY due_at, seq""",
            tenant.tenant_id,
        )
        order = [next(j for j in job_ids if j in p["message"]) for p in posts]
        assert order == [r["job_id"] for r in due_order]


async def test_update_edits_live_posts_and_close_takes_them_down(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    async with httpx.AsyncClient(timeout=10) as http:
        job_id = await post_now(http, running, tenant)
        await send(http, running, tenant, updated(job_id, 2, title=f"Head chef {job_id}"))
        results = await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.EDITED, 1), (PublishStatus.SKIPPED, 1)),
        )
        skipped = [r.payload for r in results if r.payload.status is PublishStatus.SKIPPED]
        assert skipped[0].action is PublishAction.EDIT
        assert skipped[0].platform is Platform.INSTAGRAM
        [fb_post] = await ledger(http, running.endpoints, tenant.fb)
        assert "Head chef" in fb_post["message"]
        assert len(await ledger(http, running.endpoints, tenant.ig)) == 1

        await send(http, running, tenant, closed(job_id))
        await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.DELETED, 1), (PublishStatus.CANNOT_DELETE, 1)),
        )
        assert await ledger(http, running.endpoints, tenant.fb) == []
        # A closed job stays closed: a late update posts nothing.
        await send(http, running, tenant, updated(job_id, 3))
        await asyncio.sleep(1.5)
        assert await ledger(http, running.endpoints, tenant.fb) == []


async def test_update_before_the_due_time_replaces_the_pending_post(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    due = datetime.now(UTC) + timedelta(seconds=3)
    async with httpx.AsyncClient(timeout=10) as http:
        job_id = await schedule(http, running, tenant, due)
        changed = updated(job_id, 2, publish_at=due.isoformat(), title=f"Barista {job_id}")
        await send(http, running, tenant, changed)
        results = await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.CANCELLED, 2), (PublishStatus.POSTED, 2)),
        )
        assert {r.payload.error.message for r in results if r.payload.error} == {
            "superseded by revision 2"
        }
        [fb_post] = await ledger(http, running.endpoints, tenant.fb)
        assert fb_post["message"].startswith(f"Barista {job_id}")


async def test_close_before_the_due_time_cancels(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    async with httpx.AsyncClient(timeout=10) as http:
        await send(http, running, tenant, job_event(job_id, publish_at=due))
        await send(http, running, tenant, closed(job_id, "position filled"))
        await results_of(running.endpoints, job_id, statuses((PublishStatus.CANCELLED, 2)))
        await asyncio.sleep(3.0)
        assert await ledger(http, running.endpoints, tenant.fb) == []
        assert await ledger(http, running.endpoints, tenant.ig) == []


async def test_connection_needing_reconnect_is_skipped_with_reason(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    await db.execute(
        "UPDATE distributor.connections SET status = 'needs_reconnect' WHERE account_id = $1",
        tenant.ig,
    )
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await send(http, running, tenant, job_event(job_id))
        results = await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.SKIPPED, 1), (PublishStatus.POSTED, 1)),
        )
    [skip] = [r.payload for r in results if r.payload.status is PublishStatus.SKIPPED]
    assert skip.platform is Platform.INSTAGRAM
    assert skip.error is not None
    assert "reconnect" in skip.error.message


async def test_replaying_job_events_posts_nothing_twice(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    async with httpx.AsyncClient(timeout=10) as http:
        # Out first: an update that finds the posts not yet sent replaces them instead of
        # editing them (see the next test), and this one is about edits being replayed.
        job_id = await post_now(http, running, tenant)
        await send(http, running, tenant, updated(job_id, 2, title=f"Waiter {job_id}"))
        await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.POSTED, 2), (PublishStatus.EDITED, 1)),
        )
        records = await read_topic(
            running.endpoints.kafka_bootstrap_servers,
            JOBS_EVENTS,
            lambda r: r if job_id.encode() in (r.value or b"") else None,
            until=lambda kept: len(kept) >= 2,
        )
        # The same bytes again, as a replay would deliver them.
        await send_raw(
            running.endpoints.kafka_bootstrap_servers,
            JOBS_EVENTS,
            [(record.key, record.value) for record in records],
        )
        await asyncio.sleep(3.0)
        assert len(await ledger(http, running.endpoints, tenant.fb)) == 1
        assert len(await ledger(http, running.endpoints, tenant.ig)) == 1
    planned = await db.fetchval(
        "SELECT count(*) FROM distributor.posts WHERE tenant_id = $1", tenant.tenant_id
    )
    assert planned == 3  # FB publish, IG publish, FB edit


async def test_an_update_waits_for_a_timer_pass_that_is_sending_the_job(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    """A timer pass holds a job's due posts while it sends them. An update arriving then
    must see them as sent once the pass commits (and edit them), not as pending (and plan
    a replacement that would post the job a second time)."""
    tenant = await make_tenant(db, running)
    async with httpx.AsyncClient(timeout=10) as http:
        job_id = await schedule(http, running, tenant, datetime.now(UTC) + timedelta(hours=1))
        # Play the timer pass: lock the due rows, let the update arrive, mark them sent.
        async with db.acquire() as conn, conn.transaction():
            locked = await conn.fetch(
                """SELECT post_key FROM distributor.posts
                   WHERE tenant_id = $1 AND job_id = $2 AND state = 'scheduled'
                   FOR UPDATE""",
                tenant.tenant_id,
                job_id,
            )
            assert len(locked) == 2
            await send(http, running, tenant, updated(job_id, 2, title=f"Cook {job_id}"))
            await asyncio.sleep(2.0)  # the distributor reaches the locked rows
            await conn.execute(
                "UPDATE distributor.posts SET state = 'sent', sent_at = now() "
                "WHERE post_key = ANY($1::text[])",
                [r["post_key"] for r in locked],
            )

    async def revision_two() -> list[asyncpg.Record]:
        return await db.fetch(
            """SELECT platform, action, state FROM distributor.posts
               WHERE tenant_id = $1 AND job_id = $2 AND revision = 2""",
            tenant.tenant_id,
            job_id,
        )

    async def planned() -> bool:
        return bool(await revision_two())

    await eventually(planned)
    rows = await revision_two()
    assert [(r["platform"], r["action"]) for r in rows] == [("facebook", "edit")]
    states = await db.fetch(
        "SELECT state FROM distributor.posts WHERE tenant_id = $1 AND job_id = $2 AND revision = 1",
        tenant.tenant_id,
        job_id,
    )
    assert {r["state"] for r in states} == {"sent"}


async def test_preview_formats_every_connection_without_side_effects(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running, locale="id_ID", language="id")
    url = f"{running.endpoints.url('distributor')}/v1/preview"
    job = job_event(
        "job-preview",
        image_url="https://cdn.example.com/chef.png",
        pay={"min_amount": "150000", "max_amount": "200000", "currency": "IDR", "period": "day"},
        publish_at="2027-03-14T02:30:00",
        timezone="America/New_York",
    )["payload"]
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json=job, headers=tenant.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["scheduled_for"].startswith("2027-03-14T07:30:00")
        by_platform = {c["platform"]: c for c in body["connections"]}
        facebook, instagram = by_platform["facebook"], by_platform["instagram"]
        assert facebook["outcome"] == instagram["outcome"] == "post"
        assert "utm_source=facebook" in facebook["content"]["link"]
        assert "Rp" in facebook["content"]["text"]
        assert "image_not_jpeg" in {w["code"] for w in instagram["warnings"]}

        without_image = {**job, "image_url": None}
        response = await http.post(url, json=without_image, headers=tenant.auth)
        instagram = {c["platform"]: c for c in response.json()["connections"]}["instagram"]
        assert instagram["outcome"] == "skip"
        assert "image" in instagram["skip_reason"]

        response = await http.post(url, json={**job, "apply_url": "not a url"}, headers=tenant.auth)
        assert response.status_code == 422
        assert "apply_url" in response.text
        assert (await http.post(url, json=job)).status_code == 401
    planned = await db.fetchval(
        "SELECT count(*) FROM distributor.posts WHERE tenant_id = $1", tenant.tenant_id
    )
    assert planned == 0


async def test_per_job_overrides_and_tenant_defaults(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(
        db, running, hashtags=("#BaliJobs",), footer="Follow us for daily shifts"
    )
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    event = job_event(
        job_id,
        platform_settings={
            "facebook": {"caption": "Custom words for Facebook", "extra_hashtags": ["#Canggu"]},
            "instagram": {"enabled": False},
        },
    )
    async with httpx.AsyncClient(timeout=10) as http:
        await send(http, running, tenant, event)
        results = await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.POSTED, 1), (PublishStatus.SKIPPED, 1)),
        )
        [fb_post] = await ledger(http, running.endpoints, tenant.fb)
        assert await ledger(http, running.endpoints, tenant.ig) == []
    message = fb_post["message"]
    for expected in ("Custom words for Facebook", "#BaliJobs", "#Canggu", "Follow us"):
        assert expected in message, message
    assert "utm_source=facebook" in message  # a photo post: the link is in the text
    [skip] = [r.payload for r in results if r.payload.status is PublishStatus.SKIPPED]
    assert skip.error is not None
    assert "instagram disabled" in skip.error.message.lower()


async def test_close_while_the_post_is_still_retrying_takes_it_down_once_it_is_up(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(
            http, running.endpoints, account_id=tenant.fb, action="http_500",
            operation="fb.feed", times=3,
        )  # fmt: skip
        await send(http, running, tenant, job_event(job_id, image_url=None))
        await results_of(running.endpoints, job_id, statuses((PublishStatus.RETRY_SCHEDULED, 1)))
        await send(http, running, tenant, closed(job_id))
        results = await results_of(
            running.endpoints,
            job_id,
            statuses((PublishStatus.POSTED, 1), (PublishStatus.DELETED, 1)),
        )
        assert await ledger(http, running.endpoints, tenant.fb) == []
    deleted = [r for r in results if r.payload.status is PublishStatus.DELETED]
    assert deleted[0].payload.platform is Platform.FACEBOOK
