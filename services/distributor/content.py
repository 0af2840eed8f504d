"""A job rendered for one platform in the tenant's language and locale. Pure: no I/O.

What goes into a post:
- headline: "<title> at <company>" (worded per language), 📍 location, 💰 pay in the
  tenant's locale (Babel: `Rp150.000–200.000 / hari` for id_ID, `IDR 150,000 / day`
  for en_US);
- body: the platform's custom caption from `platform_settings`, else the description;
- footer: the tenant's;
- hashtags: the tenant's, then the job's tags, then the platform's extra hashtags
  (deduplicated case-insensitively, first spelling and order kept; when a cap or the
  length limit bites, the last ones go first);
- apply: Facebook gets the apply URL with the platform's attribution, in the text and as
  the post's link; LinkedIn the same (an article titled with the job's title when there is
  no image), within 3,000 characters once written as little text; Instagram gets
  "Apply: <host> (link in bio)", host only — no path, no query, hence no attribution
  parameters in the caption; Threads gets it like Facebook, as the post's one link (other
  links in the text become host names; an apply URL too long for 500 characters is named by
  its host and stays the post's link);
- Threads: one topic tag (the profile's `threads_topic_tag`, else the first hashtag), and
  text-only posts are allowed;
- media: photos and videos and the kind of post they make, per platform (`media`: on
  Instagram, which requires media, the tenant's default image when the job has none;
  Facebook without media stays a link post, whose preview card comes from the apply page).

Attribution rule (`attributed_url`): each parameter is added only when the apply URL does
not already carry a parameter of that exact name (compared after percent-decoding, with
any value, even empty); the existing query is kept as is, byte for byte and in order, new
parameters go at its end, the fragment stays. Upstream's own attribution always wins.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_currency
from pydantic import HttpUrl, ValidationError

from schemas.jobs import FIRST_COMMENT_LIMIT, JobPosting, Pay, PayPeriod
from schemas.media import PostFormat
from schemas.platforms import Platform
from schemas.publish import PostContent
from services.distributor import captions
from services.distributor.media import plan_media
from services.distributor.models import ContentWarning, Language, TenantProfile

DEFAULT_PROFILE = TenantProfile()
# The longest URL a `PostContent.link` (pydantic `HttpUrl`) accepts.
MAX_LINK_LENGTH = 2_083


@dataclass(frozen=True, slots=True)
class Labels:
    """The fixed words of a post in one language."""

    headline: str  # "{title}" and "{company}" are replaced
    apply_facebook: str  # before ": <url>" (Facebook and Threads)
    apply_instagram: str  # "{host}" is replaced
    periods: Mapping[PayPeriod, str]


LABELS: Mapping[Language, Labels] = {
    "en": Labels(
        headline="{title} at {company}",
        apply_facebook="Apply",
        apply_instagram="Apply: {host} (link in bio)",
        periods={
            PayPeriod.HOUR: "hour",
            PayPeriod.SHIFT: "shift",
            PayPeriod.DAY: "day",
            PayPeriod.WEEK: "week",
            PayPeriod.MONTH: "month",
            PayPeriod.YEAR: "year",
        },
    ),
    "id": Labels(
        headline="{title} di {company}",
        apply_facebook="Lamar",
        apply_instagram="Lamar: {host} (link di bio)",
        periods={
            PayPeriod.HOUR: "jam",
            PayPeriod.SHIFT: "shift",
            PayPeriod.DAY: "hari",
            PayPeriod.WEEK: "minggu",
            PayPeriod.MONTH: "bulan",
            PayPeriod.YEAR: "tahun",
        },
    ),
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A job's post for one platform, and what had to give to get it there."""

    content: PostContent
    apply_url: str  # the apply URL with this platform's attribution (what Facebook links to)
    warnings: tuple[ContentWarning, ...]


# --- formatting -----------------------------------------------------------------------------


def format_pay(pay: Pay, profile: TenantProfile = DEFAULT_PROFILE) -> str:
    """Pay in the tenant's locale: `Rp150.000–200.000 / hari`, `$12.50–15.00 / hour`.

    Cents are shown only when an amount has them, and then on both ends of a range; the
    currency sign appears once, where the locale puts it.
    """
    # Babel costs ~100 µs per call and most jobs of a tenant pay alike: remember results.
    return _format_pay(
        pay.min_amount, pay.max_amount, pay.currency, pay.period, profile.locale, profile.language
    )


