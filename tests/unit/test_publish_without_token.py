"""A post whose connection lost its token: failed when nothing was sent yet, unconfirmed
when an earlier attempt may have posted (nobody can look without a token)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from jobcast.graph.credentials import Unusable
from jobcast.graph.pacing import RetryPolicy, Throttle
from schemas import ErrorClass, Platform, PostContent, PublishCommand, PublishRequested
from schemas.envelope import utcnow
from schemas.publish import PublishStatus, make_post_key
from services.publishing import decisions, repo, worker
from services.publishing.posting import Attempt
from tests.publishing_fakes import ResultsTo, no_platform_api


class _NoCalls:
    """A poster that must not be called: there is no token to call with."""

    async def publish(self, attempt: Attempt[Any]) -> Any:
        raise AssertionError("published without a token")

    async def reconcile(self, attempt: Attempt[Any]) -> Any:
        raise AssertionError("reconciled without a token")


class _NoToken:
    async def get(self, tenant_id: Any, connection_id: Any) -> Unusable:
        return Unusable("connection missing or needs reconnect")

    def forget(self, tenant_id: Any, connection_id: Any) -> None:
        return None


async def conclude(monkeypatch: pytest.MonkeyPatch, resume: repo.Resume) -> repo.Outcome:
    recorded: list[repo.Outcome] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        return [None] * len(sent)

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        return None

    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    publisher = worker.PublishWorker(
        platform=Platform.THREADS, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(fake_publish),  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=_NoCalls(),  # type: ignore[arg-type]
        throttle=Throttle(), retry_policy=RetryPolicy((30.0,), 3),
    )  # fmt: skip
    publisher._credentials = _NoToken()  # type: ignore[assignment]
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    event = PublishRequested(
        tenant_id=tenant,
        payload=PublishCommand(
            post_key=make_post_key(tenant, "job-1", connection, 1), platform=Platform.THREADS,
            connection_id=connection, account_id="th-1", job_id="job-1", revision=1,
            content=PostContent(text="post text"),
        ),
    )  # fmt: skip
    claim = repo.Claim(
        event=event, correlation_id="corr", attempt=2, progress={"container_id": "c-1"},
        claimed_at=utcnow(), confirm_checks=0, resume=resume,
    )  # fmt: skip
    await publisher.run(claim)
    [outcome] = recorded
    return outcome


async def test_nothing_sent_yet_and_no_token_is_a_failure_for_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcome = await conclude(monkeypatch, repo.Resume.FRESH)
    result = outcome.result.payload
    assert result.status is PublishStatus.FAILED
    assert result.error is not None
    assert result.error.error_class is ErrorClass.AUTH


@pytest.mark.parametrize("resume", [repo.Resume.RECONCILE, repo.Resume.CONFIRM])
async def test_an_attempt_that_may_have_posted_stays_unconfirmed_without_a_token(
    monkeypatch: pytest.MonkeyPatch, resume: repo.Resume
) -> None:
    outcome = await conclude(monkeypatch, resume)
    result = outcome.result.payload
    assert result.status is PublishStatus.UNCONFIRMED
    assert outcome.state == decisions.UNCONFIRMED
    assert result.error is not None
    assert "needs reconnect" in result.error.message
    assert result.next_attempt_at is not None  # looked at again
