"""First comments: the contract's bounds, the hashtag move, the comment's claim and
outcomes, reconciliation by listing comments, and the read model's order-free merge."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from jobcast.graph.client import GraphError
from jobcast.graph.credentials import Usable
from jobcast.graph.pacing import RetryPolicy
from jobcast.platform_api import AmbiguousOutcomeError, Verdict
from schemas import (
    ErrorClass,
    FirstComment,
    FirstCommentStatus,
    JobPosting,
    Platform,
    PostContent,
    PublishCommand,
    PublishCompleted,
    PublishError,
    PublishRequested,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from schemas.envelope import utcnow
from services.distributor import captions
from services.distributor.content import render
from services.distributor.models import TenantProfile
from services.metrics.readmodel.models import first_comment_key, first_comment_of, result_row
from services.metrics.rebuild.decoder import result_row_fast
from services.publishing import comments, decisions, repo, worker
from services.publishing.posting import Absent, Attempt, Posted, Undecided
from tests.publishing_fakes import facebook_worker

pytestmark = pytest.mark.timeout(10)


def job(**settings: Any) -> JobPosting:
    return JobPosting.model_validate(
        {
            "job_id": "job-1", "title": "Line cook", "company": "Warung Laut",
            "location": "Canggu", "employment_type": "daily",
            "apply_url": "https://jobs.example.com/1", "image_url": "https://img.example/1.jpg",
            "tags": ["cook", "Bali"], "platform_settings": settings,
        }
    )  # fmt: skip


# --- contract ---------------------------------------------------------------------------------


def test_an_instagram_first_comment_is_bounded_by_metas_limit() -> None:
    job(instagram={"first_comment": "x" * 2_200})
    job(facebook={"first_comment": "x" * 8_000})
    with pytest.raises(ValidationError, match=r"instagram\.first_comment: at most 2,200"):
        job(instagram={"first_comment": "x" * 2_201})
    with pytest.raises(ValidationError):
        job(facebook={"first_comment": "x" * 8_001})


# --- the hashtag move -------------------------------------------------------------------------

MOVING = TenantProfile(hashtags=("hiring",), instagram_hashtags_in_first_comment=True)


def test_hashtags_move_from_the_instagram_caption_to_the_first_comment() -> None:
    rendered = render(job(), Platform.INSTAGRAM, MOVING)
    assert "#" not in rendered.content.text
    assert rendered.content.first_comment == "#hiring #cook #Bali"


def test_moved_hashtags_follow_the_jobs_own_first_comment_without_repeats() -> None:
    rendered = render(job(instagram={"first_comment": "Apply today #cook"}), Platform.INSTAGRAM,
                      MOVING)  # fmt: skip
    assert rendered.content.first_comment == "Apply today #cook\n\n#hiring #Bali"


def test_facebook_keeps_its_hashtags_and_gets_only_the_jobs_comment() -> None:
    rendered = render(job(facebook={"first_comment": " Hello "}), Platform.FACEBOOK, MOVING)
    assert rendered.content.text.endswith("#hiring #cook #Bali")
    assert rendered.content.first_comment == "Hello"


def test_without_the_option_instagram_captions_keep_their_hashtags() -> None:
    rendered = render(job(), Platform.INSTAGRAM, TenantProfile(hashtags=("hiring",)))
    assert rendered.content.text.endswith("#hiring #cook #Bali")
    assert rendered.content.first_comment is None


def test_moved_hashtags_fit_the_bound_dropping_from_the_end() -> None:
    comment = "x" * 2_190
    text = captions.comment_with_hashtags(
        comment, ["#one", "#two", "#three"], limit=2_200, max_tags=30
    )
    assert text == comment + "\n\n#one"  # "#one #two" would be 2,201
    assert captions.comment_with_hashtags(None, [], limit=2_200, max_tags=30) is None
    many = [f"#t{i}" for i in range(40)]
    capped = captions.comment_with_hashtags("#a #b", many, limit=2_200, max_tags=30)
    assert capped is not None
    assert captions.count_hashtags(capped) == 30


# --- the comment's claim and outcomes -----------------------------------------------------------


def command(first_comment: str | None = "Apply now") -> PublishRequested:
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    return PublishRequested(
        tenant_id=tenant,
        payload=PublishCommand(
            post_key=make_post_key(tenant, "job-1", connection, 1), platform=Platform.FACEBOOK,
            connection_id=connection, account_id="page-1", job_id="job-1", revision=1,
            content=PostContent(text="post text", first_comment=first_comment),
        ),
    )  # fmt: skip


def claim_of(event: PublishRequested, **changes: Any) -> repo.Claim:
    fields: dict[str, Any] = {
        "event": event, "correlation_id": "corr", "attempt": 1, "progress": {},
        "claimed_at": utcnow(), "confirm_checks": 0, "resume": repo.Resume.FRESH,
    }  # fmt: skip
    return repo.Claim(**{**fields, **changes})


POSTED = decisions.final(PublishStatus.POSTED, 1, platform_post_id="page-1_9")


def test_a_posted_post_with_a_first_comment_brings_the_comments_claim() -> None:
    event = command()
    new = comments.follow_up(claim_of(event), POSTED)
    assert new is not None
    assert new.kind is repo.Kind.FIRST_COMMENT
    assert new.progress == {"post_id": "page-1_9", "permalink": None}
    made = new.event.payload
    assert made.post_key == comments.comment_key(event.payload.post_key) != made.original_post_key
    assert made.original_post_key == event.payload.post_key
    assert made.content.text == "Apply now"
    assert comments.comment_key(event.payload.post_key) == comments.comment_key(
        event.payload.post_key
    )  # derived: one comment per post, whoever computes it


@pytest.mark.parametrize(
    "decision",
    [
        decisions.failed(1, ErrorClass.PERMANENT, "no"),
        decisions.unconfirmed(1, 0, (60.0,), "no answer"),
        decisions.after_failure(
            Verdict(ErrorClass.TRANSIENT), 1, RetryPolicy((1.0,), 3),
            code=2, subcode=None, message="later",
        ),
    ],
    ids=["failed", "unconfirmed", "retry"],
)  # fmt: skip
def test_no_comment_claim_unless_the_post_is_posted(decision: decisions.Decision) -> None:
    assert comments.follow_up(claim_of(command()), decision) is None


def test_no_comment_claim_without_a_comment_or_from_a_comment() -> None:
    assert comments.follow_up(claim_of(command(None)), POSTED) is None
    assert comments.follow_up(claim_of(command(), kind=repo.Kind.FIRST_COMMENT), POSTED) is None


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (decisions.final(PublishStatus.POSTED, 2, platform_post_id="c-1"),
         FirstCommentStatus.POSTED),
        (decisions.failed(2, ErrorClass.PERMANENT, "comments are off"), FirstCommentStatus.FAILED),
        (decisions.unconfirmed(2, 0, (60.0,), "?"), FirstCommentStatus.UNCONFIRMED),
        (decisions.wait(2, 5.0, ErrorClass.RATE_LIMITED, "paced"),
         FirstCommentStatus.RETRY_SCHEDULED),
    ],
)  # fmt: skip
def test_a_comments_outcome_is_a_result_about_its_post(
    decision: decisions.Decision, status: FirstCommentStatus
) -> None:
    new = comments.follow_up(claim_of(command()), POSTED)
    assert new is not None
    claim = claim_of(new.event, attempt=2, progress=new.progress, kind=repo.Kind.FIRST_COMMENT)
    result = comments.result_of(claim, decision, utcnow(), None)
    assert result.post_key == new.event.payload.original_post_key
    assert (result.status, result.attempt, result.platform_post_id) == (
        PublishStatus.POSTED, 0, "page-1_9",
    )  # fmt: skip
    assert result.first_comment is not None
    assert result.first_comment.status is status
    assert result.first_comment.attempts == 2
    assert result.first_comment.error == decision.error


# --- reconciliation: listing the post's comments -----------------------------------------------


class _Graph:
    def __init__(self, pages: Sequence[dict[str, Any] | Exception]) -> None:
        self.pages = list(pages)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def call(self, method: str, path: str, token: str, **kw: Any) -> dict[str, Any]:
        self.calls.append((method, path, kw.get("params") or kw.get("data") or {}))
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page


def attempt(graph: _Graph) -> Attempt[Any]:
    async def checkpoint() -> None:
        return None

    return Attempt(graph, command().payload, "token", {}, utcnow(), checkpoint)


async def test_our_comment_is_found_on_a_later_page() -> None:
    graph = _Graph([
        {"data": [{"id": "c-1", "message": "nice"}],
         "paging": {"cursors": {"after": "A"}, "next": "https://next"}},
        {"data": [{"id": "c-2", "message": " Apply now "}]},
    ])  # fmt: skip
    found = await comments.find_comment(attempt(graph), "p-1", "Apply now", text_field="message")
    assert found == Posted("c-2", None)
    assert [c[1] for c in graph.calls] == ["p-1/comments", "p-1/comments"]
    assert graph.calls[1][2]["after"] == "A"


async def test_absent_only_after_every_page_and_undecided_when_unreadable() -> None:
    absent = _Graph([{"data": [{"id": "c-1", "text": "other"}]}])
    assert await comments.find_comment(attempt(absent), "m", "Apply now", text_field="text") == (
        Absent()
    )
    broken = _Graph([AmbiguousOutcomeError("timeout")])
    found = await comments.find_comment(attempt(broken), "m", "Apply now", text_field="text")
    assert isinstance(found, Undecided)


# --- the worker runs a comment's claim like a post ----------------------------------------------


class _Poster:
    """A platform poster whose comment call fails as told; the comments list holds what
    the platform made."""

    def __init__(self, error: Exception | None, made: bool) -> None:
        self.error, self.made = error, made
        self.comment_calls = 0

    async def publish(self, attempt: Any) -> Any:
        raise AssertionError("a comment's claim never publishes a post")

    async def reconcile(self, attempt: Any) -> Any:
        raise AssertionError("a comment's claim never reconciles a post")

    async def edit(self, attempt: Any, post_id: str) -> bool:
        raise NotImplementedError

    async def delete(self, attempt: Any, post_id: str) -> bool:
        raise NotImplementedError

    async def comment(self, attempt: Any, post_id: str, text: str) -> str:
        self.comment_calls += 1
        if self.error is not None:
            raise self.error
        return "c-new"

    async def find_comment(self, attempt: Any, post_id: str, text: str) -> Any:
        return Posted("c-made", None) if self.made else Absent()


class _Credentials:
    async def get(self, tenant_id: Any, connection_id: Any) -> Any:
        return Usable("1", "token")


async def run_comment(
    monkeypatch: pytest.MonkeyPatch,
    poster: _Poster,
    resume: repo.Resume = repo.Resume.FRESH,
    topics: list[str] | None = None,
) -> repo.Outcome:
    recorded: list[repo.Outcome] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        return [None] * len(sent)

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        if topics is not None:
            topics.append(topic)

    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    publisher = facebook_worker(poster, fake_publish)
    publisher._credentials = _Credentials()
    new = comments.follow_up(claim_of(command()), POSTED)
    assert new is not None
    claim = claim_of(new.event, progress=new.progress, kind=repo.Kind.FIRST_COMMENT, resume=resume)
    await publisher.run(claim)
    [outcome] = recorded
    assert outcome.key == new.event.payload.post_key  # the comment's row, not the post's
    assert outcome.follow_up is None
    assert outcome.result.payload.status is PublishStatus.POSTED  # the post stays posted
    return outcome


def first(outcome: repo.Outcome) -> FirstComment:
    assert outcome.result.payload.first_comment is not None
    return outcome.result.payload.first_comment


async def test_a_comment_answered_500_after_it_was_made_is_found_not_repeated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    poster = _Poster(GraphError("unknown", code=2, subcode=None, http_status=500), made=True)
    outcome = await run_comment(monkeypatch, poster)
    assert (first(outcome).status, first(outcome).comment_id) == (
        FirstCommentStatus.POSTED, "c-made",
    )  # fmt: skip
    assert poster.comment_calls == 1
    assert outcome.state == decisions.DONE


async def test_a_transient_comment_error_proven_absent_is_retried_by_the_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    poster = _Poster(GraphError("unknown", code=2, subcode=None, http_status=500), made=False)
    outcome = await run_comment(monkeypatch, poster)
    assert first(outcome).status is FirstCommentStatus.RETRY_SCHEDULED
    assert outcome.state == decisions.RETRY
    assert outcome.attempt == 2
    assert first(outcome).next_attempt_at is not None


async def test_a_permanent_comment_error_fails_the_comment_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = GraphError("comments are off", code=100, subcode=None, http_status=400)
    outcome = await run_comment(monkeypatch, _Poster(error, made=False))
    assert first(outcome).status is FirstCommentStatus.FAILED
    assert first(outcome).error is not None
    assert first(outcome).error.message == "comments are off"  # type: ignore[union-attr]


async def test_a_comment_refused_for_a_permission_fails_without_marking_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = GraphError("(#10) Requires instagram_manage_comments", code=10, subcode=None,
                       http_status=403)  # fmt: skip
    topics: list[str] = []
    outcome = await run_comment(monkeypatch, _Poster(error, made=False), topics=topics)
    assert first(outcome).status is FirstCommentStatus.FAILED
    assert first(outcome).error.error_class is ErrorClass.AUTH  # type: ignore[union-attr]
    assert topics == ["publish.results"]  # no connection.status_changed


async def test_a_comment_taken_over_after_a_crash_looks_before_commenting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    poster = _Poster(None, made=True)
    outcome = await run_comment(monkeypatch, poster, resume=repo.Resume.RECONCILE)
    assert first(outcome).comment_id == "c-made"
    assert poster.comment_calls == 0


# --- the read model keeps the greatest comment outcome -------------------------------------------


def comment_event(status: FirstCommentStatus, attempts: int, seconds: int) -> PublishCompleted:
    error = PublishError(error_class=ErrorClass.PERMANENT, message="off")
    return PublishCompleted(
        tenant_id=uuid.uuid4(),
        payload=PublishResult(
            post_key="pk_" + "0" * 32, platform=Platform.INSTAGRAM,
            connection_id=uuid.uuid4(), job_id="job-1", status=PublishStatus.POSTED,
            attempt=0, completed_at=utcnow() + timedelta(seconds=seconds),
            first_comment=FirstComment(
                status=status, attempts=attempts,
                comment_id="c-1" if status is FirstCommentStatus.POSTED else None,
                error=error if status is FirstCommentStatus.FAILED else None,
            ),
        ),
    )  # fmt: skip


def key(event: PublishCompleted) -> str:
    assert event.payload.first_comment is not None
    return first_comment_key(event.payload.first_comment, event.payload.completed_at,
                             event.event_id)  # fmt: skip


def test_a_final_comment_outcome_outranks_earlier_and_later_transient_ones() -> None:
    pending = comment_event(FirstCommentStatus.PENDING, 0, 0)
    retry = comment_event(FirstCommentStatus.RETRY_SCHEDULED, 1, 1)
    posted = comment_event(FirstCommentStatus.POSTED, 2, 2)
    late_retry = comment_event(FirstCommentStatus.RETRY_SCHEDULED, 1, 9)  # arrives late
    keys = [key(e) for e in (pending, retry, posted, late_retry)]
    assert max(keys) == key(posted)
    assert first_comment_of(max(keys)) == {
        "status": "posted", "comment_id": "c-1", "attempts": 2, "error": None,
    }  # fmt: skip
    assert key(retry) > key(pending)
    failed = comment_event(FirstCommentStatus.FAILED, 3, 3)
    assert first_comment_of(key(failed))["error"] == {  # type: ignore[index]
        "error_class": "permanent", "message": "off",
    }  # fmt: skip


def test_the_rebuilds_decoder_reads_the_first_comment_as_the_contract_does() -> None:
    event = comment_event(FirstCommentStatus.FAILED, 3, 0)
    assert result_row_fast(event.model_dump_json().encode()) == result_row(event)
