"""LinkedIn's OAuth calls (jobcast.linkedin.login) against the LinkedIn sandbox on a
socket: the dialog's address, the code exchange, the refresh (and its refusal once the
refresh token is dead), introspection, the organizations a member administers, and no
secret in any error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from devtools.graph_sandbox import SandboxState, create_app
from devtools.graph_sandbox.server import SandboxServer
from jobcast.graph.session import graph_session
from jobcast.http_client import http_client
from jobcast.linkedin.client import LinkedInClient
from jobcast.linkedin.login import (
    LinkedInLogin,
    LinkedInLoginError,
    LoginNotConfiguredError,
    Organization,
    authorize_url,
    organization_id_of,
)

pytestmark = pytest.mark.timeout(30)

SECRET = "li-client-secret"
REDIRECT = "http://127.0.0.1:8082/v1/connections/linkedin/callback"


@dataclass
class Sandbox:
    base: str
    login: LinkedInLogin
    control: httpx.AsyncClient

    async def code(self, member: str = "member-1") -> str:
        await self.control.patch("/_sandbox/linkedin/oauth", json={"consenting_member": member})
        dialog = await self.control.get(
            authorize_url(f"{self.base}/linkedin-www/oauth/v2", client_id="cid",
                          redirect_uri=REDIRECT, state="s", scopes=["w_organization_social"])
        )  # fmt: skip
        assert dialog.status_code == 302, dialog.text
        return parse_qs(urlsplit(dialog.headers["location"]).query)["code"][0]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    state = SandboxState()
    server = SandboxServer(state, create_app(state))
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    async with (
        graph_session(f"{base}/linkedin", timeout_seconds=2.0) as api,
        http_client(timeout_seconds=2.0) as tokens,
        httpx.AsyncClient(base_url=base) as control,
    ):
        await control.patch("/_sandbox/linkedin/oauth", json={"clients": {"cid": SECRET}})
        login = LinkedInLogin(
            tokens, LinkedInClient(api, "202611"), oauth_url=f"{base}/linkedin-www/oauth/v2",
            client_id="cid", client_secret=SecretStr(SECRET),
        )  # fmt: skip
        yield Sandbox(base, login, control)
    await server.shutdown(1.0)


def test_the_dialog_asks_for_the_scopes_space_separated() -> None:
    url = authorize_url(
        "https://www.linkedin.com/oauth/v2/", client_id="cid", redirect_uri=REDIRECT,
        state="st", scopes=["w_organization_social", "r_organization_social"],
    )  # fmt: skip
    parts = urlsplit(url)
    assert f"{parts.netloc}{parts.path}" == "www.linkedin.com/oauth/v2/authorization"
    assert parse_qs(parts.query) == {
        "response_type": ["code"], "client_id": ["cid"], "redirect_uri": [REDIRECT],
        "state": ["st"], "scope": ["w_organization_social r_organization_social"],
    }  # fmt: skip


def test_organization_ids_come_from_organization_urns_only() -> None:
    assert organization_id_of("urn:li:organization:2414183") == "2414183"
    assert organization_id_of("urn:li:person:abc") is None
    assert organization_id_of("urn:li:organization:x1") is None


async def test_a_code_gives_both_tokens_and_the_members_organizations(sandbox: Sandbox) -> None:
    for number, admins in ((1, ["member-1"]), (2, ["member-1", "member-2"]), (3, ["member-2"])):
        await sandbox.control.post("/_sandbox/linkedin/organizations", json={
            "organization_id": str(100 + number), "name": f"Org {number}", "admins": admins,
        })  # fmt: skip
    now = datetime.now(UTC)
    grant = await sandbox.login.exchange_code(await sandbox.code("member-1"), REDIRECT)
    assert grant.refresh_token
    assert abs(grant.expires_at(now) - now - timedelta(days=60)) < timedelta(minutes=1)
    refresh_end = grant.refresh_expires_at(now)
    assert refresh_end is not None
    assert abs(refresh_end - now - timedelta(days=365)) < timedelta(minutes=1)
    assert grant.scopes == {"w_organization_social"}
    assert "token" not in repr(grant).replace("tokens=[redacted]", "")
    assert await sandbox.login.organizations(grant.access_token) == [
        Organization("101", "Org 1"), Organization("102", "Org 2"),
    ]  # fmt: skip

    status = await sandbox.login.introspect(grant.access_token)
    assert (status.active, status.status, status.scopes) == (
        True, "active", frozenset({"w_organization_social"}),
    )  # fmt: skip
    assert status.expires_at is not None


async def test_a_refresh_gives_a_new_token_until_the_refresh_token_dies(sandbox: Sandbox) -> None:
    grant = await sandbox.login.exchange_code(await sandbox.code(), REDIRECT)
    assert grant.refresh_token is not None
    renewed = await sandbox.login.refresh(grant.refresh_token)
    assert renewed.access_token != grant.access_token
    assert renewed.refresh_token == grant.refresh_token  # LinkedIn keeps the same one

    await sandbox.control.post(
        "/_sandbox/linkedin/oauth/age", json={"token": grant.refresh_token, "seconds": 366 * 86400}
    )
    with pytest.raises(LinkedInLoginError) as refused:
        await sandbox.login.refresh(grant.refresh_token)
    assert refused.value.grant_is_dead
    assert grant.refresh_token not in str(refused.value)
    assert SECRET not in str(refused.value)

    await sandbox.control.post(
        "/_sandbox/linkedin/oauth/age", json={"token": renewed.access_token, "seconds": 61 * 86400}
    )
    expired = await sandbox.login.introspect(renewed.access_token)
    assert (expired.active, expired.status) == (False, "expired")


async def test_a_code_is_good_once_and_the_app_must_match(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    await sandbox.login.exchange_code(code, REDIRECT)
    with pytest.raises(LinkedInLoginError) as again:
        await sandbox.login.exchange_code(code, REDIRECT)
    assert code not in str(again.value)
    await sandbox.control.patch("/_sandbox/linkedin/oauth", json={"clients": {"cid": "other"}})
    with pytest.raises(LinkedInLoginError, match="invalid_client") as wrong:
        await sandbox.login.exchange_code(await sandbox.code(), REDIRECT)
    assert SECRET not in str(wrong.value)


async def test_without_the_app_nothing_is_called() -> None:
    async with (
        http_client(timeout_seconds=1.0) as tokens,
        graph_session("http://127.0.0.1:9", timeout_seconds=1.0) as api,
    ):
        login = LinkedInLogin(
            tokens, LinkedInClient(api, "202611"), oauth_url="http://127.0.0.1:9",
            client_id=None, client_secret=None,
        )  # fmt: skip
        assert not login.configured
        with pytest.raises(LoginNotConfiguredError):
            await login.refresh("rt")


async def test_an_unreachable_linkedin_is_named_without_the_address() -> None:
    async with (
        http_client(timeout_seconds=1.0) as tokens,
        graph_session("http://127.0.0.1:9", timeout_seconds=1.0) as api,
    ):
        login = LinkedInLogin(
            tokens, LinkedInClient(api, "202611"), oauth_url="http://127.0.0.1:9/oauth/v2",
            client_id="cid", client_secret=SecretStr(SECRET),
        )  # fmt: skip
        with pytest.raises(LinkedInLoginError, match="LinkedIn unreachable") as failed:
            await login.refresh("secret-refresh-token")
        assert "secret-refresh-token" not in str(failed.value)
        with pytest.raises(LinkedInLoginError, match="listing the member's organizations"):
            await login.organizations("tok")


async def test_a_token_added_by_hand_is_active_as_the_api_takes_it(sandbox: Sandbox) -> None:
    # Permissive mode: the sandbox's API takes any token for an unregistered organization,
    # so its introspection must not call such a token dead (the distributor would mark a
    # working connection needs_reconnect).
    status = await sandbox.login.introspect("li-token-added-by-hand")
    assert (status.active, status.status) == (True, "active")
    assert "w_organization_social" in status.scopes
