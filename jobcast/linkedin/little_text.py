"""LinkedIn's "little text" format: a post's `commentary` is markup, in which these
characters are reserved and must be escaped with a backslash to be shown as written
(unescaped, LinkedIn refuses the post or cuts the text at the first one).

A `#` directly followed by a letter or digit is left as it is: that is little text's
hashtag element (`#hiring`), which LinkedIn shows as a clickable hashtag, and the
distributor writes hashtags inline on purpose. Every other reserved character, an
underscore inside a hashtag included, is escaped: LinkedIn asks for that even where it
would form no element.
"""

from __future__ import annotations

import re

RESERVED = frozenset("\\|{}@[]()<>#*_~")
# A reserved character, or a '#' that starts no hashtag (no letter or digit follows it).
_ESCAPED = re.compile(r"[\\|{}@\[\]()<>*_~]|#(?![^\W_])")


def escape(text: str) -> str:
    """`text` as little text that shows exactly `text`, its hashtags as hashtags."""
    return _ESCAPED.sub(r"\\\g<0>", text)


def unescape(text: str) -> str:
    """What a reader sees of little text written by `escape`."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)
