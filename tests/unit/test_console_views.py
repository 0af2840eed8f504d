"""The console's view models: statuses and errors in words, filters, previews, import
outcomes and analytics charts, from the APIs' answers."""

from __future__ import annotations

from typing import Any

from jobcast.job_files import JobRow
from jobcast.job_import import RowOutcome
from schemas.publish import ErrorClass, PublishStatus
from services.console import views
from services.console.analytics import analytics_charts


def post(**changes: Any) -> dict[str, Any]:
    return {
        "post_key": "pk_1", "job_id": "job-1", "platform": "instagram", "status": "posted",
        "attempt_count": 2, "permalink": "https://www.instagram.com/p/abc/", "error": None,
        "next_attempt_at": None, "updated_at": "2026-05-01T07:00:00+00:00",
        "lifecycle": {"first_seen_at": "2026-05-01T06:59:00+00:00"}, **changes,
    }  # fmt: skip


def test_every_status_and_error_class_has_words() -> None:
    assert set(views.STATUS_WORDS) == set(PublishStatus)
    assert set(views.ADVICE) == set(ErrorClass)
    assert views.status_words("posted") == "Posted"
    assert views.status_words("some_new_status") == "Some new status"


def test_a_post_row_says_its_status_attempts_and_link() -> None:
    row = views.post_row(post())
    assert (row.platform, row.status_words, row.tone, row.attempts) == (
        "Instagram", "Posted", "good", 2,
    )  # fmt: skip
    assert row.permalink == "https://www.instagram.com/p/abc/"
    assert row.updated_at == "2026-05-01 07:00 UTC"
    assert (row.can_approve, row.can_retry, row.can_cancel) == (False, False, False)


def test_a_post_row_states_its_first_comment() -> None:
    assert views.post_row(post()).first_comment == ""
    posted = {"status": "posted", "comment_id": "c-1", "attempts": 1, "error": None}
    assert views.post_row(post(first_comment=posted)).first_comment == "Posted (1 attempt)"
    failed = {"status": "failed", "comment_id": None, "attempts": 2,
              "error": {"error_class": "permanent", "message": "Comments are off"}}  # fmt: skip
    assert views.post_row(post(first_comment=failed)).first_comment == (
        "Failed (2 attempts): Comments are off"
    )


def test_only_web_links_are_shown_as_view_post() -> None:
    assert views.post_row(post(permalink="javascript:alert(1)")).permalink is None
    assert views.post_row(post(permalink=None)).permalink is None


def test_a_failed_post_says_what_went_wrong_and_what_to_do() -> None:
    error = {"error_class": "auth", "code": 190, "subcode": 463, "message": "Token expired"}
    row = views.post_row(post(status="failed", error=error, permalink=None))
    assert row.tone == "bad"
    assert row.can_retry
    assert row.error is not None
    assert row.error.summary == "Token expired (code 190)"
    assert "Reconnect" in row.error.advice


def test_a_retry_says_when_and_a_held_post_can_be_approved_or_cancelled() -> None:
    retry = views.post_row(post(status="retry_scheduled", next_attempt_at="2026-05-01T07:05:00Z"))
    assert retry.status_words == "Retrying at 2026-05-01 07:05 UTC"
    waiting = views.post_row(post(status="awaiting_approval"))
    assert waiting.can_approve
    assert waiting.can_cancel
    skipped = views.post_row(
        post(status="skipped", error={"error_class": "not_publishable", "message": "no image"})
    )
    assert skipped.error is not None
    assert "Nothing was posted" in skipped.error.advice


def test_filters_keep_valid_choices_and_say_what_they_dropped() -> None:
    good = views.post_filters("failed", "facebook", "2026-05-01", "2026-05-31")
    assert good.errors == []
    assert good.query() == {
        "status": "failed", "platform": "facebook",
        "since": "2026-05-01T00:00:00Z", "until": "2026-05-31T23:59:59.999999Z",
    }  # fmt: skip
    assert good.link("cur") == (
        "status=failed&platform=facebook&since=2026-05-01&until=2026-05-31&cursor=cur"
    )
    bad = views.post_filters("nope", "tiktok", "2026-02-30", "yesterday")
    assert len(bad.errors) == 4
    assert bad.query() == dict.fromkeys(("status", "platform", "since", "until"))


