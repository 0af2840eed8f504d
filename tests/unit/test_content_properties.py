"""Properties of rendered posts: any job, any tenant profile, every limit kept, apply info kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import regex
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from pydantic import HttpUrl, ValidationError

from schemas import JobPosting, Platform, PublishCommand
from schemas.bounds import check_text
from services.distributor.captions import (
    FACEBOOK_MAX_HASHTAGS,
    FACEBOOK_MESSAGE_LIMIT,
    INSTAGRAM_CAPTION_LIMIT,
    INSTAGRAM_MAX_HASHTAGS,
    INSTAGRAM_MAX_MENTIONS,
    THREADS_TEXT_LIMIT,
    count_hashtags,
    count_mentions,
    instagram_apply_line,
    threads_measure,
)
from services.distributor.content import LABELS, attributed_url, render
from services.distributor.domain import Skip, plan_posts, preview
from services.distributor.media import _path_of
from services.distributor.models import Connection, TenantProfile

FAMILY = "👨‍👩‍👧‍👦"
# Emoji ZWJ sequences, flags, skin tones, combining marks, a lone joiner, a prepend
# character, Thai and Devanagari clusters: no hashtags, mentions or links, so a caption's
# body can be compared with the job's description cluster by cluster.
PLAIN_PIECES = [
    FAMILY, "🇮🇩", "🏳️‍🌈", "👍🏽", "e\u0301", "\u0301", "\u200d", "\u0600", "ที่", "न्दी", "各", " ",
]  # fmt: skip
PIECES = [
    *PLAIN_PIECES,
    *("#", "＃", "@", "##", "#tag", "#BaliJobs", "@user", "@villa.sari"),
    *("https://", "http://x.y/z", "www.", "www.example.com"),
    *(".", "\n", "…", "Rp150.000"),
]


def is_text(value: str) -> bool:
    try:
        check_text(value)
    except ValueError:
        return False
    return True


LINK = regex.compile(r"(?i)https?://|(?<![\w.-])www\.[\w-]")

chunk = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(PIECES)), max_size=12).map("".join)
# Big inputs come from repetition: generating 10k random characters would be slow.
huge = st.tuples(chunk, st.integers(1, 3_000)).map(lambda pair: pair[0] * pair[1])
text = st.one_of(chunk, huge)
plain_char = st.one_of(
    st.characters(
        blacklist_categories=["Cs", "Cc", "Zl", "Zp"], blacklist_characters="#＃@＠:/wW."
    ),
    st.sampled_from(PLAIN_PIECES),
)
plain = st.lists(plain_char, max_size=40).map("".join)
plain_huge = st.tuples(plain, st.integers(1, 2_000)).map(lambda pair: pair[0] * pair[1])
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,10}){1,2}", fullmatch=True)
param_names = st.sampled_from(
    ["utm_source", "utm_medium", "utm_campaign", "ref", "q", "UTM_SOURCE"]
)
query_pairs = st.lists(st.tuples(param_names, st.text(max_size=10)), max_size=4)
tag = st.one_of(chunk, st.text(min_size=1, max_size=50))
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@st.composite
def apply_urls(draw: st.DrawFn) -> str:
    path = draw(st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True))
    pairs = draw(query_pairs)
    query = f"?{urlencode(pairs)}" if pairs else ""
    fragment = draw(st.sampled_from(["", "#apply", "#x-1"]))
    return f"https://{draw(hosts)}{path}{query}{fragment}"


@st.composite
def profiles(draw: st.DrawFn) -> TenantProfile:
    utm = {
        platform: dict(draw(st.lists(st.tuples(param_names, st.text(min_size=1, max_size=12)))))
        for platform in draw(st.sets(st.sampled_from(list(Platform))))
    }
    return TenantProfile(
        language=draw(st.sampled_from(sorted(LABELS))),
        locale=draw(st.sampled_from(["en_US", "id_ID", "de_DE", "fr_FR", "ar_EG", "hi_IN"])),
        # What the profile API lets through: text the contract accepts (no NUL, surrogates).
        hashtags=tuple(draw(st.lists(tag.filter(is_text), max_size=30))),
        footer=draw(st.one_of(st.just(""), chunk.map(lambda s: s[:500]).filter(is_text))),
        default_image_url=draw(
            st.sampled_from(
                [None, "https://cdn.example.com/d.jpg", "https://cdn.example.com/d.png"]
            )
        ),
        utm=utm,
    )


@st.composite
def jobs(draw: st.DrawFn, body: st.SearchStrategy[str] = text) -> JobPosting:
    short = chunk.map(lambda s: s[:200])
    low = draw(st.decimals(min_value=0, max_value=10**9, places=2))
    pay = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda currency, period, extra: {
                    "min_amount": str(low),
                    "max_amount": None if extra is None else str(low + extra),
                    "currency": currency,
                    "period": period,
                },
                st.sampled_from(["IDR", "USD", "EUR", "JPY", "KWD"]),
                st.sampled_from(["hour", "shift", "day", "week", "month", "year"]),
                st.one_of(st.none(), st.decimals(min_value=0, max_value=10**6, places=2)),
            ),
        )
    )
    settings_of: dict[str, Any] = {
        platform.value: {
            "caption": draw(st.one_of(st.none(), body.map(lambda s: s[:10_000]))),
            "extra_hashtags": draw(st.lists(tag, max_size=30)),
        }
        for platform in draw(st.sets(st.sampled_from(list(Platform))))
    }
    data = {
        "job_id": "job-p",
        "title": "J" + draw(short)[:199],
        "company": "C" + draw(short)[:199],
        "location": "L" + draw(short)[:199],
        "description": draw(body)[:10_000],
        "employment_type": "daily",
        "apply_url": draw(apply_urls()),
        "image_url": draw(
            st.sampled_from(
                [None, "https://cdn.example.com/i.jpg", "https://cdn.example.com/i.gif"]
            )
        ),
        "tags": draw(st.lists(st.text(min_size=1, max_size=50), max_size=30)),
        "pay": pay,
        "platform_settings": settings_of,
    }
    try:
        return JobPosting.model_validate(data)
    except ValidationError:
        reject()


def connections() -> list[Connection]:
    tenant = uuid4()
    return [
        Connection(uuid4(), tenant, Platform.FACEBOOK, "page", "", "active"),
        Connection(uuid4(), tenant, Platform.INSTAGRAM, "ig", "", "active"),
        Connection(uuid4(), tenant, Platform.INSTAGRAM, "ig-2", "", "needs_reconnect"),
    ]


def clusters(value: str) -> list[str]:
    return regex.findall(r"\X", value)


def assert_instagram_rules(caption: str, apply_line: str) -> None:
    assert len(caption) <= INSTAGRAM_CAPTION_LIMIT
    assert count_hashtags(caption) <= INSTAGRAM_MAX_HASHTAGS
    assert count_mentions(caption) <= INSTAGRAM_MAX_MENTIONS
    assert LINK.search(caption) is None
    assert apply_line in caption


@PROPERTY
@given(job=jobs(), profile=profiles())
def test_every_post_keeps_every_limit_and_the_apply_information(
    job: JobPosting, profile: TenantProfile
) -> None:
    labels = LABELS[profile.language]
    for item in preview(job, profile, connections()):
        if item.content is None:
            assert item.skip_reason
            continue
        post = item.content.text
        if item.connection.platform is Platform.INSTAGRAM:
            assert_instagram_rules(
                post, instagram_apply_line(str(job.apply_url), labels.apply_instagram)
            )
            assert item.content.link is None
            assert len(item.content.media) == 1
        else:
            assert len(post) <= FACEBOOK_MESSAGE_LIMIT
            link = str(item.content.link)
            assert f"{labels.apply_facebook}: {link}" in post
            assert item.apply_url == link
            # Every attribution parameter is there: upstream's value or ours.
            names = [name for name, _ in parse_qsl(urlsplit(link).query, keep_blank_values=True)]
            assert set(profile.attribution(Platform.FACEBOOK)) <= set(names)
            tag_line = post.rsplit("\n", 1)[-1]
            if not tag_line.startswith(f"{labels.apply_facebook}: "):
                assert count_hashtags(tag_line) <= FACEBOOK_MAX_HASHTAGS


@PROPERTY
@given(job=jobs(), profile=profiles())
def test_plan_and_preview_agree(job: JobPosting, profile: TenantProfile) -> None:
    conns = connections()
    plan = plan_posts(uuid4(), job, conns, profile)
    for item, seen in zip(plan, preview(job, profile, conns), strict=True):
        if isinstance(item, Skip):
            assert item.reason == seen.skip_reason
        else:
            assert isinstance(item, PublishCommand)
            assert item.content == seen.content
    assert isinstance(plan[2], Skip)  # the connection that needs reconnecting


@PROPERTY
@given(
    job=jobs(body=st.one_of(plain, plain_huge, plain_huge)),
    profile=profiles(),
    platform=st.sampled_from(list(Platform)),
    footer=st.sampled_from(["", "Ikuti kami 🇮🇩"]),
)
def test_a_shortened_description_is_a_whole_cluster_prefix(
    job: JobPosting, profile: TenantProfile, platform: Platform, footer: str
) -> None:
    """Never half an emoji, flag or accented letter: cuts fall between grapheme clusters."""
    job = job.model_copy(
        update={
            "platform_settings": {},
            "image_url": "https://c.example/i.jpg",
            "title": " ".join(job.title.split()),
            "company": " ".join(job.company.split()),
            "location": " ".join(job.location.split()),
        }
    )
    profile = TenantProfile(
        language=profile.language, locale=profile.locale, hashtags=profile.hashtags, footer=footer
    )
    body = job.description.strip()
    post = render(job, platform, profile).content.text
    # Blocks: headline, [body], [footer], apply line + tags. Only the body may hold a blank
    # line, so it is what lies between the headline and the rest.
    blocks = post.split("\n\n")
    shown = "\n\n".join(blocks[1 : -2 if footer else -1])
    event("body shown whole" if shown == body else "body cut" if shown else "body dropped")
    if shown == body:
        return
    if not shown:  # dropped only when not even its first cluster fits
        if platform is Platform.THREADS:
            room = THREADS_TEXT_LIMIT - threads_measure(post) - 2
            assert threads_measure(clusters(body)[0] + "…") > room
        else:
            assert len(clusters(body)[0]) > INSTAGRAM_CAPTION_LIMIT - len(post) - 2
        return
    assert shown.endswith("…")
    kept = clusters(shown[:-1])
    assert kept
    assert kept == clusters(body)[: len(kept)]
    assert clusters(shown)[-1] == "…"


@PROPERTY
@given(
    upstream=query_pairs,
    params=st.dictionaries(param_names, st.text(max_size=12), max_size=4),
    fragment=st.sampled_from(["", "#top"]),
)
def test_attribution_adds_only_what_is_missing(
    upstream: list[tuple[str, str]], params: dict[str, str], fragment: str
) -> None:
    query = urlencode(upstream)
    url = "https://jobs.example.com/a" + (f"?{query}" if query else "") + fragment
    result = attributed_url(url, params)
    parts = urlsplit(result)
    assert parts.fragment == fragment.lstrip("#")
    assert parts.query.startswith(query)  # upstream's query untouched, ours after it
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert pairs[: len(upstream)] == upstream
    present = {name for name, _ in upstream}
    assert pairs[len(upstream) :] == [(k, v) for k, v in params.items() if k not in present]


@settings(max_examples=10, deadline=None)  # one heavy post; only the amount varies
@given(amount=st.decimals(min_value=0, max_value=10**12 - 1, places=2))
def test_huge_many_hashtags_and_mentions_still_fit(amount: Decimal) -> None:
    body = " ".join(f"#tag{i} @user{i} {FAMILY}" for i in range(400))
    job = JobPosting.model_validate(
        {
            "job_id": "job-h",
            "title": "🇮🇩" * 100,
            "company": "e\u0301" * 100,
            "location": "Bali",
            "description": body[:10_000],
            "employment_type": "daily",
            "apply_url": "https://jobs.example.com/a?utm_source=board",
            "image_url": "https://cdn.example.com/i.jpg",
            "tags": [f"t{i}" for i in range(30)],
            "pay": {"min_amount": str(amount), "currency": "IDR", "period": "day"},
            "platform_settings": {"instagram": {"extra_hashtags": [f"x{i}" for i in range(30)]}},
        }
    )
    profile = TenantProfile(
        language="id", locale="id_ID", hashtags=tuple(f"#h{i}" for i in range(30))
    )
    rendered = render(job, Platform.INSTAGRAM, profile)
    assert_instagram_rules(rendered.content.text, "Lamar: jobs.example.com (link di bio)")
    assert "💰 Rp" in rendered.content.text
    assert {w.code for w in rendered.warnings} >= {
        "truncated",
        "body_shortened",
        "hashtags_unmarked",
        "mentions_unmarked",
    }
    fb = render(job, Platform.FACEBOOK, profile)
    # Upstream's source is kept; only the medium is added.
    assert "Lamar: https://jobs.example.com/a?utm_source=board&utm_medium=social" in (
        fb.content.text
    )


def _attributed_by_urlsplit(url: str, params: dict[str, str]) -> str:
    """The attribution as first written, by `urlsplit`/`urlunsplit`: the reference."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    present = {key for key, _ in parse_qsl(query, keep_blank_values=True)} if query else set()
    missing = [(key, value) for key, value in params.items() if key not in present]
    if not missing:
        return url
    added = urlencode(missing, quote_via=quote)
    query = f"{query}&{added}" if query and not query.endswith("&") else (query + added)
    return urlunsplit((scheme, netloc, path, query, fragment))


