"""Captions and messages within Meta's limits: grapheme-safe cuts, tag and mention caps."""

from __future__ import annotations

import pytest
import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.distributor.captions import (
    ELLIPSIS,
    FACEBOOK_MAX_HASHTAGS,
    FACEBOOK_MESSAGE_LIMIT,
    INSTAGRAM_CAPTION_LIMIT,
    INSTAGRAM_MAX_HASHTAGS,
    INSTAGRAM_MAX_MENTIONS,
    Cuts,
    count_hashtags,
    count_mentions,
    facebook_message,
    fit_facebook_message,
    fit_instagram_caption,
    instagram_apply_line,
    instagram_caption,
    normalise_hashtags,
    strip_links,
    truncate_graphemes,
)

FAMILY = "👨‍👩‍👧‍👦"  # 7 code points, one grapheme
FLAG_ID = "🇮🇩"  # 2 code points
THUMB = "👍🏽"  # 2 code points
E_ACUTE = "e\u0301"  # 2 code points
# Independent oracle for "no link": any scheme, or www. opening a word and followed by a host.
LINK = regex.compile(r"(?i)https?://|(?<![\w.-])www\.[\w-]")
APPLY = "Apply: jobs.example.com (link in bio)"
HEADLINE = ["Housekeeper at Villa Sari", "📍 Uluwatu, Bali", "💰 IDR 150,000–200,000 / day"]


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


def ig(
    body: str = "",
    hashtags: list[str] | None = None,
    headline: list[str] | None = None,
    apply_line: str = APPLY,
) -> str:
    return instagram_caption(
        headline=HEADLINE if headline is None else headline,
        body=body,
        apply_line=apply_line,
        hashtags=hashtags or [],
    )


def assert_instagram_rules(caption: str, apply_line: str = APPLY) -> None:
    assert len(caption) <= INSTAGRAM_CAPTION_LIMIT
    assert count_hashtags(caption) <= INSTAGRAM_MAX_HASHTAGS
    assert count_mentions(caption) <= INSTAGRAM_MAX_MENTIONS
    assert LINK.search(caption) is None
    assert apply_line in caption


# --- constants -----------------------------------------------------------------------------


def test_limits_are_metas_documented_numbers() -> None:
    assert (INSTAGRAM_CAPTION_LIMIT, INSTAGRAM_MAX_HASHTAGS, INSTAGRAM_MAX_MENTIONS) == (
        2200,
        30,
        20,
    )
    assert FACEBOOK_MESSAGE_LIMIT == 63206


# --- truncate_graphemes --------------------------------------------------------------------


def test_text_that_fits_is_returned_unchanged() -> None:
    assert truncate_graphemes("Lowongan kerja", 14) == "Lowongan kerja"
    assert truncate_graphemes("", 0) == ""


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # The family is 7 code points: with 9 of room it fits, with 8 it must go whole.
        (f"ab{FAMILY}cd", 10, f"ab{FAMILY}…"),
        (f"ab{FAMILY}cd", 9, "ab…"),
        (f"{FLAG_ID}{FLAG_ID}{FLAG_ID}", 4, f"{FLAG_ID}…"),
        (f"{FLAG_ID}{FLAG_ID}{FLAG_ID}", 5, f"{FLAG_ID}{FLAG_ID}…"),
        (f"ok{THUMB}{THUMB}", 4, "ok…"),
        (f"ok{THUMB}{THUMB}", 5, f"ok{THUMB}…"),
        (E_ACUTE * 3, 4, f"{E_ACUTE}…"),
        (E_ACUTE * 3, 3, f"{E_ACUTE}…"),
        (E_ACUTE * 3, 2, "…"),
    ],
)
def test_cuts_fall_between_grapheme_clusters(text: str, limit: int, expected: str) -> None:
    assert truncate_graphemes(text, limit) == expected


def test_thai_and_devanagari_keep_their_vowel_signs_and_conjuncts() -> None:
    thai = "ที่ทำงานดีมาก"  # ที่ = base + two marks
    assert truncate_graphemes(thai, 3) == "…"
    assert truncate_graphemes(thai, 4) == "ที่…"
    hindi = "हिन्दी नौकरी"  # हि, न्दी (a conjunct: one cluster under Unicode 15.1)
    assert truncate_graphemes(hindi, 3) == "हि…"
    assert truncate_graphemes(hindi, 6) == "हि…"
    assert truncate_graphemes(hindi, 7) == "हिन्दी…"


