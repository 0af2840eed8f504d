"""Instagram Login in the sandbox: dialog, code exchange, long-lived token, refresh, and the
graph.instagram.com stand-in that takes only Instagram-Login tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings

from .helpers import FakeClock, check_refresh_rules, error_of

APP_ID, SECRET, IG_ACCOUNT = "app-1", "app-secret", "17841400000000009"
REDIRECT = "https://jobs.example/cb"
DAY = 86_400


@pytest.fixture
def settings() -> SandboxSettings:
    return SandboxSettings(app_id=APP_ID, app_secret=SECRET)


async def connect(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """Through the dialog and the code exchange: (short-lived token, the exchange's entry)."""
    registered = await client.post(
        "/_sandbox/accounts",
        json={"account_id": IG_ACCOUNT, "platform": "instagram", "name": "kopi.pagi"},
    )
    assert registered.status_code == 201
    dialog = await client.get(
        "/instagram-www/oauth/authorize",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code",
                "scope": "instagram_business_basic,instagram_business_content_publish",
                "state": "st-1"},
    )  # fmt: skip
    assert dialog.status_code == 302
    location = dialog.headers["location"]
    assert location.startswith(f"{REDIRECT}?")
    assert location.endswith("#_")
    query = parse_qs(urlsplit(location.split("#", 1)[0]).query)
    assert query["state"] == ["st-1"]
    exchanged = await client.post(
        "/instagram-api/oauth/access_token",
        data={"client_id": APP_ID, "client_secret": SECRET, "grant_type": "authorization_code",
              "redirect_uri": REDIRECT, "code": query["code"][0]},
    )  # fmt: skip
    assert exchanged.status_code == 200, exchanged.text
    entry: dict[str, Any] = exchanged.json()["data"][0]
    return str(entry["access_token"]), entry


async def long_lived(client: httpx.AsyncClient, short: str) -> httpx.Response:
    return await client.get(
        "/instagram-graph/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": SECRET,
                "access_token": short},
    )  # fmt: skip


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(
        "/instagram-graph/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": token},
    )


async def test_code_exchange_gives_the_account_and_permissions_once(
    client: httpx.AsyncClient,
) -> None:
    short, entry = await connect(client)
    assert entry["user_id"] == IG_ACCOUNT
    assert entry["permissions"] == "instagram_business_basic,instagram_business_content_publish"
    assert short.startswith("IGAA")
    calls = await client.get("/_sandbox/calls", params={"operation": "ig_login.code_exchange"})
    assert [c["status"] for c in calls.json()["calls"]] == [200]


async def test_a_used_code_is_refused_in_api_instagram_shape(client: httpx.AsyncClient) -> None:
    dialog = await client.get(
        "/instagram-www/oauth/authorize",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code"},
    )
    code = parse_qs(urlsplit(dialog.headers["location"].split("#")[0]).query)["code"][0]
    form = {"client_id": APP_ID, "client_secret": SECRET, "grant_type": "authorization_code",
            "redirect_uri": REDIRECT, "code": code}  # fmt: skip
    assert (await client.post("/instagram-api/oauth/access_token", data=form)).status_code == 200
    again = await client.post("/instagram-api/oauth/access_token", data=form)
    assert again.status_code == 400
    assert again.json()["error_type"] == "OAuthException"
    assert "authorization code" in again.json()["error_message"]


async def test_long_lived_token_reads_its_account_and_publishes_on_the_instagram_host(
    client: httpx.AsyncClient,
) -> None:
    short, _ = await connect(client)
    answer = await long_lived(client, short)
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 60 * DAY
    token = answer.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get("/instagram-graph/v26.0/me", params={"fields": "user_id,username"},
                          headers=auth)  # fmt: skip
    assert me.json() == {"user_id": IG_ACCOUNT, "username": "kopi.pagi", "id": IG_ACCOUNT}
    container = await client.post(
        f"/instagram-graph/v26.0/{IG_ACCOUNT}/media",
        data={"image_url": "https://cdn.example.com/a.jpg", "caption": "Barista"}, headers=auth,
    )  # fmt: skip
    assert container.status_code == 200, container.text
    published = await client.post(
        f"/instagram-graph/v26.0/{IG_ACCOUNT}/media_publish",
        data={"creation_id": container.json()["id"]}, params={"fields": "id,permalink"},
        headers=auth,
    )  # fmt: skip
    assert published.status_code == 200
    assert published.json()["permalink"].startswith("https://www.instagram.com/p/")
    ledger = await client.get("/_sandbox/ledger", params={"account_id": IG_ACCOUNT})
    assert ledger.json()["counts"]["ig_media"] == 1


async def test_the_instagram_host_refuses_other_tokens_and_other_accounts(
    client: httpx.AsyncClient,
) -> None:
    short, _ = await connect(client)
    token = (await long_lived(client, short)).json()["access_token"]
    page_token = await client.get(
        "/instagram-graph/v26.0/me", headers={"Authorization": "Bearer some-page-token"}
    )
    assert error_of(page_token)["code"] == 190
    other = await client.post(
        "/instagram-graph/v26.0/17841400000000555/media",
        data={"image_url": "https://cdn.example.com/a.jpg"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert error_of(other)["code"] == 190


async def test_refresh_needs_a_day_old_token_and_refuses_an_expired_one(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    short, _ = await connect(client)
    await check_refresh_rules(
        clock, short, lambda t: long_lived(client, t), lambda t: refresh(client, t)
    )


async def test_aging_tokens_through_the_control_api(client: httpx.AsyncClient) -> None:
    short, _ = await connect(client)
    token = (await long_lived(client, short)).json()["access_token"]
    aged = await client.post(
        "/_sandbox/instagram/tokens/age", json={"account_id": IG_ACCOUNT, "seconds": 2 * DAY}
    )
    assert aged.json() == {"aged": 2}
    assert (await refresh(client, token)).status_code == 200


async def test_a_declined_dialog_redirects_with_the_error(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.oauth_deny = True
    dialog = await client.get(
        "/instagram-www/oauth/authorize",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code",
                "state": "s"},
    )  # fmt: skip
    query = parse_qs(urlsplit(dialog.headers["location"].split("#")[0]).query)
    assert query["error"] == ["access_denied"]
    assert "code" not in query
