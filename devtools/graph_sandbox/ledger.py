"""Read-only views of 'what exists on the platform now', for tests and the control API."""

from __future__ import annotations

from .common import fmt_time
from .errors import JSONDict
from .facebook import permalink
from .instagram import container_status, media_permalink
from .models import FbPhoto, FbPost, FbVideo, IgContainer, IgMedia
from .state import SandboxState
from .threads import container_status as threads_container_status
from .threads import permalink as threads_permalink
from .threads_models import ThreadsContainer, ThreadsMedia

LEDGER_KINDS = (
    "fb_post",
    "fb_photo",
    "fb_video",
    "ig_container",
    "ig_media",
    "threads_container",
    "threads_media",
)


def normalize_kind(kind: str | None) -> str | None:
    """Accept ``fb_post`` or ``fb_posts`` (etc.); raise ``ValueError`` for unknown kinds."""
    if kind is None or kind == "":
        return None
    value = kind.strip().lower()
    if value not in LEDGER_KINDS and value.endswith("s") and value[:-1] in LEDGER_KINDS:
        value = value[:-1]
    if value not in LEDGER_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(LEDGER_KINDS)}")
    return value


def _matches(text: str | None, contains: str | None) -> bool:
    return contains is None or (text is not None and contains in text)


def build_ledger(
    state: SandboxState,
    account_id: str | None = None,
    kind: str | None = None,
    contains: str | None = None,
    include_deleted: bool = True,
) -> JSONDict:
    """Everything on the platform, optionally filtered by account, kind and text.

    ``counts`` gives, per list, how many returned entries are not deleted (so a test can assert
    "exactly one post for this job on this Page").
    """
    wanted = normalize_kind(kind)
    now = state.now()

    def want(name: str) -> bool:
        return wanted is None or wanted == name

    def alive(deleted_at: float | None) -> bool:
        return include_deleted or deleted_at is None

    posts: list[FbPost] = []
    if want("fb_post"):
        source = state.posts_by_page.get(account_id, []) if account_id else state.posts.values()
        posts = [p for p in source if alive(p.deleted_at) and _matches(p.message, contains)]
    photos: list[FbPhoto] = []
    if want("fb_photo"):
        photos = [
            p
            for p in state.photos.values()
            if (account_id is None or p.page_id == account_id)
            and alive(p.deleted_at)
            and _matches(p.caption, contains)
        ]
    videos: list[FbVideo] = []
    if want("fb_video"):
        videos = [
            v
            for v in state.videos.values()
            if (account_id is None or v.page_id == account_id)
            and alive(v.deleted_at)
            and _matches(v.description, contains)
        ]
    containers: list[IgContainer] = []
    if want("ig_container"):
        containers = [
            c
            for c in state.containers.values()
            if (account_id is None or c.ig_user_id == account_id) and _matches(c.caption, contains)
        ]
    media: list[IgMedia] = []
    if want("ig_media"):
        source_media = (
            state.media_by_user.get(account_id, [])
            if account_id
            else [m for m in state.media.values() if not m.is_child]
        )
        media = [m for m in source_media if alive(m.deleted_at) and _matches(m.caption, contains)]
    threads_containers: list[ThreadsContainer] = []
    if want("threads_container"):
        threads_containers = [
            c
            for c in state.threads.containers.values()
            if (account_id is None or c.user_id == account_id) and _matches(c.text, contains)
        ]
    threads_media: list[ThreadsMedia] = []
    if want("threads_media"):
        threads_media = [
            m
            for m in state.threads.media.values()
            if not m.is_child
            and (account_id is None or m.user_id == account_id)
            and alive(m.deleted_at)
            and _matches(m.text, contains)
        ]
    result: JSONDict = {
        "fb_posts": [_post_view(state, p, now) for p in posts],
        "fb_photos": [_photo_view(p) for p in photos],
        "fb_videos": [_video_view(v, now) for v in videos],
        "ig_containers": [_container_view(state, c, now) for c in containers],
        "ig_media": [_media_view(state, m) for m in media],
        "threads_containers": [_threads_container_view(state, c, now) for c in threads_containers],
        "threads_media": [_threads_media_view(state, m) for m in threads_media],
    }
    result["counts"] = {
        "fb_posts": sum(1 for p in posts if p.deleted_at is None),
        "fb_photos": sum(1 for p in photos if p.deleted_at is None),
        "fb_videos": sum(1 for v in videos if v.deleted_at is None),
        "ig_containers": len(containers),
        "ig_media": sum(1 for m in media if m.deleted_at is None),
        "threads_containers": len(threads_containers),
        # Threads and replies alike (a reply has `reply_to_id`).
        "threads_media": sum(1 for m in threads_media if m.deleted_at is None),
    }
    return result


