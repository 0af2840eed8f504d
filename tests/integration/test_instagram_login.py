"""Instagram Login on the real pipeline: connected through the sandbox's Instagram dialog,
posted to through graph.instagram.com's stand-in, refreshed, verified per tenant; and the
token lifecycle's outbound webhooks (`connection.expiring`, `connection.expired`)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from schemas.platforms import Platform
from schemas.webhooks_out import ConnectionLifecycle, OutboundWebhook
from services.distributor.repo import add_connection, migrate_distributor
from services.metrics.webhooks.domain import verify_webhook
from tests.harness import FAST_TIMERS, RunningPipeline
from tests.integration.helpers import job_event, wait_for_posts
from tests.integration.logins import dialog_query, row_of, sandbox, through_dialog, verify
from tests.integration.metrics_support import eventually
from tests.integration.test_metrics_webhooks import operator_tenant, receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

START = "/v1/connections/instagram/start"
CALLBACK = "/v1/connections/instagram/callback"
DAY = 86_400


async def instagram_account(http: httpx.AsyncClient, graph: str) -> str:
    """A fresh Instagram professional account without a Page, the one that consents.

    It is registered with a token of its own, so the Facebook host refuses any other
    token for it: a post can only succeed through the Instagram host.
    """
    account = f"1784{uuid.uuid4().int % 10**11:011d}"
    await sandbox(http, graph, "accounts", {
        "account_id": account, "platform": "instagram", "name": "kopi.pagi",
        "token": f"fb-host-only-{account}",
    })  # fmt: skip
    await sandbox(
        http, graph, "settings", {"consenting_instagram_id": account, "oauth_deny": False}
    )
    return account


async def test_instagram_login_connects_posts_refreshes_and_verifies_per_tenant(
    db: asyncpg.Pool, pipeline: Endpoints, running: RunningPipeline
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    _tenant_id, _, _, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with httpx.AsyncClient(timeout=15) as http:
        account = await instagram_account(http, graph)

        # The dialog is Instagram's, with the app, the callback and Instagram's own scopes.
        query = await dialog_query(
            http, pipeline, auth, START, f"{graph}/instagram-www/oauth/authorize"
        )
        assert query["client_id"] == [FAST_TIMERS["GRAPH_APP_ID"]]
        assert query["redirect_uri"] == [f"{distributor}{CALLBACK}"]
        assert query["scope"] == [
            "instagram_business_basic,instagram_business_content_publish,"
            "instagram_business_manage_comments"
        ]

        connected, callback = await through_dialog(http, pipeline, auth, START)
        assert connected.status_code == 200, connected.text
        (connection,) = connected.json()["connections"]
        assert (connection["platform"], connection["login"], connection["account_id"]) == (
            "instagram", "instagram", account,
        )  # fmt: skip
        connection_id = connection["connection_id"]
        stored = await row_of(db, connection_id)
        first_token = cipher.decrypt(bytes(stored["token_ciphertext"]))
        assert first_token not in connected.text
        assert stored["login"] == "instagram"
        expires = stored["token_expires_at"]
        assert abs((expires - datetime.now(UTC)) - timedelta(days=60)) < timedelta(minutes=5)
        assert set(stored["token_scopes"]) == {
            "instagram_business_basic", "instagram_business_content_publish",
            "instagram_business_manage_comments",
        }  # fmt: skip
        assert (await http.get(callback)).status_code == 400  # a state is good once

        # Posted to through the Instagram host (the Facebook host would refuse the token).
        job_id = f"igl-{uuid.uuid4().hex[:8]}"
        accepted = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", headers=auth, json=job_event(job_id)
        )
        assert accepted.status_code == 202, accepted.text
        posts = await eventually(lambda: _posted(http, pipeline, auth, job_id), timeout=60)
        assert posts[0]["status"] == "posted", posts
        assert posts[0]["permalink"].startswith("https://www.instagram.com/p/")
        ledger = await http.get(f"{graph}/_sandbox/ledger", params={"account_id": account})
        assert ledger.json()["counts"]["ig_media"] == 1

        # Verify: valid, both scopes, 60 days; another tenant's key gets 404.
        checked = await verify(http, pipeline, auth, connection_id)
        assert checked.status_code == 200, checked.text
        body = checked.json()
        assert (body["checked"], body["valid"], body["expiry"], body["missing_scopes"]) == (
            True, True, "fine", [],
        )  # fmt: skip
        assert first_token not in checked.text
        _, _, _, stranger = await operator_tenant(db)
        assert (await verify(http, pipeline, stranger, connection_id)).status_code == 404
        assert (await verify(http, pipeline, auth, str(uuid.uuid4()))).status_code == 404

        # 59 days on (on the platform and in our record), the token is refreshed: a new
        # token with 60 fresh days, seen by verify (the timer may get there first).
        await sandbox(http, graph, "instagram/tokens/age", {"account_id": account,
                                                            "seconds": 59 * DAY})  # fmt: skip
        await db.execute(
            """UPDATE distributor.connections SET token_issued_at = now() - interval '59 days',
                      token_expires_at = now() + interval '1 day'
                WHERE connection_id = $1""",
            uuid.UUID(connection_id),
        )
        refreshed = (await verify(http, pipeline, auth, connection_id)).json()
        assert refreshed["valid"] is True, refreshed
        new_expiry = datetime.fromisoformat(refreshed["expires_at"])
        assert new_expiry - datetime.now(UTC) > timedelta(days=59), refreshed
        assert refreshed["expiry"] == "fine"
        after = await row_of(db, connection_id)
        second_token = cipher.decrypt(bytes(after["token_ciphertext"]))
        assert second_token != first_token
        assert after["status"] == "active"

    # No token reached a log line.
    for process in running.processes.values():
        text = process.log_file.read_text(errors="replace")
        for secret in (first_token, second_token):
            assert secret not in text, f"{process.name} logged a token"


async def _posted(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str
) -> list[dict[str, Any]] | None:
    posts = await wait_for_posts(http, pipeline, auth, job_id, 1)
    return posts if posts[0]["status"] in ("posted", "failed") else None


async def test_expiring_and_expired_tokens_become_signed_webhooks(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    graph = pipeline.graph_api_url
    tenant_id, _, operator, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with receiver() as hooks, httpx.AsyncClient(timeout=15) as http:
        registered = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks", headers=operator,
            json={"url": f"{hooks.url}/hook/tokens"},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        secret = registered.json()["secret"]

        # A Facebook user token two days from its end: `connection.expiring`.
        await sandbox(http, graph, "settings", {"user_token_ttl_s": 2 * DAY})
        try:
            exchanged = await http.get(
                f"{graph}/v26.0/oauth/access_token",
                params={"grant_type": "fb_exchange_token", "fb_exchange_token": "any",
                        "client_id": FAST_TIMERS["GRAPH_APP_ID"],
                        "client_secret": FAST_TIMERS["GRAPH_APP_SECRET"]},
            )  # fmt: skip
        finally:
            await sandbox(http, graph, "settings", {"user_token_ttl_s": 60 * DAY})
        expiring = await add_connection(
            db, TokenCipher(SecretStr(pipeline.secret_key)), tenant_id=tenant_id,
            platform=Platform.FACEBOOK, account_id=f"exp-{uuid.uuid4().hex[:8]}",
            token=exchanged.json()["access_token"],
        )  # fmt: skip

        # An Instagram-Login token past its end: `connection.expired`, and needs_reconnect.
        account = await instagram_account(http, graph)
        connected, _ = await through_dialog(http, pipeline, auth, START)
        assert connected.status_code == 200, connected.text
        expired_id = connected.json()["connections"][0]["connection_id"]
        await sandbox(http, graph, "instagram/tokens/age", {"account_id": account,
                                                            "seconds": 61 * DAY})  # fmt: skip
        await db.execute(
            """UPDATE distributor.connections SET token_issued_at = now() - interval '61 days',
                      token_expires_at = now() - interval '1 day'
                WHERE connection_id = $1""",
            uuid.UUID(expired_id),
        )
        dead = (await verify(http, pipeline, auth, expired_id)).json()
        assert (dead["valid"], dead["expiry"]) == (False, "expired"), dead
        assert (await row_of(db, expired_id))["status"] == "needs_reconnect"

        async def both() -> list[tuple[dict[str, str], bytes]] | None:
            got = hooks.delivered("tokens")
            kinds = {OutboundWebhook.model_validate_json(b).type.value for _, b in got}
            return got if {"connection.expiring", "connection.expired"} <= kinds else None

        delivered = await eventually(both, timeout=60)
    by_type: dict[str, OutboundWebhook] = {}
    for headers, raw in delivered:
        genuine = verify_webhook(secret, headers["x-jobcast-signature"], raw, now=time.time())
        assert genuine, "a webhook whose signature does not verify"
        hook = OutboundWebhook.model_validate_json(raw)
        assert headers["x-jobcast-event"] == hook.type.value
        by_type.setdefault(hook.type.value, hook)
    warned, ended = by_type["connection.expiring"].data, by_type["connection.expired"].data
    assert isinstance(warned, ConnectionLifecycle)
    assert isinstance(ended, ConnectionLifecycle)
    assert (warned.connection_id, warned.platform) == (expiring.connection_id, Platform.FACEBOOK)
    assert str(ended.connection_id) == expired_id
    assert ended.platform is Platform.INSTAGRAM
    assert ended.expires_at < datetime.now(UTC)
