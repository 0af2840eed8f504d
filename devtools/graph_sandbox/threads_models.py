"""What exists on the Threads host: media containers, published threads and replies, and
each profile's moving 24-hour publishing, reply and delete windows."""

from __future__ import annotations

from dataclasses import dataclass, field

from .usage import PublishWindow


@dataclass(slots=True)
class ThreadsContainer:
    """A Threads media container (`POST /{threads-user-id}/threads`)."""

    id: str
    user_id: str
    media_type: str  # TEXT | IMAGE | VIDEO | CAROUSEL
    created_at: float
    ready_at: float
    text: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    alt_text: str | None = None
    link_attachment: str | None = None
    is_carousel_item: bool = False
    children: tuple[str, ...] = ()
    reply_to_id: str | None = None
    error_message: str | None = None  # FAILED_PROCESSING_VIDEO, UNKNOWN, ...
    published_media_id: str | None = None


@dataclass(slots=True)
class ThreadsMedia:
    """A published thread, reply or carousel item."""

    id: str
    user_id: str
    container_id: str
    media_type: str  # TEXT_POST | IMAGE | VIDEO | CAROUSEL_ALBUM
    text: str | None
    media_url: str | None
    created_at: float
    shortcode: str
    alt_text: str | None = None
    children: tuple[str, ...] = ()
    reply_to_id: str | None = None
    is_child: bool = False
    deleted_at: float | None = None


@dataclass(slots=True)
class ThreadsWindows:
    """One profile's moving 24-hour windows (Meta: 250 posts, 1,000 replies, 100 deletes)."""

    posts: PublishWindow
    replies: PublishWindow
    deletes: PublishWindow


@dataclass(slots=True)
class ThreadsStore:
    """Everything on the Threads host (the publishing side)."""

    containers: dict[str, ThreadsContainer] = field(default_factory=dict)
    media: dict[str, ThreadsMedia] = field(default_factory=dict)
    # A profile's top-level threads, oldest first (what `GET /{user}/threads` pages through).
    threads_by_user: dict[str, list[ThreadsMedia]] = field(default_factory=dict)
    # Replies to a thread, oldest first (`GET /{media-id}/replies`).
    replies_by_media: dict[str, list[ThreadsMedia]] = field(default_factory=dict)
    windows: dict[str, ThreadsWindows] = field(default_factory=dict)
