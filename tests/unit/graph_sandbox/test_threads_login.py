"""Threads' OAuth and insights in the sandbox: dialog, code exchange, th_exchange_token,
th_refresh_token (24 h at least, never expired), /me, tokens that publish for their own
profile only, and a post's insights."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings

from .helpers import FakeClock, check_refresh_rules, error_of

APP_ID, SECRET, PROFILE = "app-1", "app-secret", "26040000000000009"
REDIRECT = "https://jobs.example/cb"
DAY = 86_400
GRAPH = "/threads-graph"


@pytest.fixture
def settings() -> SandboxSettings:
    return SandboxSettings(app_id=APP_ID, app_secret=SECRET)


async def code_of(client: httpx.AsyncClient, scope: str = "threads_basic") -> str:
    dialog = await client.get(
        "/threads-www/oauth/authorize",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code",
                "scope": scope, "state": "st-1"},
    )  # fmt: skip
    assert dialog.status_code == 302, dialog.text
    location = dialog.headers["location"]
    assert location.startswith(f"{REDIRECT}?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def exchange_form(code: str) -> dict[str, str]:
    return {"client_id": APP_ID, "client_secret": SECRET, "grant_type": "authorization_code",
            "redirect_uri": REDIRECT, "code": code}  # fmt: skip


async def connect(client: httpx.AsyncClient) -> str:
    """Register the profile, consent, exchange the code: the short-lived token."""
    registered = await client.post(
        "/_sandbox/accounts",
        json={"account_id": PROFILE, "platform": "threads", "name": "kopi.kita",
              "token": "registered-token"},
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    code = await code_of(client, "threads_basic,threads_content_publish")
    exchanged = await client.post(f"{GRAPH}/oauth/access_token", data=exchange_form(code))
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    assert body["user_id"] == int(PROFILE)
    assert set(body) == {"access_token", "user_id"}  # Threads names no scopes
    return str(body["access_token"])


async def long_lived(client: httpx.AsyncClient, short: str) -> httpx.Response:
    return await client.get(
        f"{GRAPH}/access_token",
        params={"grant_type": "th_exchange_token", "client_secret": SECRET,
                "access_token": short},
    )  # fmt: skip


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(
        f"{GRAPH}/refresh_access_token",
        params={"grant_type": "th_refresh_token", "access_token": token},
    )


async def test_a_code_is_good_once_and_for_its_redirect_only(client: httpx.AsyncClient) -> None:
    code = await code_of(client)
    wrong = await client.post(
        f"{GRAPH}/oauth/access_token", data={**exchange_form(code), "redirect_uri": "https://x"}
    )
    assert error_of(wrong)["code"] == 100
    assert (await client.post(f"{GRAPH}/oauth/access_token", data=exchange_form(code))).is_success
    again = await client.post(f"{GRAPH}/oauth/access_token", data=exchange_form(code))
    assert "authorization code" in error_of(again)["message"]
    bad_secret = await client.post(
        f"{GRAPH}/oauth/access_token",
        data={**exchange_form(await code_of(client)), "client_secret": "nope"},
    )
    assert error_of(bad_secret)["code"] == 100


async def test_the_long_lived_token_reads_me_and_publishes_for_its_profile(
    client: httpx.AsyncClient,
) -> None:
    short = await connect(client)
    answer = await long_lived(client, short)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["expires_in"], answer.json()["token_type"]) == (60 * DAY, "bearer")
    token = answer.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get(f"{GRAPH}/v1.0/me", params={"fields": "id,username"}, headers=auth)
    assert me.json() == {"id": PROFILE, "username": "kopi.kita"}
    container = await client.post(
        f"{GRAPH}/v1.0/{PROFILE}/threads",
        data={"media_type": "TEXT", "text": "Barista wanted"}, headers=auth,
    )  # fmt: skip
    assert container.status_code == 200, container.text
    published = await client.post(
        f"{GRAPH}/v1.0/{PROFILE}/threads_publish",
        data={"creation_id": container.json()["id"]}, headers=auth,
    )  # fmt: skip
    assert published.status_code == 200, published.text
    other = await client.post(
        f"{GRAPH}/v1.0/26040000000000555/threads",
        data={"media_type": "TEXT", "text": "x"}, headers=auth,
    )  # fmt: skip
    assert error_of(other)["code"] == 190  # its own profile only
    assert (await long_lived(client, token)).status_code == 400  # long-lived: no exchange


async def test_refresh_needs_a_day_old_token_and_refuses_an_expired_one(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    short = await connect(client)
    token = await check_refresh_rules(
        clock, short, lambda t: long_lived(client, t), lambda t: refresh(client, t)
    )
    me = await client.get(f"{GRAPH}/v1.0/me", headers={"Authorization": f"Bearer {token}"})
    assert error_of(me)["code"] == 190


async def test_aging_tokens_through_the_control_api(client: httpx.AsyncClient) -> None:
    token = (await long_lived(client, await connect(client))).json()["access_token"]
    aged = await client.post(
        "/_sandbox/threads/tokens/age", json={"account_id": PROFILE, "seconds": 2 * DAY}
    )
    assert aged.json() == {"aged": 2}
    assert (await refresh(client, token)).status_code == 200


async def test_a_declined_dialog_redirects_with_the_error(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.oauth_deny = True
    dialog = await client.get(
        "/threads-www/oauth/authorize",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code",
                "scope": "threads_basic", "state": "s"},
    )  # fmt: skip
    query = parse_qs(urlsplit(dialog.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert "code" not in query


async def test_a_posts_insights_count_its_replies(client: httpx.AsyncClient) -> None:
    token = (await long_lived(client, await connect(client))).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    async def post(**fields: str) -> str:
        made = await client.post(f"{GRAPH}/v1.0/{PROFILE}/threads", data=fields, headers=auth)
        assert made.status_code == 200, made.text
        published = await client.post(
            f"{GRAPH}/v1.0/{PROFILE}/threads_publish",
            data={"creation_id": made.json()["id"]}, headers=auth,
        )  # fmt: skip
        assert published.status_code == 200, published.text
        return str(published.json()["id"])

    media = await post(media_type="TEXT", text="Barista wanted")
    await post(media_type="TEXT", text="Apply today", reply_to_id=media)
    metrics = "views,likes,replies,reposts,quotes"
    answer = await client.get(
        f"{GRAPH}/v1.0/{media}/insights", params={"metric": metrics}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [item["name"] for item in data] == metrics.split(",")
    values = {item["name"]: item["values"][0]["value"] for item in data}
    assert values["replies"] == 1
    assert all(isinstance(v, int) and v >= 0 for v in values.values())
    again = await client.get(
        f"{GRAPH}/v1.0/{media}/insights", params={"metric": metrics}, headers=auth
    )
    assert again.json() == answer.json()  # the same numbers for the same post
    unknown = await client.get(
        f"{GRAPH}/v1.0/{media}/insights", params={"metric": "impressions"}, headers=auth
    )
    assert "must be one of" in error_of(unknown)["message"]


async def test_me_answers_for_a_token_not_issued_by_the_login_as_the_facebook_host_does(
    client: httpx.AsyncClient,
) -> None:
    # A token added by hand (jobcast connections add) publishes for its profile, so it must
    # also read the profile: the distributor's check reads /me and would otherwise mark a
    # working connection as needing a reconnect.
    registered = await client.post(
        "/_sandbox/accounts",
        json={"account_id": "th-by-hand", "platform": "threads", "token": "hand-token"},
    )
    assert registered.status_code < 300, registered.text
    me = await client.get(
        f"{GRAPH}/v1.0/me", params={"fields": "id"},
        headers={"Authorization": "Bearer hand-token"},
    )  # fmt: skip
    assert me.status_code == 200, me.text
    assert me.json() == {"id": "th-by-hand"}
    await client.post("/_sandbox/tokens/revoke", json={"token": "hand-token", "subcode": 460})
    me = await client.get(f"{GRAPH}/v1.0/me", headers={"Authorization": "Bearer hand-token"})
    assert error_of(me)["code"] == 190