def test_no_blank_before_the_ellipsis_and_nothing_when_it_cannot_fit() -> None:
    assert truncate_graphemes("Kerja   di Bali", 9) == "Kerja…"
    assert truncate_graphemes("abc", 0) == ""
    assert truncate_graphemes("abc", 2, ellipsis="...") == ""
    assert truncate_graphemes(FAMILY, 3) == "…"


def test_a_prepend_character_is_not_glued_to_the_ellipsis() -> None:
    # U+0600 (Arabic number sign) joins whatever follows it into one cluster.
    text = "ab\u0600\ncd"
    assert clusters(text + "…")[:3] == ["a", "b", "\u0600"]
    assert truncate_graphemes(text, 4) == "ab…"


def test_custom_ellipsis_counts_toward_the_limit() -> None:
    assert truncate_graphemes("Pelayan restoran", 10, ellipsis="...") == "Pelayan..."


# --- hashtags, mentions, links -------------------------------------------------------------


def test_hashtags_are_prefixed_cleaned_deduplicated_in_order() -> None:
    tags = ["BaliJobs", "#balijobs", "  Full-time ", "##Lowongan Kerja", "", "#", "!!", "C++"]
    assert normalise_hashtags(tags) == ["#BaliJobs", "#Fulltime", "#LowonganKerja", "#C"]


def test_hashtags_keep_non_latin_letters_and_fold_case_and_composition() -> None:
    tags = ["งานดี", "Café", "CAFE\u0301", "पर्यटन", "straße", "STRASSE"]
    assert normalise_hashtags(tags) == ["#งานดี", "#Café", "#पर्यटन", "#straße"]


def test_counting_hashtags_and_mentions() -> None:
    text = "#hiring #Bali! C# dev, #1 team ## @villa_sari @ hi mail@x.com ＃全角 ＠x"
    # hiring, Bali, 1, 全角 are tags; 'C# ' and '## ' are not.
    assert count_hashtags(text) == 4
    # villa_sari, x.com (counted conservatively: the platform may link it), x
    assert count_mentions(text) == 3


def test_links_become_bare_hosts_and_punctuation_stays() -> None:
    assert (
        strip_links("Daftar di https://www.Example.co.id/karir?id=9. Cepat!")
        == "Daftar di Example.co.id. Cepat!"
    )
    assert strip_links("(lihat www.loker.id/bali)") == "(lihat loker.id)"
    assert strip_links("HTTP://user@host.com:8080/x") == "host.com"
    assert strip_links("just http:// here") == "just  here"
    # Not links: a bare domain, 'www.' without a host, www inside a word.
    assert strip_links("jobs.example.com awww. careers.www.co") == (
        "jobs.example.com awww. careers.www.co"
    )


def test_removing_a_link_that_exposes_another_removes_that_too() -> None:
    # " ww" + "w.example.com" is " www.example.com": a link again, stripped in turn.
    assert strip_links(" ww" + "https://w.example.com") == " example.com"


def test_apply_line_names_the_host_without_www() -> None:
    assert instagram_apply_line("https://www.jobs.example.com/9?x=1") == APPLY
    with pytest.raises(ValueError, match="no host"):
        instagram_apply_line("not a url")


# --- Instagram -----------------------------------------------------------------------------


def test_instagram_layout() -> None:
    caption = ig(
        "Cari housekeeper berpengalaman.\nGaji harian, makan siang.",
        ["BaliJobs", "#lowongan kerja"],
    )
    assert caption == (
        "Housekeeper at Villa Sari\n📍 Uluwatu, Bali\n💰 IDR 150,000–200,000 / day\n\n"
        "Cari housekeeper berpengalaman.\nGaji harian, makan siang.\n\n"
        "Apply: jobs.example.com (link in bio)\n#BaliJobs #lowongankerja"
    )


def test_instagram_without_body_or_tags_has_no_empty_blocks() -> None:
    assert ig("   ") == "\n".join(HEADLINE) + "\n\n" + APPLY


