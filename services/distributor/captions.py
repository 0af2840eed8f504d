"""Post text for Instagram captions, Facebook messages and Threads posts, kept inside
Meta's limits.

Pure functions, no I/O. Layout of every post:

    headline lines (title at company, location, pay)
    <blank>
    body (custom caption, else the description)
    <blank>
    footer (the tenant's, optional)
    <blank>
    apply line
    hashtag line

When a post is too long the body is shortened first, then hashtags go from the end of
the tag line, and only then are the headline lines shortened. The apply line and the
footer are never cut. The `fit_*` functions also report what they took out (`Cuts`), so a
preview can say precisely what was shortened or dropped.

Length is measured with `len()`, i.e. in Unicode code points. Meta documents "characters"
without saying how it counts them; code points never undercount user-perceived characters
(grapheme clusters), which is the conservative reading we chose. Note that if Meta counted
UTF-16 code units, an emoji outside the BMP would count as two: `_measure` is the one place
to change that.

All cuts fall on extended grapheme cluster boundaries (UAX #29, via the `regex` module's
`\\X`), so an emoji ZWJ sequence, a flag, a skin-tone modifier or a base letter with its
combining marks is never split.

Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069) are
dropped from every input: in a post they can reverse what a reader sees (a pay of 0051
shown as 1500) and they carry no meaning of their own. Joiners and marks are kept, so
emoji sequences stay whole.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import regex

from jobcast.linkedin import little_text

INSTAGRAM_CAPTION_LIMIT = 2_200
INSTAGRAM_MAX_HASHTAGS = 30
INSTAGRAM_MAX_MENTIONS = 20
FACEBOOK_MESSAGE_LIMIT = 63_206
# Facebook documents no hashtag cap; this only keeps a runaway tag list from becoming spam.
FACEBOOK_MAX_HASHTAGS = 30
# LinkedIn's commentary limit, counted on the text as sent (escapes included: see
# `fit_linkedin_commentary`); its hashtag cap is a sanity limit like Facebook's.
LINKEDIN_COMMENTARY_LIMIT = 3_000
LINKEDIN_MAX_HASHTAGS = 30
THREADS_TEXT_LIMIT = 500
# Threads makes one topic tag of a post (at most 50 characters, no '.' or '&').
THREADS_MAX_HASHTAGS = 1
THREADS_MAX_TAG_LENGTH = 50
ELLIPSIS = "…"

_GRAPHEME = regex.compile(r"\X")
# What may be drawn as an emoji: pictographs, flags' letters, and (the safe side) every
# character beyond the BMP and the symbol and dingbat blocks some systems draw as emoji.
_EMOJI = regex.compile(
    r"[\p{Extended_Pictographic}\p{Regional_Indicator}\U00010000-\U0010FFFF\u2600-\u27BF]"
)
_HASH = "#＃"  # the full-width sign is treated as a hashtag too: over-counting is the safe side
_AT = "@＠"
_MARKERS = _HASH + _AT
# A hashtag is a '#' directly followed by a word character (letters, marks, digits, '_');
# a mention is an '@' followed by a username character. Both are counted wherever they occur
# (even inside words or e-mail addresses): Meta's exact rules are undocumented, and counting
# too many only costs a tag, while counting too few risks a rejected post.
_HASHTAG = regex.compile(r"[#＃](?=\w)")
_MENTION = regex.compile(r"[@＠](?=[\w.])")
_HASHTAG_WORD = regex.compile(r"[#＃](\w+)")
# A maximal run of markers in front of a word: neutralising deletes the whole run, so no
# marker left behind can become a new tag or mention (e.g. '@#tag' -> 'tag', not '@tag'),
# and a long run of signs is handled in one pass instead of one sign per pass.
_MARKER_RUN = regex.compile(r"(?<![#＃@＠])[#＃@＠]+(?=[\w.])")
_WORD_CHARS = regex.compile(r"\w+")
_LEADING_MARKS = regex.compile(r"^[\p{M}\p{Join_Control}]+")
_TOKEN_CHAR = regex.compile(r"[\w.]")
# A link: an http(s) scheme anywhere, or 'www.' at the start of a word and followed by a
# host. Bare domains ("jobs.example.com") are not links here: that is how the apply line
# names the site, and Instagram does not make them clickable.
_LINK = regex.compile(r"(?i)(?:https?://|(?<![\w.-])www\.(?=[\w-]))\S*")
_LINK_HOST = regex.compile(r"(?i)(?:https?://(?:[^\s/?#@]*@)?)?(?P<host>[\w-][\w.-]*)?")
_WWW_PREFIX = regex.compile(r"(?i)^(?:www\.)+")
_TRAILING_PUNCT = ".,;:!?)]}>'\"»”’…"  # sentence punctuation after a link stays in the text
_BLOCK_SEP = "\n\n"
_SETTLE_ROUNDS = 4
_UNLIMITED = 10**9  # a limit no post reaches: the post as it would be without one
INSTAGRAM_APPLY_TEMPLATE = "Apply: {host} (link in bio)"


@dataclass(frozen=True, slots=True)
class Cuts:
    """What fitting a post into a platform's rules took out; all zero when nothing was.

    Lengths are in the unit the limits are counted in (see `_measure`).
    """

    full_length: int = 0  # the post as it would be without the length limit
    body_length: int = 0  # the body as given (after cleaning)
    body_shown: int = 0  # how much of it is shown, ellipsis included; 0 if dropped
    headline_lines_cut: int = 0
    tags_over_cap: int = 0  # tag-line hashtags left out for the hashtag cap
    tags_over_length: int = 0  # tag-line hashtags left out to fit the length limit
    hashtags_unmarked: int = 0  # hashtags in the text that lost their sign (cap)
    mentions_unmarked: int = 0  # mentions in the text that lost their sign (cap)
    links_removed: int = 0  # links turned into bare host names (Instagram)

    @property
    def body_cut(self) -> bool:
        """Whether the body was shortened or dropped."""
        return self.body_shown < self.body_length


_NO_CUTS = Cuts()


@dataclass(frozen=True, slots=True)
class Fitted:
    """A post text within the platform's rules, and what it took to get there."""

    text: str
    cuts: Cuts


