"""Threads on the real pipeline: a profile connected through the sandbox's Threads dialog
(code → short-lived token → th_exchange_token), posted to, its insights collected into the
read model, its token refreshed (th_refresh_token) and verified per tenant, and an expired
one marked for reconnecting with a `connection.expired` webhook."""

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
from services.distributor.repo import migrate_distributor
from services.metrics.engagement.domain import THREADS_INSIGHTS
from services.metrics.webhooks.domain import verify_webhook
from tests.harness import FAST_TIMERS, RunningPipeline
from tests.integration.helpers import job_event
from tests.integration.logins import dialog_query, row_of, sandbox, through_dialog, verify
from tests.integration.metrics_support import eventually
from tests.integration.test_metrics_webhooks import operator_tenant, receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

START = "/v1/connections/threads/start"
CALLBACK = "/v1/connections/threads/callback"
DAY = 86_400


async def threads_profile(http: httpx.AsyncClient, graph: str) -> str:
    """A fresh Threads profile, the one that consents in the dialog. It is registered with
    a token of its own, so only that token or one its OAuth issued can post for it."""
    profile = f"2604{uuid.uuid4().int % 10**11:011d}"
    await sandbox(http, graph, "accounts", {
        "account_id": profile, "platform": "threads", "name": "kopi.kita",
        "token": f"registered-{profile}",
    })  # fmt: skip
    await sandbox(http, graph, "settings", {"consenting_threads_id": profile, "oauth_deny": False})
    return profile


