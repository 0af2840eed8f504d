"""The distributor's Graph calls for connections, and how token health is judged."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aiohttp
import httpx
import pytest
from pydantic import SecretStr

from jobcast.graph.client import GraphError
from jobcast.graph.login import AppNotConfiguredError, FacebookGraph, TokenInfo
from jobcast.graph.session import graph_session
from jobcast_cli.connections import describe
from schemas.platforms import Platform
from services.distributor.models import Connection
from services.distributor.verification import Health, VerifyOutcome, assess
from tests.graph_stub import Handler, graph_stub

APP_SECRET = "s3cret-app"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
ALL_SCOPES = frozenset(
    {"pages_manage_posts", "pages_read_engagement", "instagram_basic", "instagram_content_publish"}
)


@asynccontextmanager
async def graph(handler: Handler, *, configured: bool = True) -> AsyncIterator[FacebookGraph]:
    async with graph_stub(handler) as http:
        yield facebook_graph(http, configured=configured)


def facebook_graph(http: aiohttp.ClientSession, *, configured: bool = True) -> FacebookGraph:
    return FacebookGraph(
        http,
        version="v24.0",
        app_id="42" if configured else None,
        app_secret=SecretStr(APP_SECRET) if configured else None,
    )


async def test_code_exchange_then_long_lived_token() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "code" in request.url.params:
            return httpx.Response(200, json={"access_token": "short", "token_type": "bearer"})
        return httpx.Response(200, json={"access_token": "long", "expires_in": 5184000})

    async with graph(handle) as client:
        assert await client.exchange_code("the-code", "https://cb") == "short"
        assert await client.long_lived_user_token("short") == "long"
    first, second = seen
    assert first.url.path == "/v24.0/oauth/access_token"
    assert dict(first.url.params) == {
        "client_id": "42",
        "client_secret": APP_SECRET,
        "redirect_uri": "https://cb",
        "code": "the-code",
    }
    assert second.url.params["grant_type"] == "fb_exchange_token"
    assert second.url.params["fb_exchange_token"] == "short"


async def test_pages_carry_page_tokens_and_instagram_links_with_appsecret_proof() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "data": [
                    {"id": "1", "name": "A", "access_token": "pt-1",
                     "instagram_business_account": {"id": "ig-1"}},
                    {"id": "2", "name": "B", "access_token": "pt-2"},
                ]
            },
        )  # fmt: skip

    async with graph(handle) as client:
        pages = await client.pages("user-token")
    assert [(p.page_id, p.access_token, p.instagram_id) for p in pages] == [
        ("1", "pt-1", "ig-1"),
        ("2", "pt-2", None),
    ]
    [request] = seen
    assert request.url.path == "/v24.0/me/accounts"
    assert request.headers["authorization"] == "Bearer user-token"
    expected = hmac.new(APP_SECRET.encode(), b"user-token", hashlib.sha256).hexdigest()
    assert request.url.params["appsecret_proof"] == expected
    assert "instagram_business_account" in request.url.params["fields"]


async def test_pages_follow_the_next_cursor() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if "after" not in request.url.params:
            return httpx.Response(
                200,
                json={
                    "data": [{"id": "1", "access_token": "a"}],
                    "paging": {"cursors": {"after": "c1"}, "next": "https://graph/next"},
                },
            )
        assert request.url.params["after"] == "c1"
        return httpx.Response(200, json={"data": [{"id": "2", "access_token": "b"}]})

    async with graph(handle) as client:
        pages = await client.pages("u")
    assert [p.page_id for p in pages] == ["1", "2"]
    assert calls == 2


async def test_debug_token_uses_the_app_token_and_reads_expiry_and_scopes() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"data": {"is_valid": True, "expires_at": 1_900_000_000,
                           "scopes": ["pages_manage_posts"]}},
        )  # fmt: skip

    async with graph(handle) as client:
        info = await client.debug_token("page-token")
    assert info == TokenInfo(
        True, datetime.fromtimestamp(1_900_000_000, UTC), frozenset({"pages_manage_posts"})
    )
    assert seen[0].url.params["input_token"] == "page-token"
    assert seen[0].headers["authorization"] == f"Bearer 42|{APP_SECRET}"


async def test_expires_at_zero_means_no_expiry() -> None:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": {"is_valid": True, "expires_at": 0}})

    async with graph(handle) as client:
        assert (await client.debug_token("t")).expires_at is None


async def test_graph_errors_are_clear_and_never_carry_secrets() -> None:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"error": {"message": f"Bad code the-code for secret {APP_SECRET}",
                            "code": 100, "error_subcode": 36009}},
        )  # fmt: skip

    async with graph(handle) as client:
        with pytest.raises(GraphError) as caught:
            await client.exchange_code("the-code", "https://cb")
    assert (caught.value.code, caught.value.subcode) == (100, 36009)
    text = str(caught.value)
    assert "code exchange" in text
    assert "the-code" not in text
    assert APP_SECRET not in text


async def test_transport_failures_become_graph_errors() -> None:
    # Nothing listens on the port: the connection is refused.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with graph_session(f"http://127.0.0.1:{port}", timeout_seconds=5.0) as http:
        with pytest.raises(GraphError, match="unreachable") as caught:
            await facebook_graph(http).pages("token-xyz")
    assert "token-xyz" not in str(caught.value)


async def test_an_unconfigured_app_cannot_exchange_or_debug() -> None:
    async with graph(lambda _: httpx.Response(500), configured=False) as client:
        assert not client.configured
        with pytest.raises(AppNotConfiguredError):
            await client.exchange_code("c", "https://cb")
        with pytest.raises(AppNotConfiguredError):
            await client.debug_token("t")


def info(*, valid: bool = True, expires: datetime | None = None, **kw: object) -> TokenInfo:
    scopes = kw.get("scopes", ALL_SCOPES)
    assert isinstance(scopes, frozenset)
    return TokenInfo(valid, expires, scopes, str(kw.get("error", "")))


def test_a_valid_token_without_expiry_is_healthy() -> None:
    health = assess(info(), Platform.FACEBOOK, now=NOW, warning=WEEK)
    assert health == Health(True, None, (), False, "")


def test_an_invalid_token_needs_reconnect_with_metas_reason() -> None:
    health = assess(
        info(valid=False, error="Error validating access token"),
        Platform.INSTAGRAM,
        now=NOW,
        warning=WEEK,
    )
    assert not health.valid
    assert health.problem == "Error validating access token"
    assert not health.expiring


def test_a_token_past_its_expiry_is_invalid_even_if_meta_says_valid() -> None:
    health = assess(
        info(expires=NOW - timedelta(seconds=1)), Platform.FACEBOOK, now=NOW, warning=WEEK
    )
    assert not health.valid
    assert health.problem == "token expired"


@pytest.mark.parametrize(
    ("left", "expiring"),
    [(timedelta(days=6), True), (WEEK, True), (WEEK + timedelta(seconds=1), False)],
)
def test_expiry_within_the_warning_window_is_flagged(left: timedelta, expiring: bool) -> None:
    health = assess(info(expires=NOW + left), Platform.FACEBOOK, now=NOW, warning=WEEK)
    assert health.valid
    assert health.expiring is expiring
    assert health.expires_at == NOW + left


def test_missing_scopes_are_named_per_platform() -> None:
    only_pages = frozenset({"pages_manage_posts", "pages_read_engagement"})
    assert assess(info(scopes=only_pages), Platform.FACEBOOK, now=NOW, warning=WEEK).problem == ""
    ig = assess(info(scopes=only_pages), Platform.INSTAGRAM, now=NOW, warning=WEEK)
    assert ig.valid
    assert ig.missing_scopes == ("instagram_basic", "instagram_content_publish")
    assert ig.problem == "missing scopes: instagram_basic, instagram_content_publish"


def test_the_cli_line_says_valid_expiry_scopes_and_what_changed() -> None:
    connection = Connection(uuid4(), uuid4(), Platform.INSTAGRAM, "ig-1", "", "active")
    dead = assess(info(valid=False, error="revoked"), Platform.INSTAGRAM, now=NOW, warning=WEEK)
    line = describe(VerifyOutcome(connection, dead, marked_needs_reconnect=True))
    assert "INVALID" in line
    assert "revoked" in line
    assert "needs_reconnect" in line
    soon = assess(info(expires=NOW + timedelta(days=2)), Platform.INSTAGRAM, now=NOW, warning=WEEK)
    line = describe(VerifyOutcome(connection, soon, warned_expiring=True))
    assert "valid" in line
    assert "expires=2026-03-03 00:00Z" in line
    assert "missing_scopes=-" in line
    assert "expiry warning" in line
    unchecked = describe(VerifyOutcome(connection, None, error="debug_token failed"))
    assert "unchecked" in unchecked
