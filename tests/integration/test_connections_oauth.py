"""Connections end to end: Facebook Login against the sandbox, token checks, removal, keys."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner, Result

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher, generate_key
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast.topics import CONNECTIONS_EVENTS
from jobcast_cli.main import app
from schemas.connections import (
    ConnectionExpiring,
    ConnectionStatus,
    ConnectionStatusChanged,
)
from schemas.platforms import Platform
from services.distributor.repo import add_connection, migrate_distributor, rotate_tokens
from tests.harness import FAST_TIMERS, RunningPipeline
from tests.integration.helpers import job_event, read_topic, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

START = "/v1/connections/facebook/start"
CALLBACK = "/v1/connections/facebook/callback"


class SandboxUser:
    """A Facebook user in the sandbox who manages two Pages, the first with Instagram."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.user_id = f"user-{tag}"
        self.page_a, self.page_b, self.ig = f"pa-{tag}", f"pb-{tag}", f"ig-{tag}"
        self.tokens = {self.page_a: f"ptok-a-{tag}", self.page_b: f"ptok-b-{tag}"}


async def register(http: httpx.AsyncClient, graph: str, user: SandboxUser) -> None:
    async def post(path: str, body: dict[str, Any]) -> None:
        response = await http.post(f"{graph}/_sandbox/{path}", json=body)
        assert response.status_code == 201, response.text

    await post("users", {"user_id": user.user_id, "name": "Made Wirawan"})
    await post(
        "accounts",
        {"account_id": user.ig, "platform": "instagram", "user_id": user.user_id},
    )
    await post(
        "accounts",
        {"account_id": user.page_a, "platform": "facebook", "user_id": user.user_id,
         "token": user.tokens[user.page_a], "name": "Warung Laut",
         "linked_instagram_id": user.ig},
    )  # fmt: skip
    await post(
        "accounts",
        {"account_id": user.page_b, "platform": "facebook", "user_id": user.user_id,
         "token": user.tokens[user.page_b], "name": "Kopi Pagi"},
    )  # fmt: skip


async def sandbox_settings(http: httpx.AsyncClient, graph: str, **changes: Any) -> None:
    response = await http.patch(f"{graph}/_sandbox/settings", json=changes)
    assert response.status_code == 200, response.text


async def consenting_user(http: httpx.AsyncClient, graph: str) -> SandboxUser:
    """A fresh sandbox user, the one who consents in the sandbox's OAuth dialog."""
    user = SandboxUser()
    await register(http, graph, user)
    await sandbox_settings(http, graph, consenting_user_id=user.user_id, oauth_deny=False)
    return user


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def tenant(db: asyncpg.Pool) -> tuple[uuid.UUID, dict[str, str]]:
    await migrate_tenancy(db)
    await migrate_distributor(db)
    created, api_key = await create_tenant(db, f"oauth-{uuid.uuid4().hex[:10]}")
    return created.tenant_id, {"Authorization": f"Bearer {api_key}"}


async def through_dialog(http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str]) -> str:
    """Start, let the sandbox's dialog consent, and return the callback URL it sends back."""
    start = await http.get(f"{pipeline.url('distributor')}{START}", headers=auth)
    assert start.status_code == 302, start.text
    dialog = await http.get(start.headers["location"])
    assert dialog.status_code == 302, dialog.text
    return dialog.headers["location"].split("#", 1)[0]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def connections_of(db: asyncpg.Pool, tenant_id: uuid.UUID) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM distributor.connections WHERE tenant_id = $1", tenant_id)
    return {r["account_id"]: r for r in rows}


def status_events(tenant_id: uuid.UUID) -> Any:
    def pick(record: Any) -> ConnectionStatusChanged | None:
        try:
            event = ConnectionStatusChanged.model_validate_json(record.value)
        except ValidationError:
            return None
        return event if event.tenant_id == tenant_id else None

    return pick


async def eventually(check: Any, seconds: float = 30.0) -> Any:
    async with asyncio.timeout(seconds):
        while not (found := await check()):
            await asyncio.sleep(0.3)
    return found


def cli(pipeline: Endpoints, *args: str, key: str | None = None) -> Result:
    env = {**pipeline.env(), **({"JOBCAST_SECRET_KEY": key} if key else {})}
    return CliRunner().invoke(app, ["connections", *args], env=env)


