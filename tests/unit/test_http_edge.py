"""The HTTP edge every service shares: bounded bodies, validation answers without the input,
429s for failed authentications and for reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from jobcast.auth import caller_from_bearer
from jobcast.http_edge import install_edge
from jobcast.rate_limits import RateLimiter
from jobcast.tenancy import Tenant
from services.metrics.readmodel import repo as metrics_repo
from services.metrics.readmodel.routes import read_router

MARKER = "secret-marker-7f3a"
LIMIT = 1_000


class Posting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    title: Annotated[str, Field(max_length=20)]


def edge_app() -> FastAPI:
    app = FastAPI()
    install_edge(app, max_body_bytes=LIMIT, path_limits={"/small": 100})

    @app.post("/postings")
    async def create(posting: Posting) -> dict[str, str]:
        return {"job_id": posting.job_id}

    @app.post("/small")
    async def small(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/ignores-body")
    async def ignores() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=edge_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        yield client


async def test_a_422_names_fields_and_reasons_but_never_echoes_the_input(
    http: httpx.AsyncClient,
) -> None:
    body = {"job_id": f"NOT VALID {MARKER}", "title": MARKER * 3, "extra": MARKER}
    response = await http.post("/postings", json=body)
    assert response.status_code == 422
    assert MARKER not in response.text
    detail = response.json()["detail"]
    assert {tuple(e["loc"]) for e in detail} == {
        ("body", "job_id"),
        ("body", "title"),
        ("body", "extra"),
    }
    assert all(set(e) == {"type", "loc", "msg"} for e in detail)
    assert {e["type"] for e in detail} == {"string_pattern_mismatch", "string_too_long",
                                          "extra_forbidden"}  # fmt: skip


async def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(
    http: httpx.AsyncClient,
) -> None:
    json = {"content-type": "application/json"}
    at_limit = b'{"job_id": "a", "title": "b"}'.ljust(LIMIT)
    assert (await http.post("/postings", content=at_limit, headers=json)).status_code == 200
    declared = await http.post("/postings", content=at_limit + b" ", headers=json)
    assert declared.status_code == 413
    assert declared.json() == {"detail": f"request body larger than {LIMIT} bytes"}

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"job_id": "a", "title": "' + MARKER.encode()
        for _ in range(LIMIT):  # never ends: the limit must stop it, not the end
            yield b"x" * 100

    streamed = await http.post("/postings", content=chunks(), headers=json)
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert MARKER not in streamed.text


async def test_a_path_can_have_a_tighter_limit_and_unread_bodies_cost_nothing(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/small", content=b"x" * 100)).json() == {"bytes": 100}
    small = await http.post("/small", content=b"x" * 101)
    assert small.status_code == 413
    assert small.json()["detail"] == "request body larger than 100 bytes"
    assert (await http.post("/ignores-body", content=b"x" * 10 * LIMIT)).status_code == 200


class NoKeysPool:
    """Stands in for Postgres: no key is known; counts the lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def fetchrow(self, *_: Any) -> None:
        self.lookups += 1


async def test_failed_authentications_are_limited_per_address_before_the_lookup() -> None:
    pool = NoKeysPool()
    failures = RateLimiter[str](rate=0.5, burst=5)
    resolve = caller_from_bearer(pool, failures=failures)  # type: ignore[arg-type]
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> str:
        return str((await resolve(request)).tenant.tenant_id)

    bad = {"Authorization": "Bearer jc_guessed"}
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        codes = [(await http.get("/who", headers=bad)).status_code for _ in range(8)]
        assert codes == [401] * 5 + [429] * 3
        assert pool.lookups == 5  # refused before the key was looked at
        limited = await http.get("/who", headers=bad)
        assert limited.headers["retry-after"] == "2"  # one failure back at 0.5/s
        assert "failed authentications" in limited.json()["detail"]
        assert (await http.get("/who")).status_code == 401  # no key: nothing to count
    other = httpx.ASGITransport(app=app, client=("198.51.100.4", 4000))
    async with httpx.AsyncClient(transport=other, base_url="http://edge") as http:
        assert (await http.get("/who", headers=bad)).status_code == 401  # its own bucket


async def test_reads_are_limited_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_posts(*_: Any, **__: Any) -> list[Any]:
        return []

    monkeypatch.setattr(metrics_repo, "list_posts", no_posts)
    tenants = {"a": Tenant(uuid4(), "a"), "b": Tenant(uuid4(), "b")}

    async def tenant_of(request: Request) -> Tenant:
        return tenants[request.headers["authorization"]]

    reads = RateLimiter[UUID](rate=1, burst=3)
    app = FastAPI()
    app.include_router(read_router(None, tenant_of, None, reads=reads))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        codes = [
            (await http.get("/v1/posts", headers={"authorization": "a"})).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        over = await http.get("/v1/posts", headers={"authorization": "a"})
        assert over.headers["retry-after"] == "1"
        assert (await http.get("/v1/posts", headers={"authorization": "b"})).status_code == 200
