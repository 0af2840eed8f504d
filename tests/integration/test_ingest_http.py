"""The front door's error contract, over real HTTP against the running ingest service."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.tenancy import create_tenant, migrate_tenancy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GOOD: dict[str, Any] = {
    "event_type": "job.created",
    "payload": {
        "job_id": "http-1",
        "title": "Bartender",
        "company": "Sunset Club",
        "location": "Seminyak",
        "employment_type": "part_time",
        "apply_url": "https://jobs.example.com/b",
    },
}


@pytest.fixture
async def auth(db: asyncpg.Pool) -> dict[str, str]:
    await migrate_tenancy(db)
    _, key = await create_tenant(db, f"http-{uuid.uuid4().hex[:10]}")
    return {"Authorization": f"Bearer {key}"}


async def test_status_codes(pipeline: Endpoints, auth: dict[str, str]) -> None:
    url = f"{pipeline.url('ingest')}/v1/job-events"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.post(url, json=GOOD)).status_code == 401
        wrong = {"Authorization": "Bearer jc_not-a-real-key"}
        assert (await http.post(url, json=GOOD, headers=wrong)).status_code == 401
        as_text = await http.post(
            url, content=b"hello", headers={**auth, "content-type": "text/plain"}
        )
        assert as_text.status_code == 415
        huge = b'{"x": "' + b"a" * 5_000_000 + b'"}'
        too_big = await http.post(
            url, content=huge, headers={**auth, "content-type": "application/json"}
        )
        assert too_big.status_code == 413
        broken = await http.post(
            url, content=b"{not json", headers={**auth, "content-type": "application/json"}
        )
        assert broken.status_code == 422
        bad = {**GOOD, "payload": {**GOOD["payload"], "apply_url": "nope", "title": ""}}
        invalid = await http.post(url, json=bad, headers=auth)
        assert invalid.status_code == 422
        assert {e["field"] for e in invalid.json()["detail"]} == {
            "payload.apply_url",
            "payload.title",
        }
        foreign = await http.post(url, json={**GOOD, "tenant_id": str(uuid.uuid4())}, headers=auth)
        assert foreign.status_code == 403
        ok = await http.post(url, json=GOOD, headers=auth)
        assert ok.status_code == 202


def created(job_id: str, event_id: str | None = None, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {**GOOD, "payload": {**GOOD["payload"], "job_id": job_id, **changes}}
    if event_id:
        event["event_id"] = event_id
    return event


async def test_batch_with_mixed_events_and_duplicate_ids(
    pipeline: Endpoints, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    url = f"{pipeline.url('ingest')}/v1/job-events"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    batch = {
        "events": [
            created("b-1", first),
            created("b-2", title=""),  # rejected, alone
            created("b-3", second),
            created("b-1", first),  # the same event twice in one batch
        ]
    }
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json=batch, headers=auth)
        assert response.status_code == 202, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "duplicate"]
        assert results[1]["errors"][0]["field"] == "payload.title"
        # Resent later (a client retry): accepted again, nothing new published.
        again = await http.post(url, json={"events": [created("b-1", first)]}, headers=auth)
        assert again.json()["results"][0]["status"] == "duplicate"
        assert again.json()["accepted"] == [first]
    stored = await db.fetchval(
        "SELECT count(*) FROM ingest.accepted_events WHERE event_id = ANY($1::uuid[])",
        [uuid.UUID(first), uuid.UUID(second)],
    )
    assert stored == 2


async def test_rate_limit_answers_429_with_retry_after(
    pipeline: Endpoints, auth: dict[str, str]
) -> None:
    url = f"{pipeline.url('ingest')}/v1/job-events"
    async with httpx.AsyncClient(timeout=30) as http:
        big = {"events": [created(f"rl-{n}") for n in range(500)]}
        assert (await http.post(url, json=big, headers=auth)).status_code == 202
        over = await http.post(
            url, json={"events": [created(f"rl2-{n}") for n in range(200)]}, headers=auth
        )
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) >= 1
        too_many = await http.post(
            url, json={"events": [created(f"x-{n}") for n in range(501)]}, headers=auth
        )
        assert too_many.status_code == 413, too_many.text
