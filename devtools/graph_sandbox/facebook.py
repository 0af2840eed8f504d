"""Facebook Page operations: feed/photo/video posts, reads, edits, deletes, insights."""

from __future__ import annotations

from datetime import datetime

from .call import Call
from .common import (
    NodeFields,
    fake_count,
    fmt_time,
    paginate,
    read_after_write,
    render_fields,
    url_extension,
    url_is_fetchable,
)
from .errors import GraphError, JSONDict, invalid_param, unsupported_request
from .models import FbPhoto, FbPost, FbVideo
from .params import FieldSpec, Params
from .state import SandboxState

_WRITE_PERMISSION_MSG = (
    "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as "
    "an admin with sufficient administrative permission"
)
_READ_PERMISSION_MSG = (
    "(#10) This endpoint requires the 'pages_read_engagement' permission or the 'Page Public "
    "Content Access' feature."
)
MIN_SCHEDULE_S = 600  # Meta: 10 minutes ahead at least
MAX_SCHEDULE_S = 30 * 86_400  # ... and at most 30 days

# Post insights that exist today; the *_impressions* family was removed in 2025.
FB_POST_METRICS: dict[str, int] = {
    "post_total_media_view_unique": 5_000,
    "post_media_view": 8_000,
    "post_clicks": 300,
    "post_clicks_by_type": 300,
    "post_reactions_by_type_total": 100,
    "post_reactions_like_total": 80,
    "post_reactions_love_total": 20,
    "post_video_views": 3_000,
}
_STATUS_TYPE = {
    "status": "mobile_status_update",
    "link": "shared_story",
    "photo": "added_photos",
    "multi_photo": "added_photos",
    "video": "added_video",
}


def _require_write(state: SandboxState, page_id: str) -> None:
    state.require_permission(page_id, "pages_manage_posts", 200, _WRITE_PERMISSION_MSG)


def _require_read(state: SandboxState, page_id: str) -> None:
    state.require_permission(page_id, "pages_read_engagement", 10, _READ_PERMISSION_MSG)


def _page_of(call: Call) -> str:
    assert call.account_id is not None  # routing always resolves the Page for these operations
    return call.account_id


def _parse_schedule(params: Params) -> float | None:
    raw = params.get_str("scheduled_publish_time")
    if raw is None or raw == "":
        return None
    try:
        return float(int(raw))
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_param("The specified scheduled publish time is invalid.") from None


def _attached_media(params: Params) -> list[object]:
    items = params.json_list("attached_media")
    if items is not None:
        return items
    indexed = params.indexed("attached_media")  # attached_media[0]={"media_fbid":..} form style
    return list(indexed)


def _add_post(state: SandboxState, post: FbPost) -> FbPost:
    posts = state.posts_by_page.setdefault(post.page_id, [])
    post.page_index = len(posts)
    posts.append(post)
    state.posts[post.id] = post
    if post.message is not None:
        state.last_message_by_page[post.page_id] = post.message
    return post