def test_a_preview_shows_caption_hashtags_media_and_warnings() -> None:
    answer = {"connections": [
        {"platform": "facebook", "account_id": "1", "display_name": "Kopi Pagi",
         "outcome": "post", "skip_reason": None, "apply_url": "https://x.example/a",
         "content": {"text": "Barista wanted #BaliJobs #Coffee\nemail a#b", "link": None,
                     "media": []},
         "warnings": [{"code": "long", "message": "caption was shortened"}]},
        {"platform": "instagram", "account_id": "2", "display_name": "",
         "outcome": "skip", "skip_reason": "Instagram needs an image", "content": None,
         "apply_url": None, "warnings": []},
    ]}  # fmt: skip
    facebook, instagram = views.preview_rows(answer)
    assert facebook.hashtags == ["#BaliJobs", "#Coffee"]
    assert facebook.link == "https://x.example/a"
    assert facebook.warnings == ["caption was shortened"]
    assert facebook.posts
    assert not instagram.posts
    assert instagram.account == "2"
    assert instagram.skip_reason == "Instagram needs an image"


def test_a_pasted_job_or_event_is_read_and_bad_input_explained() -> None:
    assert views.parse_job('{"job_id": "a"}') == ({"job_id": "a"}, "")
    assert views.parse_job('{"event_type": "job.created", "payload": {"job_id": "a"}}')[0] == {
        "job_id": "a"
    }
    assert views.parse_job("")[0] is None
    assert "not JSON" in views.parse_job("{")[1]
    assert "object" in views.parse_job("[1]")[1]


def test_an_import_shows_each_rows_outcome() -> None:
    rows = [
        JobRow(2, {"job_id": "a"}, None),
        JobRow(3, None, "title: field required"),
        JobRow(4, {"job_id": "b"}, None),
        JobRow(5, {"job_id": "c"}, None),
        JobRow(6, {"job_id": "d"}, None),
    ]
    outcomes = [
        RowOutcome(2, "accepted", event_id="e1"),
        RowOutcome(3, "rejected", reason="title: field required"),
        RowOutcome(4, "duplicate", event_id="e2"),
        RowOutcome(5, "rejected", reason="title: too long"),
        RowOutcome(6, "not_sent", reason="the ingest API could not be reached"),
    ]
    shown = views.import_view("jobs.csv", rows, outcomes)
    assert [(r.line, r.job_id, r.ok) for r in shown.rows] == [
        (2, "a", True), (3, "", False), (4, "b", True), (5, "c", False), (6, "d", False),
    ]  # fmt: skip
    assert shown.rows[1].outcome == "not sent: title: field required"
    assert shown.rows[4].outcome.startswith("not sent (import the file again): the ingest")
    assert (shown.accepted, shown.duplicates, shown.rejected) == (1, 1, 3)


def test_a_connection_row_says_its_state_in_words() -> None:
    row = views.connection_row({
        "connection_id": "c1", "platform": "facebook", "account_id": "123",
        "display_name": "Kopi Pagi", "status": "needs_reconnect",
        "token_expires_at": None, "last_verified_at": "2026-05-01T07:00:00Z",
        "last_verify_error": "Error validating access token",
    })  # fmt: skip
    assert not row.healthy
    assert row.status_words.startswith("Needs reconnecting")
    assert row.expires == "does not expire"
    assert row.last_verified == "2026-05-01 07:00 UTC"


def group(key: str, posts: int, published: int, failed: int) -> dict[str, Any]:
    rate = published / (published + failed) if published + failed else None
    return {
        "key": key, "posts": posts, "published": published, "failed": failed,
        "success_rate": rate,
        "time_to_publish": {"avg_seconds": 1.0, "p50_seconds": 0.8, "p95_seconds": 2.5},
        "engagement": {"total_interactions": 40, "views": 400},
    }  # fmt: skip


def test_analytics_become_five_named_svg_charts_with_tenant_text_escaped() -> None:
    by_day = {"groups": [group("2026-05-01", 4, 3, 1), group("2026-05-02", 2, 2, 0)]}
    by_platform = {"groups": [group("facebook", 3, 3, 0), group("instagram", 3, 2, 1)]}
    by_job = {"groups": [group("<script>x</script>", 2, 2, 0), group("job-2", 4, 3, 1)]}
    charts = analytics_charts(by_day, by_platform, by_job)
    assert [c.chart_id for c in charts] == [
        "posts-per-day", "success-rate", "time-to-publish", "engagement", "per-job",
    ]  # fmt: skip
    for chart in charts:
        assert chart.svg.startswith("<svg")
        assert 'role="img"' in chart.svg
    assert "<script>" not in charts[-1].svg
    assert "&lt;script&gt;" in charts[-1].svg
    assert "Facebook" in charts[2].svg
    assert views.analytics_group(by_platform["groups"][1]).success_rate == "67%"
    assert views.analytics_group(by_platform["groups"][1]).p95 == "2.5 s"
