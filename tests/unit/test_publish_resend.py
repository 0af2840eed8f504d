"""Stored results that never reached Kafka are sent again by the timer loop, and marked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from schemas import Platform, PublishAction, PublishCompleted, PublishResult, PublishStatus
from schemas.envelope import utcnow
from services.publishing import repo, worker
from services.publishing.pacing import RetryPolicy, Throttle

pytestmark = pytest.mark.timeout(10)


def stored(job_id: str) -> repo.Unsent:
    result = PublishCompleted(
        tenant_id=uuid.uuid4(),
        payload=PublishResult(
            post_key="pk_" + uuid.uuid4().hex, action=PublishAction.PUBLISH,
            platform=Platform.FACEBOOK, connection_id=uuid.uuid4(), job_id=job_id,
            status=PublishStatus.POSTED, attempt=2,
            completed_at=utcnow(), platform_post_id="1_2",
        ),
    )  # fmt: skip
    return repo.Unsent(result, f"corr-{job_id}")


async def test_unsent_results_are_published_then_marked_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unsent = [stored("job-1"), stored("job-2")]
    published: list[tuple[str, Any, str | None]] = []
    marked: list[repo.Sent] = []
    asked: list[tuple[str, float]] = []

    async def fake_unsent(pool: Any, platform: str, older: float, limit: int) -> list[repo.Unsent]:
        asked.append((platform, older))
        return unsent

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        published.append((topic, event, kw.get("correlation_id")))

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        marked.extend(sent)
        return [None] * len(sent)

    monkeypatch.setattr(repo, "unsent_results", fake_unsent)
    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    publisher = worker.PublishWorker(
        platform=Platform.FACEBOOK, pool=None, broker=None, graph=None,  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=None,  # type: ignore[arg-type]
        throttle=Throttle(), retry_policy=RetryPolicy((1.0,), 2), resend_after_seconds=12.0,
    )  # fmt: skip
    assert await publisher.resend_unsent() == 2
    await asyncio.sleep(0)
    assert asked == [("facebook", 12.0)]
    assert [(t, e.payload.job_id, c) for t, e, c in published] == [
        ("publish.results", "job-1", "corr-job-1"), ("publish.results", "job-2", "corr-job-2"),
    ]  # fmt: skip
    assert marked == [repo.Sent(u.result.payload.post_key, u.result.event_id) for u in unsent]
