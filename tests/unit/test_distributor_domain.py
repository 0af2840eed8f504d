"""Who gets a job, with what words: pure planning and formatting."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from schemas import JobPosting, Pay, PayPeriod, Platform, PostContent, PublishCommand, make_post_key
from services.distributor.captions import INSTAGRAM_CAPTION_LIMIT
from services.distributor.content import format_pay, render
from services.distributor.domain import Skip, plan_posts
from services.distributor.models import Connection

TENANT = uuid4()


def job(**changes: object) -> JobPosting:
    base: dict[str, object] = {
        "job_id": "job-9",
        "title": "Housekeeper",
        "company": "Villa Sari",
        "location": "Uluwatu",
        "employment_type": "daily",
        "apply_url": "https://jobs.example.com/9",
        "image_url": "https://jobs.example.com/9.jpg",
        "tags": ["BaliJobs"],
    }
    return JobPosting.model_validate({**base, **changes})


def connection(platform: Platform) -> Connection:
    return Connection(uuid4(), TENANT, platform, f"acct-{platform.value}", "", "active")


FB, IG = connection(Platform.FACEBOOK), connection(Platform.INSTAGRAM)


def format_content(posting: JobPosting, platform: Platform) -> PostContent:
    return render(posting, platform).content


def test_one_command_per_connection_with_deterministic_keys() -> None:
    plan = plan_posts(TENANT, job(), [FB, IG])
    commands = [p for p in plan if isinstance(p, PublishCommand)]
    assert [c.platform for c in commands] == [Platform.FACEBOOK, Platform.INSTAGRAM]
    assert commands[0].post_key == make_post_key(TENANT, "job-9", FB.connection_id, 1)
    assert plan == plan_posts(TENANT, job(), [FB, IG])  # replay gives the same plan


def test_instagram_without_image_is_skipped_with_a_reason() -> None:
    plan = plan_posts(TENANT, job(image_url=None), [FB, IG])
    assert isinstance(plan[0], PublishCommand)
    assert isinstance(plan[1], Skip)
    assert "image" in plan[1].reason


def test_platform_disabled_per_job() -> None:
    plan = plan_posts(TENANT, job(platform_settings={"facebook": {"enabled": False}}), [FB, IG])
    assert isinstance(plan[0], Skip)
    assert "disabled" in plan[0].reason
    assert isinstance(plan[1], PublishCommand)


def test_facebook_carries_the_apply_link_instagram_says_where_to_apply() -> None:
    fb = format_content(job(), Platform.FACEBOOK)
    ig = format_content(job(), Platform.INSTAGRAM)
    assert str(fb.link) == "https://jobs.example.com/9?utm_source=facebook&utm_medium=social"
    assert f"Apply: {fb.link}" in fb.text
    assert ig.link is None
    assert "jobs.example.com" in ig.text
    assert "https://" not in ig.text
    assert "#BaliJobs" in fb.text
    assert "#BaliJobs" in ig.text


def test_custom_caption_overrides_description() -> None:
    posting = job(description="long text", platform_settings={"instagram": {"caption": "Join us!"}})
    assert "Join us!" in format_content(posting, Platform.INSTAGRAM).text
    assert "long text" in format_content(posting, Platform.FACEBOOK).text


def test_instagram_caption_never_exceeds_the_limit() -> None:
    content = format_content(job(description="x" * 9_000), Platform.INSTAGRAM)
    assert len(content.text) <= INSTAGRAM_CAPTION_LIMIT


def test_format_pay() -> None:
    assert format_pay(Pay(min_amount=Decimal(150000), currency="IDR", period=PayPeriod.DAY)) == (
        "IDR\u00a0150,000 / day"
    )
    ranged = Pay(
        min_amount=Decimal("12.5"), max_amount=Decimal(15), currency="USD", period=PayPeriod.HOUR
    )
    assert format_pay(ranged) == "$12.50–15.00 / hour"