def create_feed_post(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{page-id}/feed``: status, link, scheduled or multi-photo post."""
    page_id = _page_of(call)
    _require_write(state, page_id)
    params = call.params
    message = params.get_str("message")
    link = params.get_str("link")
    attached = _attached_media(params)
    published = params.get_bool("published", True)
    scheduled = _parse_schedule(params)
    now = state.now()
    if not message and not link and not attached:
        raise invalid_param("Missing message or attachment")
    if link is not None and not url_is_fetchable(link, reject_private=False):
        raise invalid_param("The parameter link must be a valid URL")
    if scheduled is not None:
        if published:
            raise invalid_param("Cannot specify a scheduled publish time on a published post")
        if not now + MIN_SCHEDULE_S <= scheduled <= now + MAX_SCHEDULE_S:
            raise invalid_param("The specified scheduled publish time is invalid.")
    photo_ids = _validate_attachments(state, page_id, attached)
    if (
        state.settings.duplicate_detection
        and message
        and not link
        and not photo_ids
        and state.last_message_by_page.get(page_id) == message
    ):
        raise GraphError(506)
    post_id = f"{page_id}_{state.new_fb_id()}"
    kind = "multi_photo" if photo_ids else ("link" if link else "status")
    _add_post(
        state,
        FbPost(
            id=post_id,
            page_id=page_id,
            kind=kind,
            message=message,
            link=link,
            created_at=now,
            published=published or scheduled is not None,
            visible_at=scheduled if scheduled is not None else now,
            attached_media=tuple(photo_ids),
            scheduled_at=scheduled,
        ),
    )
    for photo_id in photo_ids:
        state.photos[photo_id].attached_to = post_id
    post = state.posts[post_id]
    return read_after_write(
        state, call, {"id": post_id}, lambda fields: render_post(state, post, fields)
    )


def _validate_attachments(state: SandboxState, page_id: str, attached: list[object]) -> list[str]:
    photo_ids: list[str] = []
    for index, item in enumerate(attached):
        fbid = item.get("media_fbid") if isinstance(item, dict) else None
        photo = state.photos.get(str(fbid)) if fbid is not None else None
        if (
            photo is None
            or photo.page_id != page_id
            or photo.published
            or photo.attached_to is not None
            or photo.deleted_at is not None
            or photo.id in photo_ids
        ):
            raise invalid_param(f"Param attached_media[{index}] must be a valid media fbid")
        photo_ids.append(photo.id)
    return photo_ids


def create_photo(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{page-id}/photos``: a published photo post, or an unpublished photo for albums."""
    page_id = _page_of(call)
    _require_write(state, page_id)
    params = call.params
    url = params.get_str("url")
    if not url and params.raw("source") is None:
        raise GraphError(324)
    if url and not url_is_fetchable(url, reject_private=False):
        raise invalid_param("url should represent a valid URL")
    caption = params.get_str("caption") or params.get_str("message")
    published = params.get_bool("published", True)
    now = state.now()
    photo_id = state.new_fb_id()
    photo = FbPhoto(photo_id, page_id, url, caption, published, now)
    state.photos[photo_id] = photo
    if not published:
        return {"id": photo_id}
    post_id = f"{page_id}_{photo_id}"  # Meta: a photo's post id is {page}_{photo}
    photo.post_id = post_id
    _add_post(
        state,
        FbPost(
            id=post_id,
            page_id=page_id,
            kind="photo",
            message=caption,
            link=None,
            created_at=now,
            published=True,
            visible_at=now,
            attached_media=(photo_id,),
            photo_id=photo_id,
        ),
    )
    return {"id": photo_id, "post_id": post_id}


def create_video(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{page-id}/videos`` with ``file_url``: the post appears once processing ends."""
    page_id = _page_of(call)
    _require_write(state, page_id)
    params = call.params
    if params.get_str("upload_phase"):
        raise invalid_param("Resumable video upload is not simulated by the sandbox; use file_url")
    file_url = params.get_str("file_url")
    if not file_url and params.raw("source") is None:
        raise invalid_param("No file was uploaded (file_url or source is required)")
    description = params.get_str("description")
    now = state.now()
    video_id = state.new_fb_id()
    ready_at = now + state.settings.video_processing_s
    post_id = f"{page_id}_{video_id}"
    state.videos[video_id] = FbVideo(
        video_id,
        page_id,
        file_url,
        description,
        params.get_str("title"),
        now,
        ready_at,
        post_id,
    )
    _add_post(
        state,
        FbPost(
            id=post_id,
            page_id=page_id,
            kind="video",
            message=description,
            link=None,
            created_at=now,
            published=params.get_bool("published", True),
            visible_at=ready_at,
            video_id=video_id,
        ),
    )
    return {"id": video_id}


def permalink(post: FbPost) -> str:
    """The public URL of a post."""
    return f"https://www.facebook.com/{post.page_id}/posts/{post.id.split('_', 1)[-1]}"


def _live_post(state: SandboxState, call: Call) -> FbPost:
    post = state.posts.get(call.target_id or "")
    if post is None or post.deleted_at is not None:
        raise unsupported_request(call.method, call.target_id or "")
    return post


def get_post(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{post-id}?fields=...``."""
    post = _live_post(state, call)
    _require_read(state, post.page_id)
    fields = call.params.fields("created_time,message,id")
    return render_post(state, post, fields)


def _full_picture(state: SandboxState, post: FbPost, _: FieldSpec) -> str | None:
    photo = state.photos.get(post.attached_media[0]) if post.attached_media else None
    return photo.url if photo is not None else None


def _attachments(state: SandboxState, post: FbPost, _: FieldSpec) -> JSONDict:
    data: list[JSONDict] = []
    if post.link:
        data.append({"type": "share", "url": post.link})
    for photo_id in post.attached_media:
        photo = state.photos.get(photo_id)
        if photo is not None:
            data.append({"type": "photo", "target": {"id": photo_id}, "url": photo.url})
    if post.video_id:
        data.append({"type": "video_inline", "target": {"id": post.video_id}})
    return {"data": data}


def _shares(_: SandboxState, post: FbPost, __: FieldSpec) -> JSONDict | None:
    count = fake_count(post.id, "shares", 25)
    return {"count": count} if count else None  # Meta omits `shares` when nobody shared


def _engagement(_: SandboxState, post: FbPost, spec: FieldSpec) -> JSONDict:
    edge: JSONDict = {"data": []}
    if "summary" in spec.modifiers:
        summary: JSONDict = {"total_count": fake_count(post.id, spec.name, 120)}
        if spec.name == "comments":
            summary.update(order="ranked", can_comment=True)
        else:
            summary["viewer_reaction"] = "NONE"
        edge["summary"] = summary
    return edge


def _created_time(_: SandboxState, post: FbPost, __: FieldSpec) -> str:
    return fmt_time(post.visible_at if post.scheduled_at else post.created_at)


_POST_NODE: NodeFields[FbPost] = NodeFields(
    "Post",
    {
        "id": lambda _s, post, _f: post.id,
        "message": lambda _s, post, _f: post.message,
        "created_time": _created_time,
        "updated_time": lambda _s, post, _f: fmt_time(post.updated_at or post.created_at),
        "permalink_url": lambda _s, post, _f: permalink(post),
        "link": lambda _s, post, _f: post.link,
        "is_published": lambda state, post, _f: post.is_live(state.now()),
        "scheduled_publish_time": lambda _s, post, _f: (
            int(post.scheduled_at) if post.scheduled_at is not None else None
        ),
        "status_type": lambda _s, post, _f: _STATUS_TYPE.get(post.kind, "mobile_status_update"),
        "from": lambda state, post, _f: {
            "id": post.page_id,
            "name": state.account_name(post.page_id),
        },
        "full_picture": _full_picture,
        "attachments": _attachments,
        "shares": _shares,
        "reactions": _engagement,
        "comments": _engagement,
    },
)


def render_post(state: SandboxState, post: FbPost, fields: list[FieldSpec]) -> JSONDict:
    """A post as Graph returns it for the requested fields."""
    return render_fields(state, post, fields, _POST_NODE, post.id)


def edit_post(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{post-id}`` with a new ``message``."""
    post = _live_post(state, call)
    _require_write(state, post.page_id)
    message = call.params.get_str("message")
    if message is None:
        raise invalid_param("The parameter message is required")
    post.message = message
    post.updated_at = state.now()
    return {"success": True}


def delete_post(state: SandboxState, call: Call) -> JSONDict:
    """``DELETE /{post-id}``."""
    post = _live_post(state, call)
    _require_write(state, post.page_id)
    now = state.now()
    post.deleted_at = now
    if post.photo_id and post.photo_id in state.photos:
        state.photos[post.photo_id].deleted_at = now
    if post.video_id and post.video_id in state.videos:
        state.videos[post.video_id].deleted_at = now
    return {"success": True}


def list_posts(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{page-id}/published_posts`` (and ``/feed``): live posts, newest first."""
    page_id = _page_of(call)
    _require_read(state, page_id)
    fields = call.params.fields("created_time,message,id")
    now = state.now()
    since = call.params.get_int("since")
    until = call.params.get_int("until")

    def keep(post: FbPost) -> bool:
        if not post.is_live(now):
            return False
        if since is not None and post.visible_at < since:
            return False
        return until is None or post.visible_at <= until

    posts = state.posts_by_page.get(page_id, [])
    return paginate(call, posts, keep, lambda post: render_post(state, post, fields))


def list_scheduled_posts(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{page-id}/scheduled_posts``: scheduled posts not yet live."""
    page_id = _page_of(call)
    _require_read(state, page_id)
    fields = call.params.fields("created_time,message,id")
    now = state.now()

    def keep(post: FbPost) -> bool:
        return post.scheduled_at is not None and post.deleted_at is None and now < post.visible_at

    posts = state.posts_by_page.get(page_id, [])
    return paginate(call, posts, keep, lambda post: render_post(state, post, fields))


def post_insights(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{post-id}/insights?metric=...``; one invalid metric fails the whole call (#100)."""
    post = _live_post(state, call)
    _require_read(state, post.page_id)
    metrics = call.params.csv("metric")
    if not metrics:
        raise invalid_param("The value must be a valid insights metric")
    for metric in metrics:
        if metric not in FB_POST_METRICS:
            raise invalid_param("The value must be a valid insights metric")
    data: list[JSONDict] = []
    for metric in metrics:
        value: object
        if metric in ("post_reactions_by_type_total", "post_clicks_by_type"):
            keys = ("like", "love", "wow") if metric.startswith("post_reactions") else ("other",)
            value = {k: fake_count(post.id, f"{metric}:{k}", FB_POST_METRICS[metric]) for k in keys}
        else:
            value = fake_count(post.id, metric, FB_POST_METRICS[metric])
        data.append(
            {
                "name": metric,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": metric.replace("_", " ").capitalize(),
                "description": f"Lifetime: {metric.replace('_', ' ')}",
                "id": f"{post.id}/insights/{metric}/lifetime",
            }
        )
    return {"data": data}


_PHOTO_NODE: NodeFields[FbPhoto] = NodeFields(
    "Photo",
    {
        "id": lambda _s, photo, _f: photo.id,
        "created_time": lambda _s, photo, _f: fmt_time(photo.created_at),
        "name": lambda _s, photo, _f: photo.caption,
        "caption": lambda _s, photo, _f: photo.caption,
        "link": lambda _s, photo, _f: f"https://www.facebook.com/photo.php?fbid={photo.id}",
        "page_story_id": lambda _s, photo, _f: photo.post_id,
        "images": lambda _s, photo, _f: [{"source": photo.url, "height": 1080, "width": 1080}],
    },
)


def get_photo(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{photo-id}``."""
    photo = state.photos.get(call.target_id or "")
    if photo is None or photo.deleted_at is not None:
        raise unsupported_request("GET", call.target_id or "")
    _require_read(state, photo.page_id)
    fields = call.params.fields("created_time,id")
    return render_fields(state, photo, fields, _PHOTO_NODE, photo.id)


def delete_photo(state: SandboxState, call: Call) -> JSONDict:
    """``DELETE /{photo-id}`` (removes its post too)."""
    photo = state.photos.get(call.target_id or "")
    if photo is None or photo.deleted_at is not None:
        raise unsupported_request("DELETE", call.target_id or "")
    _require_write(state, photo.page_id)
    now = state.now()
    photo.deleted_at = now
    if photo.post_id and photo.post_id in state.posts:
        state.posts[photo.post_id].deleted_at = now
    return {"success": True}


def _video_status(state: SandboxState, video: FbVideo, _: FieldSpec) -> JSONDict:
    now = state.now()
    ready = video.uploaded and now >= video.ready_at
    span = max(video.ready_at - video.created_at, 1e-9)
    progress = 100 if ready else max(0, min(99, int(100 * (now - video.created_at) / span)))
    if not video.is_reel:
        return {"video_status": "ready" if ready else "processing", "processing_progress": progress}
    # A Reel's session reports its phases (what a caller checks after an unclear answer).
    processing = "complete" if ready else "in_progress" if video.uploaded else "not_started"
    video_status = "ready" if ready else "processing" if video.uploaded else "upload_pending"
    if video.processing_error is not None and video.uploaded:
        processing, video_status = "error", "error"
    return {
        "video_status": video_status,
        "processing_progress": progress,
        "uploading_phase": {"status": "complete" if video.uploaded else "not_started"},
        "processing_phase": {"status": processing}
        | ({"error": {"message": video.processing_error}} if video.processing_error else {}),
        "publishing_phase": {"status": "complete" if video.published else "not_started"},
    }


# The upload host fetches these, then processing finds no video in them.
_NOT_VIDEO_EXT = frozenset({"gif", "png", "jpg", "jpeg", "webp", "txt", "html", "pdf"})


def start_reel_or_finish(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{page-id}/video_reels``: ``upload_phase=start`` opens an upload session;
    ``upload_phase=finish`` with ``video_state=PUBLISHED`` publishes the uploaded Reel."""
    page_id = _page_of(call)
    _require_write(state, page_id)
    phase = call.params.require("upload_phase").lower()
    if phase == "start":
        now = state.now()
        video_id = state.new_fb_id()
        state.videos[video_id] = FbVideo(
            video_id, page_id, None, None, None, now, now,
            is_reel=True, uploaded=False, published=False,
        )  # fmt: skip
        return {
            "video_id": video_id,
            "upload_url": f"{call.base_url}/video-upload/{call.version}/{video_id}",
        }
    if phase != "finish":
        raise invalid_param("upload_phase must be one of start, finish")
    video = state.videos.get(call.params.require("video_id"))
    if video is None or not video.is_reel or video.page_id != page_id:
        raise invalid_param("Invalid video_id: no Reel upload session with this id")
    if not video.uploaded:
        raise GraphError(6000, 1363130, message="There was a problem uploading your video file."
                         " Please try again: the upload has not completed.")  # fmt: skip
    if video.published:
        raise invalid_param("This Reel has already been published")
    if (call.params.get_str("video_state") or "").upper() != "PUBLISHED":
        raise invalid_param("The sandbox publishes Reels only with video_state=PUBLISHED")
    now = state.now()
    video.published = True
    video.description = call.params.get_str("description")
    video.ready_at = now + state.settings.video_processing_s
    video.post_id = f"{page_id}_{video.id}"
    if video.processing_error is None:  # a Reel Meta cannot process never appears
        _add_post(
            state,
            FbPost(
                id=video.post_id, page_id=page_id, kind="video", message=video.description,
                link=None, created_at=now, published=True, visible_at=video.ready_at,
                video_id=video.id,
            ),
        )  # fmt: skip
    return {"success": True}


def upload_reel(state: SandboxState, call: Call) -> JSONDict:
    """``POST https://rupload.facebook.com/video-upload/{version}/{video-id}`` with the
    ``file_url`` header: Meta fetches the video into the session."""
    video = state.videos[call.target_id or ""]
    _require_write(state, video.page_id)
    file_url = call.params.get_str("file_url")
    if not file_url:
        raise invalid_param("file_url header is required (or upload the bytes)")
    if not url_is_fetchable(file_url, state.settings.reject_private_media_urls):
        raise GraphError(6000, 1363133, message=f"The video could not be fetched from {file_url}")
    video.file_url = file_url
    video.uploaded = True
    if url_extension(file_url) in _NOT_VIDEO_EXT:
        video.processing_error = "The video file is not in a format Meta can read"
    return {"success": True}


_VIDEO_NODE: NodeFields[FbVideo] = NodeFields(
    "Video",
    {
        "id": lambda _s, video, _f: video.id,
        "created_time": lambda _s, video, _f: fmt_time(video.created_at),
        "description": lambda _s, video, _f: video.description,
        "title": lambda _s, video, _f: video.title,
        "status": _video_status,
        "permalink_url": lambda _s, video, _f: (
            f"/reel/{video.id}/" if video.is_reel else f"/{video.page_id}/videos/{video.id}/"
        ),
        "post_id": lambda _s, video, _f: video.post_id,
    },
)


def get_video(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{video-id}?fields=status,permalink_url,...``."""
    video = state.videos.get(call.target_id or "")
    if video is None or video.deleted_at is not None:
        raise unsupported_request("GET", call.target_id or "")
    _require_read(state, video.page_id)
    fields = call.params.fields("created_time,description,id")
    return render_fields(state, video, fields, _VIDEO_NODE, video.id)


def edit_video(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{video-id}`` with a new ``description`` (its post's message follows)."""
    video = state.videos.get(call.target_id or "")
    if video is None or video.deleted_at is not None:
        raise unsupported_request("POST", call.target_id or "")
    _require_write(state, video.page_id)
    description = call.params.get_str("description")
    if description is None:
        raise invalid_param("The parameter description is required")
    video.description = description
    post = state.posts.get(video.post_id or "")
    if post is not None:
        post.message = description
        post.updated_at = state.now()
    return {"success": True}


def delete_video(state: SandboxState, call: Call) -> JSONDict:
    """``DELETE /{video-id}`` (removes its post too)."""
    video = state.videos.get(call.target_id or "")
    if video is None or video.deleted_at is not None:
        raise unsupported_request("DELETE", call.target_id or "")
    _require_write(state, video.page_id)
    now = state.now()
    video.deleted_at = now
    if video.post_id and video.post_id in state.posts:
        state.posts[video.post_id].deleted_at = now
    return {"success": True}


def _instagram_link(state: SandboxState, page_id: str, _: FieldSpec) -> JSONDict | None:
    account = state.accounts.get(page_id)
    if account is None or not account.linked_instagram_id:
        return None
    return {"id": account.linked_instagram_id}


_PAGE_NODE: NodeFields[str] = NodeFields(
    "Page",
    {
        "id": lambda _s, page_id, _f: page_id,
        "name": lambda state, page_id, _f: state.account_name(page_id),
        "instagram_business_account": _instagram_link,
        "link": lambda _s, page_id, _f: f"https://www.facebook.com/{page_id}",
        "category": lambda _s, _p, _f: "Employment Agency",
        "fan_count": lambda _s, page_id, _f: fake_count(page_id, "fan_count", 10_000),
        "followers_count": lambda _s, page_id, _f: fake_count(page_id, "followers_count", 10_000),
    },
)


def get_page(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{page-id}?fields=id,name,instagram_business_account``."""
    page_id = _page_of(call)
    fields = call.params.fields("name,id")
    return render_fields(state, page_id, fields, _PAGE_NODE, page_id)
