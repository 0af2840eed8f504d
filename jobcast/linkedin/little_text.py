"""LinkedIn's "little text" format: a post's `commentary` is markup, in which these
characters are reserved and must be escaped with a backslash to be shown as written
(unescaped, LinkedIn refuses the post or cuts the text at the first one)."""

from __future__ import annotations

RESERVED = frozenset("\\|{}@[]()<>#*_~")
_ESCAPES = str.maketrans({char: "\\" + char for char in RESERVED})


def escape(text: str) -> str:
    """`text` as little text that shows exactly `text` (hashtags and mentions as plain text)."""
    return text.translate(_ESCAPES)
