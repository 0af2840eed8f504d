"""Photos and videos: what a job may carry, and what a post was made of."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, HttpUrl, ValidationInfo, field_validator

from schemas.bounds import Text, check_url_length
from schemas.envelope import ContractModel

MAX_MEDIA = 10
"""Items per job, and per Facebook or Instagram post: Instagram's carousel limit, and
Facebook's for one post here."""

MAX_POST_MEDIA = 20
"""Items one platform's post may hold: Threads' carousel limit (only
`platform_settings.threads.media` may give more than `MAX_MEDIA`)."""

MAX_ALT_TEXT = 1_000
"""Instagram's limit on a photo's alt text."""


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class PostFormat(StrEnum):
    """What a post is on its platform (decided by the distributor from the media)."""

    # Facebook, Threads (a TEXT post): text with the apply link's preview card; LinkedIn: an
    # article (the apply link's card, titled).
    LINK = "link"
    IMAGE = "image"  # one photo (Instagram IMAGE, Facebook photo, Threads IMAGE, LinkedIn image)
    IMAGES = "images"  # Facebook: one feed post with several photos (attached_media)
    CAROUSEL = "carousel"  # Instagram: 2-10 photos and videos; Threads: 2-20
    VIDEO = "video"  # Facebook: a Page video; Threads: a video post
    REEL = "reel"  # Instagram REELS; Facebook Page Reel (video_reels)


def _https_only(url: HttpUrl) -> HttpUrl:
    # Meta fetches media itself and refuses plain http; saying so here beats a failed post.
    if url.scheme != "https":
        raise ValueError("media URL must use https")
    return url


AltText = Annotated[
    Text,
    Field(max_length=MAX_ALT_TEXT, description="What the photo shows, for screen readers."),
]
MediaUrl = Annotated[
    HttpUrl,
    AfterValidator(check_url_length),
    AfterValidator(_https_only),
    Field(json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]://"}),
]


class JobMedia(ContractModel):
    """One photo or video of a job, at a public https URL Meta can fetch."""

    kind: MediaKind
    url: MediaUrl
    alt_text: AltText | None = Field(default=None, description="Images only.")

    @field_validator("alt_text")
    @classmethod
    def _images_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") is MediaKind.VIDEO:
            raise ValueError("alt_text is for images only (Meta takes none for a video)")
        return value


MediaList = Annotated[list[JobMedia], Field(max_length=MAX_MEDIA)]
PlatformMediaList = Annotated[list[JobMedia], Field(max_length=MAX_POST_MEDIA)]
"""One platform's media (`platform_settings.<platform>.media`); its platform's own limit
(`MEDIA_LIMIT` in `schemas.jobs`) is checked with the job."""


class PostedMedia(ContractModel):
    """What a post was made of: its format and how many photos and videos."""

    format: PostFormat
    images: Annotated[int, Field(ge=0, le=MAX_POST_MEDIA)] = 0
    videos: Annotated[int, Field(ge=0, le=MAX_POST_MEDIA)] = 0
