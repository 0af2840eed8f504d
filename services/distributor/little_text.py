"""LinkedIn's "little" text format, which a post's commentary is written in. Pure: no I/O.

In little text `\\ | { } @ [ ] ( ) < > # * _ ~` are markup (mentions `@[Name](urn)`,
hashtag templates `{hashtag|\\#|tag}`); LinkedIn documents that every one of them must be
escaped with a backslash to stand for itself, even where it would not form an element, and
a reserved character left bare can cut the published text short at that point.

We write only plain text and hashtags: every reserved character is escaped except a `#`
directly followed by a letter or digit, which is a hashtag element (`#hiring`) and stays
clickable. An underscore inside a hashtag is escaped too: it is reserved wherever it
appears, and a literal underscore is worth more than a guess about LinkedIn's parser.
"""

from __future__ import annotations

import re

# A reserved character, or a '#' that starts no hashtag (no letter or digit follows it).
_RESERVED = re.compile(r"[\\|{}@\[\]()<>*_~]|#(?![^\W_])")


def escape(text: str) -> str:
    """`text` as little text that reads as `text` itself, hashtags kept as hashtags."""
    return _RESERVED.sub(r"\\\g<0>", text)


def unescape(text: str) -> str:
    """What a reader sees of little text written by `escape` (the preview's words)."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)
