"""Stored results that never reached Kafka are sent again by the timer loop, and marked."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from jobcast.graph.client import GraphError
from jobcast.graph.credentials import Usable
from jobcast.graph.pacing import RetryPolicy, Throttle
from schemas import (
    Platform,
    PostContent,
    PublishAction,
    PublishCommand,
    PublishCompleted,
    PublishRequested,
    PublishResult,
    PublishStatus,
)
from schemas.envelope import utcnow
from services.publishing import repo, worker
from services.publishing.posting import Absent, Posted
from tests.publishing_fakes import ResultsTo, no_platform_api

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
        platform=Platform.FACEBOOK, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(fake_publish),  # type: ignore[arg-type]
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


class _Poster:
    """Posts at once, or fails with a transient Graph error (a retry is scheduled)."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def publish(self, attempt: Any) -> Any:
        if self.fail:
            raise GraphError("try later", code=2, subcode=None, http_status=400)
        return Posted("1_2", None)

    async def reconcile(self, attempt: Any) -> Any:
        return Absent()

    async def edit(self, attempt: Any, post_id: str) -> bool:
        raise NotImplementedError  # publishes only

    async def delete(self, attempt: Any, post_id: str) -> bool:
        raise NotImplementedError

    async def comment(self, attempt: Any, post_id: str, text: str) -> str:
        raise NotImplementedError  # no first comment here

    async def find_comment(self, attempt: Any, post_id: str, text: str) -> Any:
        raise NotImplementedError


class _Credentials:
    async def get(self, tenant_id: Any, connection_id: Any) -> Any:
        return Usable("1", "token")


@pytest.mark.parametrize(
    ("from_record", "fail", "pending"),
    [
        (True, False, False),  # final, and the record is redelivered if we die: no resend
        (True, True, True),  # a retry is not re-emitted by redelivery (the key is Held)
        (False, False, True),  # timer-fired: nothing would redeliver it
    ],
)
async def test_only_a_final_result_of_a_record_skips_the_resend_flag(
    monkeypatch: pytest.MonkeyPatch, from_record: bool, fail: bool, pending: bool
) -> None:
    recorded: list[repo.Outcome] = []
    marked: list[repo.Sent] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        marked.extend(sent)
        return [None] * len(sent)

    sent: list[Any] = []

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        sent.append(event)

    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    publisher = worker.PublishWorker(
        platform=Platform.FACEBOOK, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(fake_publish),  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=_Poster(fail),
        throttle=Throttle(), retry_policy=RetryPolicy((1.0,), 2),
    )  # fmt: skip
    publisher._credentials = _Credentials()  # type: ignore[assignment]
    command = stored("job-9").result.payload
    event = PublishRequested(
        tenant_id=uuid.uuid4(),
        payload=PublishCommand(
            post_key=command.post_key, platform=Platform.FACEBOOK,
            connection_id=command.connection_id, account_id="1", job_id="job-9", revision=1,
            content=PostContent(text="hi"),
        ),
    )  # fmt: skip
    claim = repo.Claim(event, "corr", 1, {}, utcnow(), 0, repo.Resume.FRESH)
    await publisher.run(claim, from_record=from_record)
    assert [o.pending for o in recorded] == [pending]
    assert [o.result.payload.status for o in recorded] == [
        PublishStatus.RETRY_SCHEDULED if fail else PublishStatus.POSTED
    ]
    assert len(marked) == (1 if pending else 0)
    # Stored and sent as the same bytes, serialised once.
    assert [e.model_dump_json() for e in sent] == [o.rendered for o in recorded]
    assert recorded[0].rendered == recorded[0].result.model_dump_json()


async def test_routine_outcomes_log_at_debug_and_the_rest_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    published: list[Any] = []

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        published.append(event)

    publisher = worker.PublishWorker(
        platform=Platform.FACEBOOK, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(fake_publish),  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=None,  # type: ignore[arg-type]
        throttle=Throttle(), retry_policy=RetryPolicy((1.0,), 2),
    )  # fmt: skip
    posted = stored("job-1").result
    failed = posted.model_copy(
        update={"payload": posted.payload.model_copy(update={"status": PublishStatus.FAILED})}
    )
    caplog.set_level(logging.INFO, logger=worker.log.name)
    await publisher._emit(posted, "corr", mark_sent=False)
    await publisher._emit(failed, "corr", mark_sent=False)
    logged = [r for r in caplog.records if r.getMessage() == "publish outcome"]
    assert [(r.levelno, r.__dict__["status"]) for r in logged] == [(logging.INFO, "failed")]
    assert published == [posted, failed]  # both sent, whatever their log level
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=worker.log.name)
    await publisher._emit(posted, "corr", mark_sent=False)
    assert [r.levelno for r in caplog.records if r.getMessage() == "publish outcome"] == [
        logging.DEBUG
    ]