@functools.lru_cache(maxsize=4096)
def _format_pay(  # noqa: PLR0917 (a cache key: positional on purpose)
    min_amount: Decimal,
    max_amount: Decimal | None,
    currency: str,
    period: PayPeriod,
    locale_name: str,
    language: Language,
) -> str:
    pay = Pay(min_amount=min_amount, max_amount=max_amount, currency=currency, period=period)
    locale = Locale.parse(locale_name)
    amounts = [pay.min_amount]
    if pay.max_amount is not None and pay.max_amount != pay.min_amount:
        amounts.append(pay.max_amount)
    decimals = 0 if all(a == a.to_integral_value() for a in amounts) else 2
    # The locale's own currency pattern (sign position, grouping), with our decimals.
    number_format = copy.copy(locale.currency_formats["standard"])
    number_format.frac_prec = (decimals, decimals)

    def money(value: Decimal) -> str:
        return format_currency(
            value, pay.currency, format=number_format, locale=locale, currency_digits=False
        )

    label = LABELS[language].periods[pay.period]
    span = _money_range([money(a) for a in amounts], money(Decimal(0)), pay.currency)
    return f"{span} / {label}"


def _money_range(formatted: list[str], zero: str, code: str) -> str:
    """ "Rp150.000" and "Rp200.000" -> "Rp150.000–200.000": the sign shown once.

    The sign and spacing around a number are what formatting zero puts around its digits.
    """
    digits = [i for i, ch in enumerate(zero) if ch.isdigit()]
    prefix, suffix = zero[: digits[0]], zero[digits[-1] + 1 :]
    numbers = []
    for text in formatted:
        if not (text.startswith(prefix) and text.endswith(suffix)):
            return "–".join(formatted)  # not the expected shape: show each amount whole
        numbers.append(text[len(prefix) : len(text) - len(suffix)])
    prefix, suffix = _currency_spacing(prefix, suffix, code)
    return prefix + "–".join(numbers) + suffix


def _currency_spacing(prefix: str, suffix: str, code: str) -> tuple[str, str]:
    """Where the locale shows the bare ISO code, keep it apart from the digits with a
    no-break space ("IDR 150,000", not Babel's "IDR150,000"); a symbol such as "Rp" or
    "$" stays attached, as the locale writes it."""
    if prefix.endswith(code):
        prefix += "\u00a0"
    if suffix.startswith(code):
        suffix = "\u00a0" + suffix
    return prefix, suffix


def format_datetime_local(when: datetime, profile: TenantProfile = DEFAULT_PROFILE) -> str:
    """An instant as the tenant reads it, in its locale and time zone: "3 Des 2026 09.00 WITA",
    "Dec 3, 2026, 9:00 AM UTC". A naive `when` is taken as already in the tenant's zone.
    """
    zone = ZoneInfo(profile.timezone)
    local = when.replace(tzinfo=zone) if when.tzinfo is None else when.astimezone(zone)
    locale = Locale.parse(profile.locale)
    # The locale's medium date and short time, joined its way, then the zone.
    pattern = (
        str(locale.datetime_formats["medium"])
        .replace("{1}", locale.date_formats["medium"].pattern)
        .replace("{0}", locale.time_formats["short"].pattern + " z")
    )
    return format_datetime(local, pattern, tzinfo=zone, locale=locale)


def format_publish_at(job: JobPosting, profile: TenantProfile = DEFAULT_PROFILE) -> str | None:
    """When the job is to be published, shown in the tenant's locale and time zone."""
    if job.publish_at is None:
        return None
    when = job.publish_at
    if when.tzinfo is None and job.timezone:
        when = when.replace(tzinfo=ZoneInfo(job.timezone))
    return format_datetime_local(when, profile)


# --- links, images, hashtags ------------------------------------------------------------------


def attributed_url(url: str, params: Mapping[str, str]) -> str:
    """`url` with the attribution `params` it does not already carry (see module docstring).

    `url` is absolute and in normal form (`str(HttpUrl)`): its query and fragment are found
    by their delimiters, where `urlsplit` finds them, without parsing the rest (a job's URL
    is new every time, so urlsplit's cache never helps; property-tested equal to
    `urlunsplit` of `urlsplit`)."""
    head, _, fragment = url.partition("#")
    base, _, query = head.partition("?")
    present = {key for key, _ in parse_qsl(query, keep_blank_values=True)} if query else set()
    missing = tuple((key, value) for key, value in params.items() if key not in present)
    if not missing:
        return url
    added = _encoded_query(missing)
    query = f"{query}&{added}" if query and not query.endswith("&") else (query + added)
    return f"{base}?{query}#{fragment}" if fragment else f"{base}?{query}"