_URL_TEXT = st.text(st.sampled_from("aZ09-._~%/?#&=+:@!$'()*,; é🙂[]"), max_size=12)
normal_urls = st.builds(
    lambda scheme, user, host, port, path, query, fragment: (
        f"{scheme}://{user}{host}{port}/{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["", "u:p@", "u@"]),
    st.sampled_from(["jobs.example.com", "WWW.Loker.id", "bücher.example", "127.0.0.1", "[::1]"]),
    st.sampled_from(["", ":8080", ":443"]),
    _URL_TEXT,
    st.one_of(st.just(""), _URL_TEXT.map(lambda q: "?" + q)),
    st.one_of(st.just(""), _URL_TEXT.map(lambda f: "#" + f)),
)


@PROPERTY
@given(raw=normal_urls, params=st.dictionaries(param_names, st.text(max_size=8), max_size=3))
def test_url_shortcuts_equal_urlsplit_on_normal_urls(raw: str, params: dict[str, str]) -> None:
    # Jobs' URLs reach these functions in pydantic's normal form, which the shortcuts
    # (delimiters instead of urlsplit) rely on.
    try:
        parsed = HttpUrl(raw)
    except ValidationError:
        reject()
    url = str(parsed)
    assert attributed_url(url, params) == _attributed_by_urlsplit(url, params)
    assert _path_of(url) == urlsplit(url).path
    by_host = instagram_apply_line(url, host=parsed.host)
    assert by_host == instagram_apply_line(url)