def _post_view(state: SandboxState, post: FbPost, now: float) -> JSONDict:
    return {
        "id": post.id,
        "page_id": post.page_id,
        "kind": post.kind,
        "message": post.message,
        "link": post.link,
        "attached_media": list(post.attached_media),
        "photo_id": post.photo_id,
        "video_id": post.video_id,
        "created_time": fmt_time(post.created_at),
        "created_at": post.created_at,
        "published": post.is_live(now),
        "scheduled_publish_time": int(post.scheduled_at) if post.scheduled_at else None,
        "deleted": post.deleted_at is not None,
        "permalink_url": permalink(post),
    }


def _photo_view(photo: FbPhoto) -> JSONDict:
    return {
        "id": photo.id,
        "page_id": photo.page_id,
        "url": photo.url,
        "caption": photo.caption,
        "published": photo.published,
        "post_id": photo.post_id,
        "attached_to": photo.attached_to,
        "created_time": fmt_time(photo.created_at),
        "deleted": photo.deleted_at is not None,
    }


def _video_view(video: FbVideo, now: float) -> JSONDict:
    return {
        "id": video.id,
        "page_id": video.page_id,
        "file_url": video.file_url,
        "description": video.description,
        "title": video.title,
        "post_id": video.post_id,
        "is_reel": video.is_reel,
        "status": _video_state(video, now),
        "published": video.published,
        "created_time": fmt_time(video.created_at),
        "deleted": video.deleted_at is not None,
    }


def _video_state(video: FbVideo, now: float) -> str:
    if not video.uploaded:
        return "upload_pending"
    if video.processing_error:
        return "error"
    return "ready" if now >= video.ready_at else "processing"


def _container_view(state: SandboxState, container: IgContainer, now: float) -> JSONDict:
    return {
        "id": container.id,
        "ig_user_id": container.ig_user_id,
        "media_type": container.media_type,
        "status_code": container_status(state, container, now),
        "caption": container.caption,
        "image_url": container.image_url,
        "video_url": container.video_url,
        "alt_text": container.alt_text,
        "is_carousel_item": container.is_carousel_item,
        "children": list(container.children),
        "published_media_id": container.published_media_id,
        "created_time": fmt_time(container.created_at),
    }


def _media_view(state: SandboxState, media: IgMedia) -> JSONDict:
    children = [state.media[child_id] for child_id in media.children]
    return {
        "id": media.id,
        "ig_user_id": media.ig_user_id,
        "container_id": media.container_id,
        "caption": media.caption,
        "media_type": media.media_type,
        "media_product_type": media.media_product_type,
        "media_url": media.media_url,
        "alt_text": media.alt_text,
        "children": [
            {
                "id": c.id,
                "container_id": c.container_id,
                "media_type": c.media_type,
                "media_url": c.media_url,
                "alt_text": c.alt_text,
            }
            for c in children
        ],
        "permalink": media_permalink(state, media),
        "timestamp": fmt_time(media.created_at),
        "deleted": media.deleted_at is not None,
    }


def _threads_container_view(
    state: SandboxState, container: ThreadsContainer, now: float
) -> JSONDict:
    return {
        "id": container.id,
        "user_id": container.user_id,
        "media_type": container.media_type,
        "status": threads_container_status(state, container, now),
        "error_message": container.error_message,
        "text": container.text,
        "image_url": container.image_url,
        "video_url": container.video_url,
        "is_carousel_item": container.is_carousel_item,
        "children": list(container.children),
        "reply_to_id": container.reply_to_id,
        "published_media_id": container.published_media_id,
        "created_time": fmt_time(container.created_at),
    }


def _threads_media_view(state: SandboxState, media: ThreadsMedia) -> JSONDict:
    return {
        "id": media.id,
        "user_id": media.user_id,
        "container_id": media.container_id,
        "media_type": media.media_type,
        "text": media.text,
        "media_url": media.media_url,
        "children": list(media.children),
        "reply_to_id": media.reply_to_id,
        "permalink": threads_permalink(state, media),
        "timestamp": fmt_time(media.created_at),
        "deleted": media.deleted_at is not None,
    }
