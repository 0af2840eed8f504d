"""A job rendered for a LinkedIn organization page: commentary within 3,000 characters once
written as little text, hashtags inline, an article or an image post, and the warnings."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobcast.linkedin import little_text
from schemas import JobPosting, Platform
from schemas.media import MediaKind, PostFormat
from schemas.publish import MediaItem, PostContent, post_format, posted_media
from services.distributor.captions import LINKEDIN_COMMENTARY_LIMIT, fit_linkedin_commentary
from services.distributor.content import render
from services.distributor.domain import plan_posts
from services.distributor.models import Connection, TenantProfile

RESERVED = "\\|{}@[]()<>*_~"


def job(**changes: object) -> JobPosting:
    base: dict[str, object] = {
        "job_id": "job-9",
        "title": "Line cook",
        "company": "Warung Ibu",
        "location": "Ubud, Bali",
        "employment_type": "full_time",
        "description": "Evening shift.",
        "apply_url": "https://jobs.example.com/apply/9",
        "tags": ["BaliJobs"],
    }
    return JobPosting.model_validate({**base, **changes})


def bare_reserved(text: str) -> list[int]:
    """Positions of reserved characters in `text` that no backslash escapes."""
    found, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char in RESERVED or (char == "#" and not text[index + 1 : index + 2].isalnum()):
            found.append(index)
        index += 1
    return found


# --- little text -------------------------------------------------------------------------


def test_every_reserved_character_is_escaped_and_hashtags_stay_hashtags() -> None:
    text = "Pay (gross) [net] {x} <y> @team a|b ~ *bold* snake_case back\\slash C# #hiring"
    escaped = little_text.escape(text)
    assert escaped == (
        "Pay \\(gross\\) \\[net\\] \\{x\\} \\<y\\> \\@team a\\|b \\~ \\*bold\\* snake\\_case"
        " back\\\\slash C\\# #hiring"
    )
    assert bare_reserved(escaped) == []
    assert little_text.unescape(escaped) == text


@given(st.text(alphabet=st.sampled_from([*RESERVED, "#", "a", " ", "1", "é"]), max_size=60))
def test_escaping_round_trips_and_leaves_nothing_bare(text: str) -> None:
    escaped = little_text.escape(text)
    assert little_text.unescape(escaped) == text
    assert bare_reserved(escaped) == []


# --- commentary --------------------------------------------------------------------------


def test_commentary_has_the_attributed_apply_link_and_inline_hashtags() -> None:
    rendered = render(
        job(description="Cook (nasi_goreng) for 50+ guests", tags=["BaliJobs", "chef_life"]),
        Platform.LINKEDIN,
    )
    text = rendered.content.text  # plain: the publisher writes it as little text
    assert "Cook (nasi_goreng) for 50+ guests" in text
    assert text.splitlines()[-1] == "#BaliJobs #chef_life"
    assert "link in bio" not in text
    query = dict(parse_qsl(urlsplit(str(rendered.content.link)).query))
    assert query == {"utm_source": "linkedin", "utm_medium": "social"}
    assert f"Apply: {rendered.content.link}" in text
    sent = little_text.escape(text)
    assert sent.splitlines()[-1] == "#BaliJobs #chef\\_life"  # hashtags stay hashtags
    assert bare_reserved(sent) == []


def test_a_tenants_linkedin_attribution_is_its_own() -> None:
    profile = TenantProfile(utm={Platform.LINKEDIN: {"src": "li"}})
    rendered = render(job(), Platform.LINKEDIN, profile)
    assert str(rendered.content.link).endswith("?src=li")


def test_a_long_description_is_cut_to_3000_characters_counted_as_sent() -> None:
    # Every other character needs an escape: the text as sent is what must fit.
    rendered = render(job(description="a(" * 4_000), Platform.LINKEDIN)
    sent = little_text.escape(rendered.content.text)
    assert LINKEDIN_COMMENTARY_LIMIT - 5 <= len(sent) <= LINKEDIN_COMMENTARY_LIMIT
    codes = [w.code for w in rendered.warnings]
    assert codes == ["truncated", "body_shortened"]
    assert rendered.warnings[0].message.startswith("commentary truncated from 12,")
    assert rendered.content.text.endswith("utm_medium=social\n#BaliJobs")


def test_a_post_that_fits_has_no_warnings() -> None:
    rendered = render(job(), Platform.LINKEDIN)
    assert rendered.warnings == ()
    assert len(rendered.content.text) < LINKEDIN_COMMENTARY_LIMIT


@given(
    body=st.text(alphabet=st.sampled_from([*RESERVED, "#", "a", " ", "\n"]), max_size=5_000),
    tags=st.lists(st.text(alphabet="ab_#", min_size=1, max_size=10), max_size=40),
)
def test_commentary_as_sent_never_passes_the_limit(body: str, tags: list[str]) -> None:
    fitted = fit_linkedin_commentary(
        headline=["Cook (x) at [y]"],
        body=body,
        apply_url="https://jobs.example.com/a_b?x=(1)",
        hashtags=tags,
    )
    assert len(little_text.escape(fitted.text)) <= LINKEDIN_COMMENTARY_LIMIT
    assert "Apply: https://jobs.example.com/a_b?x=(1)" in fitted.text


def test_a_blank_apply_url_is_refused() -> None:
    with pytest.raises(ValueError, match="apply URL"):
        fit_linkedin_commentary(headline=["x"], body="", apply_url=" ", hashtags=[])


# --- article or image --------------------------------------------------------------------


def test_no_image_makes_an_article_titled_with_the_job() -> None:
    content = render(job(title="Chef (sous)"), Platform.LINKEDIN).content
    assert content.format is PostFormat.LINK
    assert content.title == "Chef (sous)"  # plain text: the article title is no little text
    assert content.media == []
    assert post_format(Platform.LINKEDIN, content) is PostFormat.LINK


def test_the_tenants_default_image_is_not_used() -> None:
    profile = TenantProfile(default_image_url="https://cdn.example.com/default.jpg")
    assert render(job(), Platform.LINKEDIN, profile).content.format is PostFormat.LINK


def test_an_image_makes_an_image_post_without_article_title() -> None:
    rendered = render(job(image_url="https://cdn.example.com/9.jpg"), Platform.LINKEDIN)
    content = rendered.content
    assert content.format is PostFormat.IMAGE
    assert [str(m.url) for m in content.media] == ["https://cdn.example.com/9.jpg"]
    assert content.title is None
    assert rendered.warnings == ()


def test_more_images_post_the_first_and_say_so() -> None:
    media = [{"kind": "image", "url": f"https://cdn.example.com/{n}.jpg"} for n in (1, 2, 3)]
    rendered = render(job(media=media), Platform.LINKEDIN)
    assert [str(m.url) for m in rendered.content.media] == ["https://cdn.example.com/1.jpg"]
    assert [(w.code, w.message) for w in rendered.warnings] == [
        (
            "media_left_out",
            "a LinkedIn post here holds one image: 2 other images left out, the first image posted",
        )
    ]


def test_a_video_is_left_out_with_a_warning() -> None:
    media = [
        {"kind": "video", "url": "https://cdn.example.com/tour.mp4"},
        {"kind": "image", "url": "https://cdn.example.com/1.jpg"},
    ]
    rendered = render(job(media=media), Platform.LINKEDIN)
    assert rendered.content.format is PostFormat.IMAGE
    assert [w.code for w in rendered.warnings] == ["video_not_supported"]
    only_video = render(job(media=media[:1]), Platform.LINKEDIN)
    assert only_video.content.format is PostFormat.LINK
    assert only_video.content.title == "Line cook"
    assert [w.code for w in only_video.warnings] == ["video_not_supported"]


def test_platform_settings_for_linkedin_override_caption_and_media() -> None:
    settings = {
        "linkedin": {
            "caption": "We are hiring [now]",
            "media": [{"kind": "image", "url": "https://cdn.example.com/li.jpg"}],
            "extra_hashtags": ["Careers"],
        }
    }
    rendered = render(job(platform_settings=settings), Platform.LINKEDIN)
    assert "We are hiring [now]" in rendered.content.text
    assert "Evening shift" not in rendered.content.text
    assert rendered.content.text.endswith("#BaliJobs #Careers")
    assert [str(m.url) for m in rendered.content.media] == ["https://cdn.example.com/li.jpg"]
    facebook = render(job(platform_settings=settings), Platform.FACEBOOK).content
    assert "Evening shift" in facebook.text


def test_a_first_comment_goes_with_the_linkedin_post() -> None:
    posting = job(platform_settings={"linkedin": {"first_comment": "Ask us (anything)"}})
    assert render(posting, Platform.LINKEDIN).content.first_comment == "Ask us (anything)"
    with pytest.raises(ValueError, match=r"linkedin\.first_comment: at most 1,250"):
        job(platform_settings={"linkedin": {"first_comment": "x" * 1_251}})


def test_linkedin_disabled_for_a_job_is_a_skip() -> None:
    tenant = uuid4()
    linkedin = Connection(uuid4(), tenant, Platform.LINKEDIN, "urn:li:organization:1", "", "active")
    planned = plan_posts(
        tenant, job(platform_settings={"linkedin": {"enabled": False}}), [linkedin]
    )
    assert [getattr(p, "reason", None) for p in planned] == ["linkedin disabled for this job"]
    planned = plan_posts(tenant, job(), [linkedin])
    assert [getattr(p, "platform", None) for p in planned] == [Platform.LINKEDIN]


def test_a_legacy_command_without_format_reads_as_linkedin_would_post_it() -> None:
    video = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/v.mp4")
    image = MediaItem(kind=MediaKind.IMAGE, url="https://cdn.example.com/i.jpg")
    assert post_format(Platform.LINKEDIN, PostContent(text="x", media=[image, image])) is (
        PostFormat.IMAGE
    )
    assert post_format(Platform.LINKEDIN, PostContent(text="x", media=[video])) is PostFormat.LINK
    media = posted_media(Platform.LINKEDIN, PostContent(text="x", media=[image, image]))
    assert (media.images, media.videos) == (1, 0)
