"""Instagram content publishing: containers and their state machine, publish, quota, media."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .call import Call
from .common import (
    NodeFields,
    container_state,
    fake_count,
    fmt_time,
    paginate,
    read_after_write,
    render_fields,
    url_extension,
    url_is_fetchable,
)
from .errors import (
    JSONDict,
    ig_error,
    invalid_param,
    missing_param,
    nonexisting_field,
    unsupported_request,
)
from .models import IgContainer, IgMedia
from .params import FieldSpec, Params
from .state import SandboxState

MAX_CAPTION = 2_200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
MIN_CAROUSEL = 2
MAX_CAROUSEL = 10

IN_PROGRESS = "IN_PROGRESS"
FINISHED = "FINISHED"
ERROR = "ERROR"
EXPIRED = "EXPIRED"
PUBLISHED = "PUBLISHED"

_HASHTAG = re.compile(r"(?<![\w&])#\w+")
_MENTION = re.compile(r"(?<![\w])@[\w.]+")
_BAD_IMAGE_EXT = frozenset({"png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "svg"})
_BAD_VIDEO_EXT = frozenset({"avi", "mkv", "webm", "wmv", "flv", "gif", "3gp", "mpg", "mpeg"})
_NO_PERMISSION = "(#10) Application does not have permission for this action"

IG_MEDIA_METRICS: dict[str, int] = {
    "reach": 5_000,
    "likes": 400,
    "comments": 60,
    "shares": 40,
    "saved": 50,
    "total_interactions": 550,
    "views": 9_000,
    "follows": 20,
    "profile_visits": 80,
    "profile_activity": 90,
    "replies": 10,
    "navigation": 100,
    "ig_reels_avg_watch_time": 9_000,
    "ig_reels_video_view_total_time": 900_000,
}
DEPRECATED_IG_METRICS = frozenset(
    {
        "impressions",
        "plays",
        "video_views",
        "clips_replays_count",
        "ig_reels_aggregated_all_plays_count",
        "carousel_album_impressions",
        "carousel_album_video_views",
    }
)
_STATUS_TEXT = {
    IN_PROGRESS: "In Progress: Media is still being processed.",
    FINISHED: "Finished: Media container is ready to be published.",
    EXPIRED: "Expired: Media container was not published within 24 hours.",
    PUBLISHED: "Published: Media has been published.",
}


def _ig_user(call: Call) -> str:
    assert call.account_id is not None  # routing always resolves the IG account here
    return call.account_id


def container_status(state: SandboxState, container: IgContainer, now: float) -> str:
    """Status of a container, computed lazily from timestamps (no background tasks)."""
    children = (state.containers.get(child_id) for child_id in container.children)
    return container_state(
        published=container.published_media_id is not None,
        failed=container.error_subcode is not None,
        expired=now - container.created_at >= state.settings.container_ttl_s,
        ready=now >= container.ready_at,
        child_states=(container_status(state, c, now) if c else ERROR for c in children),
    )


def _error_subcode(state: SandboxState, container: IgContainer) -> int:
    if container.error_subcode is not None:
        return container.error_subcode
    for child_id in container.children:
        child = state.containers.get(child_id)
        if child is not None and child.error_subcode is not None:
            return child.error_subcode
    return 2207053


def _check_caption(caption: str) -> None:
    if len(caption) > MAX_CAPTION:
        raise ig_error(
            2207010,
            f"The submitted image's caption was {len(caption)} characters long. The maximum "
            f"number of characters permitted for a caption is {MAX_CAPTION}. Please submit media "
            "with a shorter caption.",
        )
    hashtags = len(_HASHTAG.findall(caption))
    if hashtags > MAX_HASHTAGS:
        raise ig_error(
            2207010, f"The caption has {hashtags} hashtags; at most {MAX_HASHTAGS} are allowed."
        )
    if len(_MENTION.findall(caption)) > MAX_MENTIONS:
        raise ig_error(2207040, f"Cannot use more than {MAX_MENTIONS} tags per created media.")


def _check_fetchable(state: SandboxState, url: str) -> None:
    if not url_is_fetchable(url, state.settings.reject_private_media_urls):
        raise ig_error(2207052, f"The media could not be fetched from this uri: {url}")


def _check_image(state: SandboxState, url: str) -> None:
    _check_fetchable(state, url)
    ext = url_extension(url)
    if ext in _BAD_IMAGE_EXT:
        raise ig_error(
            2207005, f"The image format {ext} is not supported. Supported formats are: jpeg."
        )


@dataclass(slots=True)
class _Draft:
    """Validated container contents before it gets an id."""

    ready_at: float
    children: tuple[str, ...] = ()
    error_subcode: int | None = None


def _draft_carousel(state: SandboxState, ig_user_id: str, params: Params, now: float) -> _Draft:
    children = tuple(params.csv("children"))
    if not MIN_CAROUSEL <= len(children) <= MAX_CAROUSEL:
        raise ig_error(2207028)
    for child_id in children:
        child = state.containers.get(child_id)
        if child is None or child.ig_user_id != ig_user_id or not child.is_carousel_item:
            raise ig_error(2207006, f"The media with {child_id} cannot be found")
    return _Draft(ready_at=now, children=children)


def _draft_image(state: SandboxState, params: Params, now: float) -> _Draft:
    image_url = params.get_str("image_url")
    if not image_url:
        raise missing_param("image_url")
    _check_image(state, image_url)
    return _Draft(ready_at=now + state.settings.image_processing_s)


def _draft_video(state: SandboxState, params: Params, now: float) -> _Draft:
    video_url = params.get_str("video_url")
    if not video_url:
        raise missing_param("video_url")
    _check_fetchable(state, video_url)
    # A format Meta cannot transcode surfaces later as status ERROR, not at creation.
    bad_format = url_extension(video_url) in _BAD_VIDEO_EXT
    return _Draft(
        ready_at=now + state.settings.video_processing_s,
        error_subcode=2207026 if bad_format else None,
    )


def _draft(
    state: SandboxState, ig_user_id: str, media_type: str, is_item: bool, params: Params
) -> _Draft:
    now = state.now()
    if media_type == "CAROUSEL":
        return _draft_carousel(state, ig_user_id, params, now)
    if media_type == "IMAGE":
        return _draft_image(state, params, now)
    if media_type in ("REELS", "VIDEO"):
        # Feed videos are REELS now; plain VIDEO survives only as a carousel item.
        if (media_type == "VIDEO") != is_item:
            raise ig_error(2207023, f"The media type {media_type} is unknown.")
        return _draft_video(state, params, now)
    if media_type == "STORIES":
        if params.get_str("image_url") or not params.get_str("video_url"):
            return _draft_image(state, params, now)
        return _draft_video(state, params, now)
    raise ig_error(2207023, f"The media type {media_type} is unknown.")


def create_container(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{ig-user-id}/media``: image, reel, story, carousel item or carousel container."""
    ig_user_id = _ig_user(call)
    state.require_permission(ig_user_id, "instagram_content_publish", 10, _NO_PERMISSION)
    params = call.params
    media_type = (params.get_str("media_type") or "").upper() or "IMAGE"
    is_item = params.get_bool("is_carousel_item", False)
    caption = params.get_str("caption")
    draft = _draft(state, ig_user_id, media_type, is_item, params)
    if caption and not is_item:
        _check_caption(caption)
    if call.container_error_subcode is not None:
        draft.error_subcode = call.container_error_subcode
    container_id = state.new_ig_id()
    state.containers[container_id] = IgContainer(
        id=container_id,
        ig_user_id=ig_user_id,
        media_type=media_type,
        created_at=state.now(),
        ready_at=draft.ready_at,
        is_carousel_item=is_item,
        image_url=params.get_str("image_url"),
        video_url=params.get_str("video_url"),
        caption=None if is_item else caption,  # Meta ignores captions on carousel items
        alt_text=params.get_str("alt_text"),
        children=draft.children,
        error_subcode=draft.error_subcode,
    )
    return {"id": container_id}


