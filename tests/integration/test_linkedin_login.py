"""LinkedIn's 3-legged OAuth on the real pipeline: an organization page connected through
the sandbox's consent dialog (the one the member administers, or the one the tenant
chooses), posted to, its access token refreshed with the refresh token and verified by
introspection, and an expired refresh token ending in `needs_reconnect`."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from devtools.demo import DEMO_LINKEDIN, connect_linkedin
from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from services.distributor.repo import migrate_distributor
from tests.harness import FAST_TIMERS, RunningPipeline
from tests.integration.helpers import job_event, wait_for_posts
from tests.integration.logins import dialog_query, row_of, through_dialog
from tests.integration.logins import verify as verify_connection
from tests.integration.metrics_support import eventually
from tests.integration.test_metrics_webhooks import operator_tenant

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

START = "/v1/connections/linkedin/start"
CALLBACK = "/v1/connections/linkedin/callback"
DAY = 86_400


async def control(http: httpx.AsyncClient, graph: str, method: str, path: str, body: Any) -> Any:
    response = await http.request(method, f"{graph}/_sandbox/linkedin/{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def member_with_pages(http: httpx.AsyncClient, graph: str, pages: int) -> list[str]:
    """A fresh member who administers `pages` organizations and consents in the dialog."""
    member = f"member-{uuid.uuid4().hex[:8]}"
    organizations = [str(random.randint(10_000_000, 99_999_999)) for _ in range(pages)]
    for number, organization in enumerate(organizations, start=1):
        await control(http, graph, "POST", "organizations", {
            "organization_id": organization, "name": f"Warung Ibu {number}", "admins": [member],
        })  # fmt: skip
    await control(http, graph, "PATCH", "oauth", {"consenting_member": member, "deny": False})
    return organizations


async def verify(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], connection_id: str
) -> dict[str, Any]:
    response = await verify_connection(http, pipeline, auth, connection_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_linkedin_oauth_connects_posts_refreshes_and_verifies(
    db: asyncpg.Pool, pipeline: Endpoints, running: RunningPipeline
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    _tenant_id, _, _, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with httpx.AsyncClient(timeout=15) as http:
        [organization] = await member_with_pages(http, graph, 1)

        # LinkedIn's dialog, with the app, the callback and the organization scopes.
        query = await dialog_query(
            http, pipeline, auth, START, f"{graph}/linkedin-www/oauth/v2/authorization"
        )
        assert query["client_id"] == [FAST_TIMERS["GRAPH_APP_ID"]]
        assert query["redirect_uri"] == [f"{distributor}{CALLBACK}"]
        assert query["scope"] == [
            "w_organization_social r_organization_social rw_organization_admin"
        ]

        # One organization administered: connected at once, both tokens encrypted.
        connected, callback = await through_dialog(http, pipeline, auth, START)
        assert connected.status_code == 200, connected.text
        answer = connected.json()
        assert answer["choice"] is None
        (connection,) = answer["connections"]
        assert (connection["platform"], connection["login"], connection["account_id"]) == (
            "linkedin", "linkedin", organization,
        )  # fmt: skip
        assert connection["display_name"] == "Warung Ibu 1"
        connection_id = connection["connection_id"]
        stored = await row_of(db, connection_id)
        first_token = cipher.decrypt(bytes(stored["token_ciphertext"]))
        refresh_token = cipher.decrypt(bytes(stored["refresh_token_ciphertext"]))
        for secret in (first_token, refresh_token):
            assert secret not in connected.text
        now = datetime.now(UTC)
        assert abs(stored["token_expires_at"] - now - timedelta(days=60)) < timedelta(minutes=5)
        assert abs(stored["refresh_token_expires_at"] - now - timedelta(days=365)) < timedelta(
            minutes=5
        )
        assert (await http.get(callback)).status_code == 400  # a state is good once

        # Posted to with the token the consent gave.
        job_id = f"lio-{uuid.uuid4().hex[:8]}"
        accepted = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", headers=auth, json=job_event(job_id)
        )
        assert accepted.status_code == 202, accepted.text
        posts = await eventually(lambda: _posted(http, pipeline, auth, job_id), timeout=60)
        assert posts[0]["status"] == "posted", posts

        # Engagement: the post's likes and comments, read at each checkpoint (1 s and 3 s
        # after posting under the test timers; the likes are set well before the second).
        urn = posts[0]["platform_post_id"]
        await control(http, graph, "POST", "likes", {"post_urn": urn, "likes": 4})
        engagement = await eventually(lambda: _engagement(http, pipeline, auth, job_id), timeout=60)
        assert [s["checkpoint_seconds"] for s in engagement["history"]] == [1, 3]
        assert (engagement["likes"], engagement["comments"]) == (4, 0), engagement
        assert engagement["total_interactions"] == 4
        assert engagement["views"] is None  # LinkedIn's social actions tell no views

        # Verify: introspection says active, 60 days, the scopes publishing needs.
        checked = await verify(http, pipeline, auth, connection_id)
        assert (checked["checked"], checked["valid"], checked["expiry"]) == (True, True, "fine")
        assert checked["missing_scopes"] == []
        assert first_token not in str(checked)

        # 59 days on, the access token is refreshed with the refresh token: a new token with
        # 60 days, the refresh token's own end unchanged (LinkedIn does not extend it).
        await control(http, graph, "POST", "oauth/age", {"token": first_token,
                                                         "seconds": 59 * DAY})  # fmt: skip
        await db.execute(
            "UPDATE distributor.connections SET token_expires_at = now() + interval '1 day'"
            " WHERE connection_id = $1",
            uuid.UUID(connection_id),
        )
        refreshed = await verify(http, pipeline, auth, connection_id)
        assert (refreshed["refreshed"], refreshed["valid"], refreshed["expiry"]) == (
            True, True, "fine",
        ), refreshed  # fmt: skip
        after = await row_of(db, connection_id)
        second_token = cipher.decrypt(bytes(after["token_ciphertext"]))
        assert second_token != first_token
        assert after["token_expires_at"] - datetime.now(UTC) > timedelta(days=59)
        kept = after["refresh_token_expires_at"] - stored["refresh_token_expires_at"]
        assert abs(kept) < timedelta(minutes=1)

        # A year after the consent the refresh token is dead: LinkedIn answers invalid_grant,
        # the access token runs out, and the connection needs the member again.
        await control(http, graph, "POST", "oauth/age", {"token": refresh_token,
                                                         "seconds": 366 * DAY})  # fmt: skip
        await control(http, graph, "POST", "oauth/age", {"token": second_token,
                                                         "seconds": 61 * DAY})  # fmt: skip
        await db.execute(
            "UPDATE distributor.connections SET token_expires_at = now() - interval '1 day'"
            " WHERE connection_id = $1",
            uuid.UUID(connection_id),
        )
        dead = await verify(http, pipeline, auth, connection_id)
        assert (dead["refreshed"], dead["valid"], dead["expiry"]) == (False, False, "expired")
        assert "invalid_grant" in dead["refresh_error"]
        assert (await row_of(db, connection_id))["status"] == "needs_reconnect"

    for process in running.processes.values():
        text = process.log_file.read_text(errors="replace")
        for secret in (first_token, second_token, refresh_token):
            assert secret not in text, f"{process.name} logged a token"


async def test_a_member_with_several_pages_chooses_one(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    tenant_id, _, _, auth = await operator_tenant(db)
    _, _, _, stranger = await operator_tenant(db)
    await migrate_distributor(db)
    async with httpx.AsyncClient(timeout=15) as http:
        first, second = await member_with_pages(http, graph, 2)
        answered, _ = await through_dialog(http, pipeline, auth, START)
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert body["connections"] == []
        choice = body["choice"]
        assert {(o["organization_id"], o["name"]) for o in choice["organizations"]} == {
            (first, "Warung Ibu 1"), (second, "Warung Ibu 2"),
        }  # fmt: skip
        choose = f"{distributor}/v1/connections/linkedin/choose"
        pick = {"grant_id": choice["grant_id"], "organization_id": second}
        # Another tenant cannot use the choice, nor can an organization it did not offer.
        assert (await http.post(choose, headers=stranger, json=pick)).status_code == 404
        other = {**pick, "organization_id": "12345"}
        assert (await http.post(choose, headers=auth, json=other)).status_code == 404

        chosen = await http.post(choose, headers=auth, json=pick)
        assert chosen.status_code == 200, chosen.text
        (connection,) = chosen.json()["connections"]
        assert (connection["account_id"], connection["display_name"]) == (second, "Warung Ibu 2")
        assert (await http.post(choose, headers=auth, json=pick)).status_code == 404  # used up
        listed = await http.get(f"{distributor}/v1/connections", headers=auth)
        assert [c["account_id"] for c in listed.json()["connections"]] == [second]
        held = await db.fetchval(
            "SELECT count(*) FROM distributor.linkedin_grants WHERE tenant_id = $1", tenant_id
        )
        assert held == 0

        # A member who refuses connects nothing.
        await control(http, graph, "PATCH", "oauth", {"deny": True})
        try:
            refused, _ = await through_dialog(http, pipeline, auth, START)
        finally:
            await control(http, graph, "PATCH", "oauth", {"deny": False})
        assert refused.status_code == 400
        assert "LinkedIn Login was declined" in refused.json()["detail"]


async def _engagement(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str
) -> dict[str, Any] | None:
    [post] = await wait_for_posts(http, pipeline, auth, job_id, 1)
    engagement: dict[str, Any] | None = post["engagement"]
    return engagement if engagement and len(engagement["history"]) == 2 else None


async def _posted(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str
) -> list[dict[str, Any]] | None:
    posts = await wait_for_posts(http, pipeline, auth, job_id, 1)
    return posts if posts[0]["status"] in ("posted", "failed") else None


async def test_the_demo_connects_its_linkedin_page_through_the_dialog(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    _, _, _, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with httpx.AsyncClient(timeout=15) as http:
        assert await connect_linkedin(http, pipeline, auth) == 1
        assert await connect_linkedin(http, pipeline, auth) == 0  # a second run: the same one
        listed = await http.get(f"{pipeline.url('distributor')}/v1/connections", headers=auth)
    [connection] = listed.json()["connections"]
    assert (connection["platform"], connection["account_id"], connection["status"]) == (
        "linkedin", DEMO_LINKEDIN[0], "active",
    )  # fmt: skip
