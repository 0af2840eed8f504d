"""Finding our text in one of the platform's listings (a Page's posts, a profile's threads,
a post's comments or replies): how an ambiguous answer is reconciled when the platform
has no idempotency key.

Every page is read, newest first: only having seen them all proves the text absent. A
listing narrowed by `since` (the claim time) skips entries made before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jobcast.graph.client import GraphClient, GraphError
from jobcast.platform_api import AmbiguousOutcomeError
from services.publishing.posting import Absent, Attempt, Undecided

# Meta's clock and ours may differ a little; a post made just before the claim was
# recorded must still count as ours.
CLOCK_SKEW = timedelta(minutes=2)
_PAGE_SIZE = 100  # Meta's maximum for these edges
_MAX_PAGES = 10


@dataclass(frozen=True, slots=True)
class Listing:
    """One platform listing: its path and the fields that hold an entry's text and time."""

    path: str
    text_field: str
    what: str  # "the Page's posts", for the reasons given
    time_field: str | None = None  # with `since`: entries older than it are skipped
    max_pages: int = _MAX_PAGES


@dataclass(frozen=True, slots=True)
class Found:
    """The id of the entry whose text is ours."""

    entry_id: str


async def find_text(
    attempt: Attempt[GraphClient], listing: Listing, text: str, *, since: datetime | None = None
) -> Found | Absent | Undecided:
    """The entry of `listing` whose text is `text` (stripped), or proof there is none."""
    wanted = text.strip()
    earliest = since - CLOCK_SKEW if since is not None else None
    fields = ",".join(f for f in ("id", listing.text_field, listing.time_field) if f)
    params: dict[str, str | int] = {"fields": fields, "limit": _PAGE_SIZE}
    if earliest is not None:
        params["since"] = int(earliest.timestamp())
    for _ in range(listing.max_pages):
        try:
            page = await attempt.api.call("GET", listing.path, attempt.token, params=params)
        except (GraphError, AmbiguousOutcomeError) as exc:
            return Undecided(f"could not read {listing.what}: {exc}")
        for entry in page.get("data", []):
            if earliest is not None and listing.time_field is not None:
                created = _parse_time(entry.get(listing.time_field))
                if created is not None and created < earliest:
                    continue
            if str(entry.get(listing.text_field, "")).strip() == wanted:
                return Found(str(entry["id"]))
        paging = page.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after:
            return Absent()  # every page was read
        params = {**params, "after": after}
    return Undecided(f"more than {listing.max_pages * _PAGE_SIZE} entries in {listing.what}")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Meta writes "+0000" offsets; fromisoformat accepts them from Python 3.11.
        return datetime.fromisoformat(value)
    except ValueError:
        return None
