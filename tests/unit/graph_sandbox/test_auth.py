"""Tokens, appsecret_proof, permissions and the OAuth / Facebook Login flow."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import httpx

from devtools.graph_sandbox import SandboxSettings

from .helpers import IG, IMAGE, PAGE, TOKEN, FakeClock, V, error_of, get, post, register

APP_ID = "1234567890"
SECRET = "s3cr3t-app"
REDIRECT = "https://jobcast.example.com/oauth/callback"


async def test_missing_token_is_190(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{PAGE}/feed", token=None, message="x")
    error = error_of(response)
    assert error["code"] == 190
    assert error["message"].startswith("An active access token must be used")


async def test_permissive_mode_accepts_any_token(client: httpx.AsyncClient) -> None:
    for token in ("a", "b-token", "EAA123"):
        assert (await post(client, f"/{PAGE}/feed", token=token, message=token)).status_code == 200


async def test_header_tokens(client: httpx.AsyncClient) -> None:
    for scheme in ("Bearer", "OAuth"):
        response = await client.post(
            f"{V}/{PAGE}/feed", data={"message": scheme}, headers={"Authorization": f"{scheme} t"}
        )
        assert response.status_code == 200, response.text


async def test_registered_token_is_the_only_one(client: httpx.AsyncClient) -> None:
    await register(client, account_id=PAGE, platform="facebook", token="page-token")
    ok = await post(client, f"/{PAGE}/feed", token="page-token", message="ok")
    assert ok.status_code == 200
    wrong = await post(client, f"/{PAGE}/feed", token="other", message="no")
    assert error_of(wrong)["code"] == 190
    # Reading a post of that Page with the wrong token fails too.
    read = await get(client, f"/{ok.json()['id']}", token="other")
    assert error_of(read)["code"] == 190


async def test_instagram_accepts_linked_page_token(client: httpx.AsyncClient) -> None:
    await register(
        client, account_id=PAGE, platform="facebook", token="page-token", linked_instagram_id=IG
    )
    await register(client, account_id=IG, platform="instagram")
    ok = await post(client, f"/{IG}/media", token="page-token", image_url=IMAGE)
    assert ok.status_code == 200
    wrong = await post(client, f"/{IG}/media", token="nope", image_url=IMAGE)
    assert error_of(wrong)["code"] == 190


async def test_revoked_token(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/tokens/revoke", json={"token": TOKEN, "subcode": 460})
    response = await post(client, f"/{PAGE}/feed", message="x")
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (190, 460)


async def test_appsecret_proof_verified(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.app_secret = SECRET
    proof = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    good = await post(client, f"/{PAGE}/feed", message="proof", appsecret_proof=proof)
    assert good.status_code == 200
    bad = await post(client, f"/{PAGE}/feed", message="proof", appsecret_proof="0" * 64)
    error = error_of(bad)
    assert error["code"] == 100
    assert "appsecret_proof" in error["message"]
    # Not required unless configured so.
    assert (await post(client, f"/{PAGE}/feed", message="none")).status_code == 200
    settings.require_appsecret_proof = True
    missing = await post(client, f"/{PAGE}/feed", message="none")
    assert error_of(missing)["code"] == 100


async def test_appsecret_proof_ignored_without_secret(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{PAGE}/feed", message="x", appsecret_proof="whatever")
    assert response.status_code == 200


async def test_permissions_enforced_when_listed(client: httpx.AsyncClient) -> None:
    await register(client, account_id=PAGE, platform="facebook", permissions=["pages_show_list"])
    response = await post(client, f"/{PAGE}/feed", message="x")
    assert error_of(response)["code"] == 200
    await register(client, account_id=IG, platform="instagram", permissions=["instagram_basic"])
    ig = await post(client, f"/{IG}/media", image_url=IMAGE)
    assert error_of(ig)["code"] == 10


async def _login(client: httpx.AsyncClient, state: str = "xyz") -> str:
    dialog = await client.get(
        "/dialog/oauth",
        params={
            "client_id": APP_ID,
            "redirect_uri": REDIRECT,
            "state": state,
            "scope": "pages_manage_posts,instagram_content_publish",
        },
    )
    assert dialog.status_code == 302
    location = dialog.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    assert urlsplit(location).fragment == "_=_"
    return query["code"][0]


async def test_oauth_code_exchange_and_me_accounts(
    client: httpx.AsyncClient, settings: SandboxSettings, clock: FakeClock
) -> None:
    settings.app_id = APP_ID
    settings.app_secret = SECRET
    await client.post("/_sandbox/users", json={"user_id": "u1", "name": "Recruiter"})
    await register(
        client,
        account_id=PAGE,
        platform="facebook",
        user_id="u1",
        name="Jobs Page",
        token="page-tok",
        linked_instagram_id=IG,
    )
    await register(client, account_id="3003", platform="facebook", user_id="someone-else")
    code = await _login(client)
    params = {"client_id": APP_ID, "client_secret": SECRET, "redirect_uri": REDIRECT, "code": code}
    exchanged = await client.get(f"{V}/oauth/access_token", params=params)
    body = exchanged.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5_184_000
    user_token = body["access_token"]

    reused = await client.get(f"{V}/oauth/access_token", params=params)
    assert error_of(reused)["error_subcode"] == 36009

    accounts = await get(
        client,
        "/me/accounts",
        token=user_token,
        fields="id,name,access_token,instagram_business_account",
    )
    assert accounts.json()["data"] == [
        {
            "id": PAGE,
            "name": "Jobs Page",
            "access_token": "page-tok",
            "instagram_business_account": {"id": IG},
        }
    ]
    # The user token may act for the user's Page even though the Page has its own token.
    assert (await post(client, f"/{PAGE}/feed", token=user_token, message="u")).status_code == 200

    debug = await get(client, "/debug_token", token=f"{APP_ID}|{SECRET}", input_token=user_token)
    data = debug.json()["data"]
    assert data["is_valid"] is True
    assert data["user_id"] == "u1"
    assert data["scopes"] == ["pages_manage_posts", "instagram_content_publish"]
    assert data["expires_at"] == int(clock.now + 5_184_000)

    long_lived = await client.get(
        f"{V}/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": APP_ID,
            "client_secret": SECRET,
            "fb_exchange_token": user_token,
        },
    )
    assert long_lived.json()["access_token"] != user_token

    clock.advance(5_184_000)
    expired = await post(client, f"/{PAGE}/feed", token=user_token, message="late")
    assert (error_of(expired)["code"], error_of(expired)["error_subcode"]) == (190, 463)
    debug = await get(client, "/debug_token", token="app", input_token=user_token)
    assert debug.json()["data"]["is_valid"] is False


async def test_oauth_rejects_wrong_secret_and_redirect(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.app_secret = SECRET
    code = await _login(client)
    wrong_secret = await client.get(
        f"{V}/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": "bad",
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    assert error_of(wrong_secret)["code"] == 1
    assert wrong_secret.status_code == 400
    wrong_redirect = await client.get(
        f"{V}/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": SECRET,
            "redirect_uri": REDIRECT + "x",
            "code": code,
        },
    )
    assert error_of(wrong_redirect)["error_subcode"] == 36008


async def test_oauth_dialog_can_deny(client: httpx.AsyncClient, settings: SandboxSettings) -> None:
    settings.oauth_deny = True
    dialog = await client.get(
        f"{V}/dialog/oauth", params={"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "s"}
    )
    query = parse_qs(urlsplit(dialog.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["s"]
    assert "code" not in query


async def test_page_token_me(client: httpx.AsyncClient) -> None:
    await register(client, account_id=PAGE, platform="facebook", token="pt", name="Jobs")
    me = await get(client, "/me", token="pt")
    assert me.json() == {"name": "Jobs", "id": PAGE}


async def test_login_flow_lists_pages_registered_without_user(client: httpx.AsyncClient) -> None:
    await register(client, account_id=PAGE, platform="facebook", token="pt", linked_instagram_id=IG)
    await register(client, account_id=IG, platform="instagram")  # locked by the Page's token
    code = await _login(client)
    exchanged = await client.get(
        f"{V}/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": "any",
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    user_token = exchanged.json()["access_token"]
    accounts = await get(client, "/me/accounts", token=user_token, fields="id,access_token")
    assert accounts.json()["data"] == [{"id": PAGE, "access_token": "pt"}]
    # The logged-in user's token also works on the Page's linked IG account; strangers don't.
    media = await post(client, f"/{IG}/media", token=user_token, image_url=IMAGE)
    assert media.status_code == 200
    stranger = await post(client, f"/{IG}/media", token="stranger", image_url=IMAGE)
    assert error_of(stranger)["code"] == 190
