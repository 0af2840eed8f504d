"""The HTTP edge of the running services: events too large for Kafka, bounded bodies, 422s
that never echo the input, and 429s for failed keys and for reads."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from devtools.stack import Endpoints
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy
from jobcast.topics import JOBS_INCOMING
from schemas import headers as h
from tests.harness import FAST_TIMERS
from tests.integration.helpers import job_event
from tests.integration.test_dead_letters import dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MARKER = "edge-marker-c0ffee"
TWENTY_MB = 20 * 1024 * 1024


async def tenant_key(db: asyncpg.Pool, scope: KeyScope = KeyScope.TENANT) -> dict[str, str]:
    await migrate_tenancy(db)
    tenant, key = await create_tenant(db, f"edge-{uuid.uuid4().hex[:10]}")
    if scope is KeyScope.OPERATOR:
        key = await add_api_key(db, tenant.tenant_id, KeyScope.OPERATOR)
    return {"Authorization": f"Bearer {key}"}


MAX_EVENT_BYTES = int(FAST_TIMERS["INGEST_MAX_EVENT_BYTES"])


def oversize(job_id: str) -> dict[str, Any]:
    """A valid event over the test pipeline's event limit: every long text at its bound, in a
    character of three bytes (the contract keeps every event under the broker's own limit,
    so the size check is tried with a lower one)."""
    wide = "€" * 10_000
    settings = {"facebook": {"caption": wide}, "instagram": {"caption": wide}}
    return job_event(job_id, image_url=None, description=wide, platform_settings=settings)


def fresh(prefix: str) -> dict[str, Any]:
    return {**job_event(f"{prefix}-{uuid.uuid4().hex[:8]}"), "event_id": str(uuid.uuid4())}


async def test_an_event_too_large_for_kafka_is_rejected_alone_in_its_batch(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    auth = await tenant_key(db)
    first, last = fresh("edge-ok"), fresh("edge-ok")
    batch = {"events": [first, oversize("edge-big"), last]}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{pipeline.url('ingest')}/v1/job-events", json=batch,
                                   headers=auth)  # fmt: skip
        assert response.status_code == 202, response.text[:500]
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
        assert results[1]["errors"][0]["field"] == "body"
        assert f"over the limit of {MAX_EVENT_BYTES}" in results[1]["errors"][0]["msg"]
        alone = await http.post(f"{pipeline.url('ingest')}/v1/job-events",
                                json=oversize("edge-big-alone"), headers=auth)  # fmt: skip
        assert alone.status_code == 422
        assert "bytes as JSON" in alone.json()["detail"][0]["msg"]
    stored = await db.fetchval(
        "SELECT count(*) FROM ingest.accepted_events WHERE event_id = ANY($1::uuid[])",
        [uuid.UUID(first["event_id"]), uuid.UUID(last["event_id"])],
    )
    assert stored == 2


async def test_oversize_events_of_one_tenant_never_fail_another_tenants_requests(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    url = f"{pipeline.url('ingest')}/v1/job-events"
    noisy, steady = await tenant_key(db), await tenant_key(db)
    done = asyncio.Event()
    noisy_codes: list[int] = []
    # Too large to be accepted (before this change an event too large for the broker
    # failed the whole shared flush).
    big = json.dumps(oversize("edge-noisy"))

    async def send_oversize(http: httpx.AsyncClient) -> None:
        headers = {**noisy, "content-type": "application/json"}
        while not done.is_set():
            noisy_codes.append((await http.post(url, content=big, headers=headers)).status_code)

    codes: list[int] = []
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=250)) as http:
        noise = [asyncio.create_task(send_oversize(http)) for _ in range(6)]
        await asyncio.sleep(0.3)  # the oversize requests are under way first
        for _ in range(3):  # 200 at once, three times: their flushes meet the oversize ones
            answers = await asyncio.gather(
                *(http.post(url, json=fresh("edge-steady"), headers=steady) for _ in range(200))
            )
            codes += [a.status_code for a in answers]
        done.set()
        await asyncio.gather(*noise)
    assert codes == [202] * 600, {c: codes.count(c) for c in set(codes)}
    assert noisy_codes
    assert set(noisy_codes) == {422}


async def test_an_idle_connection_stays_open_longer_than_a_clients_pool_keeps_it(
    pipeline: Endpoints,
) -> None:
    """httpx (and most pools) reuse an idle connection for 5 s: a server that closes it at the
    same moment fails the request sent on it (uvicorn's own default is 5 s)."""
    host, port = pipeline.url("ingest").removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    async def status_of_a_request() -> bytes:
        writer.write(request)
        status = await asyncio.wait_for(reader.readline(), 10)
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return status

    try:
        assert (await status_of_a_request()).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(6)  # idle past the 5 s a client pool keeps the connection
        assert (await status_of_a_request()).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_422_answers_never_echo_the_input(pipeline: Endpoints, db: asyncpg.Pool) -> None:
    tenant, operator = await tenant_key(db), await tenant_key(db, KeyScope.OPERATOR)
    posting = job_event("edge-422")["payload"]
    async with httpx.AsyncClient(timeout=30) as http:
        answers = {
            # A validator that quotes what it refuses (an unknown time zone).
            "ingest": await http.post(
                f"{pipeline.url('ingest')}/v1/job-events",
                json=job_event("edge-422", timezone=MARKER),
                headers=tenant,
            ),
            # FastAPI's own validation (an unknown field, a pattern mismatch).
            "ingest operator": await http.post(
                f"{pipeline.url('ingest')}/v1/operator/pause",
                json={"reason": "x", "note": MARKER},
                headers=operator,
            ),
            "distributor": await http.post(
                f"{pipeline.url('distributor')}/v1/preview",
                json={**posting, "job_id": f"not valid {MARKER}"},
                headers=tenant,
            ),
            "metrics": await http.put(
                f"{pipeline.url('metrics')}/v1/webhooks",
                json={"url": "https://hooks.example.com/x", "note": MARKER},
                headers=operator,
            ),
        }
    for service, answer in answers.items():
        assert answer.status_code == 422, (service, answer.text[:300])
        assert MARKER not in answer.text, service
        assert answer.json()["detail"], service


async def test_twenty_megabyte_bodies_are_refused_unparsed(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    tenant, operator = await tenant_key(db), await tenant_key(db, KeyScope.OPERATOR)
    # Valid JSON all the way, so only the size can refuse it.
    huge = json.dumps({**job_event("edge-huge")["payload"], "description": "x" * TWENTY_MB})

    async def streamed() -> AsyncIterator[bytes]:
        yield b'{"url": "https://hooks.example.com/x", "pad": "'
        for _ in range(TWENTY_MB // 65_536):
            yield b"x" * 65_536
        yield b'"}'

    async with httpx.AsyncClient(timeout=60) as http:
        preview = await http.post(
            f"{pipeline.url('distributor')}/v1/preview",
            content=huge,
            headers={**tenant, "content-type": "application/json"},
        )
        webhook = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks",
            content=huge,
            headers={**operator, "content-type": "application/json"},
        )
        chunked = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks",
            content=streamed(),
            headers={**operator, "content-type": "application/json"},
        )
    assert "content-length" not in chunked.request.headers
    for answer in (preview, webhook, chunked):
        assert answer.status_code == 413, answer.text[:300]
        assert answer.json()["detail"].startswith("request body larger than")
        assert len(answer.content) < 200


async def test_repeated_bad_keys_are_answered_429_before_the_key_is_checked(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    good = await tenant_key(db)
    # uvicorn takes the client address from X-Forwarded-For when a local proxy sets it: an
    # address of this test's own leaves every other test's failures budget alone.
    address = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    bad = {**address, "Authorization": f"Bearer jc_guess-{uuid.uuid4().hex}"}
    ingest = f"{pipeline.url('ingest')}/v1/job-events"
    posts = f"{pipeline.url('metrics')}/v1/posts"
    async with httpx.AsyncClient(timeout=30) as http:
        codes = [(await http.post(ingest, json=fresh("edge-key"), headers=bad)).status_code
                 for _ in range(30)]  # fmt: skip
        assert codes[:20] == [401] * 20  # the burst (JOBCAST_AUTH_FAILURE_BURST)
        assert set(codes[20:]) <= {401, 429}
        assert 429 in codes[20:]
        refused = await http.post(ingest, json=fresh("edge-key"), headers=bad)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # Refused before the key is looked at: a good key from that address too.
        blocked = await http.post(ingest, json=fresh("edge-key"), headers={**good, **address})
        assert blocked.status_code == 429
        # Every other address (and every other service) keeps its own budget.
        elsewhere = {**bad, "X-Forwarded-For": "203.0.113.77"}
        assert (await http.post(ingest, json=fresh("edge-key"), headers=elsewhere)).status_code \
            == 401  # fmt: skip
        metrics_codes = [(await http.get(posts, headers=bad)).status_code for _ in range(25)]
        assert metrics_codes[:20] == [401] * 20
        assert 429 in metrics_codes[20:]


async def test_reads_over_the_tenants_limit_are_answered_429(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    busy, quiet = await tenant_key(db), await tenant_key(db)
    url = f"{pipeline.url('metrics')}/v1/posts"
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as http:
        # The test pipeline allows 100 reads at once, then 20 a second (tests/harness.py).
        answers = await asyncio.gather(
            *(http.get(url, params={"limit": 1}, headers=busy) for _ in range(300))
        )
        assert (await http.get(url, params={"limit": 1}, headers=quiet)).status_code == 200
    codes = [a.status_code for a in answers]
    assert set(codes) == {200, 429}, {c: codes.count(c) for c in set(codes)}
    assert codes.count(200) >= 100
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert "read rate limit" in limited.json()["detail"]


async def test_the_raw_topic_dead_letters_an_event_too_large_for_jobs_events(
    pipeline: Endpoints, db: asyncpg.Pool
) -> None:
    await migrate_tenancy(db)
    tenant, _ = await create_tenant(db, f"edge-{uuid.uuid4().hex[:10]}")
    # Over the event limit, under what the broker takes: jobs.incoming holds it, and the
    # relay must not hand it on.
    event = oversize("edge-raw-big")
    value = json.dumps({**event, "tenant_id": str(tenant.tenant_id)}, ensure_ascii=False).encode()
    assert MAX_EVENT_BYTES < len(value) < 1_000_000
    marker = f"edge-raw-{uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(JOBS_INCOMING, value, key=marker)
    finally:
        await producer.stop()
    [letter] = await dead_letters(pipeline.kafka_bootstrap_servers, JOBS_INCOMING, marker, 1)
    assert "bytes as JSON" in letter[h.DLQ_REASON]
    assert f"over the limit of {MAX_EVENT_BYTES}" in letter[h.DLQ_REASON]