def test_instagram_has_no_links_anywhere() -> None:
    caption = ig(
        "Apply at https://jobs.example.com/9 or www.villasari.com!",
        headline=["Housekeeper https://spam.example", "📍 Bali"],
        apply_line="Apply: https://jobs.example.com/9 (link in bio)",
    )
    assert LINK.search(caption) is None
    assert "Apply at jobs.example.com or villasari.com!" in caption
    assert "Apply: jobs.example.com (link in bio)" in caption


def test_long_body_is_cut_with_an_ellipsis_and_the_apply_line_survives() -> None:
    body = ("Kami mencari staf yang ramah dan rajin. " * 400).strip()
    caption = ig(body, ["BaliJobs", "Hiring"])
    assert len(caption) == INSTAGRAM_CAPTION_LIMIT
    assert caption.endswith(APPLY + "\n#BaliJobs #Hiring")
    assert "…\n\nApply:" in caption
    assert caption.startswith("\n".join(HEADLINE) + "\n\nKami mencari")


def test_a_body_that_is_only_an_ellipsis_is_kept_when_it_fits() -> None:
    assert ig("…") == "\n".join(HEADLINE) + "\n\n…\n\n" + APPLY


def test_body_cut_never_splits_an_emoji() -> None:
    body = FAMILY * 1000
    caption = ig(body)
    shown = caption.split("\n\n")[1]
    assert shown.endswith(FAMILY + "…")
    assert set(clusters(shown[:-1])) == {FAMILY}
    assert len(caption) > INSTAGRAM_CAPTION_LIMIT - len(FAMILY) - 1


def test_body_cut_does_not_leave_half_a_hashtag() -> None:
    head_and_tail = len("\n".join(HEADLINE)) + 2 + 2 + len(APPLY)
    room = INSTAGRAM_CAPTION_LIMIT - head_and_tail
    body = "x" * (room - 5) + " #hiringnow today"
    caption = ig(body)
    assert "#hir" not in caption
    assert caption.split("\n\n")[1] == "x" * (room - 5) + "…"


def test_hashtags_in_the_body_count_toward_thirty_and_are_not_repeated() -> None:
    body = " ".join(f"#body{i}" for i in range(25)) + " #BaliJobs"
    caption = ig(body, ["balijobs", *[f"tag{i}" for i in range(10)]])
    assert count_hashtags(caption) == 30
    tag_line = caption.splitlines()[-1]
    assert tag_line == "#tag0 #tag1 #tag2 #tag3"
    assert "#balijobs" not in caption


def test_too_many_body_hashtags_lose_their_sign_from_the_end() -> None:
    body = " ".join(f"#t{i}" for i in range(40))
    caption = ig(body, ["BaliJobs"])
    assert count_hashtags(caption) == 30
    assert "#t29 t30 t31" in caption
    assert caption.endswith(APPLY)  # no room left for a tag line


def test_two_hundred_tags_are_capped_at_thirty_whole_tags() -> None:
    tags = [f"LowonganKerja{i}" for i in range(200)]
    caption = ig("Body", tags)
    assert count_hashtags(caption) == 30
    assert caption.splitlines()[-1] == " ".join(f"#LowonganKerja{i}" for i in range(30))


def test_hashtags_cut_from_the_body_come_back_on_the_tag_line() -> None:
    # Descriptions often end in their own tags; when the cut removes them they belong on
    # the tag line, not lost for having been "already in the text".
    body = "Kerja di Bali. " * 300 + "#BaliJobs"
    caption = ig(body, ["BaliJobs"])
    assert caption.endswith("\n#BaliJobs")
    assert count_hashtags(caption) == 1


def test_mentions_above_twenty_lose_their_at_sign() -> None:
    body = " ".join(f"@user{i}" for i in range(25))
    caption = ig(body)
    assert count_mentions(caption) == 20
    assert "@user19 user20" in caption


def test_neutralising_leaves_no_new_tag_behind() -> None:
    body = " ".join(f"@#tag{i} #@who{i}" for i in range(40))
    caption = ig(body)
    assert count_hashtags(caption) == 30
    assert count_mentions(caption) == 20


