"""Shared helpers for the graph sandbox tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

V = "/v24.0"
TOKEN = "test-token-123"
PAGE = "1001"
IG = "17841400000000001"
IMAGE = "https://cdn.example.com/jobs/offer.jpg"
VIDEO = "https://cdn.example.com/jobs/offer.mp4"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of a Graph error response."""
    body = response.json()
    assert "error" in body, body
    error: dict[str, Any] = body["error"]
    return error


async def post(
    client: httpx.AsyncClient, path: str, token: str | None = TOKEN, **data: Any
) -> httpx.Response:
    """Form-encoded Graph POST with the token in the body."""
    if token is not None:
        data["access_token"] = token
    return await client.post(f"{V}{path}", data=data)


async def get(
    client: httpx.AsyncClient, path: str, token: str | None = TOKEN, **params: Any
) -> httpx.Response:
    """Graph GET with the token in the query string."""
    if token is not None:
        params["access_token"] = token
    return await client.get(f"{V}{path}", params=params)


async def delete(client: httpx.AsyncClient, path: str, token: str = TOKEN) -> httpx.Response:
    """Graph DELETE with the token in the query string."""
    return await client.delete(f"{V}{path}", params={"access_token": token})


async def add_fault(client: httpx.AsyncClient, **rule: Any) -> dict[str, Any]:
    """Register a fault rule through the control API."""
    response = await client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def register(client: httpx.AsyncClient, **account: Any) -> dict[str, Any]:
    """Register an account through the control API."""
    response = await client.post("/_sandbox/accounts", json=account)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def ledger(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    """Read the ledger through the control API."""
    response = await client.get("/_sandbox/ledger", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def publish_image(client: httpx.AsyncClient, caption: str, ig: str = IG) -> str:
    """Create an image container and publish it; return the media id."""
    created = await post(client, f"/{ig}/media", image_url=IMAGE, caption=caption)
    assert created.status_code == 200, created.text
    published = await post(client, f"/{ig}/media_publish", creation_id=created.json()["id"])
    assert published.status_code == 200, published.text
    media_id: str = published.json()["id"]
    return media_id


async def check_refresh_rules(
    clock: FakeClock,
    short: str,
    long_lived: Callable[[str], Awaitable[httpx.Response]],
    refresh: Callable[[str], Awaitable[httpx.Response]],
) -> str:
    """An app login's refresh (Instagram Login, Threads): not for a short-lived token, nor
    a long-lived one under a day old; then 60 fresh days; never once expired. The
    long-lived token, expired by now."""
    day = 86_400
    assert error_of(await refresh(short))["code"] == 100  # short-lived: not refreshable
    token = str((await long_lived(short)).json()["access_token"])
    early = await refresh(token)
    assert early.status_code == 400
    assert "24 hours" in error_of(early)["message"]
    clock.advance(day + 1)
    fresh = await refresh(token)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["expires_in"] == 60 * day
    assert fresh.json()["access_token"] != token
    clock.advance(60 * day)
    expired = error_of(await refresh(token))
    assert (expired["code"], expired.get("error_subcode")) == (190, 463)
    return token