def _measure(text: str) -> int:
    """Characters as counted against Meta's limits: code points (see the module docstring)."""
    return len(text)


# --- counting ---------------------------------------------------------------------------


def count_hashtags(text: str) -> int:
    """How many hashtags `text` holds (every '#' or '＃' directly followed by a word char)."""
    return len(_HASHTAG.findall(text)) if _has_hash(text) else 0


def count_mentions(text: str) -> int:
    """How many @mentions `text` holds (every '@' or '＠' followed by a username char)."""
    return len(_MENTION.findall(text))


@functools.lru_cache(maxsize=1024)  # small: a word from the text may be long
def _tag_key(word: str) -> str:
    """Identity of a hashtag for deduplication: NFC, case-folded, without the sign.

    Cached: the same tags are compared again for every post and every layout round.
    """
    return unicodedata.normalize("NFC", word.lstrip(_HASH)).casefold()


def _hashtag_keys(text: str) -> set[str]:
    if not _has_hash(text):
        return set()
    return {_tag_key(word) for word in _HASHTAG_WORD.findall(text)}


def _has_hash(text: str) -> bool:
    # A plain `in` is far cheaper than a regex scan, and most text holds no sign at all.
    return "#" in text or "＃" in text


# --- cleaning -----------------------------------------------------------------------------


def normalise_hashtags(tags: Iterable[str]) -> list[str]:
    """`#`-prefixed hashtags: spaces and punctuation removed, empties dropped, deduplicated.

    Deduplication is case-insensitive (NFC + casefold) and keeps the first spelling and the
    original order. Only word characters survive ("Full-time" -> "#Fulltime"), since anything
    else would end the tag early on the platform; a tag with no letter or digit is dropped.
    """
    seen: set[str] = set()
    result: list[str] = []
    for raw in tags:
        cleaned = _clean_tag(raw)
        if cleaned is None or cleaned[1] in seen:
            continue
        seen.add(cleaned[1])
        result.append(cleaned[0])
    return result


@functools.lru_cache(maxsize=8192)
def _clean_tag(raw: str) -> tuple[str, str] | None:
    """One tag as `#word` with its dedup key, or None if nothing of it survives.

    Cached: a tenant's hashtags and common job tags recur in every post.
    """
    word = "".join(_WORD_CHARS.findall(unicodedata.normalize("NFC", raw)))
    # A leading combining mark would fuse with the '#' into one odd-looking character.
    word = _LEADING_MARKS.sub("", word)
    if not any(ch.isalnum() for ch in word):
        return None
    return "#" + word, _tag_key(word)