@functools.lru_cache(maxsize=256)
def _encoded_query(params: tuple[tuple[str, str], ...]) -> str:
    """`params` as a query string; cached, since a tenant adds the same ones to every link."""
    return urlencode(params, quote_via=quote)


def hashtags_for(job: JobPosting, platform: Platform, profile: TenantProfile) -> list[str]:
    """The tenant's hashtags, the job's tags, the platform's extras: deduplicated, in order."""
    settings = job.platform_settings.get(platform)
    extra = settings.extra_hashtags if settings else []
    return captions.normalise_hashtags([*profile.hashtags, *job.tags, *extra])


def first_comment_for(
    job: JobPosting, platform: Platform, profile: TenantProfile, hashtags: list[str]
) -> str | None:
    """The post's first comment: the job's for this platform and, on Instagram when the
    tenant's profile asks for it, the caption's hashtags after it (within Meta's limits)."""
    settings = job.platform_settings.get(platform)
    comment = settings.first_comment if settings else None
    if platform is Platform.INSTAGRAM and profile.instagram_hashtags_in_first_comment:
        return captions.comment_with_hashtags(
            comment, hashtags, limit=FIRST_COMMENT_LIMIT[platform],
            max_tags=captions.INSTAGRAM_MAX_HASHTAGS,
        )  # fmt: skip
    return (comment or "").strip() or None


# --- rendering --------------------------------------------------------------------------------


def render(
    job: JobPosting, platform: Platform, profile: TenantProfile = DEFAULT_PROFILE
) -> Rendered:
    """The post of `job` on `platform`, within the platform's limits, with warnings.

    Raises `ValueError` on Instagram when there is no image at all (the caller skips).
    """
    labels = LABELS[profile.language]
    settings = job.platform_settings.get(platform)
    custom = bool(settings and settings.caption)
    body = settings.caption if settings and settings.caption else job.description
    headline = [
        labels.headline.replace("{title}", job.title).replace("{company}", job.company),
        f"📍 {job.location}",
        *([f"💰 {format_pay(job.pay, profile)}"] if job.pay else []),
    ]
    warnings: list[ContentWarning] = []
    link = _link(attributed_url(str(job.apply_url), profile.attribution(platform)))
    if link is None:
        link = job.apply_url
        warnings.append(
            ContentWarning(
                "attribution_skipped",
                f"apply URL too long to add attribution (over {MAX_LINK_LENGTH:,} characters)",
            )
        )
    media = plan_media(job, platform, profile)  # Instagram without media raises here
    warnings.extend(media.warnings)
    items = list(media.items)
    hashtags = hashtags_for(job, platform, profile)
    first_comment = first_comment_for(job, platform, profile, hashtags)
    if platform is Platform.INSTAGRAM and profile.instagram_hashtags_in_first_comment:
        hashtags = []  # they are in the first comment

    if platform is Platform.THREADS:
        fitted, apply_warnings = _threads_text(
            headline, body, str(link), job.apply_url.host, labels, profile, hashtags
        )
        warnings.extend(apply_warnings)
        limit = captions.THREADS_TEXT_LIMIT
        content = PostContent(
            text=fitted.text, link=link, media=items, format=media.format,
            first_comment=first_comment,
        )  # fmt: skip
    elif platform is Platform.FACEBOOK:
        fitted = captions.fit_facebook_message(
            headline=headline,
            body=body,
            apply_url=str(link),
            hashtags=hashtags,
            footer=profile.footer,
            apply_label=labels.apply_facebook,
        )
        limit = captions.FACEBOOK_MESSAGE_LIMIT
        content = PostContent(
            text=fitted.text, link=link, media=items, format=media.format,
            first_comment=first_comment,
        )  # fmt: skip
    elif platform is Platform.LINKEDIN:
        fitted = captions.fit_linkedin_commentary(
            headline=headline,
            body=body,
            apply_url=str(link),
            hashtags=hashtags,
            footer=profile.footer,
            apply_label=labels.apply_facebook,
        )
        limit = captions.LINKEDIN_COMMENTARY_LIMIT
        article = media.format is PostFormat.LINK
        content = PostContent(
            text=fitted.text, link=link, title=job.title if article else None, media=items,
            format=media.format, first_comment=first_comment,
        )  # fmt: skip
    else:
        fitted = captions.fit_instagram_caption(
            headline=headline,
            body=body,
            apply_line=captions.instagram_apply_line(
                str(job.apply_url), labels.apply_instagram, host=job.apply_url.host
            ),
            hashtags=hashtags,
            footer=profile.footer,
        )
        limit = captions.INSTAGRAM_CAPTION_LIMIT
        content = PostContent(
            text=fitted.text, media=items, format=media.format, first_comment=first_comment
        )
    warnings.extend(
        cut_warnings(fitted.cuts, platform, limit, body_name="caption" if custom else "description")
    )
    return Rendered(content=content, apply_url=str(link), warnings=tuple(warnings))


