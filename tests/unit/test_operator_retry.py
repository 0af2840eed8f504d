"""A publisher's side of operator retries: which commands it acts on, and fresh attempt series."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from jobcast.graph.pacing import RetryPolicy
from jobcast.kafka import RecordMeta
from jobcast.platform_api import Verdict
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued
from schemas.platforms import Platform
from schemas.publish import ErrorClass, PublishStatus
from services.publishing import decisions, repo
from services.publishing.operator import OperatorRetries

POLICY = RetryPolicy(delays=(1.0, 2.0, 3.0), max_attempts=3)
TRANSIENT = Verdict(ErrorClass.TRANSIENT)
POST_KEY = "pk_" + "cd" * 16
META = RecordMeta("operator.commands", 0, 0, None, None)


def failure(attempt: int, series_start: int = 1) -> decisions.Decision:
    return decisions.after_failure(
        TRANSIENT, attempt, POLICY, code=None, subcode=None, message="boom",
        series_start=series_start,
    )  # fmt: skip


def test_attempts_past_the_cap_fail_the_post() -> None:
    assert failure(2).status is PublishStatus.RETRY_SCHEDULED
    last = failure(3)
    assert (last.status, last.state, last.attempt) == (PublishStatus.FAILED, decisions.DONE, 3)


def test_a_reopened_post_gets_a_fresh_series_with_growing_attempt_numbers() -> None:
    # Failed at attempt 3; the operator's retry runs attempt 4 as the series' first.
    first = failure(4, series_start=4)
    assert first.status is PublishStatus.RETRY_SCHEDULED
    assert (first.attempt, first.delay_seconds) == (5, 1.0)
    assert failure(5, series_start=4).delay_seconds == 2.0
    assert failure(6, series_start=4).status is PublishStatus.FAILED


def command_event(action: OperatorAction, **target: Any) -> OperatorCommandIssued:
    command = OperatorCommand(action=action, actor="api-key:jc_test1", **target)
    return OperatorCommandIssued(tenant_id=uuid.uuid4(), payload=command)


@pytest.fixture
def reopened(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    answers: list[repo.Reopened | repo.RetryRefused] = [
        repo.Reopened(4), repo.RetryRefused.OTHER_PLATFORM, repo.RetryRefused.NOT_FAILED,
    ]  # fmt: skip

    async def fake_reopen(pool: Any, **kwargs: Any) -> repo.Reopened | repo.RetryRefused:
        calls.append(kwargs)
        return answers.pop(0)

    monkeypatch.setattr(repo, "reopen_failed", fake_reopen)
    return calls


async def test_publishers_act_only_on_retry(reopened: list[dict[str, Any]]) -> None:
    handle = OperatorRetries(pool=None, platform=Platform.FACEBOOK)  # type: ignore[arg-type]
    for event in [
        command_event(OperatorAction.CANCEL, post_key=POST_KEY),
        command_event(OperatorAction.APPROVE, job_id="job-1"),
        command_event(OperatorAction.PAUSE, platform=Platform.FACEBOOK),
        command_event(OperatorAction.RESUME),
    ]:
        await handle(event, META)
    assert reopened == []
    retry = command_event(OperatorAction.RETRY, post_key=POST_KEY)
    await handle(retry, META)
    assert reopened == [
        {"tenant_id": retry.tenant_id, "post_key": POST_KEY, "platform": "facebook",
         "command_id": retry.event_id},
    ]  # fmt: skip


async def test_refusals_are_logged_except_the_other_platforms(
    reopened: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    handle = OperatorRetries(pool=None, platform=Platform.INSTAGRAM)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="services.publishing.operator"):
        for _ in range(3):
            await handle(command_event(OperatorAction.RETRY, post_key=POST_KEY), META)
    messages = [(r.getMessage(), getattr(r, "reason", None)) for r in caplog.records]
    assert messages == [
        ("operator retry: post reopened", None),
        ("operator retry ignored", repo.RetryRefused.NOT_FAILED.value),
    ]
