"""The Meta webhook receiver over HTTP: handshake, signatures, validation, dedupe, counters."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import SecretStr

from jobcast.http_edge import install_edge
from schemas.webhooks import PlatformWebhookReceived
from services.ingest.webhooks import (
    WEBHOOK_PATH,
    event_id_for,
    sign,
    webhook_router,
)

VERIFY_TOKEN = "verify-me-please"
APP_SECRET = "s3cr3t-app-secret-value"
LIMIT = 4096


@dataclass
class Fakes:
    """In-memory stand-ins for Kafka (`delivered`) and the Postgres digest ledger."""

    delivered: list[PlatformWebhookReceived] = field(default_factory=list)
    digests: set[bytes] = field(default_factory=set)
    fail_deliveries: bool = False

    async def deliver(self, event: PlatformWebhookReceived) -> None:
        if self.fail_deliveries:
            raise ConnectionError("broker down")
        if event.payload.value.get("verb") == "add":
            # A slower first publish: a receiver that raced one Page's changes would
            # let the later "edited" overtake it.
            for _ in range(5):
                await asyncio.sleep(0)
        self.delivered.append(event)

    async def seen(self, digest: bytes) -> bool:
        return digest in self.digests

    async def remember(self, digest: bytes) -> None:
        self.digests.add(digest)


def make_app(
    fakes: Fakes,
    *,
    verify_token: str | None = VERIFY_TOKEN,
    app_secret: str | None = APP_SECRET,
) -> FastAPI:
    app = FastAPI()
    app.include_router(
        webhook_router(
            verify_token=None if verify_token is None else SecretStr(verify_token),
            app_secret=None if app_secret is None else SecretStr(app_secret),
            deliver=fakes.deliver,
            seen=fakes.seen,
            remember=fakes.remember,
        )
    )
    # As ingest's app does: a tighter bound for the webhook path than for the rest.
    install_edge(app, max_body_bytes=10 * LIMIT, path_limits={WEBHOOK_PATH: LIMIT})
    return app


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def client(fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(fakes))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield http


def feed_change(post_id: str, verb: str = "add") -> dict[str, Any]:
    return {
        "field": "feed",
        "value": {"item": "comment", "verb": verb, "post_id": post_id, "message": "hi"},
    }


def delivery(**overrides: Any) -> dict[str, Any]:
    """Two Pages, three changes in all (one Page with two changes in a set order)."""
    body: dict[str, Any] = {
        "object": "page",
        "entry": [
            {"id": "111", "time": 1_700_000_000, "changes": [feed_change("111_1")]},
            {
                "id": "222",
                "time": 1_700_000_001,
                "changes": [feed_change("222_1"), feed_change("222_1", "edited")],
            },
        ],
    }
    body.update(overrides)
    return body


def encode(body: object) -> bytes:
    return json.dumps(body).encode()


def signed_headers(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret.encode(), raw)}


def count(outcome: str) -> float:
    value = REGISTRY.get_sample_value("jobcast_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


async def post(client: httpx.AsyncClient, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post(WEBHOOK_PATH, content=raw, headers=headers)


def assert_no_secret(response: httpx.Response) -> None:
    assert APP_SECRET not in response.text
    assert APP_SECRET not in str(response.headers)


# --- verification handshake -----------------------------------------------------------------


async def test_verify_with_the_right_token_echoes_the_challenge(client: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158"}
    response = await client.get(WEBHOOK_PATH, params=params)
    assert response.status_code == 200
    assert response.text == "1158"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN + "x", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
    ids=["wrong-token", "token-prefix", "wrong-mode", "no-token", "no-mode", "no-params"],
)
async def test_verify_refuses_without_mode_and_right_token(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(WEBHOOK_PATH, params=params)
    assert response.status_code == 403
    assert VERIFY_TOKEN not in response.text


@pytest.mark.parametrize("challenge", [None, "", "9" * 257])
async def test_verify_needs_a_short_challenge(
    client: httpx.AsyncClient, challenge: str | None
) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}
    if challenge is not None:
        params["hub.challenge"] = challenge
    response = await client.get(WEBHOOK_PATH, params=params)
    assert response.status_code == 400


@pytest.mark.parametrize("token", [None, ""])
async def test_verify_without_a_configured_token_is_unavailable(
    fakes: Fakes, token: str | None
) -> None:
    transport = httpx.ASGITransport(app=make_app(fakes, verify_token=token))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
        response = await http.get(WEBHOOK_PATH, params=params)
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]


# --- signed deliveries ----------------------------------------------------------------------


async def test_signed_delivery_is_split_into_one_event_per_change(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    raw = encode(delivery())
    before = count("accepted")
    response = await post(client, raw, signed_headers(raw))

    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "events": 3}
    assert count("accepted") == before + 1
    assert len(fakes.delivered) == 3
    by_post = [(e.payload.entry_id, e.payload.value["verb"]) for e in fakes.delivered]
    # Concurrent across Pages, but one Page's changes keep their order.
    assert [p for p in by_post if p[0] == "222"] == [("222", "add"), ("222", "edited")]
    assert sorted(by_post) == [("111", "add"), ("222", "add"), ("222", "edited")]

    first = next(e for e in fakes.delivered if e.payload.entry_id == "111")
    assert first.event_type == "platform.webhook_received"
    assert first.schema_version == 1
    assert first.occurred_at.utcoffset() is not None
    assert first.payload.object == "page"
    assert first.payload.entry_time == 1_700_000_000
    assert first.payload.field == "feed"
    assert first.payload.value == feed_change("111_1")["value"]

    digest = hashlib.sha256(raw).digest()
    assert fakes.digests == {digest}
    expected_ids = {
        event_id_for(digest, 0, 0),
        event_id_for(digest, 1, 0),
        event_id_for(digest, 1, 1),
    }
    assert {e.event_id for e in fakes.delivered} == expected_ids
    assert len(expected_ids) == 3
    assert_no_secret(response)


async def test_instagram_delivery_with_numeric_ids_and_extra_fields(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": 17841400000000000,
                "time": 1_700_000_000,
                "uid": "ignored",  # Meta adds fields over time; they must not cause a 400
                "changes": [{"field": "comments", "value": {"id": "c1", "text": "nice"}}],
            }
        ],
    }
    raw = encode(body)
    response = await post(client, raw, signed_headers(raw))
    assert response.status_code == 200
    [event] = fakes.delivered
    assert event.payload.object == "instagram"
    assert event.payload.entry_id == "17841400000000000"
    assert event.payload.field == "comments"


async def test_event_ids_are_the_same_for_the_same_body() -> None:
    digest = hashlib.sha256(b"body").digest()
    assert event_id_for(digest, 1, 2) == event_id_for(digest, 1, 2)
    assert event_id_for(digest, 1, 2) != event_id_for(digest, 2, 1)
    assert event_id_for(digest, 0, 0) != event_id_for(hashlib.sha256(b"other").digest(), 0, 0)


async def test_unsigned_delivery_is_401(client: httpx.AsyncClient, fakes: Fakes) -> None:
    raw = encode(delivery())
    before = count("unsigned")
    response = await post(client, raw, {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert count("unsigned") == before + 1
    assert fakes.delivered == []
    assert fakes.digests == set()


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha1=" + "0" * 40,
        "garbage",
        "sha256=ünïcødé".encode("latin-1"),  # raw bytes on the wire
        sign(b"another-secret", encode(delivery())),
    ],
    ids=["zeros", "sha1", "garbage", "non-ascii", "other-secret"],
)
async def test_wrong_signature_is_403(
    client: httpx.AsyncClient, fakes: Fakes, signature: str | bytes
) -> None:
    raw = encode(delivery())
    before = count("bad_signature")
    value = signature if isinstance(signature, bytes) else signature.encode()
    headers = {b"Content-Type": b"application/json", b"X-Hub-Signature-256": value}
    response = await client.post(WEBHOOK_PATH, content=raw, headers=headers)
    assert response.status_code == 403
    assert count("bad_signature") == before + 1
    assert fakes.delivered == []
    assert_no_secret(response)


async def test_body_tampered_after_signing_is_403(client: httpx.AsyncClient, fakes: Fakes) -> None:
    raw = encode(delivery())
    headers = signed_headers(raw)
    tampered = raw.replace(b"111_1", b"999_9")
    assert tampered != raw
    response = await post(client, tampered, headers)
    assert response.status_code == 403
    assert fakes.delivered == []


async def test_uppercase_hex_signature_is_accepted(client: httpx.AsyncClient, fakes: Fakes) -> None:
    raw = encode(delivery())
    hexdigest = sign(APP_SECRET.encode(), raw).removeprefix("sha256=")
    headers = {"X-Hub-Signature-256": "sha256=" + hexdigest.upper()}
    response = await post(client, raw, headers)
    assert response.status_code == 200
    assert len(fakes.delivered) == 3


async def test_duplicate_delivery_is_200_and_not_delivered_again(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    raw = encode(delivery())
    first = await post(client, raw, signed_headers(raw))
    assert first.status_code == 200
    before = count("duplicate")

    again = await post(client, raw, signed_headers(raw))

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "events": 0}
    assert count("duplicate") == before + 1
    assert len(fakes.delivered) == 3


async def test_failed_delivery_is_not_remembered_so_the_retry_delivers(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    raw = encode(delivery())
    fakes.fail_deliveries = True
    before = count("failed")
    response = await post(client, raw, signed_headers(raw))
    assert response.status_code == 503
    assert count("failed") == before + 1
    assert fakes.digests == set()

    fakes.fail_deliveries = False
    retry = await post(client, raw, signed_headers(raw))
    assert retry.status_code == 200
    assert len(fakes.delivered) == 3


@pytest.mark.parametrize(
    ("body", "field_named"),
    [
        (b"{not json", "Invalid JSON"),
        (b"\xff\xfe", "Invalid JSON"),
        (encode([1, 2]), "<record>"),
        (encode(delivery(object="user")), "object"),
        (encode({"entry": []}), "object"),
        (encode({"object": "page"}), "entry"),
        (
            encode(delivery(entry=[{"id": "1", "changes": [{"field": "feed"}]}])),
            "entry.0.changes.0.value",
        ),
        (encode(delivery(entry=[{"id": "1"}])), "entry.0.changes"),
        (encode(delivery(entry=[{"changes": []}])), "entry.0.id"),
    ],
    ids=[
        "broken-json",
        "not-utf8",
        "not-an-object",
        "unknown-object",
        "no-object",
        "no-entry",
        "change-without-value",
        "entry-without-changes",
        "entry-without-id",
    ],
)
async def test_invalid_envelope_is_400_naming_the_field(
    client: httpx.AsyncClient, fakes: Fakes, body: bytes, field_named: str
) -> None:
    before = count("invalid")
    response = await post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert field_named in response.json()["detail"]
    assert count("invalid") == before + 1
    assert fakes.delivered == []
    assert fakes.digests == set()  # an invalid body is never remembered
    assert_no_secret(response)


async def test_invalid_answer_does_not_echo_the_body(client: httpx.AsyncClient) -> None:
    body = encode(delivery(object="private-marker-xyz"))
    response = await post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert "private-marker-xyz" not in response.text


async def test_too_large_body_is_413(client: httpx.AsyncClient, fakes: Fakes) -> None:
    raw = encode(delivery(padding="x" * LIMIT))
    before = count("too_large")
    response = await post(client, raw, signed_headers(raw))
    assert response.status_code == 413
    assert count("too_large") == before + 1
    assert fakes.delivered == []


async def test_too_large_chunked_body_is_413(client: httpx.AsyncClient, fakes: Fakes) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 512 + 2):
            yield b"x" * 512
            await asyncio.sleep(0)

    headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = await client.post(WEBHOOK_PATH, content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert fakes.delivered == []


async def test_body_at_the_limit_is_accepted(client: httpx.AsyncClient, fakes: Fakes) -> None:
    raw = encode(delivery(padding=""))
    raw = encode(delivery(padding="x" * (LIMIT - len(raw))))
    assert len(raw) == LIMIT
    response = await post(client, raw, signed_headers(raw))
    assert response.status_code == 200


@pytest.mark.parametrize("secret", [None, ""])
async def test_post_without_a_configured_secret_is_unavailable(
    fakes: Fakes, secret: str | None
) -> None:
    raw = encode(delivery())
    transport = httpx.ASGITransport(app=make_app(fakes, app_secret=secret))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        # Signed with the empty key: must not pass as "valid" when no secret is set.
        response = await post(http, raw, signed_headers(raw, secret=""))
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]
    assert fakes.delivered == []


async def test_every_outcome_is_counted_once(client: httpx.AsyncClient) -> None:
    raw = encode(delivery())
    bad = encode({"object": "page"})
    before = {
        o: count(o) for o in ("accepted", "duplicate", "unsigned", "bad_signature", "invalid")
    }

    await post(client, raw, signed_headers(raw))
    await post(client, raw, signed_headers(raw))
    await post(client, raw, {})
    await post(client, raw, signed_headers(raw, secret="nope"))
    await post(client, bad, signed_headers(bad))

    assert {o: count(o) - before[o] for o in before} == dict.fromkeys(before, 1.0)
