"""Post text for Instagram captions and Facebook messages, kept inside Meta's limits.

Pure functions, no I/O. Layout of every post:

    headline lines (title at company, location, pay)
    <blank>
    body (custom caption, else the description)
    <blank>
    apply line
    hashtag line

When a post is too long the body is shortened first, then hashtags go from the end of
the tag line, and only then are the headline lines shortened. The apply line is never cut.

Length is measured with `len()`, i.e. in Unicode code points. Meta documents "characters"
without saying how it counts them; code points never undercount user-perceived characters
(grapheme clusters), which is the conservative reading we chose. Note that if Meta counted
UTF-16 code units, an emoji outside the BMP would count as two: `_measure` is the one place
to change that.

All cuts fall on extended grapheme cluster boundaries (UAX #29, via the `regex` module's
`\\X`), so an emoji ZWJ sequence, a flag, a skin-tone modifier or a base letter with its
combining marks is never split.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

import regex

INSTAGRAM_CAPTION_LIMIT = 2_200
INSTAGRAM_MAX_HASHTAGS = 30
INSTAGRAM_MAX_MENTIONS = 20
FACEBOOK_MESSAGE_LIMIT = 63_206
# Facebook documents no hashtag cap; this only keeps a runaway tag list from becoming spam.
FACEBOOK_MAX_HASHTAGS = 30
ELLIPSIS = "…"

_GRAPHEME = regex.compile(r"\X")
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


def _measure(text: str) -> int:
    """Characters as counted against Meta's limits: code points (see the module docstring)."""
    return len(text)


# --- counting ---------------------------------------------------------------------------


def count_hashtags(text: str) -> int:
    """How many hashtags `text` holds (every '#' or '＃' directly followed by a word char)."""
    return len(_HASHTAG.findall(text))


def count_mentions(text: str) -> int:
    """How many @mentions `text` holds (every '@' or '＠' followed by a username char)."""
    return len(_MENTION.findall(text))


def _tag_key(word: str) -> str:
    """Identity of a hashtag for deduplication: NFC, case-folded, without the sign."""
    return unicodedata.normalize("NFC", word.lstrip(_HASH)).casefold()


def _hashtag_keys(text: str) -> set[str]:
    return {_tag_key(word) for word in _HASHTAG_WORD.findall(text)}


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
        word = "".join(_WORD_CHARS.findall(unicodedata.normalize("NFC", raw)))
        # A leading combining mark would fuse with the '#' into one odd-looking character.
        word = _LEADING_MARKS.sub("", word)
        if not any(ch.isalnum() for ch in word):
            continue
        key = _tag_key(word)
        if key in seen:
            continue
        seen.add(key)
        result.append("#" + word)
    return result


def strip_links(text: str) -> str:
    """`text` with every http(s):// or www. link replaced by its bare host name.

    "Apply at https://www.example.com/jobs?id=1." becomes "Apply at example.com." — the
    reader keeps the hint, Instagram gets no URL. A scheme with no host is removed.
    Repeats until nothing changes, since removing one link can expose another
    (e.g. "ww" + "https://w.example" -> "www.example").
    """
    while True:
        stripped = _LINK.sub(_link_to_host, text)
        if stripped == text:
            return text
        text = stripped


def _link_to_host(match: regex.Match[str]) -> str:
    link = match.group()
    kept = link.rstrip(_TRAILING_PUNCT)
    trailing = link[len(kept) :]
    host_match = _LINK_HOST.match(kept)
    host = (host_match.group("host") if host_match else None) or ""
    return _WWW_PREFIX.sub("", host).strip(".-") + trailing


def instagram_apply_line(apply_url: str) -> str:
    """Where to apply, without a link: "Apply: jobs.example.com (link in bio)".

    Raises `ValueError` when `apply_url` has no host.
    """
    host = urlsplit(apply_url).hostname
    if not host:
        raise ValueError(f"apply URL has no host: {apply_url!r}")
    return f"Apply: {_WWW_PREFIX.sub('', host)} (link in bio)"


def _cap_markers(parts: list[str], *, hashtags: bool, keep: int) -> list[str]:
    """Keep the first `keep` hashtags (or mentions) across `parts`, in order; the rest lose
    their sign and become plain words."""
    remaining = keep

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
                return ""
        return match.group()

    return [_MARKER_RUN.sub(neutralise, part) for part in parts]


def _sanitise_for_instagram(parts: list[str]) -> list[str]:
    """No links, at most 20 mentions and 30 hashtags across `parts` (earlier parts first).

    Repeated until stable because each step can, in contrived text, undo another: dropping a
    '#' can complete a scheme ("htt#p://x"), and a link's host can follow a '#'. Every
    changing pass makes the text shorter, so this ends.
    """
    while True:
        cleaned = [strip_links(part).strip() for part in parts]
        cleaned = _cap_markers(cleaned, hashtags=False, keep=INSTAGRAM_MAX_MENTIONS)
        cleaned = _cap_markers(cleaned, hashtags=True, keep=INSTAGRAM_MAX_HASHTAGS)
        if cleaned == parts:
            return cleaned
        parts = cleaned


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