def test_a_link_completed_by_dropping_a_sign_is_stripped_too() -> None:
    # The 31st hashtag "#p" loses its sign, which turns "htt#p://" into a scheme.
    body = " ".join(f"#t{i}" for i in range(30)) + " htt#p://evil.example/x"
    caption = ig(body)
    assert LINK.search(caption) is None
    assert caption.split("\n\n")[1].endswith("#t29 evil.example")


def test_the_apply_line_comes_first_under_the_caps() -> None:
    apply_line = "Apply: DM @villa_sari #lowongan"
    body = " ".join(f"@u{i} #t{i}" for i in range(40))
    caption = ig(body, apply_line=apply_line)
    assert apply_line in caption
    assert "@u18 #t18" in caption
    assert "@u19 #t19" not in caption
    assert (count_mentions(caption), count_hashtags(caption)) == (20, 30)


def test_tags_go_from_the_end_once_the_body_is_gone() -> None:
    long_headline = ["T" * 1000, "L" * 1000]
    tags = [f"tag{i:02d}" for i in range(30)]  # 6 chars each + a space
    caption = ig("Body text", tags, headline=long_headline)
    assert len(caption) <= INSTAGRAM_CAPTION_LIMIT
    assert "Body text" not in caption
    assert caption.startswith("T" * 1000 + "\n" + "L" * 1000 + "\n\n" + APPLY + "\n#tag00 ")
    kept = caption.splitlines()[-1].split(" ")
    assert kept == [f"#tag{i:02d}" for i in range(len(kept))]
    assert 0 < len(kept) < 30


def test_headline_is_cut_last_longest_line_first() -> None:
    headline = ["Title " * 500, "📍 Bali", "💰 IDR 150,000 / day"]
    caption = ig("Body", ["tag"], headline=headline)
    assert INSTAGRAM_CAPTION_LIMIT - 1 <= len(caption) <= INSTAGRAM_CAPTION_LIMIT
    lines = caption.split("\n")
    assert lines[0].startswith("Title Title")
    assert lines[0].endswith("…")
    assert lines[1:3] == ["📍 Bali", "💰 IDR 150,000 / day"]
    assert caption.endswith(APPLY)


def test_apply_line_that_cannot_fit_is_an_error() -> None:
    with pytest.raises(ValueError, match="apply line"):
        ig(apply_line="Apply " + "x" * INSTAGRAM_CAPTION_LIMIT)
    with pytest.raises(ValueError, match="apply line"):
        ig(apply_line="  ")


# --- Facebook ------------------------------------------------------------------------------


def test_facebook_layout_keeps_links() -> None:
    message = facebook_message(
        headline=HEADLINE,
        body="Lihat https://villasari.com",
        apply_url="https://jobs.example.com/9",
        hashtags=["BaliJobs", "balijobs"],
    )
    assert message == (
        "\n".join(HEADLINE) + "\n\nLihat https://villasari.com\n\n"
        "Apply: https://jobs.example.com/9\n#BaliJobs"
    )


def test_facebook_fits_its_limit_and_keeps_the_apply_url() -> None:
    message = facebook_message(
        headline=HEADLINE,
        body=f"Kerja {FLAG_ID} " * 20_000,
        apply_url="https://jobs.example.com/9",
        hashtags=[f"t{i}" for i in range(100)],
    )
    assert len(message) <= FACEBOOK_MESSAGE_LIMIT
    assert "\n\nApply: https://jobs.example.com/9\n#t0 #t1" in message
    assert count_hashtags(message.splitlines()[-1]) == FACEBOOK_MAX_HASHTAGS


def test_facebook_needs_an_apply_url() -> None:
    with pytest.raises(ValueError, match="apply URL"):
        facebook_message(headline=HEADLINE, body="", apply_url=" ", hashtags=[])


# --- footer, wording, and what was cut -------------------------------------------------------


def test_footer_sits_before_the_apply_line_and_is_never_cut() -> None:
    footer = "Ikuti @balijobs untuk lowongan lain"
    body = "Kerja di Bali. " * 300
    fitted = fit_instagram_caption(
        headline=HEADLINE, body=body, apply_line=APPLY, hashtags=["BaliJobs"], footer=footer
    )
    assert fitted.text.endswith(f"…\n\n{footer}\n\n{APPLY}\n#BaliJobs")
    assert len(fitted.text) <= INSTAGRAM_CAPTION_LIMIT
    assert fitted.cuts.body_cut


