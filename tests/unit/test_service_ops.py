"""`/readyz` tells the truth about consumers that keep failing, with the reason in the body,
and `/metrics` exports the stalled gauge as of the scrape."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from jobcast.service import NotReady, add_ops_routes
from jobcast.stalls import STALLS


async def always() -> bool:
    return True


async def test_a_stalled_consumer_makes_readyz_503_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(STALLS, "stall_seconds", 0.05)
    app = FastAPI()
    add_ops_routes(app, {"kafka": always})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
        assert (await http.get("/readyz")).status_code == 200
        STALLS.failed("ops-group", "jobs.events", 0, ConnectionRefusedError(111, "refused"))
        time.sleep(0.06)
        STALLS.failed("ops-group", "jobs.events", 0, ConnectionRefusedError(111, "refused"))
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["failed"] == ["stalls"]
        [stall] = body["reasons"]["stalls"]
        assert stall["group"] == "ops-group"
        assert stall["topic"] == "jobs.events"
        assert stall["error"] == "ConnectionRefusedError"
        assert stall["since"].endswith("+00:00")
        exposition = (await http.get("/metrics")).text
        assert 'jobcast_consumer_stalled{group="ops-group",topic="jobs.events"} 1.0' in exposition

        STALLS.recovered("ops-group", "jobs.events", 0)
        assert (await http.get("/readyz")).status_code == 200
        exposition = (await http.get("/metrics")).text
        assert 'jobcast_consumer_stalled{group="ops-group",topic="jobs.events"} 0.0' in exposition


async def test_a_check_can_say_why_it_is_not_ready() -> None:
    async def database() -> bool:
        raise NotReady("replica lag 40 s")

    app = FastAPI()
    add_ops_routes(app, {"postgres": database, "kafka": always})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["reasons"] == {"postgres": "replica lag 40 s"}
    assert ready.json()["checks"] == ["postgres", "kafka", "stalls"]
