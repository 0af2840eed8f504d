"""Threads connections and insights: the login client's dialect, what a Threads token must
grant, the CLI's choice of login, and insights read into jobcast's counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs
from uuid import uuid4

import httpx
import pytest
import typer
from pydantic import SecretStr

from jobcast.graph.client import GraphClient
from jobcast.graph.hosts import LoginKind
from jobcast.graph.login import TokenInfo
from jobcast.graph.user_login import THREADS, UserLoginError, UserTokenLogin
from jobcast_cli.connections import login_for
from schemas.platforms import Platform
from services.distributor.verification import assess, required_scopes
from services.metrics.engagement.collector import EngagementCollector
from services.metrics.engagement.domain import THREADS_INSIGHTS, threads_engagement
from services.metrics.engagement.repo import DueCheckpoint
from tests.graph_stub import graph_stub

NOW = datetime(2026, 9, 1, tzinfo=UTC)
SECRET = "threads-app-secret"


def threads_client(http: object) -> UserTokenLogin:
    base = str(http._base_url).rstrip("/")  # type: ignore[attr-defined]
    return UserTokenLogin(
        http,  # type: ignore[arg-type]
        graph_url=f"{base}/threads-graph",
        token_url=f"{base}/threads-graph",
        version="v1.0",
        app_id="th-app",
        app_secret=SecretStr(SECRET),
        dialect=THREADS,
    )


async def test_code_exchange_long_lived_refresh_and_me_speak_threads() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/threads-graph/oauth/access_token":
            return httpx.Response(200, json={"access_token": "short-tok", "user_id": 2604})
        if path in ("/threads-graph/access_token", "/threads-graph/refresh_access_token"):
            return httpx.Response(
                200,
                json={"access_token": "long-tok", "token_type": "bearer", "expires_in": 5183944},
            )
        return httpx.Response(200, json={"id": "2604", "username": "kopikita"})

    async with graph_stub(handle) as http:
        client = threads_client(http)
        grant = await client.exchange_code("the-code", "https://cb")
        long_lived = await client.long_lived(grant.token)
        refreshed = await client.refresh(long_lived.token)
        profile = await client.profile(refreshed.token)
    assert (grant.user_id, grant.scopes) == ("2604", frozenset())  # Threads names none
    assert refreshed.expires_in_seconds == 5183944
    assert (profile.user_id, profile.username) == ("2604", "kopikita")
    exchange, swap, refresh, me = seen
    assert parse_qs(exchange.content.decode())["client_secret"] == [SECRET]
    assert swap.url.params["grant_type"] == "th_exchange_token"
    assert refresh.url.params["grant_type"] == "th_refresh_token"
    assert me.url.path == "/threads-graph/v1.0/me"
    assert me.url.params["fields"] == "id,username"


async def test_a_refusal_names_threads_and_carries_no_secret() -> None:
    answer = {
        "error": {"message": f"bad tok-9 for {SECRET}", "code": 190, "type": "OAuthException"}
    }
    async with graph_stub(lambda _: httpx.Response(400, json=answer)) as http:
        with pytest.raises(UserLoginError) as refused:
            await threads_client(http).refresh("tok-9")
    assert refused.value.code == 190
    assert "tok-9" not in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_threads_token_must_grant_basic_and_publish() -> None:
    assert required_scopes(Platform.THREADS, LoginKind.THREADS) == (
        "threads_basic",
        "threads_content_publish",
    )
    info = TokenInfo(True, NOW + timedelta(days=50), frozenset({"threads_basic"}))
    health = assess(
        info, Platform.THREADS, now=NOW, warning=timedelta(days=7), login=LoginKind.THREADS
    )
    assert health.missing_scopes == ("threads_content_publish",)
    assert health.problem == "missing scopes: threads_content_publish"


def test_the_cli_connects_threads_accounts_with_threads_login_only() -> None:
    assert login_for(Platform.THREADS, None) is LoginKind.THREADS
    assert login_for(Platform.FACEBOOK, None) is LoginKind.FACEBOOK
    assert login_for(Platform.INSTAGRAM, LoginKind.INSTAGRAM) is LoginKind.INSTAGRAM
    with pytest.raises(typer.BadParameter):
        login_for(Platform.THREADS, LoginKind.FACEBOOK)
    with pytest.raises(typer.BadParameter):
        login_for(Platform.INSTAGRAM, LoginKind.THREADS)


def test_threads_insights_become_jobcasts_counts() -> None:
    insights = {"views": 1200, "likes": 40, "replies": 6, "reposts": 3, "quotes": 1}
    metrics, raw = threads_engagement(insights)
    assert (metrics.views, metrics.likes, metrics.comments) == (1200, 40, 6)
    assert (metrics.reposts, metrics.quotes, metrics.total_interactions) == (3, 1, 50)
    assert metrics.shares is None
    assert raw == insights
    empty, _ = threads_engagement({})
    assert empty.total_interactions is None


async def test_the_collector_asks_threads_for_its_five_metrics() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = [
            {"name": name, "period": "lifetime", "values": [{"value": value}]}
            for name, value in zip(THREADS_INSIGHTS, (90, 7, 2, 1, 0), strict=True)
        ]
        return httpx.Response(200, json={"data": data})

    due = DueCheckpoint("pk_" + "a" * 32, 3600, uuid4(), "j-1", uuid4(), "threads", "1799", NOW, 0)
    collector = EngagementCollector.__new__(EngagementCollector)  # _read uses no state
    async with graph_stub(handle) as http:
        base = str(http._base_url).rstrip("/")
        graph = GraphClient(http, "v1.0", None, base_url=f"{base}/threads-graph")
        metrics, raw = await collector._read(graph, due, "th-token")
    (request,) = seen
    assert request.url.path == "/threads-graph/v1.0/1799/insights"
    assert request.url.params["metric"] == "views,likes,replies,reposts,quotes"
    assert (metrics.views, metrics.likes, metrics.comments, metrics.reposts) == (90, 7, 2, 1)
    assert metrics.quotes == 0
    assert raw["replies"] == 2