def test_hashtags_in_the_footer_are_not_repeated_and_count_toward_thirty() -> None:
    caption = ig_with_footer("#BaliJobs", [*(f"t{i}" for i in range(40)), "balijobs"])
    assert caption.count("#BaliJobs") == 1
    assert count_hashtags(caption) == 30


def ig_with_footer(footer: str, hashtags: list[str]) -> str:
    return fit_instagram_caption(
        headline=HEADLINE, body="", apply_line=APPLY, hashtags=hashtags, footer=footer
    ).text


def test_apply_wording_per_language() -> None:
    assert instagram_apply_line("https://www.loker.id/7", "Lamar: {host} (link di bio)") == (
        "Lamar: loker.id (link di bio)"
    )
    message = facebook_message(
        headline=HEADLINE, body="", apply_url="https://loker.id/7", hashtags=[], apply_label="Lamar"
    )
    assert message.endswith("\n\nLamar: https://loker.id/7")


def test_nothing_cut_reports_nothing() -> None:
    fitted = fit_instagram_caption(headline=HEADLINE, body="Body", apply_line=APPLY, hashtags=["a"])
    assert fitted.cuts == Cuts(full_length=len(fitted.text), body_length=4, body_shown=4)
    assert not fitted.cuts.body_cut


def test_cuts_report_body_tags_and_full_length() -> None:
    body = "x" * 3000
    fitted = fit_instagram_caption(
        headline=HEADLINE, body=body, apply_line=APPLY, hashtags=[f"t{i}" for i in range(35)]
    )
    tags = " ".join(f"#t{i}" for i in range(30))
    head = "\n".join(HEADLINE)
    assert fitted.cuts == Cuts(
        full_length=len(f"{head}\n\n{body}\n\n{APPLY}\n{tags}"),
        body_length=3000,
        body_shown=len(fitted.text.split("\n\n")[1]),
        tags_over_cap=5,
    )
    assert fitted.cuts.body_cut


def test_cuts_report_signs_and_links_taken_from_the_text() -> None:
    body = (
        " ".join(f"#h{i}" for i in range(32))
        + " "
        + " ".join(f"@u{i}" for i in range(23))
        + " see https://a.example/x and www.b.example"
    )
    cuts = fit_instagram_caption(headline=HEADLINE, body=body, apply_line=APPLY, hashtags=[]).cuts
    assert (cuts.hashtags_unmarked, cuts.mentions_unmarked, cuts.links_removed) == (2, 3, 2)


def test_cuts_report_tags_dropped_for_length_and_headline_lines_cut() -> None:
    fitted = fit_instagram_caption(
        headline=["T" * 1500, "📍 Bali"],
        body="",
        apply_line=APPLY,
        hashtags=[f"{i:02d}" + "y" * 40 for i in range(30)],
    )
    kept = len(fitted.text.splitlines()[-1].split(" "))
    assert fitted.cuts.tags_over_length == 30 - kept
    assert fitted.cuts.headline_lines_cut == 0
    squeezed = fit_instagram_caption(
        headline=["T" * 3000, "L" * 3000, "📍 Bali"], body="", apply_line=APPLY, hashtags=[]
    )
    assert squeezed.cuts.headline_lines_cut == 2
    assert len(squeezed.text) <= INSTAGRAM_CAPTION_LIMIT


def test_facebook_cuts() -> None:
    fitted = fit_facebook_message(
        headline=HEADLINE,
        body="z" * FACEBOOK_MESSAGE_LIMIT,
        apply_url="https://jobs.example.com/9",
        hashtags=[f"t{i}" for i in range(31)],
    )
    assert len(fitted.text) <= FACEBOOK_MESSAGE_LIMIT
    assert fitted.cuts.body_cut
    assert fitted.cuts.tags_over_cap == 1
    assert fitted.cuts.full_length > FACEBOOK_MESSAGE_LIMIT


# --- properties ----------------------------------------------------------------------------