def strip_links(text: str) -> str:
    """`text` with every http(s):// or www. link replaced by its bare host name.

    "Apply at https://www.example.com/jobs?id=1." becomes "Apply at example.com." — the
    reader keeps the hint, Instagram gets no URL. A scheme with no host is removed.
    Repeats until nothing changes, since removing one link can expose another
    (e.g. "ww" + "https://w.example" -> "www.example").
    """
    return _strip_links_counted(text)[0]


def _strip_links_counted(text: str) -> tuple[str, int]:
    """`strip_links`, and how many links it replaced."""
    removed = 0
    while True:
        stripped, found = _LINK.subn(_link_to_host, text)
        if stripped == text:
            return text, removed
        removed += found
        text = stripped


def _link_to_host(match: regex.Match[str]) -> str:
    link = match.group()
    kept = link.rstrip(_TRAILING_PUNCT)
    trailing = link[len(kept) :]
    host_match = _LINK_HOST.match(kept)
    host = (host_match.group("host") if host_match else None) or ""
    return _WWW_PREFIX.sub("", host).strip(".-") + trailing


def instagram_apply_line(
    apply_url: str, template: str = INSTAGRAM_APPLY_TEMPLATE, *, host: str | None = None
) -> str:
    """Where to apply, without a link: "Apply: jobs.example.com (link in bio)".

    Only the host is shown (no path, no query), so the line stays short and carries no
    tracking parameters. `template` words it per language; `{host}` is replaced.
    `host`: the URL's host when the caller has it parsed already (pydantic's `HttpUrl.host`,
    which keeps an IPv6 address's brackets). Raises `ValueError` when there is no host.
    """
    host = host.strip("[]") if host else urlsplit(apply_url).hostname
    if not host:
        raise ValueError(f"apply URL has no host: {apply_url!r}")
    return template.replace("{host}", _WWW_PREFIX.sub("", host))


def _cap_markers(parts: list[str], *, hashtags: bool, keep: int) -> tuple[list[str], int]:
    """Keep the first `keep` hashtags (or mentions) across `parts`, in order; the rest lose
    their sign and become plain words. Also returns how many lost it."""
    remaining = keep
    unmarked = 0

    def neutralise(match: regex.Match[str]) -> str:
        nonlocal remaining
        last = match.group()[-1]
        following = match.string[match.end()]
        is_hashtag = last in _HASH and _WORD_CHARS.match(following) is not None
        is_mention = last in _AT
        if is_hashtag if hashtags else is_mention:
            if remaining > 0:
                remaining -= 1
            else:
                nonlocal unmarked
                unmarked += 1
                return ""
        return match.group()

    return [_MARKER_RUN.sub(neutralise, part) for part in parts], unmarked


def _sanitise_for_instagram(parts: list[str]) -> tuple[list[str], Cuts]:
    """No links, at most 20 mentions and 30 hashtags across `parts` (earlier parts first).

    Plain text (no sign, no link: most posts) only needs stripping; anything else goes
    through `_sanitise_until_stable`, which gives the same for plain text, more slowly.
    """
    # Joined by a newline, which no sign or link can span: one scan for all parts.
    if _may_change("\n".join(parts)):
        return _sanitise_until_stable(parts)
    return [part.strip() for part in parts], _NO_CUTS


def _sanitise_until_stable(parts: list[str]) -> tuple[list[str], Cuts]:
    """Strip links and cap signs, repeated until stable because each step can, in contrived
    text, undo another: dropping a '#' can complete a scheme ("htt#p://x"), and a link's
    host can follow a '#'. Every changing pass makes the text shorter, so this ends.
    Returns the parts and what went.
    """
    links = mentions = hashtags = 0
    while True:
        stripped = [_strip_links_counted(part) for part in parts]
        links += sum(found for _, found in stripped)
        cleaned = [part.strip() for part, _ in stripped]
        cleaned, unmarked = _cap_markers(cleaned, hashtags=False, keep=INSTAGRAM_MAX_MENTIONS)
        mentions += unmarked
        cleaned, unmarked = _cap_markers(cleaned, hashtags=True, keep=INSTAGRAM_MAX_HASHTAGS)
        hashtags += unmarked
        if cleaned == parts:
            cuts = Cuts(links_removed=links, mentions_unmarked=mentions, hashtags_unmarked=hashtags)
            return cleaned, cuts
        parts = cleaned


