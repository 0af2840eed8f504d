"""Bad records go to the topic's dead-letter topic with the reason; good ones still flow."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.topics import JOBS_EVENTS, PUBLISH_RESULTS, dead_letter_topic
from schemas import headers as h
from tests.integration.helpers import read_topic, send_raw

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

GARBAGE = [
    b"not json at all",
    b"\xff\xfe invalid utf-8",
    b'{"event_type": "job.created"}',
    b'{"event_type": "job.exploded", "tenant_id": "00000000-0000-0000-0000-000000000000"}',
    b"[]",
]


async def dead_letters(
    bootstrap: str, topic: str, marker: bytes, want: int
) -> list[dict[str, str]]:
    """Headers of the dead letters whose key is `marker` (one test's records only)."""

    def pick(record: Any) -> dict[str, str] | None:
        return {k: v.decode() for k, v in record.headers} if record.key == marker else None

    return await read_topic(
        bootstrap, dead_letter_topic(topic), pick, until=lambda found: len(found) >= want
    )


@pytest.mark.parametrize("topic", [JOBS_EVENTS, PUBLISH_RESULTS, "publish.facebook"])
async def test_invalid_records_are_dead_lettered_with_reason(
    pipeline: Endpoints, topic: str
) -> None:
    marker = f"garbage-{uuid.uuid4()}".encode()
    await send_raw(pipeline.kafka_bootstrap_servers, topic, [(marker, v) for v in GARBAGE])
    letters = await dead_letters(pipeline.kafka_bootstrap_servers, topic, marker, len(GARBAGE))
    assert len(letters) == len(GARBAGE)
    for letter in letters:
        assert letter[h.DLQ_TOPIC] == topic
        assert letter[h.DLQ_REASON]
        assert int(letter[h.DLQ_OFFSET]) >= 0
    # The consumers are still alive and serving after all that.
    async with httpx.AsyncClient() as http:
        for name in ("distributor", "publisher-facebook", "metrics"):
            assert (await http.get(f"{pipeline.url(name)}/healthz")).status_code == 200