PIECES = [
    FAMILY,
    FLAG_ID,
    THUMB,
    E_ACUTE,
    "\u0301",
    "\u200d",
    "\u0600",
    "ที่",
    "न्दी",
    "#",
    "＃",
    "@",
    "##",
    "#tag",
    "@user",
    "https://",
    "http://x.y/z",
    "www.",
    "www.example.com",
    "ww",
    "htt",
    ".",
    " ",
    "\n",
    "\r\n",
    "…",
    "IDR 150.000",
]
chunk = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(PIECES)), max_size=12).map("".join)
# Big inputs come from repetition: generating 50k random characters would be slow.
huge = st.tuples(chunk, st.integers(1, 5_000)).map(lambda pair: (pair[0] * pair[1])[:50_000])
text = st.one_of(chunk, huge)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,10}){1,2}", fullmatch=True)
PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(source=text, limit=st.integers(0, 3_000))
def test_truncation_keeps_whole_leading_clusters(source: str, limit: int) -> None:
    result = truncate_graphemes(source, limit)
    assert len(result) <= limit
    if len(source) <= limit:
        assert result == source
    elif result:
        assert result.endswith("…")
        kept = clusters(result[:-1])
        assert kept == clusters(source)[: len(kept)]
        assert clusters(result)[-1] == "…"


@PROPERTY
@given(
    headline=st.lists(st.one_of(chunk, st.text(max_size=1_000)), max_size=3),
    body=text,
    tags=st.lists(st.one_of(chunk, st.text(max_size=60)), max_size=200),
    host=hosts,
)
def test_instagram_caption_always_obeys_the_rules(
    headline: list[str], body: str, tags: list[str], host: str
) -> None:
    apply_line = instagram_apply_line(f"https://{host}/jobs/1")
    caption = instagram_caption(headline=headline, body=body, apply_line=apply_line, hashtags=tags)
    assert_instagram_rules(caption, apply_line)
    # The tag line, if any, holds only whole tags that were asked for.
    last = caption.rsplit("\n", 1)[-1]
    if last != apply_line:
        assert set(last.split(" ")) <= set(normalise_hashtags(tags))


plain = st.lists(
    st.one_of(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="#＃@＠:wW"),
        st.sampled_from([FAMILY, FLAG_ID, THUMB, E_ACUTE, "\u0600", "\u0301", " "]),
    ),
).map("".join)


@PROPERTY
@given(body=st.one_of(plain, st.tuples(plain, st.integers(1, 3_000)).map(lambda p: p[0] * p[1])))
# Every cluster that fits is blank or a run of "prepend" characters, which would fuse with
# the ellipsis: nothing can end the cut, so the body goes.
@example(body="\x1f\u0600\u0600" * 1_000)
def test_instagram_body_is_a_whole_cluster_prefix(body: str) -> None:
    caption = ig(body, ["BaliJobs", "Hiring"])
    head = "\n".join(HEADLINE)
    start = len(head) + 2
    shown = caption[start : caption.rindex("\n\n" + APPLY)]
    expected = body.strip()
    if shown == expected:
        return
    if not shown:  # dropped only when no whole cluster that fits can end the cut
        room = INSTAGRAM_CAPTION_LIMIT - len(caption) - len("\n\n" + ELLIPSIS)
        end = 0
        for cluster in clusters(expected):
            end += len(cluster)
            if end > room:
                break
            assert cluster.isspace() or clusters(cluster + ELLIPSIS)[0] != cluster
        return
    assert shown.endswith("…")
    kept = clusters(shown[:-1])
    assert kept
    assert kept == clusters(expected)[: len(kept)]


@PROPERTY
@given(
    headline=st.lists(chunk, max_size=3),
    body=st.one_of(
        text, st.tuples(chunk, st.integers(1, 40_000)).map(lambda p: (p[0] * p[1])[:100_000])
    ),
    tags=st.lists(st.one_of(chunk, st.text(max_size=60)), max_size=200),
    host=hosts,
)
def test_facebook_message_always_fits_and_carries_the_url(
    headline: list[str], body: str, tags: list[str], host: str
) -> None:
    url = f"https://{host}/jobs/1"
    message = facebook_message(headline=headline, body=body, apply_url=url, hashtags=tags)
    assert len(message) <= FACEBOOK_MESSAGE_LIMIT
    assert f"Apply: {url}" in message
    assert count_hashtags(message.rsplit("\n", 1)[-1]) <= FACEBOOK_MAX_HASHTAGS