async def test_facebook_login_connects_every_page_and_refuses_bad_states(
    db: asyncpg.Pool, pipeline: Endpoints, running: RunningPipeline, http: httpx.AsyncClient
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    user = await consenting_user(http, graph)
    tenant_id, auth = await tenant(db)
    cipher = TokenCipher(SecretStr(pipeline.secret_key))

    # Start: the tenant's key is needed; the dialog gets the app, callback, scopes and a state.
    assert (await http.get(f"{distributor}{START}")).status_code == 401
    start = await http.get(f"{distributor}{START}", headers=auth)
    assert start.status_code == 302
    dialog = urlsplit(start.headers["location"])
    assert f"{dialog.scheme}://{dialog.netloc}{dialog.path}" == f"{graph}/dialog/oauth"
    query = parse_qs(dialog.query)
    assert query["client_id"] == [FAST_TIMERS["GRAPH_APP_ID"]]
    assert query["redirect_uri"] == [f"{distributor}{CALLBACK}"]
    assert set(query["scope"][0].split(",")) >= {
        "pages_show_list", "pages_manage_posts", "pages_read_engagement",
        "instagram_basic", "instagram_content_publish", "business_management",
    }  # fmt: skip
    as_json = await http.get(f"{distributor}{START}?redirect=false", headers=auth)
    assert as_json.status_code == 200
    assert as_json.json()["authorize_url"].startswith(f"{graph}/dialog/oauth?")

    callback = await through_dialog(http, pipeline, auth)
    assert callback.startswith(f"{distributor}{CALLBACK}?")

    # A tampered state is refused, and nothing is stored.
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    other_tenant = state.replace(tenant_id.hex, uuid.uuid4().hex)
    for bad in (forged, other_tenant, "v1.garbage"):
        refused = await http.get(with_query(callback, state=bad))
        assert refused.status_code == 400, refused.text
        assert "invalid OAuth state" in refused.json()["detail"]
    assert await connections_of(db, tenant_id) == {}

    # The real callback: one connection per Page, one per linked IG account.
    connected = await http.get(callback)
    assert connected.status_code == 200, connected.text
    body = connected.json()
    assert body["tenant_id"] == str(tenant_id)
    assert {(c["platform"], c["account_id"]) for c in body["connections"]} == {
        ("facebook", user.page_a), ("instagram", user.ig), ("facebook", user.page_b),
    }  # fmt: skip
    assert all(c["status"] == "active" for c in body["connections"])
    for token in user.tokens.values():
        assert token not in connected.text

    stored = await connections_of(db, tenant_id)
    assert cipher.decrypt(stored[user.page_a]["token_ciphertext"]) == user.tokens[user.page_a]
    assert cipher.decrypt(stored[user.page_b]["token_ciphertext"]) == user.tokens[user.page_b]
    assert cipher.decrypt(stored[user.ig]["token_ciphertext"]) == user.tokens[user.page_a]
    assert stored[user.page_a]["display_name"] == "Warung Laut"
    assert {r["platform"] for r in stored.values()} == {"facebook", "instagram"}

    # The same callback again (a replayed state) is refused.
    replayed = await http.get(callback)
    assert replayed.status_code == 400
    assert "already used" in replayed.json()["detail"]

    # Each connection was announced as active.
    ids = {str(r["connection_id"]) for r in stored.values()}
    events = await read_topic(
        pipeline.kafka_bootstrap_servers,
        CONNECTIONS_EVENTS,
        status_events(tenant_id),
        until=lambda kept: {str(e.payload.connection_id) for e in kept} >= ids,
    )
    assert {e.payload.status for e in events} == {ConnectionStatus.ACTIVE}

    # The tenant API lists them without tokens; another tenant sees none and cannot delete.
    listed = await http.get(f"{distributor}/v1/connections", headers=auth)
    assert listed.status_code == 200
    assert {c["account_id"] for c in listed.json()["connections"]} == set(stored)
    assert "ptok-" not in listed.text
    _, stranger = await tenant(db)
    assert (await http.get(f"{distributor}/v1/connections", headers=stranger)).json() == {
        "connections": []
    }
    some_id = next(iter(ids))
    foreign = await http.delete(f"{distributor}/v1/connections/{some_id}", headers=stranger)
    assert foreign.status_code == 404
    assert (await connections_of(db, tenant_id))[user.page_a]["status"] == "active"

    # Declining in the dialog: a clear 400 and nothing stored.
    declining_tenant, declining_auth = await tenant(db)
    await sandbox_settings(http, graph, oauth_deny=True)
    try:
        declined = await http.get(await through_dialog(http, pipeline, declining_auth))
    finally:
        await sandbox_settings(http, graph, oauth_deny=False)
    assert declined.status_code == 400
    assert "declined" in declined.json()["detail"]
    assert await connections_of(db, declining_tenant) == {}

    # Tokens never reach a log line.
    secrets = [*user.tokens.values(), FAST_TIMERS["GRAPH_APP_SECRET"]]
    secrets.append(parse_qs(urlsplit(callback).query)["code"][0])
    for process in running.processes.values():
        text = process.log_file.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{process.name} logged a secret"


async def test_dead_tokens_are_found_expiring_ones_announced_and_removal_stops_posts(
    db: asyncpg.Pool, pipeline: Endpoints, running: RunningPipeline, http: httpx.AsyncClient
) -> None:
    graph, distributor = pipeline.graph_api_url, pipeline.url("distributor")
    user = await consenting_user(http, graph)
    tenant_id, auth = await tenant(db)
    assert (await http.get(await through_dialog(http, pipeline, auth))).status_code == 200
    ids = {a: r["connection_id"] for a, r in (await connections_of(db, tenant_id)).items()}

    # A token that dies (Meta revoked it) is found by the periodic check.
    revoked = await http.post(
        f"{graph}/_sandbox/tokens/revoke", json={"token": user.tokens[user.page_b]}
    )
    assert revoked.status_code == 200

    async def page_b_dead() -> bool:
        row = (await connections_of(db, tenant_id))[user.page_b]
        return bool(row["status"] == "needs_reconnect")

    await eventually(page_b_dead)
    after = await connections_of(db, tenant_id)
    assert after[user.page_b]["last_verify_error"]
    assert after[user.page_b]["last_verified_at"] is not None
    assert after[user.page_a]["status"] == after[user.ig]["status"] == "active"
    events = await read_topic(
        pipeline.kafka_bootstrap_servers,
        CONNECTIONS_EVENTS,
        status_events(tenant_id),
        until=lambda kept: any(e.payload.status is ConnectionStatus.NEEDS_RECONNECT for e in kept),
    )
    dead = [e for e in events if e.payload.status is ConnectionStatus.NEEDS_RECONNECT]
    assert [e.payload.connection_id for e in dead] == [ids[user.page_b]]

    # A token that expires within the warning window is announced, once.
    await sandbox_settings(http, graph, user_token_ttl_s=2 * 86400)
    try:
        exchanged = await http.get(
            f"{graph}/v24.0/oauth/access_token",
            params={"grant_type": "fb_exchange_token", "fb_exchange_token": "any",
                    "client_id": FAST_TIMERS["GRAPH_APP_ID"],
                    "client_secret": FAST_TIMERS["GRAPH_APP_SECRET"]},
        )  # fmt: skip
    finally:
        await sandbox_settings(http, graph, user_token_ttl_s=5_184_000)
    short_token = exchanged.json()["access_token"]
    expiring = await add_connection(
        db,
        TokenCipher(SecretStr(pipeline.secret_key)),
        tenant_id=tenant_id,
        platform=Platform.FACEBOOK,
        account_id=f"exp-{uuid.uuid4().hex[:8]}",
        token=short_token,
    )

    def pick_expiring(record: Any) -> ConnectionExpiring | None:
        try:
            event = ConnectionExpiring.model_validate_json(record.value)
        except ValidationError:
            return None
        return event if event.payload.connection_id == expiring.connection_id else None

    warnings = await read_topic(
        pipeline.kafka_bootstrap_servers, CONNECTIONS_EVENTS, pick_expiring, until=bool
    )
    assert warnings[0].payload.account_id == expiring.account_id
    row = (await connections_of(db, tenant_id))[expiring.account_id]
    assert row["token_expires_at"] == warnings[0].payload.expires_at
    assert row["status"] == "active"
    await asyncio.sleep(float(FAST_TIMERS["DISTRIBUTOR_VERIFY_INTERVAL_SECONDS"]) * 2.5)
    again = await read_topic(
        pipeline.kafka_bootstrap_servers, CONNECTIONS_EVENTS, pick_expiring, for_seconds=3
    )
    assert len(again) == 1, "an expiry is announced once, not on every check"

    # `jobcast connections verify`: per connection, valid or not, expiry, scopes; no token.
    verified = await asyncio.to_thread(
        cli, pipeline, "verify", "--tenant", await tenant_name(db, tenant_id)
    )
    assert verified.exit_code == 1, verified.output  # page B's token is dead
    lines = {line.split()[2]: line for line in verified.output.splitlines() if line.strip()}
    assert "INVALID" in lines[user.page_b]
    assert " valid " in lines[user.page_a]
    assert "expires=never" in lines[user.page_a]
    assert "missing_scopes=-" in lines[user.ig]
    assert "expires=never" not in lines[expiring.account_id]
    one = await asyncio.to_thread(
        cli, pipeline, "verify", "--tenant", await tenant_name(db, tenant_id),
        "--connection", str(ids[user.page_a]),
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    assert len(one.output.strip().splitlines()) == 1
    for secret in [*user.tokens.values(), short_token, FAST_TIMERS["GRAPH_APP_SECRET"]]:
        assert secret not in verified.output + one.output

    # `jobcast connections remove`: the token is erased, the row stays, posts stop.
    name = await tenant_name(db, tenant_id)
    removed = await asyncio.to_thread(
        cli, pipeline, "remove", "--tenant", name, "--connection", str(ids[user.page_a])
    )
    assert removed.exit_code == 0, removed.output
    row = (await connections_of(db, tenant_id))[user.page_a]
    assert row["status"] == "removed"
    assert bytes(row["token_ciphertext"]) == b""
    again_removed = await asyncio.to_thread(
        cli, pipeline, "remove", "--tenant", name, "--connection", str(ids[user.page_a])
    )
    assert again_removed.exit_code == 0
    unknown = await asyncio.to_thread(
        cli, pipeline, "remove", "--tenant", name, "--connection", str(uuid.uuid4())
    )
    assert unknown.exit_code == 2
    await read_topic(
        pipeline.kafka_bootstrap_servers,
        CONNECTIONS_EVENTS,
        status_events(tenant_id),
        until=lambda kept: any(
            e.payload.status is ConnectionStatus.REMOVED
            and e.payload.connection_id == ids[user.page_a]
            for e in kept
        ),
    )
    listed = await http.get(f"{distributor}/v1/connections", headers=auth)
    assert user.page_a not in {c["account_id"] for c in listed.json()["connections"]}
    # Through the API too: the IG connection goes the same way.
    deleted = await http.delete(f"{distributor}/v1/connections/{ids[user.ig]}", headers=auth)
    assert deleted.status_code == 200
    assert deleted.json()["connection"]["status"] == "removed"

    # Only the expiring (still active) connection gets the next job: nothing for removed
    # ones, a skip for the one that needs reconnecting.
    job_id = f"conn-{uuid.uuid4().hex[:8]}"
    accepted = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events", headers=auth, json=job_event(job_id)
    )
    assert accepted.status_code == 202, accepted.text
    posts = await wait_for_posts(http, pipeline, auth, job_id, 2)
    await asyncio.sleep(2)
    posts = await wait_for_posts(http, pipeline, auth, job_id, 2)
    by_connection = {p["connection_id"]: p["status"] for p in posts}
    assert set(by_connection) == {str(expiring.connection_id), str(ids[user.page_b])}
    assert by_connection[str(ids[user.page_b])] == "skipped"


async def tenant_name(db: asyncpg.Pool, tenant_id: uuid.UUID) -> str:
    name = await db.fetchval("SELECT name FROM tenancy.tenants WHERE tenant_id = $1", tenant_id)
    assert isinstance(name, str)
    return name


async def test_rotate_keys_reencrypts_every_token_under_the_newest_key(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    old, new, lost = pipeline.secret_key, generate_key(), generate_key()
    tenant_id, _ = await tenant(db)
    for n in range(2):
        await add_connection(
            db, TokenCipher(SecretStr(old)), tenant_id=tenant_id, platform=Platform.FACEBOOK,
            account_id=f"rot-{n}", token=f"rotating-token-{n}",
        )  # fmt: skip
    await add_connection(
        db, TokenCipher(SecretStr(lost)), tenant_id=tenant_id, platform=Platform.INSTAGRAM,
        account_id="rot-lost", token="unreadable-token",
    )  # fmt: skip

    # The running services only know `old`: the switch to `new` is tried in a transaction
    # that is rolled back, so the rest of the session is unaffected.
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            counts = await rotate_tokens(conn, TokenCipher(SecretStr(f"{new},{old}")))
            rows = await conn.fetch(
                "SELECT account_id, token_ciphertext FROM distributor.connections"
                " WHERE tenant_id = $1",
                tenant_id,
            )
        finally:
            await transaction.rollback()
    assert counts.failed >= 1  # the token under a key nobody has any more
    assert counts.rotated >= 2
    only_new = TokenCipher(SecretStr(new))
    tokens = {r["account_id"]: bytes(r["token_ciphertext"]) for r in rows}
    assert only_new.decrypt(tokens["rot-0"]) == "rotating-token-0"
    assert only_new.decrypt(tokens["rot-1"]) == "rotating-token-1"

    # The command itself, under the session's key: counts only, and every token still reads.
    await db.execute(
        "DELETE FROM distributor.connections WHERE tenant_id = $1 AND account_id = 'rot-lost'",
        tenant_id,
    )
    before = await connections_of(db, tenant_id)
    ran = await asyncio.to_thread(cli, pipeline, "rotate-keys")
    # Other tests may have left tokens under keys of their own: those count as failed.
    assert ran.exit_code in (0, 1), ran.output
    assert re.fullmatch(r"rotated=\d+ failed=\d+\n", ran.output), ran.output
    after = await connections_of(db, tenant_id)
    for account in ("rot-0", "rot-1"):
        assert after[account]["token_ciphertext"] != before[account]["token_ciphertext"]
        assert TokenCipher(SecretStr(old)).decrypt(after[account]["token_ciphertext"]) == (
            f"rotating-token-{account[-1]}"
        )
