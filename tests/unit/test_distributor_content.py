"""A job rendered per platform and tenant: locale, attribution, images, hashtags, warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import pytest

from schemas import JobPosting, Pay, PayPeriod, Platform, PublishCommand, make_post_key
from services.distributor.captions import (
    INSTAGRAM_CAPTION_LIMIT,
    count_hashtags,
    count_mentions,
)
from services.distributor.content import (
    LABELS,
    MAX_LINK_LENGTH,
    Rendered,
    attributed_url,
    format_datetime_local,
    format_pay,
    format_publish_at,
    hashtags_for,
    render,
)
from services.distributor.domain import Preview, Skip, plan_posts, preview
from services.distributor.media import image_format
from services.distributor.models import Connection, ContentWarning, TenantProfile

TENANT = uuid4()
NBSP = "\u00a0"
EN = TenantProfile()
ID = TenantProfile(language="id", locale="id_ID", timezone="Asia/Makassar")


def job(**changes: object) -> JobPosting:
    base: dict[str, object] = {
        "job_id": "job-7",
        "title": "Barista",
        "company": "Kopi Pagi",
        "location": "Seminyak, Bali",
        "employment_type": "daily",
        "description": "Morning shift, 07:00-15:00.",
        "apply_url": "https://jobs.example.com/apply/7",
        "image_url": "https://cdn.example.com/7.jpg",
        "tags": ["BaliJobs"],
    }
    return JobPosting.model_validate({**base, **changes})


def connection(platform: Platform, status: str = "active") -> Connection:
    return Connection(uuid4(), TENANT, platform, f"acct-{platform.value}", "", status)


FB, IG = connection(Platform.FACEBOOK), connection(Platform.INSTAGRAM)


def pay(low: str, high: str | None, currency: str, period: PayPeriod = PayPeriod.DAY) -> Pay:
    return Pay(
        min_amount=Decimal(low),
        max_amount=Decimal(high) if high is not None else None,
        currency=currency,
        period=period,
    )


def codes(rendered: Rendered | Preview) -> list[str]:
    return [w.code for w in rendered.warnings]


def messages(rendered: Rendered | Preview) -> list[str]:
    return [w.message for w in rendered.warnings]


def query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# --- money and dates in the tenant's locale -------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "profile", "expected"),
    [
        (("150000", "200000", "IDR"), ID, "Rp150.000–200.000 / hari"),
        (("150000", None, "IDR"), ID, "Rp150.000 / hari"),
        (("150000", "150000", "IDR"), ID, "Rp150.000 / hari"),
        (("150000", "200000", "IDR"), EN, f"IDR{NBSP}150,000–200,000 / day"),
        # English words with Indonesian number formats, and the reverse.
        (("150000", None, "IDR"), TenantProfile(locale="id_ID"), "Rp150.000 / day"),
        (("150000", None, "IDR"), TenantProfile(language="id"), f"IDR{NBSP}150,000 / hari"),
        (("12.5", "15", "USD"), EN, "$12.50–15.00 / day"),
        (("15", None, "USD"), EN, "$15 / day"),
        (("1234567.89", None, "USD"), EN, "$1,234,567.89 / day"),
        (("12.5", "15", "USD"), ID, "US$12,50–15,00 / hari"),
        # A locale that writes the sign after the number: still shown once, at the end.
        (("1500", "2000", "EUR"), TenantProfile(locale="de_DE"), f"1.500–2.000{NBSP}€ / day"),
        (("0", None, "IDR"), ID, "Rp0 / hari"),
    ],
)
def test_pay_in_the_tenants_locale(
    amounts: tuple[str, str | None, str], profile: TenantProfile, expected: str
) -> None:
    assert format_pay(pay(*amounts), profile) == expected


def test_pay_defaults_to_english_us() -> None:
    assert format_pay(pay("12", None, "USD", PayPeriod.HOUR)) == "$12 / hour"


@pytest.mark.parametrize("language", sorted(LABELS))
def test_every_pay_period_has_its_own_label_in_every_language(language: str) -> None:
    labels = LABELS[language]  # type: ignore[index]
    assert set(labels.periods) == set(PayPeriod)
    assert len(set(labels.periods.values())) == len(PayPeriod)
    assert all(label.strip() for label in labels.periods.values())


@pytest.mark.parametrize(
    ("period", "en", "id_"),
    [
        (PayPeriod.HOUR, "hour", "jam"),
        (PayPeriod.SHIFT, "shift", "shift"),
        (PayPeriod.DAY, "day", "hari"),
        (PayPeriod.WEEK, "week", "minggu"),
        (PayPeriod.MONTH, "month", "bulan"),
        (PayPeriod.YEAR, "year", "tahun"),
    ],
)
def test_period_labels(period: PayPeriod, en: str, id_: str) -> None:
    assert format_pay(pay("1", None, "USD", period), EN).endswith(f" / {en}")
    assert format_pay(pay("1", None, "IDR", period), ID).endswith(f" / {id_}")


def test_dates_in_the_tenants_locale_and_zone() -> None:
    instant = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert format_datetime_local(instant, ID) == "3 Des 2026 09.00 WITA"
    # CLDR puts a narrow no-break space before AM/PM.
    assert format_datetime_local(instant, EN) == "Dec 3, 2026, 1:00\u202fAM UTC"
    # A naive time is read in the tenant's own zone.
    assert format_datetime_local(datetime(2026, 12, 3, 9, 0), ID) == "3 Des 2026 09.00 WITA"


def test_publish_at_is_shown_in_the_tenants_zone() -> None:
    assert format_publish_at(job(), ID) is None
    naive = job(publish_at="2026-12-03T08:00:00", timezone="Asia/Jakarta")  # 08:00 WIB
    assert format_publish_at(naive, ID) == "3 Des 2026 09.00 WITA"
    aware = job(publish_at="2026-12-03T01:00:00+00:00")
    assert format_publish_at(aware, ID) == "3 Des 2026 09.00 WITA"


# --- attribution ------------------------------------------------------------------------------

SOCIAL_FB = {"utm_source": "facebook", "utm_medium": "social"}


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        (
            "https://jobs.example.com/7",
            SOCIAL_FB,
            "https://jobs.example.com/7?utm_source=facebook&utm_medium=social",
        ),
        # Existing parameters stay first and untouched; ours go at the end.
        (
            "https://jobs.example.com/7?ref=abc&b=%20x",
            SOCIAL_FB,
            "https://jobs.example.com/7?ref=abc&b=%20x&utm_source=facebook&utm_medium=social",
        ),
        # Upstream's own source wins; only the missing medium is added.
        (
            "https://jobs.example.com/7?utm_source=newsletter",
            SOCIAL_FB,
            "https://jobs.example.com/7?utm_source=newsletter&utm_medium=social",
        ),
        # Present with an empty value, or with no '=', still counts as set.
        (
            "https://jobs.example.com/7?utm_source=&utm_medium",
            SOCIAL_FB,
            "https://jobs.example.com/7?utm_source=&utm_medium",
        ),
        # Names are compared after percent-decoding ...
        (
            "https://jobs.example.com/7?utm%5Fsource=x",
            {"utm_source": "facebook"},
            "https://jobs.example.com/7?utm%5Fsource=x",
        ),
        # ... and exactly: another spelling is another parameter.
        (
            "https://jobs.example.com/7?UTM_SOURCE=x",
            {"utm_source": "facebook"},
            "https://jobs.example.com/7?UTM_SOURCE=x&utm_source=facebook",
        ),
        # Repeated upstream keys, their order and a trailing '&' are kept as they are.
        (
            "https://jobs.example.com/7?a=1&a=2&",
            {"utm_source": "facebook"},
            "https://jobs.example.com/7?a=1&a=2&utm_source=facebook",
        ),
        # The fragment stays last.
        (
            "https://jobs.example.com/7?a=1#apply",
            {"utm_source": "facebook"},
            "https://jobs.example.com/7?a=1&utm_source=facebook#apply",
        ),
        # Values are percent-encoded.
        (
            "https://jobs.example.com/7",
            {"utm_campaign": "summer sale & more/é"},
            "https://jobs.example.com/7?utm_campaign=summer%20sale%20%26%20more%2F%C3%A9",
        ),
        ("https://jobs.example.com/7?a=1", {}, "https://jobs.example.com/7?a=1"),
    ],
)
def test_attribution_never_clobbers_upstream_parameters(
    url: str, params: dict[str, str], expected: str
) -> None:
    assert attributed_url(url, params) == expected


def test_facebook_links_to_the_attributed_url_and_shows_it() -> None:
    rendered = render(
        job(apply_url="https://jobs.example.com/apply/7?ref=board"), Platform.FACEBOOK
    )
    url = "https://jobs.example.com/apply/7?ref=board&utm_source=facebook&utm_medium=social"
    assert str(rendered.content.link) == url
    assert rendered.apply_url == url
    assert f"\n\nApply: {url}\n#BaliJobs" in rendered.content.text


def test_instagram_shows_the_host_only_so_no_attribution_in_the_caption() -> None:
    rendered = render(
        job(apply_url="https://www.jobs.example.com/apply/7?ref=board"), Platform.INSTAGRAM
    )
    assert rendered.content.link is None
    assert "Apply: jobs.example.com (link in bio)" in rendered.content.text
    assert "utm_" not in rendered.content.text
    assert "/apply/7" not in rendered.content.text
    # The attributed URL is still reported, e.g. for a link-in-bio page.
    assert query(rendered.apply_url) == [
        ("ref", "board"),
        ("utm_source", "instagram"),
        ("utm_medium", "social"),
    ]


def test_attribution_is_configurable_per_tenant_and_platform() -> None:
    profile = TenantProfile(
        utm={
            Platform.FACEBOOK: {"utm_source": "fb", "utm_campaign": "bali"},
            Platform.INSTAGRAM: {},
        }
    )
    fb = render(job(), Platform.FACEBOOK, profile)
    assert query(str(fb.content.link)) == [("utm_source", "fb"), ("utm_campaign", "bali")]
    ig = render(job(), Platform.INSTAGRAM, profile)
    assert ig.apply_url == "https://jobs.example.com/apply/7"
    no_utm = TenantProfile(utm={})
    assert str(render(job(), Platform.FACEBOOK, no_utm).content.link) == (
        "https://jobs.example.com/apply/7"
    )


def test_a_url_too_long_for_attribution_is_kept_as_is_with_a_warning() -> None:
    long_url = "https://jobs.example.com/" + "a" * (MAX_LINK_LENGTH - 30)
    rendered = render(job(apply_url=long_url), Platform.FACEBOOK)
    assert str(rendered.content.link) == long_url
    assert "utm_source" not in rendered.content.text
    assert codes(rendered) == ["attribution_skipped"]


# --- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://cdn.example.com/a.png", "PNG"),
        ("https://cdn.example.com/a.PNG", "PNG"),
        ("https://cdn.example.com/a.gif", "GIF"),
        ("https://cdn.example.com/a.webp", "WebP"),
        ("https://cdn.example.com/a.heic", "HEIC"),
        ("https://cdn.example.com/a.heif", "HEIF"),
        ("https://cdn.example.com/a.avif", "AVIF"),
        ("https://cdn.example.com/a.bmp", "BMP"),
        ("https://cdn.example.com/a.tiff", "TIFF"),
        ("https://cdn.example.com/a.svg", "SVG"),
        ("https://cdn.example.com/img.jpg/a.png?x=1#f", "PNG"),
        ("https://cdn.example.com/a.jpg", None),
        ("https://cdn.example.com/a.JPEG", None),
        ("https://cdn.example.com/a.jfif", None),
        ("https://cdn.example.com/a", None),
        ("https://cdn.example.com/image.php?id=3", None),
        ("https://cdn.example.com/a.jpg?format=png", None),  # only the path counts
        ("https://cdn.example.com/png", None),
        ("https://cdn.example.com/a.png/", None),
    ],
)
def test_image_format_from_the_url_path(url: str, kind: str | None) -> None:
    assert image_format(url) == kind


def test_instagram_warns_about_a_non_jpeg_image_but_still_posts() -> None:
    plan = plan_posts(TENANT, job(image_url="https://cdn.example.com/7.png"), [FB, IG])
    assert all(isinstance(p, PublishCommand) for p in plan)
    [fb, ig] = preview(job(image_url="https://cdn.example.com/7.png"), EN, [FB, IG])
    assert fb.warnings == ()  # Facebook takes PNG
    assert ig.warnings == (ContentWarning("image_not_jpeg", "image is PNG; Instagram needs JPEG"),)


def test_unknown_extension_gets_no_warning() -> None:
    [ig] = preview(job(image_url="https://cdn.example.com/render?id=7"), EN, [IG])
    assert ig.warnings == ()


def test_instagram_uses_the_tenants_default_image_when_the_job_has_none() -> None:
    profile = TenantProfile(default_image_url="https://cdn.example.com/default.jpg")
    [fb, ig] = preview(job(image_url=None), profile, [FB, IG])
    assert ig.content is not None
    assert [str(m.url) for m in ig.content.media] == ["https://cdn.example.com/default.jpg"]
    assert codes(ig) == ["default_image"]
    # Facebook stays a link post: its card comes from the apply page.
    assert fb.content is not None
    assert fb.content.media == []
    assert fb.warnings == ()


def test_the_jobs_own_image_wins_over_the_default() -> None:
    profile = TenantProfile(default_image_url="https://cdn.example.com/default.jpg")
    rendered = render(job(), Platform.INSTAGRAM, profile)
    assert [str(m.url) for m in rendered.content.media] == ["https://cdn.example.com/7.jpg"]
    assert rendered.warnings == ()


def test_a_non_jpeg_default_image_is_warned_about_too() -> None:
    profile = TenantProfile(default_image_url="https://cdn.example.com/default.webp")
    assert codes(render(job(image_url=None), Platform.INSTAGRAM, profile)) == [
        "default_image",
        "image_not_jpeg",
    ]


def test_render_refuses_instagram_without_any_image() -> None:
    with pytest.raises(ValueError, match="image"):
        render(job(image_url=None), Platform.INSTAGRAM)


# --- skips --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("needs_reconnect", "connection needs reconnect"),
        ("disabled", "connection disabled"),
        ("removed", "connection removed"),
        ("revoked", "connection is revoked"),
    ],
)
def test_inactive_connections_are_skipped_with_a_reason(status: str, reason: str) -> None:
    broken = connection(Platform.FACEBOOK, status)
    plan = plan_posts(TENANT, job(), [broken, IG], EN)
    assert plan[0] == Skip(broken, reason)
    assert isinstance(plan[1], PublishCommand)


def test_skip_reasons_in_order_of_precedence() -> None:
    disabled_everywhere = job(
        image_url=None,
        platform_settings={"facebook": {"enabled": False}, "instagram": {"enabled": False}},
    )
    broken = connection(Platform.INSTAGRAM, "needs_reconnect")
    [a, b, c] = preview(disabled_everywhere, EN, [broken, FB, IG])
    assert a.skip_reason == "connection needs reconnect"
    assert b.skip_reason == "facebook disabled for this job"
    assert c.skip_reason == "instagram disabled for this job"
    assert (a.content, b.content, c.content) == (None, None, None)


def test_instagram_without_any_image_is_skipped_and_facebook_is_not() -> None:
    plan = plan_posts(TENANT, job(image_url=None), [FB, IG], EN)
    assert isinstance(plan[0], PublishCommand)
    assert plan[1] == Skip(
        IG, "Instagram needs an image; the job has none and the tenant has no default image"
    )


def test_preview_gives_one_entry_per_connection_and_plan_follows_it() -> None:
    broken = connection(Platform.FACEBOOK, "needs_reconnect")
    connections = [FB, broken, IG]
    previews = preview(job(), ID, connections)
    assert [p.connection for p in previews] == connections
    plan = plan_posts(TENANT, job(), connections, ID)
    assert plan[1] == Skip(broken, "connection needs reconnect")
    for item, seen in zip(plan, previews, strict=True):
        if isinstance(item, PublishCommand):
            assert item.content == seen.content
            assert item.post_key == make_post_key(TENANT, "job-7", seen.connection.connection_id, 1)


def test_plan_keys_do_not_depend_on_the_profile() -> None:
    default = plan_posts(TENANT, job(), [FB, IG])
    indonesian = plan_posts(TENANT, job(), [FB, IG], ID)
    assert [p.post_key for p in default if isinstance(p, PublishCommand)] == [
        p.post_key for p in indonesian if isinstance(p, PublishCommand)
    ]
    assert default != indonesian  # the words differ


# --- language, footer, custom captions ----------------------------------------------------------


def test_indonesian_wording() -> None:
    posting = job(
        pay={"min_amount": "150000", "max_amount": "200000", "currency": "IDR", "period": "day"}
    )
    fb = render(posting, Platform.FACEBOOK, ID).content.text
    assert fb.startswith("Barista di Kopi Pagi\n📍 Seminyak, Bali\n💰 Rp150.000–200.000 / hari\n\n")
    assert "\nLamar: https://jobs.example.com/apply/7?utm_source=facebook&utm_medium=social\n" in fb
    ig = render(posting, Platform.INSTAGRAM, ID).content.text
    assert "Lamar: jobs.example.com (link di bio)" in ig


def test_english_layout_in_full() -> None:
    profile = TenantProfile(hashtags=("#BaliJobs", "#LowonganKerjaBali"), footer="Follow @balijobs")
    text = render(job(), Platform.INSTAGRAM, profile).content.text
    assert text == (
        "Barista at Kopi Pagi\n📍 Seminyak, Bali\n\n"
        "Morning shift, 07:00-15:00.\n\n"
        "Follow @balijobs\n\n"
        "Apply: jobs.example.com (link in bio)\n#BaliJobs #LowonganKerjaBali"
    )


def test_footer_survives_a_long_body_and_links_in_it_follow_the_platform() -> None:
    profile = TenantProfile(footer="More jobs: https://www.balijobs.example/all")
    posting = job(description="Kerja di Bali. " * 600)
    ig = render(posting, Platform.INSTAGRAM, profile)
    assert "\n\nMore jobs: balijobs.example\n\nApply:" in ig.content.text
    assert len(ig.content.text) <= INSTAGRAM_CAPTION_LIMIT
    assert "links_removed" in codes(ig)
    fb = render(posting, Platform.FACEBOOK, profile)
    assert "\n\nMore jobs: https://www.balijobs.example/all\n\nApply:" in fb.content.text


def test_custom_caption_per_platform() -> None:
    posting = job(platform_settings={"instagram": {"caption": "Join us! ☕"}})
    assert "Join us! ☕" in render(posting, Platform.INSTAGRAM).content.text
    assert "Morning shift" not in render(posting, Platform.INSTAGRAM).content.text
    assert "Morning shift" in render(posting, Platform.FACEBOOK).content.text


# --- hashtags -----------------------------------------------------------------------------------


def test_hashtags_tenant_then_job_then_platform_deduplicated_case_insensitively() -> None:
    profile = TenantProfile(hashtags=("#BaliJobs", "#LowonganKerjaBali"))
    posting = job(
        tags=["balijobs", "Kopi", "Barista"],
        platform_settings={"instagram": {"extra_hashtags": ["KOPI", "#CoffeeJobs"]}},
    )
    assert hashtags_for(posting, Platform.INSTAGRAM, profile) == [
        "#BaliJobs",
        "#LowonganKerjaBali",
        "#Kopi",
        "#Barista",
        "#CoffeeJobs",
    ]
    assert hashtags_for(posting, Platform.FACEBOOK, profile) == [
        "#BaliJobs",
        "#LowonganKerjaBali",
        "#Kopi",
        "#Barista",
    ]
    text = render(posting, Platform.INSTAGRAM, profile).content.text
    assert text.endswith("\n#BaliJobs #LowonganKerjaBali #Kopi #Barista #CoffeeJobs")


def test_over_thirty_hashtags_the_last_ones_go_with_a_warning() -> None:
    profile = TenantProfile(hashtags=tuple(f"#tenant{i}" for i in range(20)))
    posting = job(
        tags=[f"job{i}" for i in range(30)],
        platform_settings={"instagram": {"extra_hashtags": [f"extra{i}" for i in range(10)]}},
    )
    rendered = render(posting, Platform.INSTAGRAM, profile)
    tag_line = rendered.content.text.splitlines()[-1].split(" ")
    assert tag_line == [*(f"#tenant{i}" for i in range(20)), *(f"#job{i}" for i in range(10))]
    assert count_hashtags(rendered.content.text) == 30
    assert messages(rendered) == ["30 hashtags dropped (limit 30)"]


def test_hashtags_in_the_description_count_toward_thirty() -> None:
    posting = job(
        description=" ".join(f"#d{i}" for i in range(5)), tags=[f"t{i}" for i in range(30)]
    )
    rendered = render(posting, Platform.INSTAGRAM)
    assert count_hashtags(rendered.content.text) == 30
    assert messages(rendered) == ["5 hashtags dropped (limit 30)"]


def test_hashtags_and_mentions_in_the_text_over_the_caps_lose_their_sign() -> None:
    body = " ".join(f"#h{i}" for i in range(33)) + " " + " ".join(f"@u{i}" for i in range(21))
    rendered = render(job(description=body, tags=[]), Platform.INSTAGRAM)
    assert count_hashtags(rendered.content.text) == 30
    assert count_mentions(rendered.content.text) == 20
    assert messages(rendered) == [
        "3 hashtags in the text lost the # (limit 30)",
        "1 mention lost the @ (limit 20)",
    ]


def test_tags_dropped_to_fit_the_length_are_reported_apart_from_the_cap() -> None:
    profile = TenantProfile(footer="F" * 500)
    tags = [f"{i:02d}" + "x" * 48 for i in range(30)]
    posting = job(title="T" * 200, company="C" * 200, location="L" * 200, description="", tags=tags)
    rendered = render(posting, Platform.INSTAGRAM, profile)
    text = rendered.content.text
    assert len(text) <= INSTAGRAM_CAPTION_LIMIT
    kept = text.splitlines()[-1].split(" ")
    assert kept == [f"#{tag}" for tag in tags[: len(kept)]]
    dropped = 30 - len(kept)
    assert 0 < dropped < 30
    head = f"{'T' * 200} at {'C' * 200}\n📍 {'L' * 200}"
    full = f"{head}\n\n{'F' * 500}\n\nApply: jobs.example.com (link in bio)\n" + " ".join(
        f"#{tag}" for tag in tags
    )
    assert messages(rendered) == [
        f"caption truncated from {len(full):,} to 2,200 characters",
        f"{dropped} hashtags dropped to fit 2,200 characters",
    ]


# --- length warnings ------------------------------------------------------------------------------


def test_a_normal_job_has_no_warnings() -> None:
    for item in preview(job(), ID, [FB, IG]):
        assert item.warnings == ()


def test_a_long_description_is_shortened_and_says_by_how_much() -> None:
    body = "Kami mencari staf yang ramah. " * 300
    rendered = render(job(description=body), Platform.INSTAGRAM)
    text = rendered.content.text
    assert len(text) <= INSTAGRAM_CAPTION_LIMIT
    shown = text.split("\n\n")[1]
    assert shown.endswith("…")
    full = len(text) - len(shown) + len(body.strip())
    assert messages(rendered) == [
        f"caption truncated from {full:,} to 2,200 characters",
        f"description shortened from {len(body.strip()):,} to {len(shown):,} characters",
    ]
    # The same description fits on Facebook.
    assert render(job(description=body), Platform.FACEBOOK).warnings == ()


def test_a_shortened_custom_caption_is_called_a_caption() -> None:
    posting = job(platform_settings={"instagram": {"caption": "x " * 3000}})
    assert messages(render(posting, Platform.INSTAGRAM))[1].startswith("caption shortened from")


def test_a_description_with_no_room_left_is_dropped_with_a_warning() -> None:
    profile = TenantProfile(footer="F" * 500)
    posting = job(
        title="T" * 200,
        company="C" * 200,
        location="L" * 200,
        description="Lowongan " * 200,
        tags=[f"{i:02d}" + "x" * 48 for i in range(30)],
    )
    rendered = render(posting, Platform.INSTAGRAM, profile)
    assert "Lowongan" not in rendered.content.text
    assert "description left out: no room for it" in messages(rendered)
