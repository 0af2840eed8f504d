"""Plain records of what exists on the fake platform (no behaviour beyond small predicates)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Platform = Literal["facebook", "instagram", "threads"]


@dataclass(slots=True)
class Account:
    """A Facebook Page, an Instagram professional account or a Threads profile registered via
    the control API."""

    account_id: str
    platform: Platform
    token: str | None = None
    permissions: frozenset[str] | None = None  # None = not restricted (except IG delete)
    quota_total: int | None = None
    user_id: str | None = None
    name: str | None = None
    linked_instagram_id: str | None = None


@dataclass(slots=True)
class IssuedToken:
    """A user token known to the sandbox (issued by OAuth or registered for a user)."""

    user_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float | None  # None = never expires


@dataclass(slots=True)
class AuthCode:
    """A one-time OAuth code handed out by the dialog."""

    user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class FbPost:
    """A Page post (status, link, photo, multi-photo or video)."""

    id: str
    page_id: str
    kind: str
    message: str | None
    link: str | None
    created_at: float
    published: bool
    visible_at: float  # scheduled time / end of video processing; otherwise created_at
    attached_media: tuple[str, ...] = ()
    photo_id: str | None = None
    video_id: str | None = None
    scheduled_at: float | None = None
    updated_at: float | None = None
    deleted_at: float | None = None
    page_index: int = 0  # position in the page's post list (for pagination cursors)

    def is_live(self, now: float) -> bool:
        """Visible on the Page now (published, not deleted, schedule/processing passed)."""
        return self.published and self.deleted_at is None and now >= self.visible_at


@dataclass(slots=True)
class FbPhoto:
    """A photo uploaded to a Page (published with its own post, or unpublished for albums)."""

    id: str
    page_id: str
    url: str | None
    caption: str | None
    published: bool
    created_at: float
    post_id: str | None = None
    attached_to: str | None = None
    deleted_at: float | None = None


@dataclass(slots=True)
class FbVideo:
    """A video uploaded to a Page with ``file_url``, or a Reel's upload session."""

    id: str
    page_id: str
    file_url: str | None
    description: str | None
    title: str | None
    created_at: float
    ready_at: float
    post_id: str | None = None
    deleted_at: float | None = None
    is_reel: bool = False
    # A Reel's phases (Meta's `status.uploading_phase` / `publishing_phase`): a video
    # made by ``/videos`` is uploaded and published at once.
    uploaded: bool = True
    published: bool = True
    processing_error: str | None = None  # set when Meta cannot read the file


@dataclass(slots=True)
class IgContainer:
    """An IG media container (the 'builder' that ``media_publish`` turns into media)."""

    id: str
    ig_user_id: str
    media_type: str  # IMAGE | REELS | VIDEO | CAROUSEL | STORIES
    created_at: float
    ready_at: float
    is_carousel_item: bool = False
    image_url: str | None = None
    video_url: str | None = None
    caption: str | None = None
    alt_text: str | None = None
    children: tuple[str, ...] = ()
    error_subcode: int | None = None
    published_media_id: str | None = None


@dataclass(slots=True)
class IgMedia:
    """Published IG media (a post, reel, story, carousel album or a carousel child)."""

    id: str
    ig_user_id: str
    container_id: str
    media_type: str  # IMAGE | VIDEO | CAROUSEL_ALBUM
    media_product_type: str  # FEED | REELS | STORY
    caption: str | None
    media_url: str | None
    created_at: float
    shortcode: str
    alt_text: str | None = None
    children: tuple[str, ...] = ()
    is_child: bool = False
    deleted_at: float | None = None
    user_index: int = 0  # position in the user's media list (for pagination cursors)


@dataclass(slots=True)
class Comment:
    """A top-level comment by the account that owns the object (a Page post, IG media)."""

    id: str
    object_id: str
    account_id: str
    platform: Platform
    message: str
    created_at: float
