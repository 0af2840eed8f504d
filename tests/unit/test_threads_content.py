"""Threads' content rules: 500 characters as Threads counts them, one link, one topic tag,
text-only posts, images, videos and carousels of up to 20."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devtools.graph_sandbox.threads import text_length
from schemas.jobs import JobPosting
from schemas.media import PostFormat
from schemas.platforms import Platform
from schemas.publish import MediaItem, PostContent, PublishCommand, post_format
from services.distributor.captions import THREADS_TEXT_LIMIT, threads_measure
from services.distributor.content import render
from services.distributor.domain import plan_posts, preview
from services.distributor.lifecycle import THREADS_NO_EDIT, PlannedPost, on_update
from services.distributor.models import Connection, TenantProfile
from services.distributor.profile import profile_from_json
from services.distributor.schedule import PostState

APPLY = "https://jobs.example.com/apply?id=7"


def job(**changes: Any) -> JobPosting:
    data: dict[str, Any] = {
        "job_id": "j-1",
        "title": "Barista",
        "company": "Kopi Kita",
        "location": "Ubud",
        "employment_type": "full_time",
        "apply_url": APPLY,
        "description": "Pull shots and smile.",
    }
    return JobPosting.model_validate({**data, **changes})


def media(count: int, kind: str = "image") -> list[dict[str, str]]:
    ext = "jpg" if kind == "image" else "mp4"
    return [{"kind": kind, "url": f"https://cdn.example.com/{i}.{ext}"} for i in range(count)]


def codes(warnings: tuple[Any, ...]) -> list[str]:
    return [w.code for w in warnings]


def test_the_post_carries_the_apply_link_with_threads_attribution_as_its_link() -> None:
    rendered = render(job(), Platform.THREADS)
    text = rendered.content.text
    assert "utm_source=threads" in rendered.apply_url
    assert f"Apply: {rendered.apply_url}" in text
    assert str(rendered.content.link) == rendered.apply_url
    assert text.count("https://") == 1
    assert rendered.warnings == ()


def test_a_long_description_is_cut_to_500_characters() -> None:
    rendered = render(job(description="Great coffee, good people. " * 100), Platform.THREADS)
    text = rendered.content.text
    assert threads_measure(text) <= THREADS_TEXT_LIMIT
    assert len(text) > THREADS_TEXT_LIMIT - 40
    assert rendered.apply_url in text  # the apply line is never cut
    assert {"truncated", "body_shortened"} <= set(codes(rendered.warnings))


def test_emoji_count_as_their_utf8_bytes() -> None:
    assert threads_measure("abc") == 3
    assert threads_measure("café") == 4
    assert threads_measure("👍") == 4
    assert threads_measure("👨‍👩‍👧‍👦") == len("👨‍👩‍👧‍👦".encode())
    rendered = render(job(description="☕🙂 " * 200), Platform.THREADS)
    text = rendered.content.text
    assert len(text) < THREADS_TEXT_LIMIT  # far fewer code points than 500 ...
    assert THREADS_TEXT_LIMIT - 10 < threads_measure(text) <= THREADS_TEXT_LIMIT  # ... by weight


def test_other_links_become_host_names() -> None:
    description = "See https://blog.example.org/our-team and www.other.example.com/x too."
    rendered = render(job(description=description), Platform.THREADS)
    text = rendered.content.text
    assert "See blog.example.org and other.example.com too." in text
    assert text.count("://") == 1
    assert "links_removed" in codes(rendered.warnings)


def test_one_topic_tag_the_first_hashtag() -> None:
    profile = TenantProfile(hashtags=("BaliJobs",))
    posting = job(tags=["Barista", "Coffee"], description="We love #latte art.")
    rendered = render(posting, Platform.THREADS, profile)
    text = rendered.content.text
    assert text.endswith("#BaliJobs")
    assert text.count("#") == 1
    assert "We love latte art." in text  # a text hashtag loses its sign: the tag is taken
    found = {w.code: w.message for w in rendered.warnings}
    assert "2 hashtags dropped (limit 1)" in found["hashtags_dropped"]
    assert "hashtags_unmarked" in found


def test_the_profiles_topic_tag_comes_first() -> None:
    profile = profile_from_json({"hashtags": ["BaliJobs"], "threads_topic_tag": "Hiring"})
    text = render(job(), Platform.THREADS, profile).content.text
    assert text.endswith("#Hiring")
    assert "#BaliJobs" not in text


def test_a_text_hashtag_stays_the_tag_when_no_other_is_given() -> None:
    text = render(job(description="Join #TeamKopi and #more."), Platform.THREADS).content.text
    assert "#TeamKopi" in text
    assert "#more" not in text
    assert text.count("#") == 1


def test_a_topic_tag_threads_would_refuse_is_refused_in_the_profile() -> None:
    with pytest.raises(ValidationError, match="threads_topic_tag"):
        profile_from_json({"threads_topic_tag": "a.b"})
    with pytest.raises(ValidationError, match="threads_topic_tag"):
        profile_from_json({"threads_topic_tag": "x" * 51})


def test_text_only_is_a_link_post_and_not_skipped() -> None:
    connection = Connection(uuid4(), uuid4(), Platform.THREADS, "123", "kopi", "active")
    (only,) = preview(job(), TenantProfile(), [connection])
    assert only.skip_reason is None
    assert only.content is not None
    assert only.content.media == []
    assert only.content.format is PostFormat.LINK


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (media(1), PostFormat.IMAGE),
        (media(1, "video"), PostFormat.VIDEO),
        (media(2), PostFormat.CAROUSEL),
        ([*media(3), *media(2, "video")], PostFormat.CAROUSEL),
    ],
)
def test_media_make_image_video_or_carousel(
    items: list[dict[str, str]], expected: PostFormat
) -> None:
    content = render(job(media=items), Platform.THREADS).content
    assert content.format is expected
    assert len(content.media) == len(items)  # nothing is left out, videos included
    legacy = content.model_copy(update={"format": None})
    assert post_format(Platform.THREADS, legacy) is expected


def test_a_carousel_of_20_through_the_threads_override() -> None:
    posting = job(platform_settings={"threads": {"media": media(20)}})
    connection = Connection(uuid4(), uuid4(), Platform.THREADS, "123", "kopi", "active")
    (command,) = plan_posts(uuid4(), posting, [connection])
    assert isinstance(command, PublishCommand)
    assert command.content.format is PostFormat.CAROUSEL
    assert len(command.content.media) == 20
    assert PublishCommand.model_validate_json(command.model_dump_json()) == command


def test_21_items_and_more_than_10_elsewhere_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"platform_settings\.threads\.media"):
        job(platform_settings={"threads": {"media": media(21)}})
    with pytest.raises(ValidationError, match=r"platform_settings\.facebook\.media"):
        job(platform_settings={"facebook": {"media": media(11)}})


def test_image_and_video_formats_threads_cannot_take_are_warned() -> None:
    items = [
        {"kind": "image", "url": "https://cdn.example.com/a.png"},
        {"kind": "image", "url": "https://cdn.example.com/b.webp"},
        {"kind": "video", "url": "https://cdn.example.com/c.webm"},
    ]
    found = [w.message for w in render(job(media=items), Platform.THREADS).warnings]
    assert found == [
        "item 2 is WebP; Threads takes JPEG or PNG",
        "item 3 is WebM; Threads takes MP4 or MOV videos",
    ]


def test_a_first_comment_is_a_reply_of_at_most_500() -> None:
    posted = render(
        job(platform_settings={"threads": {"first_comment": "Questions? Reply here."}}),
        Platform.THREADS,
    )
    assert posted.content.first_comment == "Questions? Reply here."
    job(platform_settings={"threads": {"first_comment": "x" * 500}})
    with pytest.raises(ValidationError, match="at most 500 characters"):
        job(platform_settings={"threads": {"first_comment": "x" * 501}})


def test_an_apply_url_too_long_for_the_post_is_named_by_its_host() -> None:
    long_url = "https://jobs.example.com/apply?ref=" + "a" * 600
    rendered = render(job(apply_url=long_url), Platform.THREADS)
    text = rendered.content.text
    assert threads_measure(text) <= THREADS_TEXT_LIMIT
    assert "Apply: jobs.example.com" in text
    assert rendered.content.link is not None
    assert "apply_link_shortened" in codes(rendered.warnings)


def test_a_footer_is_kept_whole() -> None:
    footer = "Follow @kopikita for more jobs."
    text = render(
        job(description="word " * 300), Platform.THREADS, TenantProfile(footer=footer)
    ).content.text
    assert footer in text
    assert threads_measure(text) <= THREADS_TEXT_LIMIT


def test_a_live_threads_post_is_not_edited() -> None:
    tenant, connection_id = uuid4(), uuid4()
    connection = Connection(connection_id, tenant, Platform.THREADS, "123", "kopi", "active")
    (command,) = plan_posts(tenant, job(revision=2), [connection])
    assert isinstance(command, PublishCommand)
    live = PlannedPost(
        "pk_" + "0" * 32, connection_id, Platform.THREADS, command.action, 1, PostState.SENT,
        datetime.now(UTC),
    )  # fmt: skip
    changes = on_update(tenant, [live], [command], edit_live_posts=True)
    assert changes.plan == []
    ((edit, why),) = changes.unsupported_edits
    assert why == THREADS_NO_EDIT
    assert edit.original_post_key == live.post_key


def test_content_model_takes_20_items() -> None:
    items = [MediaItem(kind="image", url=f"https://c.example/{i}.jpg") for i in range(20)]
    assert len(PostContent(text="x", media=items).media) == 20
    with pytest.raises(ValidationError):
        PostContent(text="x", media=[*items, items[0]])


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_text_is_never_weighed_lighter_than_the_threads_host_weighs_it(text: str) -> None:
    """What fits here fits on the sandbox's Threads host too (its count is per character)."""
    assert threads_measure(text) >= text_length(text)
