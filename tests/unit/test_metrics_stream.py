"""SSE streams end once their API key no longer authenticates, idle or busy, within the
re-check period; the read route re-checks against the database, past the key cache."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from jobcast.auth import tenant_from_bearer
from jobcast.rate_limits import RateLimiter
from jobcast.tenancy import hash_api_key
from services.metrics.readmodel.routes import read_router
from services.metrics.readmodel.stream import StatusHub, Subscription, live_events

pytestmark = pytest.mark.timeout(10)


class Key:
    """A key's state, as `still_authorized` reports it; counts the checks."""

    def __init__(self) -> None:
        self.live = True
        self.checks = 0

    async def still_authorized(self) -> bool:
        self.checks += 1
        return self.live


async def collect(
    subscription: Subscription, key: Key, *, keepalive: float, recheck: float
) -> list[tuple[str | None, str | None, str]]:
    """(event, comment, data) of each event until the stream ends."""
    got = []
    async for event in live_events(
        subscription,
        keepalive_seconds=keepalive,
        recheck_seconds=recheck,
        still_authorized=key.still_authorized,
    ):
        got.append((event.event, event.comment, str(event.raw_data or event.data or "")))
    return got


async def revoke_after(key: Key, seconds: float) -> float:
    await asyncio.sleep(seconds)
    key.live = False
    return asyncio.get_running_loop().time()


async def test_an_idle_stream_ends_within_the_recheck_period_after_revocation() -> None:
    key = Key()
    subscription = Subscription(uuid.uuid4(), capacity=10)
    revoking = asyncio.create_task(revoke_after(key, 0.25))
    got = await collect(subscription, key, keepalive=0.05, recheck=0.1)
    ended = asyncio.get_running_loop().time()
    assert ended - await revoking < 0.1 + 0.08
    assert got[0][1] == "connected"
    assert got[-1] == ("revoked", None, "{'reconnect': False}")
    assert [g for g in got[1:-1] if g[1] != "keep-alive"] == []


async def test_a_busy_stream_is_checked_as_often_as_an_idle_one() -> None:
    key = Key()
    subscription = Subscription(uuid.uuid4(), capacity=1000)

    async def chatter() -> None:
        while True:
            subscription.offer('{"status": "posted"}')
            await asyncio.sleep(0.005)

    feeding = asyncio.create_task(chatter())
    revoking = asyncio.create_task(revoke_after(key, 0.3))
    try:
        # Keep-alives never come due on a busy stream; the check still does.
        got = await collect(subscription, key, keepalive=60, recheck=0.1)
    finally:
        feeding.cancel()
    assert asyncio.get_running_loop().time() - await revoking < 0.1 + 0.08
    assert got[-1][0] == "revoked"
    assert sum(1 for g in got if g[0] == "post.status") > 10
    assert all(g[1] != "keep-alive" for g in got)


async def test_keep_alives_still_come_between_checks() -> None:
    key = Key()
    subscription = Subscription(uuid.uuid4(), capacity=10)
    revoking = asyncio.create_task(revoke_after(key, 0.5))
    got = await collect(subscription, key, keepalive=0.1, recheck=0.04)
    await revoking
    keepalives = sum(1 for g in got if g[1] == "keep-alive")
    assert 3 <= keepalives <= 6  # one per 0.1 s, not one per check
    assert key.checks >= 10


async def test_a_check_that_fails_ends_the_stream_without_saying_revoked() -> None:
    subscription = Subscription(uuid.uuid4(), capacity=10)

    async def broken() -> bool:
        raise asyncpg.InterfaceError("pool is closed")

    got = [
        e.event
        async for e in live_events(
            subscription, keepalive_seconds=1, recheck_seconds=0.05, still_authorized=broken
        )
    ]
    assert got == [None]  # "connected", then the end


async def test_an_overflowed_stream_still_says_so() -> None:
    key = Key()
    subscription = Subscription(uuid.uuid4(), capacity=2)
    for _ in range(3):
        subscription.offer("{}")
    got = await collect(subscription, key, keepalive=1, recheck=1)
    assert got[-1] == ("overflow", None, "{'reconnect': True}")


class KeyTable:
    """Stands in for asyncpg.Pool in `jobcast.tenancy.identify`: one tenant, one key."""

    def __init__(self, api_key: str) -> None:
        self.key_hash = hash_api_key(api_key)
        self.revoked = False
        self.lookups = 0

    async def fetchrow(self, query: str, key_hash: bytes) -> dict[str, Any] | None:
        self.lookups += 1
        if key_hash != self.key_hash or self.revoked:
            return None
        return {"tenant_id": uuid.UUID(int=7), "name": "t", "scope": "tenant", "key_prefix": "jc_x"}


async def test_the_stream_route_ends_after_revocation_though_the_key_cache_still_holds() -> None:
    api_key = "jc_" + "k" * 43
    table = KeyTable(api_key)
    app = FastAPI()
    # The key cache (30 s) outlives the test: only a check past it can end the stream.
    auth = tenant_from_bearer(
        table,  # type: ignore[arg-type]
        failures=RateLimiter(1.0, 10.0),
        cache_seconds=30,
    )
    hub = StatusHub("postgresql://unused")
    router = read_router(
        table,  # type: ignore[arg-type]
        auth,
        hub,
        reads=RateLimiter(100.0, 100.0),
        keepalive_seconds=0.05,
    )
    app.include_router(router)

    async def revoke() -> None:
        await asyncio.sleep(0.3)
        table.revoked = True

    revoking = asyncio.create_task(revoke())
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://metrics") as http,
        asyncio.timeout(5),  # the old stream never ended
    ):
        response = await http.get("/v1/stream", headers={"Authorization": f"Bearer {api_key}"})
    await revoking
    assert response.status_code == 200
    assert response.text.rstrip().endswith('event: revoked\ndata: {"reconnect": false}')
    assert table.lookups >= 2  # authenticated once, then checked again past the cache
