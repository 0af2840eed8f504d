"""Meta webhook deliveries over real HTTP into real Kafka: verified, signed, deduplicated."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from devtools.stack import Endpoints
from jobcast.topics import PLATFORM_WEBHOOKS
from schemas.webhooks import PlatformWebhookReceived
from services.ingest.webhooks import WEBHOOK_PATH, sign
from tests.harness import FAST_TIMERS
from tests.integration.helpers import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def received_for(pipeline: Endpoints, entry_id: str, wait: float) -> list[str]:
    """Event ids on platform.webhooks for one entry, read for `wait` seconds."""

    def pick(record: Any) -> str | None:
        try:
            event = PlatformWebhookReceived.model_validate_json(record.value or b"")
        except ValidationError:
            return None  # the fuzz suite puts garbage on every consumed topic on purpose
        return str(event.event_id) if event.payload.entry_id == entry_id else None

    return await read_topic(
        pipeline.kafka_bootstrap_servers, PLATFORM_WEBHOOKS, pick, for_seconds=wait
    )


async def test_verify_then_signed_delivery_once(pipeline: Endpoints) -> None:
    url = f"{pipeline.url('ingest')}{WEBHOOK_PATH}"
    secret = FAST_TIMERS["META_APP_SECRET"].encode()
    page = f"page-{uuid.uuid4().hex[:8]}"
    body = json.dumps(
        {"object": "page", "entry": [{"id": page, "time": 1, "changes": [
            {"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "1_2"}},
            {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "1_2"}},
        ]}]}
    ).encode()  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        challenge = await http.get(url, params={
            "hub.mode": "subscribe", "hub.verify_token": "test-verify-token",
            "hub.challenge": "1158201444"})  # fmt: skip
        assert challenge.status_code == 200
        assert challenge.text == "1158201444"
        wrong = await http.get(url, params={
            "hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})  # fmt: skip
        assert wrong.status_code == 403

        headers = {"content-type": "application/json", "x-hub-signature-256": sign(secret, body)}
        assert (await http.post(url, content=body, headers=headers)).status_code == 200
        # Meta retries the same delivery: answered 200, published once.
        assert (await http.post(url, content=body, headers=headers)).status_code == 200
        unsigned = await http.post(url, content=body, headers={"content-type": "application/json"})
        assert unsigned.status_code == 401
        forged = {**headers, "x-hub-signature-256": sign(b"other", body)}
        assert (await http.post(url, content=body, headers=forged)).status_code == 403
    event_ids = await received_for(pipeline, page, wait=3.0)
    assert len(event_ids) == 2
    assert len(set(event_ids)) == 2
