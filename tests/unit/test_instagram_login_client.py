"""The Instagram Login client and the choice of Graph host per login kind."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from jobcast.graph.hosts import GraphHosts, LoginKind
from jobcast.graph.user_login import UserLoginError, UserTokenLogin
from tests.graph_stub import graph_stub

SECRET = "ig-app-secret"


def login_client(http: object, base: str) -> UserTokenLogin:
    return UserTokenLogin(
        http,  # type: ignore[arg-type]
        graph_url=f"{base}/instagram-graph",
        token_url=f"{base}/instagram-api",
        version="v26.0",
        app_id="ig-app",
        app_secret=SecretStr(SECRET),
    )


def base_of(http: object) -> str:
    return str(http._base_url).rstrip("/")  # type: ignore[attr-defined]


async def test_code_exchange_long_lived_and_profile_on_their_hosts() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/instagram-api/oauth/access_token":
            return httpx.Response(200, json={"data": [{
                "access_token": "short-tok", "user_id": 1784,
                "permissions": "instagram_business_basic,instagram_business_content_publish",
            }]})  # fmt: skip
        if path == "/instagram-graph/access_token":
            return httpx.Response(200, json={"access_token": "long-tok", "expires_in": 5184000})
        return httpx.Response(200, json={"user_id": "1784", "username": "kopi", "id": "1784"})

    async with graph_stub(handle) as http:
        client = login_client(http, base_of(http))
        grant = await client.exchange_code("the-code", "https://cb")
        long_lived = await client.long_lived(grant.token)
        profile = await client.profile(long_lived.token)
    assert (grant.user_id, sorted(grant.scopes)) == (
        "1784",
        ["instagram_business_basic", "instagram_business_content_publish"],
    )
    assert (long_lived.token, long_lived.expires_in_seconds) == ("long-tok", 5184000)
    assert (profile.user_id, profile.username) == ("1784", "kopi")
    exchange, swap, me = seen
    assert exchange.method == "POST"
    form = parse_qs(exchange.content.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["the-code"]
    assert swap.url.params["grant_type"] == "ig_exchange_token"
    assert me.url.path == "/instagram-graph/v26.0/me"
    assert me.headers["authorization"] == "Bearer long-tok"
    assert "long-tok" not in repr(long_lived)
    assert "short-tok" not in repr(grant)


@pytest.mark.parametrize(
    "answer",
    [
        {"error": {"message": "bad token tok-123 for secret ig-app-secret", "code": 190}},
        {"error_type": "OAuthException", "code": 400, "error_message": "tok-123 refused"},
    ],
)
async def test_refusals_carry_the_code_and_no_secret(answer: dict[str, object]) -> None:
    async with graph_stub(lambda _: httpx.Response(400, json=answer)) as http:
        client = login_client(http, base_of(http))
        with pytest.raises(UserLoginError) as refused:
            await client.refresh("tok-123")
    assert "tok-123" not in str(refused.value)
    assert SECRET not in str(refused.value)
    assert refused.value.code in (190, 400)


async def test_each_login_kind_calls_its_own_host() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1"})

    async with graph_stub(handle) as http:
        hosts = GraphHosts(
            http, "v26.0", SecretStr("meta-secret"),
            instagram_url=f"{base_of(http)}/instagram-graph",
        )  # fmt: skip
        await hosts.for_login(LoginKind.FACEBOOK).call("GET", "123", "fb-tok")
        await hosts.for_login(LoginKind.INSTAGRAM).call("GET", "123", "ig-tok")
    facebook, instagram = seen
    assert facebook.url.path == "/v26.0/123"
    assert "appsecret_proof" in facebook.url.params
    assert instagram.url.path == "/instagram-graph/v26.0/123"
    assert "appsecret_proof" not in instagram.url.params