def _threads_text(  # noqa: PLR0917 (the parts of one post)
    headline: list[str],
    body: str,
    apply_url: str,
    host: str | None,
    labels: Labels,
    profile: TenantProfile,
    hashtags: list[str],
) -> tuple[captions.Fitted, list[ContentWarning]]:
    """A Threads post's text, and what had to give beyond the usual cuts: an apply URL
    too long for the post is named by its host (the post still links to it), and a footer
    that leaves no room for the apply line is left out."""
    tags = [profile.threads_topic_tag, *hashtags] if profile.threads_topic_tag else hashtags
    lines = [f"{labels.apply_facebook}: {apply_url}"]
    if host:
        lines.append(f"{labels.apply_facebook}: {host.strip('[]')}")
    warnings: list[ContentWarning] = []
    for footer in (profile.footer, ""):
        for number, line in enumerate(lines):
            try:
                fitted = captions.fit_threads_text(
                    headline=headline, body=body, apply_line=line, hashtags=tags, footer=footer
                )
            except ValueError:
                continue
            if number:
                warnings.append(
                    ContentWarning(
                        "apply_link_shortened",
                        "apply URL too long for a Threads post: the text names its host,"
                        " the post links to it",
                    )
                )
            if footer != profile.footer:
                warnings.append(ContentWarning("footer_dropped", "footer left out: no room"))
            return fitted, warnings
    raise ValueError("the apply line does not fit a Threads post")


def _link(url: str) -> HttpUrl | None:
    try:
        return HttpUrl(url)
    except ValidationError:
        return None


# What each platform calls a post's text, and its hashtag cap (Facebook's where not named).
POST_TEXT_NAME: Mapping[Platform, str] = {
    Platform.INSTAGRAM: "caption",
    Platform.THREADS: "post",
    Platform.LINKEDIN: "commentary",
}
HASHTAG_CAP: Mapping[Platform, int] = {
    Platform.INSTAGRAM: captions.INSTAGRAM_MAX_HASHTAGS,
    Platform.THREADS: captions.THREADS_MAX_HASHTAGS,
    Platform.LINKEDIN: captions.LINKEDIN_MAX_HASHTAGS,
}


def cut_warnings(
    cuts: captions.Cuts, platform: Platform, limit: int, *, body_name: str = "description"
) -> list[ContentWarning]:
    """What fitting took out, one warning per kind of cut."""
    post = POST_TEXT_NAME.get(platform, "message")
    found: list[ContentWarning] = []

    def add(code: str, message: str) -> None:
        found.append(ContentWarning(code, message))

    if cuts.full_length > limit:
        add("truncated", f"{post} truncated from {cuts.full_length:,} to {limit:,} characters")
    if cuts.body_cut:
        if cuts.body_shown:
            add(
                "body_shortened",
                f"{body_name} shortened from {cuts.body_length:,} to "
                f"{cuts.body_shown:,} characters",
            )
        else:
            add("body_dropped", f"{body_name} left out: no room for it")
    if cuts.headline_lines_cut:
        add("headline_shortened", f"{_count(cuts.headline_lines_cut, 'headline line')} shortened")
    tag_cap = HASHTAG_CAP.get(platform, captions.FACEBOOK_MAX_HASHTAGS)
    if cuts.tags_over_cap:
        add(
            "hashtags_dropped", f"{_count(cuts.tags_over_cap, 'hashtag')} dropped (limit {tag_cap})"
        )
    if cuts.tags_over_length:
        add(
            "hashtags_dropped",
            f"{_count(cuts.tags_over_length, 'hashtag')} dropped to fit {limit:,} characters",
        )
    if cuts.hashtags_unmarked:
        add(
            "hashtags_unmarked",
            f"{_count(cuts.hashtags_unmarked, 'hashtag')} in the text lost the # (limit {tag_cap})",
        )
    if cuts.mentions_unmarked:
        add(
            "mentions_unmarked",
            f"{_count(cuts.mentions_unmarked, 'mention')} lost the @ "
            f"(limit {captions.INSTAGRAM_MAX_MENTIONS})",
        )
    if cuts.links_removed:
        add(
            "links_removed",
            f"{_count(cuts.links_removed, 'link')} shown as plain host names "
            + (
                "(a Threads post carries one link: the apply link)"
                if platform is Platform.THREADS
                else "(Instagram captions cannot carry links)"
            ),
        )
    return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