def _compose(headline: Sequence[str], body: str, apply_line: str, tags: Sequence[str]) -> str:
    blocks = ["\n".join(headline)] if headline else []
    if body:
        blocks.append(body)
    blocks.append("\n".join([apply_line, " ".join(tags)]) if tags else apply_line)
    return _BLOCK_SEP.join(blocks)


def _layout(
    *,
    headline: list[str],
    body: str,
    apply_line: str,
    tags: list[str],
    limit: int,
    max_total_tags: int | None,
    max_line_tags: int,
) -> str:
    """Fit the post in `limit`: body first, then tags from the end, then the headline."""
    essentials = "\n".join([*headline, apply_line])
    essential_keys = _hashtag_keys(essentials)
    essential_count = count_hashtags(essentials)

    def pick(shown_body: str) -> list[str]:
        # Tags already in the text are not repeated; with a total cap, those in the text
        # count against it.
        taken = essential_keys | _hashtag_keys(shown_body)
        room = max_line_tags
        if max_total_tags is not None:
            room = min(room, max_total_tags - essential_count - count_hashtags(shown_body))
        return [tag for tag in tags if _tag_key(tag) not in taken][: max(room, 0)]

    def fits(text: str) -> bool:
        return _measure(text) <= limit

    def body_room(line_tags: list[str]) -> int:
        rest = _compose(headline, "", apply_line, line_tags)
        return limit - _measure(rest) - _measure(_BLOCK_SEP)

    # Cutting the body can remove hashtags it held, which frees tag-line room and lifts the
    # dedupe for them; a few rounds let tag line and body settle (it only ever shrinks).
    shown = body
    for _ in range(_SETTLE_ROUNDS):
        cut = _shorten_body(body, body_room(pick(shown)))
        if cut == shown:
            break
        shown = cut
    line_tags = pick(shown)

    # Whole tags go from the end once the body is as short as it gets.
    while line_tags and not fits(_compose(headline, shown, apply_line, line_tags)):
        line_tags.pop()
    if not fits(_compose(headline, shown, apply_line, line_tags)):
        shown = _shorten_body(shown, body_room(line_tags))
    text = _compose(headline, shown, apply_line, line_tags)
    if fits(text):
        return text

    # Last resort: cut the headline lines, longest first (in practice the title).
    def headline_at(cap: int) -> list[str]:
        return [short for line in headline if (short := truncate_graphemes(line, cap))]

    fitting = _largest(
        0,
        max((_measure(line) for line in headline), default=0),
        lambda cap: fits(_compose(headline_at(cap), shown, apply_line, line_tags)),
    )
    if fitting is None:
        raise ValueError(f"the apply line alone does not fit in {limit} characters")
    return _compose(headline_at(fitting), shown, apply_line, line_tags)


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


def _clean_lines(lines: Iterable[str]) -> list[str]:
    return [stripped for line in lines if (stripped := line.strip())]


# --- public entry points --------------------------------------------------------------------------


def instagram_caption(
    *, headline: Sequence[str], body: str, apply_line: str, hashtags: Iterable[str]
) -> str:
    """An Instagram caption: ≤ 2,200 characters, ≤ 30 hashtags, ≤ 20 mentions, no links.

    Links anywhere (headline, body, apply line) are replaced by their host name, since
    captions cannot carry clickable links; `apply_line` (see `instagram_apply_line`) says
    where to apply instead and always survives. Hashtags already in the text count toward
    the 30 and are not repeated on the tag line; beyond the caps, later hashtags and
    mentions in the text lose their sign. Raises `ValueError` if `apply_line` is blank or
    cannot fit on its own.
    """
    # Order sets priority under the caps: the apply line, then the headline, then the body.
    apply_clean, *head_clean, body_clean = _sanitise_for_instagram(
        [apply_line, *_clean_lines(headline), body]
    )
    if not apply_clean:
        raise ValueError("an Instagram caption needs an apply line")
    return _layout(
        headline=[line for line in head_clean if line],
        body=body_clean,
        apply_line=apply_clean,
        tags=normalise_hashtags(hashtags),
        limit=INSTAGRAM_CAPTION_LIMIT,
        max_total_tags=INSTAGRAM_MAX_HASHTAGS,
        max_line_tags=INSTAGRAM_MAX_HASHTAGS,
    )


def facebook_message(
    *, headline: Sequence[str], body: str, apply_url: str, hashtags: Iterable[str]
) -> str:
    """A Facebook Page post message: ≤ 63,206 characters, with "Apply: <url>" kept whole.

    Links in the text are left alone (Facebook makes them clickable). The tag line is
    normalised, deduplicated against hashtags already in the text and capped at 30 as a
    sanity limit. Raises `ValueError` if `apply_url` is blank.
    """
    if not apply_url.strip():
        raise ValueError("a Facebook message needs an apply URL")
    return _layout(
        headline=_clean_lines(headline),
        body=body.strip(),
        apply_line=f"Apply: {apply_url.strip()}",
        tags=normalise_hashtags(hashtags),
        limit=FACEBOOK_MESSAGE_LIMIT,
        max_total_tags=None,
        max_line_tags=FACEBOOK_MAX_HASHTAGS,
    )
