"""Values at the contract's bounds, end to end: stored and posted inside them, refused with a
field-naming 422 outside them, and never a stall or a 500 (issue: poison-proof pipeline)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas.bounds import MAX_BIGINT
from tests.integration.helpers import job_event, new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EPOCH_MS = 1_764_735_000_000  # a revision as many upstream systems send it


def fields_of(answer: httpx.Response) -> set[str]:
    return {error["field"] for error in answer.json()["detail"]}


async def test_an_epoch_millisecond_revision_is_posted_and_nobody_waits(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    auth, _ = await new_tenant(db, pipeline)
    other_auth, _ = await new_tenant(db, pipeline)
    url = f"{pipeline.url('ingest')}/v1/job-events"
    async with httpx.AsyncClient(timeout=10) as http:
        big = await http.post(url, json=job_event("bounds-ms", revision=EPOCH_MS), headers=auth)
        assert big.status_code == 202, big.text
        top = await http.post(url, json=job_event("bounds-max", revision=MAX_BIGINT), headers=auth)
        assert top.status_code == 202, top.text
        after = await http.post(url, json=job_event("bounds-after"), headers=other_auth)
        assert after.status_code == 202, after.text
        for job_id, who in (
            ("bounds-ms", auth),
            ("bounds-max", auth),
            ("bounds-after", other_auth),
        ):
            posts = await wait_for_posts(http, pipeline, who, job_id, 2)
            assert {p["status"] for p in posts} == {"posted"}, (job_id, posts)
        # A later revision of the same job is an update the distributor applies.
        newer = job_event("bounds-ms", revision=EPOCH_MS + 1, title="Line cook, nights")
        newer["event_type"] = "job.updated"
        assert (await http.post(url, json=newer, headers=auth)).status_code == 202
    async with db.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT revision FROM distributor.jobs WHERE job_id = 'bounds-max'"
        )
    assert stored == MAX_BIGINT


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"revision": 10**30}, "payload.revision"),
        ({"revision": MAX_BIGINT + 1}, "payload.revision"),
        ({"title": "Cook\u0000"}, "payload.title"),
        ({"description": "nights \u0000 only"}, "payload.description"),
        ({"tags": ["ok", "bad\u0000"]}, "payload.tags.1"),
        ({"publish_at": "9999-12-31T23:59:59-11:00"}, "payload.publish_at"),
        ({"publish_at": "0001-01-01T00:00:00+00:00"}, "payload.publish_at"),
        ({"publish_at": "9999-12-31T23:00:00", "timezone": "Pacific/Kiritimati"},
         "payload.publish_at"),
        ({"platform_settings": {"instagram": {"extra_hashtags": ["x" * 100_000]}}},
         "payload.platform_settings.instagram.extra_hashtags.0"),
    ],
)  # fmt: skip
async def test_values_outside_the_bounds_are_refused_naming_the_field(
    pipeline: Endpoints, db: asyncpg.Pool, changes: dict[str, Any], field: str
) -> None:
    auth, _ = await new_tenant(db, pipeline, instagram=False)
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events",
            json=job_event("bounds-bad", **changes),
            headers=auth,
        )
        assert answer.status_code == 422, answer.text
        assert field in fields_of(answer), answer.text


async def test_an_unpaired_surrogate_is_refused_in_a_batch_without_failing_the_rest(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    auth, _ = await new_tenant(db, pipeline, instagram=False)
    good = job_event("bounds-batch-ok")
    # Python's json writes a lone surrogate as the escape \ud800, as a careless client would.
    bad = job_event("bounds-batch-bad", title="Cook \ud800")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events",
            content=json.dumps({"events": [good, bad]}).encode(),  # ASCII: "\\ud800" escaped
            headers={**auth, "content-type": "application/json"},
        )
        assert answer.status_code == 202, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected"]
        assert results[1]["errors"][0]["field"] == "payload.title"
        posts = await wait_for_posts(http, pipeline, auth, "bounds-batch-ok", 1)
        assert posts[0]["status"] == "posted"


async def test_preview_of_a_far_date_is_a_422_not_a_500(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    auth, _ = await new_tenant(db, pipeline, instagram=False)
    job = job_event("bounds-preview", publish_at="9999-12-31T23:59:59-11:00")["payload"]
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{pipeline.url('distributor')}/v1/preview", json=job, headers=auth
        )
        assert answer.status_code == 422, answer.text
        assert "publish_at" in answer.text
        job["publish_at"] = "2099-12-31T10:00:00-11:00"  # the window's last hours: fine
        answer = await http.post(
            f"{pipeline.url('distributor')}/v1/preview", json=job, headers=auth
        )
        assert answer.status_code == 200, answer.text
