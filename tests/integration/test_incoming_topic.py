"""Upstream producing straight to `jobs.incoming`: good records flow, bad ones are parked."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from devtools.stack import Endpoints
from jobcast.topics import JOBS_INCOMING
from schemas import headers as h
from tests.integration.helpers import job_event, new_tenant, wait_for_posts
from tests.integration.test_dead_letters import dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def test_raw_topic_relays_good_records_and_dead_letters_the_rest(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, _ = await new_tenant(db, pipeline, instagram=False)
    tenant_id = str(
        await db.fetchval(
            "SELECT t.tenant_id FROM tenancy.tenants t JOIN tenancy.api_keys k USING (tenant_id)"
            " WHERE k.key_prefix = $1",
            auth["Authorization"].removeprefix("Bearer ")[:8],
        )
    )
    marker = f"incoming-{uuid.uuid4()}".encode()
    good = [f"raw-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    repeated_id = str(uuid.uuid4())

    def record(job_id: str, **extra: object) -> bytes:
        return json.dumps(
            {**job_event(job_id, image_url=None), "tenant_id": tenant_id, **extra}
        ).encode()

    bad = [
        b"not json at all",
        b"\xff\xfe\x00 invalid utf-8",
        json.dumps({"event_type": "job.created", "payload": {}}).encode(),  # no tenant
        json.dumps({**job_event("x"), "tenant_id": str(uuid.uuid4())}).encode(),  # unknown
        json.dumps(
            {"event_type": "job.created", "tenant_id": tenant_id, "payload": {"job_id": "x"}}
        ).encode(),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka_bootstrap_servers)
    await producer.start()
    try:
        # Good records interleaved with the bad, and one good event sent twice.
        await producer.send_and_wait(
            JOBS_INCOMING, record(good[0], event_id=repeated_id), key=marker
        )
        for value in bad[:3]:
            await producer.send_and_wait(JOBS_INCOMING, value, key=marker)
        await producer.send_and_wait(
            JOBS_INCOMING, record(good[0], event_id=repeated_id), key=marker
        )
        await producer.send_and_wait(JOBS_INCOMING, record(good[1]), key=marker)
        for value in bad[3:]:
            await producer.send_and_wait(JOBS_INCOMING, value, key=marker)
        await producer.send_and_wait(JOBS_INCOMING, record(good[2]), key=marker)
    finally:
        await producer.stop()

    letters = await dead_letters(pipeline.kafka_bootstrap_servers, JOBS_INCOMING, marker, len(bad))
    reasons = [letter[h.DLQ_REASON] for letter in letters]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("not JSON")
    assert reasons[2].startswith("tenant_id")
    assert "no tenant" in reasons[3]
    assert "payload.title" in reasons[4]
    assert all(int(letter[h.DLQ_OFFSET]) >= 0 for letter in letters)

    async with httpx.AsyncClient(timeout=10) as http:
        for job_id in good:
            posts = await wait_for_posts(http, pipeline, auth, job_id, 1)
            assert posts[0]["status"] == "posted"
    accepted = await db.fetchval(
        "SELECT count(*) FROM ingest.accepted_events WHERE event_id = $1", uuid.UUID(repeated_id)
    )
    assert accepted == 1