async def test_threads_connects_posts_collects_insights_refreshes_and_verifies(
    db: asyncpg.Pool, pipeline: Endpoints, running: RunningPipeline
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    _tenant_id, _, _, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with httpx.AsyncClient(timeout=15) as http:
        profile = await threads_profile(http, graph)

        # The dialog is Threads', with the app, the callback and Threads' scopes.
        query = await dialog_query(
            http, pipeline, auth, START, f"{graph}/threads-www/oauth/authorize"
        )
        assert query["client_id"] == [FAST_TIMERS["GRAPH_APP_ID"]]
        assert query["redirect_uri"] == [f"{distributor}{CALLBACK}"]
        scopes = query["scope"][0].split(",")
        assert {"threads_basic", "threads_content_publish", "threads_manage_insights"} <= set(
            scopes
        )

        connected, callback = await through_dialog(http, pipeline, auth, START)
        assert connected.status_code == 200, connected.text
        (connection,) = connected.json()["connections"]
        assert (connection["platform"], connection["login"], connection["account_id"]) == (
            "threads", "threads", profile,
        )  # fmt: skip
        assert connection["display_name"] == "kopi.kita"
        connection_id = connection["connection_id"]
        stored = await row_of(db, connection_id)
        first_token = cipher.decrypt(bytes(stored["token_ciphertext"]))
        assert first_token not in connected.text
        expires = stored["token_expires_at"]
        assert abs((expires - datetime.now(UTC)) - timedelta(days=60)) < timedelta(minutes=5)
        assert set(stored["token_scopes"]) == set(scopes)
        assert (await http.get(callback)).status_code == 400  # a state is good once

        # Posted to Threads with the OAuth token, and its insights read into the read model.
        job_id = f"thr-{uuid.uuid4().hex[:8]}"
        accepted = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", headers=auth, json=job_event(job_id)
        )
        assert accepted.status_code == 202, accepted.text
        url = f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts"

        async def measured() -> dict[str, Any] | None:
            posts = (await http.get(url, headers=auth)).json()["posts"]
            if posts and posts[0]["status"] == "failed":
                pytest.fail(f"the Threads post failed: {posts[0]}")
            engagement = posts[0]["engagement"] if posts else None
            return posts[0] if engagement and len(engagement["history"]) == 2 else None

        post = await eventually(measured, timeout=90)
        assert post["platform"] == "threads"
        assert post["permalink"].startswith("https://www.threads")
        answer = await http.get(
            f"{graph}/threads-graph/v1.0/{post['platform_post_id']}/insights",
            params={"metric": ",".join(THREADS_INSIGHTS), "access_token": first_token},
        )
        assert answer.status_code == 200, answer.text
        now = {item["name"]: item["values"][0]["value"] for item in answer.json()["data"]}
        engagement = post["engagement"]
        assert [s["checkpoint_seconds"] for s in engagement["history"]] == [1, 3]
        assert (engagement["views"], engagement["likes"]) == (now["views"], now["likes"])
        assert (engagement["reposts"], engagement["quotes"]) == (now["reposts"], now["quotes"])
        assert engagement["comments"] == now["replies"]
        assert engagement["reach"] is None

        # Verify: valid, the scopes, 60 days; another tenant's key gets 404.
        checked = await verify(http, pipeline, auth, connection_id)
        assert checked.status_code == 200, checked.text
        body = checked.json()
        assert (body["checked"], body["valid"], body["expiry"], body["missing_scopes"]) == (
            True, True, "fine", [],
        )  # fmt: skip
        assert first_token not in checked.text
        _, _, _, stranger = await operator_tenant(db)
        assert (await verify(http, pipeline, stranger, connection_id)).status_code == 404

        # 59 days on (on the platform and in our record), the token is refreshed.
        await sandbox(http, graph, "threads/tokens/age", {"account_id": profile,
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
        after = await row_of(db, connection_id)
        second_token = cipher.decrypt(bytes(after["token_ciphertext"]))
        assert second_token != first_token
        assert after["status"] == "active"

    for process in running.processes.values():
        text = process.log_file.read_text(errors="replace")
        for secret in (first_token, second_token):
            assert secret not in text, f"{process.name} logged a token"


async def test_a_refresh_too_early_is_refused_and_an_expired_token_is_announced(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    graph = pipeline.graph_api_url
    _tenant_id, _, operator, auth = await operator_tenant(db)
    await migrate_distributor(db)
    async with receiver() as hooks, httpx.AsyncClient(timeout=15) as http:
        registered = await http.put(
            f"{pipeline.url('metrics')}/v1/webhooks", headers=operator,
            json={"url": f"{hooks.url}/hook/threads"},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        secret = registered.json()["secret"]
        profile = await threads_profile(http, graph)
        connected, _ = await through_dialog(http, pipeline, auth, START)
        assert connected.status_code == 200, connected.text
        connection_id = connected.json()["connections"][0]["connection_id"]

        # Near its end by our record but only hours old on the platform: Threads refuses
        # the refresh (24 h at least), the check says so and the token stays.
        await db.execute(
            """UPDATE distributor.connections SET token_issued_at = NULL,
                      token_expires_at = now() + interval '2 days'
                WHERE connection_id = $1""",
            uuid.UUID(connection_id),
        )
        early = (await verify(http, pipeline, auth, connection_id)).json()
        assert early["refreshed"] is False, early
        assert "24 hours" in early["refresh_error"], early
        assert early["valid"] is True

        # Past its end on the platform: 190 on /me, needs_reconnect, connection.expired.
        await sandbox(http, graph, "threads/tokens/age", {"account_id": profile,
                                                          "seconds": 61 * DAY})  # fmt: skip
        await db.execute(
            """UPDATE distributor.connections SET token_issued_at = now() - interval '61 days',
                      token_expires_at = now() - interval '1 day'
                WHERE connection_id = $1""",
            uuid.UUID(connection_id),
        )
        dead = (await verify(http, pipeline, auth, connection_id)).json()
        assert (dead["valid"], dead["expiry"]) == (False, "expired"), dead
        assert (await row_of(db, connection_id))["status"] == "needs_reconnect"

        async def expired() -> list[tuple[dict[str, str], bytes]] | None:
            got = hooks.delivered("threads")
            kinds = {OutboundWebhook.model_validate_json(b).type.value for _, b in got}
            return got if "connection.expired" in kinds else None

        delivered = await eventually(expired, timeout=60)
    for headers, raw in delivered:
        assert verify_webhook(secret, headers["x-jobcast-signature"], raw, now=time.time())
        hook = OutboundWebhook.model_validate_json(raw)
        if hook.type.value == "connection.expired":
            ended = hook.data
            assert isinstance(ended, ConnectionLifecycle)
            assert str(ended.connection_id) == connection_id
            assert ended.platform is Platform.THREADS