def _status_text(state: SandboxState, container: IgContainer, _: FieldSpec) -> str:
    status = container_status(state, container, state.now())
    if status == ERROR:
        code = _error_subcode(state, container)
        return f"Error: Media upload has failed with error code {code}"
    return _STATUS_TEXT[status]


_CONTAINER_NODE: NodeFields[IgContainer] = NodeFields(
    "ShadowIGMediaBuilder",
    {
        "id": lambda _s, container, _f: container.id,
        "status_code": lambda state, container, _f: container_status(state, container, state.now()),
        "status": _status_text,
    },
)


def get_container(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{container-id}?fields=status_code,status``."""
    container = state.containers[call.target_id or ""]
    state.require_permission(container.ig_user_id, "instagram_basic", 10, _NO_PERMISSION)
    if call.container_error_subcode is not None and container.published_media_id is None:
        container.error_subcode = call.container_error_subcode
    fields = call.params.fields("id")
    return render_fields(state, container, fields, _CONTAINER_NODE, container.id)


def publish(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{ig-user-id}/media_publish``: turn a FINISHED container into media, once."""
    ig_user_id = _ig_user(call)
    state.require_permission(ig_user_id, "instagram_content_publish", 10, _NO_PERMISSION)
    creation_id = call.params.require("creation_id")
    container = state.containers.get(creation_id)
    missing = (
        f"The media builder with creation id = {creation_id} does not exist or has been expired."
    )
    if container is None or container.ig_user_id != ig_user_id or container.is_carousel_item:
        raise ig_error(2207008, missing)
    now = state.now()
    status = container_status(state, container, now)
    if status == PUBLISHED:
        # The builder is consumed by the first publish; a retry must not create a second post.
        raise ig_error(2207008, missing)
    if status == EXPIRED:
        raise ig_error(2207020)
    if status == ERROR:
        raise ig_error(_error_subcode(state, container))
    if status == IN_PROGRESS:
        raise ig_error(2207027)
    window = state.publish_window(ig_user_id)
    if window.count(now) >= state.quota_total(ig_user_id):
        raise ig_error(2207042)
    media = _create_media(state, container, now)
    window.add(now)
    return read_after_write(
        state, call, {"id": media.id}, lambda fields: render_media(state, media, fields)
    )


def shortcode(media_id: str) -> str:
    """A short public code for a numeric media id (the last part of its permalink)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    number = int(media_id)
    chars: list[str] = []
    while number:
        number, rem = divmod(number, 64)
        chars.append(alphabet[rem])
    return "".join(reversed(chars)) or "A"


def _media_kind(container: IgContainer) -> tuple[str, str]:
    if container.media_type == "CAROUSEL":
        return "CAROUSEL_ALBUM", "FEED"
    if container.media_type == "REELS":
        return "VIDEO", "REELS"
    is_video = container.video_url is not None and container.image_url is None
    product = "STORY" if container.media_type == "STORIES" else "FEED"
    return ("VIDEO" if is_video else "IMAGE"), product


def _create_media(state: SandboxState, container: IgContainer, now: float) -> IgMedia:
    child_ids: list[str] = []
    for child_id in container.children:
        child = state.containers[child_id]
        child_media_id = state.new_ig_id()
        media_type, _ = _media_kind(child)
        state.media[child_media_id] = IgMedia(
            id=child_media_id,
            ig_user_id=child.ig_user_id,
            container_id=child.id,
            media_type=media_type,
            media_product_type="FEED",
            caption=None,
            media_url=child.image_url or child.video_url,
            created_at=now,
            shortcode=shortcode(child_media_id),
            alt_text=child.alt_text,
            is_child=True,
        )
        child.published_media_id = child_media_id
        child_ids.append(child_media_id)
    media_id = state.new_ig_id()
    media_type, product = _media_kind(container)
    first_child = state.media[child_ids[0]] if child_ids else None
    media = IgMedia(
        id=media_id,
        ig_user_id=container.ig_user_id,
        container_id=container.id,
        media_type=media_type,
        media_product_type=product,
        caption=container.caption,
        media_url=(first_child.media_url if first_child else None)
        or container.image_url
        or container.video_url,
        created_at=now,
        shortcode=shortcode(media_id),
        alt_text=container.alt_text,
        children=tuple(child_ids),
    )
    user_media = state.media_by_user.setdefault(container.ig_user_id, [])
    media.user_index = len(user_media)
    user_media.append(media)
    state.media[media_id] = media
    container.published_media_id = media_id
    return media


def media_permalink(state: SandboxState, media: IgMedia) -> str:
    """The public URL of a media object."""
    if media.media_product_type == "STORY":
        return f"https://www.instagram.com/stories/{username(state, media.ig_user_id)}/{media.id}/"
    kind = "reel" if media.media_product_type == "REELS" else "p"
    return f"https://www.instagram.com/{kind}/{media.shortcode}/"


def username(state: SandboxState, ig_user_id: str) -> str:
    """Handle of an IG account."""
    account = state.accounts.get(ig_user_id)
    if account is not None and account.name:
        return re.sub(r"[^a-z0-9_.]", "_", account.name.lower())
    return f"sandbox_{ig_user_id}"


def publishing_limit(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config``."""
    ig_user_id = _ig_user(call)
    state.require_permission(ig_user_id, "instagram_basic", 10, _NO_PERMISSION)
    usage = state.publish_window(ig_user_id).count(state.now())
    entry: JSONDict = {}
    for spec in call.params.fields("quota_usage"):
        if spec.name == "quota_usage":
            entry["quota_usage"] = usage
        elif spec.name == "config":
            entry["config"] = {
                "quota_total": state.quota_total(ig_user_id),
                "quota_duration": state.settings.ig_quota_duration_s,
            }
        else:
            raise nonexisting_field(spec.name, "ContentPublishingLimit")
    return {"data": [entry]}


def _live_media(state: SandboxState, call: Call) -> IgMedia:
    media = state.media.get(call.target_id or "")
    if media is None or media.deleted_at is not None:
        raise unsupported_request(call.method, call.target_id or "")
    return media


def get_media(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{ig-media-id}?fields=permalink,id,caption,timestamp,...``."""
    media = _live_media(state, call)
    state.require_permission(media.ig_user_id, "instagram_basic", 10, _NO_PERMISSION)
    return render_media(state, media, call.params.fields("id"))


_MEDIA_NODE: NodeFields[IgMedia] = NodeFields(
    "IGMedia",
    {
        "id": lambda _s, media, _f: media.id,
        "caption": lambda _s, media, _f: media.caption,
        "media_type": lambda _s, media, _f: media.media_type,
        "media_product_type": lambda _s, media, _f: media.media_product_type,
        "media_url": lambda _s, media, _f: media.media_url,
        "permalink": lambda state, media, _f: media_permalink(state, media),
        "timestamp": lambda _s, media, _f: fmt_time(media.created_at),
        "username": lambda state, media, _f: username(state, media.ig_user_id),
        "shortcode": lambda _s, media, _f: media.shortcode,
        "like_count": lambda _s, media, _f: fake_count(media.id, "like_count", 300),
        "comments_count": lambda _s, media, _f: fake_count(media.id, "comments_count", 300),
        "children": lambda _s, media, _f: {"data": [{"id": child} for child in media.children]},
        "owner": lambda _s, media, _f: {"id": media.ig_user_id},
        "is_comment_enabled": lambda _s, _m, _f: True,
        "alt_text": lambda _s, media, _f: media.alt_text,
        "thumbnail_url": lambda _s, media, _f: (
            f"https://scontent.cdninstagram.com/{media.id}.jpg"
            if media.media_type == "VIDEO"
            else None
        ),
    },
)


def render_media(state: SandboxState, media: IgMedia, fields: list[FieldSpec]) -> JSONDict:
    """A media object as Graph returns it for the requested fields."""
    return render_fields(state, media, fields, _MEDIA_NODE, media.id)


def list_media(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{ig-user-id}/media``: published media, newest first."""
    ig_user_id = _ig_user(call)
    state.require_permission(ig_user_id, "instagram_basic", 10, _NO_PERMISSION)
    fields = call.params.fields("id")
    items = state.media_by_user.get(ig_user_id, [])
    return paginate(
        call,
        items,
        lambda media: media.deleted_at is None,
        lambda media: render_media(state, media, fields),
    )


def media_insights(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{ig-media-id}/insights?metric=...``; deprecated metrics fail the call (#100)."""
    media = _live_media(state, call)
    state.require_permission(media.ig_user_id, "instagram_manage_insights", 10, _NO_PERMISSION)
    metrics = call.params.csv("metric")
    if not metrics:
        raise missing_param("metric")
    for index, metric in enumerate(metrics):
        if metric in DEPRECATED_IG_METRICS:
            raise invalid_param(
                f"The {metric} metric is no longer supported for media created after July 2, "
                "2024 (v22.0+). Please use views instead."
            )
        if metric not in IG_MEDIA_METRICS:
            allowed = ", ".join(IG_MEDIA_METRICS)
            raise invalid_param(f"metric[{index}] must be one of the following values: {allowed}")
    return {
        "data": [
            {
                "name": metric,
                "period": "lifetime",
                "values": [{"value": fake_count(media.id, metric, IG_MEDIA_METRICS[metric])}],
                "title": metric.replace("_", " ").capitalize(),
                "description": f"Lifetime {metric.replace('_', ' ')} of the media.",
                "id": f"{media.id}/insights/{metric}/lifetime",
            }
            for metric in metrics
        ]
    }


def delete_media(state: SandboxState, call: Call) -> JSONDict:
    """``DELETE /{ig-media-id}``: only with an explicit instagram_manage_contents grant."""
    media = _live_media(state, call)
    state.require_permission(
        media.ig_user_id, "instagram_manage_contents", 10, _NO_PERMISSION, strict=True
    )
    if media.is_child:
        raise invalid_param("A single carousel item cannot be deleted; delete the carousel")
    now = state.now()
    media.deleted_at = now
    for child_id in media.children:
        state.media[child_id].deleted_at = now
    return {"success": True}


def _media_count(state: SandboxState, ig_user_id: str, _: FieldSpec) -> int:
    return sum(1 for m in state.media_by_user.get(ig_user_id, []) if m.deleted_at is None)


_IG_USER_NODE: NodeFields[str] = NodeFields(
    "IGUser",
    {
        "id": lambda _s, ig_user_id, _f: ig_user_id,
        "username": lambda state, ig_user_id, _f: username(state, ig_user_id),
        "name": lambda state, ig_user_id, _f: state.account_name(ig_user_id),
        "media_count": _media_count,
        "followers_count": lambda _s, ig_user_id, _f: fake_count(ig_user_id, "followers", 10_000),
        "follows_count": lambda _s, ig_user_id, _f: fake_count(ig_user_id, "follows", 1_000),
        "profile_picture_url": lambda _s, ig_user_id, _f: (
            f"https://scontent.cdninstagram.com/{ig_user_id}.jpg"
        ),
    },
)


def get_ig_user(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{ig-user-id}?fields=id,username,...``."""
    ig_user_id = _ig_user(call)
    fields = call.params.fields("id")
    return render_fields(state, ig_user_id, fields, _IG_USER_NODE, ig_user_id)
