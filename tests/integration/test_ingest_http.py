"""The front door's error contract, over real HTTP against the running ingest service."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast_cli.stack import Endpoints

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
        huge = b'{"x": "' + b"a" * 2_000_000 + b'"}'
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