def _may_change(part: str) -> bool:
    """Whether sanitising could change `part` beyond stripping: it holds a hashtag or
    mention sign, or a link. Without any, every step of a pass leaves it as it is."""
    if _has_hash(part) or "@" in part or "＠" in part:
        return True
    # Whatever `_LINK` finds holds "://" or "www." in any case (only "w" and "W" match a
    # "w" there): a plain look for those first spares most text the regex scan.
    return ("://" in part or "www." in part.lower()) and _LINK.search(part) is not None


# --- grapheme-safe truncation -----------------------------------------------------------------


def truncate_graphemes(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` characters, else its longest prefix of whole grapheme
    clusters that fits together with `ellipsis`, followed by `ellipsis`.

    Trailing whitespace before the ellipsis is dropped. If not even the ellipsis fits,
    returns "". If no whole cluster fits before it, returns the ellipsis alone.
    """
    return _truncate(text, limit, ellipsis, keep_tokens_whole=False)


def _truncate(text: str, limit: int, ellipsis: str, *, keep_tokens_whole: bool) -> str:
    if _measure(text) <= limit:
        return text
    room = limit - _measure(ellipsis)
    if room < 0:
        return ""
    # Segmenting only the prefix is exact: a boundary depends on what precedes it and on the
    # one character after it, and text[: room + 1] includes that character for every
    # boundary at or before `room`.
    ends = [0, *(m.end() for m in _GRAPHEME.finditer(text[: room + 1]))]
    index = bisect_right(ends, room) - 1
    if keep_tokens_whole:
        index = bisect_right(ends, _before_partial_token(text, ends[index])) - 1
    while index > 0:
        cluster = text[ends[index - 1] : ends[index]]
        # No trailing blank before the ellipsis, and no cluster that would fuse with it
        # (a Unicode "prepend" character such as U+0600 joins whatever follows).
        if cluster.isspace() or _fuses(cluster, ellipsis):
            index -= 1
            continue
        break
    return text[: ends[index]] + ellipsis


def _fuses(cluster: str, ellipsis: str) -> bool:
    """Whether `cluster` + `ellipsis` would segment with the ellipsis glued onto `cluster`."""
    return [m.group() for m in _GRAPHEME.finditer(cluster + ellipsis)][:1] != [cluster]


def _before_partial_token(text: str, cut: int) -> int:
    """Move `cut` back to before a hashtag or mention that it would split in half."""
    if cut >= len(text) or not _TOKEN_CHAR.match(text[cut]):
        return cut
    start = cut
    while start > 0 and _TOKEN_CHAR.match(text[start - 1]):
        start -= 1
    signs = start
    while signs > 0 and text[signs - 1] in _MARKERS:
        signs -= 1
    return signs if signs < start else cut


def _shorten_body(body: str, room: int) -> str:
    """The body cut to `room` characters, or "" when nothing meaningful would remain."""
    if _measure(body) <= room:
        return body
    cut = _truncate(body, room, ELLIPSIS, keep_tokens_whole=True)
    return "" if cut == ELLIPSIS else cut


# --- layout -------------------------------------------------------------------------------------


def _compose(
    headline: Sequence[str], body: str, footer: str, apply_line: str, tags: Sequence[str]
) -> str:
    blocks = ["\n".join(headline)] if headline else []
    if body:
        blocks.append(body)
    if footer:
        blocks.append(footer)
    blocks.append("\n".join([apply_line, " ".join(tags)]) if tags else apply_line)
    return _BLOCK_SEP.join(blocks)


@dataclass(slots=True)
class _Layout:
    """One post's parts and limits, and the measures fitting it is decided by."""

    headline: list[str]
    body: str
    footer: str
    apply_line: str
    tags: list[str]
    limit: int
    max_total_tags: int | None
    max_line_tags: int
    essential_keys: set[str] = field(init=False)
    essential_count: int = field(init=False)

    def __post_init__(self) -> None:
        essentials = "\n".join([*self.headline, self.footer, self.apply_line])
        self.essential_keys = _hashtag_keys(essentials)
        self.essential_count = count_hashtags(essentials)

    def candidates(self, shown_body: str) -> list[str]:
        # Tags already in the text are not repeated.
        taken = self.essential_keys | _hashtag_keys(shown_body)
        return [tag for tag in self.tags if _tag_key(tag) not in taken]

    def pick(self, shown_body: str) -> list[str]:
        # With a total cap, hashtags in the text count against it.
        room = self.max_line_tags
        if self.max_total_tags is not None:
            room = min(
                room, self.max_total_tags - self.essential_count - count_hashtags(shown_body)
            )
        return self.candidates(shown_body)[: max(room, 0)]

    def compose(self, head: Sequence[str], shown_body: str, line_tags: Sequence[str]) -> str:
        return _compose(head, shown_body, self.footer, self.apply_line, line_tags)

    def fits(self, text: str) -> bool:
        return _measure(text) <= self.limit

    def body_room(self, line_tags: list[str]) -> int:
        return (
            self.limit - _measure(self.compose(self.headline, "", line_tags)) - _measure(_BLOCK_SEP)
        )


def _layout(
    *,
    headline: list[str],
    body: str,
    footer: str,
    apply_line: str,
    tags: list[str],
    limit: int,
    max_total_tags: int | None,
    max_line_tags: int,
) -> Fitted:
    """Fit the post in `limit`: body first, then tags from the end, then the headline."""
    post = _Layout(
        headline=headline,
        body=body,
        footer=footer,
        apply_line=apply_line,
        tags=tags,
        limit=limit,
        max_total_tags=max_total_tags,
        max_line_tags=max_line_tags,
    )
    return _fit_as_given(post) or _fit_by_cutting(post)


def _fit_as_given(post: _Layout) -> Fitted | None:
    """The common case, in one pass: the whole post fits. Then `_fit_by_cutting` would cut
    nothing either (the body fits its room, no tag or headline line goes), and this is
    exactly its result; None when something has to give."""
    picked = post.pick(post.body)
    whole = post.compose(post.headline, post.body, picked)
    if not post.fits(whole):
        return None
    cuts = Cuts(
        full_length=_measure(whole),
        body_length=_measure(post.body),
        body_shown=_measure(post.body),
        tags_over_cap=len(post.candidates(post.body)) - len(picked),
    )
    return Fitted(whole, cuts)


def _fit_by_cutting(post: _Layout) -> Fitted:
    """Shorten the body, then drop tags from the end, then cut the headline, until it fits."""
    headline, body = post.headline, post.body
    # Cutting the body can remove hashtags it held, which frees tag-line room and lifts the
    # dedupe for them; a few rounds let tag line and body settle (it only ever shrinks).
    shown = body
    for _ in range(_SETTLE_ROUNDS):
        cut = _shorten_body(body, post.body_room(post.pick(shown)))
        if cut == shown:
            break
        shown = cut
    picked = post.pick(shown)
    line_tags = list(picked)

    # Whole tags go from the end once the body is as short as it gets.
    while line_tags and not post.fits(post.compose(headline, shown, line_tags)):
        line_tags.pop()
    if not post.fits(post.compose(headline, shown, line_tags)):
        shown = _shorten_body(shown, post.body_room(line_tags))
    head, head_cut = headline, 0
    if not post.fits(post.compose(head, shown, line_tags)):
        head, head_cut = _fit_headline(
            headline, lambda h: post.fits(post.compose(h, shown, line_tags))
        )
    cuts = Cuts(
        full_length=_measure(post.compose(headline, body, post.pick(body))),
        body_length=_measure(body),
        body_shown=_measure(shown),
        headline_lines_cut=head_cut,
        tags_over_cap=len(post.candidates(shown)) - len(picked),
        tags_over_length=len(picked) - len(line_tags),
    )
    return Fitted(post.compose(head, shown, line_tags), cuts)


def _fit_headline(headline: list[str], fits: Callable[[list[str]], bool]) -> tuple[list[str], int]:
    """Last resort: cut the headline lines to a common cap, so the longest goes first (in
    practice the title). Returns the lines and how many were cut; raises `ValueError` if
    nothing fits even without a headline."""

    def headline_at(cap: int) -> list[str]:
        return [short for line in headline if (short := truncate_graphemes(line, cap))]

    fitting = _largest(
        0, max((_measure(line) for line in headline), default=0), lambda c: fits(headline_at(c))
    )
    if fitting is None:
        raise ValueError("the apply line and footer alone do not fit")
    return headline_at(fitting), sum(_measure(line) > fitting for line in headline)


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The largest value in [low, high] for which the monotone predicate `ok` holds."""
    if not ok(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low


_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def drop_bidi_controls(text: str) -> str:
    """`text` without bidirectional embedding, override and isolate controls."""
    return text if text.isascii() else text.translate(_BIDI_CONTROLS)


def _clean_lines(lines: Iterable[str]) -> list[str]:
    return [stripped for line in lines if (stripped := drop_bidi_controls(line).strip())]


# --- public entry points --------------------------------------------------------------------------


def fit_instagram_caption(
    *,
    headline: Sequence[str],
    body: str,
    apply_line: str,
    hashtags: Iterable[str],
    footer: str = "",
) -> Fitted:
    """An Instagram caption: ≤ 2,200 characters, ≤ 30 hashtags, ≤ 20 mentions, no links.

    Links anywhere (headline, body, footer, apply line) are replaced by their host name,
    since captions cannot carry clickable links; `apply_line` (see `instagram_apply_line`)
    says where to apply instead and always survives, as does the footer. Hashtags already in
    the text count toward the 30 and are not repeated on the tag line; beyond the caps,
    later hashtags and mentions in the text lose their sign. Raises `ValueError` if
    `apply_line` is blank or cannot fit (with the footer) on its own.
    """
    # Order sets priority under the caps: the apply line, the footer, the headline, the body.
    (apply_clean, footer_clean, *head_clean, body_clean), marks = _sanitise_for_instagram(
        [drop_bidi_controls(apply_line), drop_bidi_controls(footer), *_clean_lines(headline),
         drop_bidi_controls(body)]
    )  # fmt: skip
    if not apply_clean:
        raise ValueError("an Instagram caption needs an apply line")
    fitted = _layout(
        headline=[line for line in head_clean if line],
        body=body_clean,
        footer=footer_clean,
        apply_line=apply_clean,
        tags=normalise_hashtags(hashtags),
        limit=INSTAGRAM_CAPTION_LIMIT,
        max_total_tags=INSTAGRAM_MAX_HASHTAGS,
        max_line_tags=INSTAGRAM_MAX_HASHTAGS,
    )
    if marks is _NO_CUTS:
        return fitted  # nothing to add (and `replace` is slow)
    cuts = replace(
        fitted.cuts,
        links_removed=marks.links_removed,
        mentions_unmarked=marks.mentions_unmarked,
        hashtags_unmarked=marks.hashtags_unmarked,
    )
    return Fitted(fitted.text, cuts)


def instagram_caption(
    *,
    headline: Sequence[str],
    body: str,
    apply_line: str,
    hashtags: Iterable[str],
    footer: str = "",
) -> str:
    """The text of `fit_instagram_caption`."""
    return fit_instagram_caption(
        headline=headline, body=body, apply_line=apply_line, hashtags=hashtags, footer=footer
    ).text


def fit_facebook_message(
    *,
    headline: Sequence[str],
    body: str,
    apply_url: str,
    hashtags: Iterable[str],
    footer: str = "",
    apply_label: str = "Apply",
) -> Fitted:
    """A Facebook Page post message: ≤ 63,206 characters, "<apply_label>: <url>" kept whole.

    Links in the text are left alone (Facebook makes them clickable). The tag line is
    normalised, deduplicated against hashtags already in the text and capped at 30 as a
    sanity limit. The footer is never cut. Raises `ValueError` if `apply_url` is blank.
    """
    if not apply_url.strip():
        raise ValueError("a Facebook message needs an apply URL")
    return _inline_layout(
        headline, body, apply_url, hashtags, footer, apply_label,
        limit=FACEBOOK_MESSAGE_LIMIT, max_line_tags=FACEBOOK_MAX_HASHTAGS,
    )  # fmt: skip


def _inline_layout(  # noqa: PLR0917 (the caption's parts, as the callers name them)
    headline: Sequence[str],
    body: str,
    apply_url: str,
    hashtags: Iterable[str],
    footer: str,
    apply_label: str,
    *,
    limit: int,
    max_line_tags: int,
) -> Fitted:
    """A post whose link stays in the text (Facebook, LinkedIn): the parts cleaned, laid
    out within `limit` with a capped tag line."""
    return _layout(
        headline=_clean_lines(headline),
        body=drop_bidi_controls(body).strip(),
        footer=drop_bidi_controls(footer).strip(),
        apply_line=drop_bidi_controls(f"{apply_label}: {apply_url.strip()}"),
        tags=normalise_hashtags(hashtags),
        limit=limit,
        max_total_tags=None,
        max_line_tags=max_line_tags,
    )


def facebook_message(
    *,
    headline: Sequence[str],
    body: str,
    apply_url: str,
    hashtags: Iterable[str],
    footer: str = "",
    apply_label: str = "Apply",
) -> str:
    """The text of `fit_facebook_message`."""
    return fit_facebook_message(
        headline=headline,
        body=body,
        apply_url=apply_url,
        hashtags=hashtags,
        footer=footer,
        apply_label=apply_label,
    ).text


def fit_linkedin_commentary(
    *,
    headline: Sequence[str],
    body: str,
    apply_url: str,
    hashtags: Iterable[str],
    footer: str = "",
    apply_label: str = "Apply",
) -> Fitted:
    """A LinkedIn post's commentary: ≤ 3,000 characters as sent, hashtags inline,
    "<apply_label>: <url>" kept whole (LinkedIn makes it a link: no link in bio).

    Laid out as a Facebook message. The text stays plain (the publisher writes it as little
    text, `jobcast.linkedin.little_text`), but the limit is measured on the escaped text,
    the conservative reading (LinkedIn does not say which it counts): a text whose escapes
    push it over is fitted again into what is left. Raises `ValueError` if `apply_url` is
    blank or cannot fit.
    """
    if not apply_url.strip():
        raise ValueError("a LinkedIn post needs an apply URL")

    def fit(limit: int) -> Fitted:
        return _inline_layout(
            headline, body, apply_url, hashtags, footer, apply_label,
            limit=limit, max_line_tags=LINKEDIN_MAX_HASHTAGS,
        )  # fmt: skip

    def escaped_fits(limit: int) -> bool:
        try:
            return _measure(little_text.escape(fit(limit).text)) <= LINKEDIN_COMMENTARY_LIMIT
        except ValueError:  # not even the apply line and footer fit in `limit`
            return False

    fitted = fit(LINKEDIN_COMMENTARY_LIMIT)
    full_length = _measure(little_text.escape(fit(_UNLIMITED).text))
    limit = LINKEDIN_COMMENTARY_LIMIT
    # Escapes pushed it over: first a limit that fits (less by the overshoot each round; an
    # escape doubles a character at most, so half the limit fits whenever anything does),
    # then the largest that fits, found by halving the distance to the full limit.
    for rounds in range(_SETTLE_ROUNDS):
        over = _measure(little_text.escape(fitted.text)) - LINKEDIN_COMMENTARY_LIMIT
        if over <= 0:
            break
        limit = LINKEDIN_COMMENTARY_LIMIT // 2 if rounds == _SETTLE_ROUNDS - 1 else limit - over
        fitted = fit(limit)
    if limit < LINKEDIN_COMMENTARY_LIMIT:
        limit = _largest(limit, LINKEDIN_COMMENTARY_LIMIT, escaped_fits) or limit
        fitted = fit(limit)
    if _measure(little_text.escape(fitted.text)) > LINKEDIN_COMMENTARY_LIMIT:
        raise ValueError("the apply line and footer alone do not fit once escaped")
    return Fitted(fitted.text, replace(fitted.cuts, full_length=full_length))


def threads_measure(text: str) -> int:
    """Characters as Threads counts them against its 500: code points, except that an
    emoji counts as its UTF-8 bytes (Meta documents it so without saying what it takes for
    an emoji: a whole sequence, with its joiners and modifiers, and any character that may
    be drawn as one are counted by their bytes, the safe side)."""
    if text.isascii():
        return len(text)
    return sum(
        len(cluster.encode()) if _EMOJI.search(cluster) else len(cluster)
        for cluster in _GRAPHEME.findall(text)
    )


def _sanitise_for_threads(parts: list[str], *, keep_tags: int) -> tuple[list[str], Cuts]:
    """No links and at most `keep_tags` hashtags across `parts` (earlier parts first);
    repeated until stable, as for Instagram (one step can undo another)."""
    links = hashtags = 0
    while True:
        stripped = [_strip_links_counted(part) for part in parts]
        links += sum(found for _, found in stripped)
        cleaned, unmarked = _cap_markers(
            [part.strip() for part, _ in stripped], hashtags=True, keep=keep_tags
        )
        hashtags += unmarked
        if cleaned == parts:
            return cleaned, Cuts(links_removed=links, hashtags_unmarked=hashtags)
        parts = cleaned


def _fit_by_weight(layout: Callable[[int], Fitted]) -> Fitted:
    """The longest layout whose text fits Threads' 500 as Threads counts (`threads_measure`).

    Layouts count code points; an emoji weighs more on Threads, so the room in code points
    is searched for: a layout that fails (`ValueError`) had too little room, one that
    weighs too much too much room."""
    low, high = 0, THREADS_TEXT_LIMIT
    best: Fitted | None = None
    while low <= high:
        room = (low + high) // 2
        try:
            fitted = layout(room)
        except ValueError:
            low = room + 1
            continue
        if threads_measure(fitted.text) <= THREADS_TEXT_LIMIT:
            best, low = fitted, room + 1
        else:
            high = room - 1
    if best is None:
        raise ValueError("the apply line and footer alone do not fit")
    return best


def fit_threads_text(
    *,
    headline: Sequence[str],
    body: str,
    apply_line: str,
    hashtags: Iterable[str],
    footer: str = "",
) -> Fitted:
    """A Threads post's text: ≤ 500 characters as Threads counts them (`threads_measure`),
    one link, one topic tag.

    The apply line (the one link, or where to apply) and the footer are never cut; links
    elsewhere become their host names. The tag is the first of `hashtags` that Threads
    takes as a topic tag (≤ 50 characters); when there is one, hashtags in the text lose
    their sign, else the text's first hashtag stays the post's tag. Raises `ValueError` if
    the apply line is blank or cannot fit (with the footer) on its own.
    """
    apply_clean = drop_bidi_controls(apply_line).strip()
    if not apply_clean:
        raise ValueError("a Threads post needs an apply line")
    tags = normalise_hashtags(hashtags)
    usable = [tag for tag in tags if _measure(tag) - 1 <= THREADS_MAX_TAG_LENGTH]
    (footer_clean, *head_clean, body_clean), marks = _sanitise_for_threads(
        [drop_bidi_controls(footer), *_clean_lines(headline), drop_bidi_controls(body)],
        keep_tags=0 if usable else THREADS_MAX_HASHTAGS,
    )

    def layout(limit: int) -> Fitted:
        return _layout(
            headline=[line for line in head_clean if line],
            body=body_clean,
            footer=footer_clean,
            apply_line=apply_clean,
            tags=usable,
            limit=limit,
            max_total_tags=THREADS_MAX_HASHTAGS,
            max_line_tags=THREADS_MAX_HASHTAGS,
        )

    whole = layout(sys.maxsize)
    fitted = whole if threads_measure(whole.text) <= THREADS_TEXT_LIMIT else _fit_by_weight(layout)
    cuts = replace(
        fitted.cuts,
        full_length=threads_measure(whole.text),
        tags_over_cap=fitted.cuts.tags_over_cap + len(tags) - len(usable),
        links_removed=marks.links_removed,
        hashtags_unmarked=marks.hashtags_unmarked,
    )
    return Fitted(fitted.text, cuts)


def comment_with_hashtags(
    comment: str | None, hashtags: Iterable[str], *, limit: int, max_tags: int
) -> str | None:
    """`comment` with a line of `hashtags` appended (the job's own first comment, if any,
    comes first and is never cut): tags it already holds are not repeated, and tags go from
    the end when the line would pass `limit` characters or the comment `max_tags` hashtags.
    None when there is neither a comment nor a tag."""
    text = (comment or "").strip()
    taken = _hashtag_keys(text)
    tags = [tag for tag in normalise_hashtags(hashtags) if _tag_key(tag) not in taken]
    tags = tags[: max(max_tags - count_hashtags(text), 0)]
    sep = _BLOCK_SEP if text else ""
    while tags and _measure(text + sep + " ".join(tags)) > limit:
        tags.pop()
    if tags:
        text = text + sep + " ".join(tags)
    return text or None
