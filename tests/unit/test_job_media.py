"""A job's photos and videos: the contract's rules and each platform's media plan."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from schemas import JobPosting, Platform, PostFormat, PublishCommand, PublishRequested
from schemas.media import MediaKind
from services.distributor.content import render
from services.distributor.domain import plan_posts
from services.distributor.media import plan_media
from services.distributor.models import Connection, TenantProfile
from tests.unit.test_contract import JOB

IMG = "https://cdn.example.com/a.jpg"
VID = "https://cdn.example.com/v.mp4"


def image(url: str = IMG, alt: str | None = None) -> dict[str, Any]:
    return {"kind": "image", "url": url, **({"alt_text": alt} if alt is not None else {})}


def video(url: str = VID) -> dict[str, Any]:
    return {"kind": "video", "url": url}


def job(**changes: Any) -> JobPosting:
    return JobPosting.model_validate({**JOB, **changes})


def refusals(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        job(**changes)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


# --- the contract -----------------------------------------------------------------------


def test_alt_text_on_a_video_is_refused_naming_the_field() -> None:
    found = refusals(media=[image(), {**video(), "alt_text": "a kitchen"}])
    assert list(found) == ["media.1.alt_text"]
    assert "images only" in found["media.1.alt_text"]


@pytest.mark.parametrize(
    ("media", "field", "words"),
    [
        ([image()] * 11, "media", "at most 10"),
        ([image("http://cdn.example.com/a.jpg")], "media.0.url", "https"),
        ([image("ftp://cdn.example.com/a.jpg")], "media.0.url", "URL scheme"),
        ([image(alt="x" * 1_001)], "media.0.alt_text", "at most 1000"),
        ([image(alt="a\x00b")], "media.0.alt_text", "pattern"),
        ([{"kind": "gif", "url": IMG}], "media.0.kind", "'image' or 'video'"),
        ([{**image(), "caption": "x"}], "media.0.caption", "Extra inputs"),
    ],
)
def test_bad_media_is_refused_naming_the_field(
    media: list[dict[str, Any]], field: str, words: str
) -> None:
    found = refusals(media=media)
    assert list(found) == [field]
    assert words in found[field]


def test_image_url_and_media_together_are_refused() -> None:
    found = refusals(image_url=IMG, media=[image()])
    assert "not both" in found[""]


def test_a_platform_override_is_checked_like_the_jobs_list() -> None:
    found = refusals(platform_settings={"instagram": {"media": [video(), video()] * 6}})
    assert list(found) == ["platform_settings.instagram.media"]


def test_extreme_but_valid_media_survives_the_command_round_trip() -> None:
    alt = "👩🏽‍🍳\u200d\ufeff\u202e" + "é" * 990
    posting = job(media=[image(IMG + "?q=" + "ü" * 340, alt)] * 10)
    connection = Connection(uuid4(), uuid4(), Platform.INSTAGRAM, "ig1", "IG", "active")
    [command] = plan_posts(uuid4(), posting, [connection])
    assert isinstance(command, PublishCommand)
    event = PublishRequested(tenant_id=uuid4(), payload=command)
    again = PublishRequested.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.payload.content.media[0].alt_text == alt
    assert again.payload.content.format is PostFormat.CAROUSEL


# --- the media plan -----------------------------------------------------------------------

REEL_PROFILE = TenantProfile(facebook_video_as_reel=True)


@pytest.mark.parametrize(
    ("media", "instagram", "facebook"),
    [
        ([image()], PostFormat.IMAGE, PostFormat.IMAGE),
        ([video()], PostFormat.REEL, PostFormat.VIDEO),
        ([image(), image(), image()], PostFormat.CAROUSEL, PostFormat.IMAGES),
        ([image(), video()], PostFormat.CAROUSEL, PostFormat.VIDEO),
        ([], None, PostFormat.LINK),
    ],
)
def test_each_platform_gets_its_format(
    media: list[dict[str, Any]], instagram: PostFormat | None, facebook: PostFormat
) -> None:
    posting = job(media=media)
    assert plan_media(posting, Platform.FACEBOOK, TenantProfile()).format is facebook
    if instagram is None:
        with pytest.raises(ValueError, match="Instagram needs"):
            plan_media(posting, Platform.INSTAGRAM, TenantProfile())
    else:
        assert plan_media(posting, Platform.INSTAGRAM, TenantProfile()).format is instagram


def test_a_carousel_keeps_order_and_alt_texts() -> None:
    posting = job(media=[image(f"https://cdn.example.com/{n}.jpg", f"photo {n}") for n in range(3)])
    plan = plan_media(posting, Platform.INSTAGRAM, TenantProfile())
    assert [(str(m.url), m.alt_text) for m in plan.items] == [
        (f"https://cdn.example.com/{n}.jpg", f"photo {n}") for n in range(3)
    ]
    assert plan.warnings == ()


def test_facebook_posts_the_first_video_alone_and_says_so() -> None:
    posting = job(media=[image(), video("https://cdn.example.com/first.mp4"), video()])
    plan = plan_media(posting, Platform.FACEBOOK, REEL_PROFILE)
    assert plan.format is PostFormat.REEL
    assert [str(m.url) for m in plan.items] == ["https://cdn.example.com/first.mp4"]
    assert [w.code for w in plan.warnings] == ["media_left_out"]
    assert "2 other items left out" in plan.warnings[0].message


def test_a_platform_override_replaces_the_jobs_list() -> None:
    posting = job(
        media=[image(), image()],
        platform_settings={"instagram": {"media": [video()]}, "facebook": {"media": []}},
    )
    assert plan_media(posting, Platform.INSTAGRAM, TenantProfile()).format is PostFormat.REEL
    assert plan_media(posting, Platform.FACEBOOK, TenantProfile()).items == ()


def test_image_url_is_one_image() -> None:
    plan = plan_media(job(image_url=IMG), Platform.INSTAGRAM, TenantProfile())
    assert [(m.kind, str(m.url)) for m in plan.items] == [(MediaKind.IMAGE, IMG)]


def test_format_warnings_come_from_the_extension_on_instagram_only() -> None:
    posting = job(media=[image("https://cdn.example.com/a.png"), video("https://x.example/v.avi")])
    ig = render(posting, Platform.INSTAGRAM)
    assert [(w.code, w.message) for w in ig.warnings] == [
        ("image_not_jpeg", "item 1 is PNG; Instagram needs JPEG"),
        ("video_format", "item 2 is AVI; Instagram takes MP4 or MOV videos"),
    ]
    fb = render(posting, Platform.FACEBOOK)
    assert [w.code for w in fb.warnings] == ["media_left_out"]
