"""Threads publishing (graph.threads.net): containers and their states, publish, the
publishing limit, a profile's threads, replies, media and delete.

As Meta documents it: a post is a container (`POST /{threads-user-id}/threads`, media_type
TEXT, IMAGE, VIDEO or CAROUSEL; text at most 500 characters, emojis counted as their UTF-8
bytes; a carousel of 2-20 items; `reply_to_id` makes it a reply) published with
`POST /{threads-user-id}/threads_publish?creation_id=`. A container is IN_PROGRESS until its
media is processed, then FINISHED; ERROR (with `error_message`), EXPIRED after 24 hours,
PUBLISHED once published. Publishing one that is not FINISHED (or unknown, or published
already) is refused with 24/4279009 "Media Not Found", as Meta answers it: nothing is
published. A profile may publish 250 posts, 1,000 replies and delete 100 threads in a moving
24 hours; past that, code 17 (Meta does not document the code; the sandbox's choice).
"""

from __future__ import annotations

from collections.abc import Callable

from .call import Call
from .common import (
    NodeFields,
    container_state,
    fmt_time,
    paginate,
    render_fields,
    url_extension,
    url_is_fetchable,
)
from .errors import (
    GraphError,
    JSONDict,
    invalid_param,
    missing_param,
    nonexisting_field,
    unsupported_request,
)
from .instagram import shortcode, username
from .params import FieldSpec
from .state import SandboxState
from .threads_models import ThreadsContainer, ThreadsMedia, ThreadsWindows
from .usage import PublishWindow

MAX_TEXT = 500
MIN_CAROUSEL = 2
MAX_CAROUSEL = 20
MAX_ALT_TEXT = 1_000
WINDOW_S = 86_400
MEDIA_NOT_FOUND = 4279009  # Meta's subcode for a container it cannot publish

IN_PROGRESS, FINISHED, ERROR, EXPIRED, PUBLISHED = (
    "IN_PROGRESS",
    "FINISHED",
    "ERROR",
    "EXPIRED",
    "PUBLISHED",
)
_MEDIA_TYPES = frozenset({"TEXT", "IMAGE", "VIDEO", "CAROUSEL"})
_PUBLISHED_TYPE = {"TEXT": "TEXT_POST", "IMAGE": "IMAGE", "VIDEO": "VIDEO"}
_BAD_VIDEO_EXT = frozenset({"avi", "mkv", "webm", "wmv", "flv", "gif", "3gp", "mpg", "mpeg"})
_NO_PERMISSION = "(#10) Application does not have permission for this action"


def _user(call: Call) -> str:
    assert call.account_id is not None  # routing always resolves the profile here
    return call.account_id


def text_length(text: str) -> int:
    """Threads' count: a character is one, an emoji its UTF-8 bytes."""
    return sum(len(ch.encode()) if _is_emoji(ch) else 1 for ch in text)


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    return code > 0xFFFF or 0x2600 <= code <= 0x27BF


def windows(state: SandboxState, user_id: str) -> ThreadsWindows:
    """A profile's moving windows (created on first use)."""
    found = state.threads.windows.get(user_id)
    if found is None:
        found = ThreadsWindows(
            PublishWindow(WINDOW_S), PublishWindow(WINDOW_S), PublishWindow(WINDOW_S)
        )
        state.threads.windows[user_id] = found
    return found


def post_quota(state: SandboxState, user_id: str) -> int:
    """Posts a profile may publish per 24 h (an account's `quota_total` overrides it)."""
    account = state.accounts.get(user_id)
    if account is not None and account.quota_total is not None:
        return account.quota_total
    return state.settings.threads_quota_total


def _limit_reached(what: str, total: int) -> GraphError:
    return GraphError(
        17,
        message=f"Threads {what} limit reached ({total} in 24 hours)",
        user_title="Limit reached",
        user_msg=f"This profile reached its limit of {total} {what} in 24 hours.",
    )


def media_not_found(media_id: str) -> GraphError:
    """Meta's answer to publishing a container that is not FINISHED, unknown or published."""
    return GraphError(
        24,
        MEDIA_NOT_FOUND,
        message="The requested resource does not exist",
        user_title="Media Not Found",
        user_msg=f"The media with id {media_id} cannot be found.",
    )


def container_status(state: SandboxState, container: ThreadsContainer, now: float) -> str:
    """A container's state, computed from timestamps (no background tasks)."""
    children = (state.threads.containers.get(child_id) for child_id in container.children)
    return container_state(
        published=container.published_media_id is not None,
        failed=container.error_message is not None,
        expired=now - container.created_at >= state.settings.container_ttl_s,
        ready=now >= container.ready_at,
        child_states=(container_status(state, c, now) if c else ERROR for c in children),
    )


def _error_message(state: SandboxState, container: ThreadsContainer) -> str | None:
    if container.error_message is not None:
        return container.error_message
    for child_id in container.children:
        child = state.threads.containers.get(child_id)
        if child is None:
            return "UNKNOWN"
        if child.error_message is not None:
            return child.error_message
    return None


# --------------------------------------------------------------------------- containers


def create_container(state: SandboxState, call: Call) -> JSONDict:
    """`POST /{threads-user-id}/threads`: a text, image, video, carousel item or carousel
    container, optionally a reply (`reply_to_id`)."""
    user_id = _user(call)
    state.require_permission(user_id, "threads_content_publish", 10, _NO_PERMISSION)
    params = call.params
    media_type = (params.get_str("media_type") or "").upper()
    if not media_type:
        raise missing_param("media_type")
    if media_type not in _MEDIA_TYPES:
        raise invalid_param(
            f"Param media_type must be one of {{{', '.join(sorted(_MEDIA_TYPES))}}}"
        )
    is_item = params.get_bool("is_carousel_item", False)
    text = params.get_str("text")
    if text is not None and text_length(text) > MAX_TEXT:
        raise invalid_param(f"Param text must be at most {MAX_TEXT} characters long.")
    alt_text = params.get_str("alt_text")
    if alt_text is not None and len(alt_text) > MAX_ALT_TEXT:
        raise invalid_param(f"Param alt_text must be at most {MAX_ALT_TEXT} characters long.")
    reply_to = params.get_str("reply_to_id")
    if reply_to is not None:
        _live(state, reply_to, "POST")
    now = state.now()
    ready_at, children, error = _draft(state, call, media_type, is_item=is_item, text=text, now=now)
    if call.container_error_subcode is not None:
        error = "UNKNOWN"
    container_id = state.new_ig_id()
    state.threads.containers[container_id] = ThreadsContainer(
        id=container_id,
        user_id=user_id,
        media_type=media_type,
        created_at=now,
        ready_at=ready_at,
        text=None if is_item else text,
        image_url=params.get_str("image_url"),
        video_url=params.get_str("video_url"),
        alt_text=alt_text,
        link_attachment=params.get_str("link_attachment"),
        is_carousel_item=is_item,
        children=children,
        reply_to_id=reply_to,
        error_message=error,
    )
    return {"id": container_id}


def _draft(
    state: SandboxState, call: Call, media_type: str, *, is_item: bool, text: str | None, now: float
) -> tuple[float, tuple[str, ...], str | None]:
    """When the container is ready, its children, and the error its media will end in."""
    params = call.params
    if media_type == "TEXT":
        if is_item:
            raise invalid_param("A carousel item must be an IMAGE or a VIDEO")
        if not text:
            raise missing_param("text")
        return now, (), None
    if media_type == "IMAGE":
        url = params.get_str("image_url")
        if not url:
            raise missing_param("image_url")
        _check_fetchable(state, url)
        return now + state.settings.image_processing_s, (), None
    if media_type == "VIDEO":
        url = params.get_str("video_url")
        if not url:
            raise missing_param("video_url")
        _check_fetchable(state, url)
        # A file Meta cannot transcode shows later, as status ERROR.
        error = "FAILED_PROCESSING_VIDEO" if url_extension(url) in _BAD_VIDEO_EXT else None
        return now + state.settings.video_processing_s, (), error
    if is_item:
        raise invalid_param("A carousel item must be an IMAGE or a VIDEO")
    children = tuple(params.csv("children"))
    if not MIN_CAROUSEL <= len(children) <= MAX_CAROUSEL:
        raise invalid_param(
            f"A carousel needs between {MIN_CAROUSEL} and {MAX_CAROUSEL} children "
            f"({len(children)} given)"
        )
    for child_id in children:
        child = state.threads.containers.get(child_id)
        if child is None or child.user_id != _user(call) or not child.is_carousel_item:
            raise media_not_found(child_id)
    return now, children, None


def _check_fetchable(state: SandboxState, url: str) -> None:
    if not url_is_fetchable(url, state.settings.reject_private_media_urls):
        raise GraphError(
            1,
            2207052,
            message="An unknown error occurred",
            is_transient=False,
            user_msg=f"The media could not be fetched from this uri: {url}",
        )


_CONTAINER_NODE: NodeFields[ThreadsContainer] = NodeFields(
    "ThreadsMediaContainer",
    {
        "id": lambda _s, container, _f: container.id,
        "status": lambda state, container, _f: container_status(state, container, state.now()),
        "error_message": lambda state, container, _f: (
            _error_message(state, container)
            if container_status(state, container, state.now()) == ERROR
            else None
        ),
    },
)


def get_container(state: SandboxState, call: Call) -> JSONDict:
    """`GET /{threads-container-id}?fields=status,error_message`."""
    container = state.threads.containers[call.target_id or ""]
    if call.container_error_subcode is not None and container.published_media_id is None:
        container.error_message = "UNKNOWN"
    return render_fields(state, container, call.params.fields("id"), _CONTAINER_NODE, container.id)


# --------------------------------------------------------------------------- publish


def publish(state: SandboxState, call: Call) -> JSONDict:
    """`POST /{threads-user-id}/threads_publish?creation_id=`: a FINISHED container becomes
    a thread (or a reply), once."""
    user_id = _user(call)
    state.require_permission(user_id, "threads_content_publish", 10, _NO_PERMISSION)
    creation_id = call.params.require("creation_id")
    container = state.threads.containers.get(creation_id)
    now = state.now()
    if (
        container is None
        or container.user_id != user_id
        or container.is_carousel_item
        or container_status(state, container, now) != FINISHED
    ):
        raise media_not_found(creation_id)
    profile = windows(state, user_id)
    if container.reply_to_id is not None:
        window, total, what = profile.replies, state.settings.threads_reply_quota_total, "replies"
        parent = state.threads.media.get(container.reply_to_id)
        if parent is None or parent.deleted_at is not None:
            raise media_not_found(container.reply_to_id)
    else:
        window, total, what = profile.posts, post_quota(state, user_id), "posts"
    if window.count(now) >= total:
        raise _limit_reached(what, total)
    media = _create_media(state, container, now)
    window.add(now)
    return {"id": media.id}


def _create_media(state: SandboxState, container: ThreadsContainer, now: float) -> ThreadsMedia:
    store = state.threads
    child_ids: list[str] = []
    for child_id in container.children:
        child = store.containers[child_id]
        child_media = _new_media(state, child, now, is_child=True)
        child_ids.append(child_media.id)
    media = _new_media(state, container, now, is_child=False)
    media.children = tuple(child_ids)
    if container.reply_to_id is not None:
        store.replies_by_media.setdefault(container.reply_to_id, []).append(media)
    else:
        store.threads_by_user.setdefault(container.user_id, []).append(media)
    return media


def _new_media(
    state: SandboxState, container: ThreadsContainer, now: float, *, is_child: bool
) -> ThreadsMedia:
    media_id = state.new_ig_id()
    media_type = "CAROUSEL_ALBUM" if container.children else _PUBLISHED_TYPE[container.media_type]
    media = ThreadsMedia(
        id=media_id,
        user_id=container.user_id,
        container_id=container.id,
        media_type=media_type,
        text=container.text,
        media_url=container.image_url or container.video_url,
        created_at=now,
        shortcode=shortcode(media_id),
        alt_text=container.alt_text,
        reply_to_id=container.reply_to_id,
        is_child=is_child,
    )
    state.threads.media[media_id] = media
    container.published_media_id = media_id
    return media


def publishing_limit(state: SandboxState, call: Call) -> JSONDict:
    """`GET /{threads-user-id}/threads_publishing_limit?fields=quota_usage,config,...`."""
    user_id = _user(call)
    state.require_permission(user_id, "threads_basic", 10, _NO_PERMISSION)
    now = state.now()
    profile = windows(state, user_id)
    settings = state.settings
    entries: dict[str, Callable[[], object]] = {
        "quota_usage": lambda: profile.posts.count(now),
        "config": lambda: _config(post_quota(state, user_id)),
        "reply_quota_usage": lambda: profile.replies.count(now),
        "reply_config": lambda: _config(settings.threads_reply_quota_total),
        "delete_quota_usage": lambda: profile.deletes.count(now),
        "delete_config": lambda: _config(settings.threads_delete_quota_total),
    }
    entry: JSONDict = {}
    for spec in call.params.fields("quota_usage"):
        value = entries.get(spec.name)
        if value is None:
            raise nonexisting_field(spec.name, "ThreadsPublishingLimit")
        entry[spec.name] = value()
    return {"data": [entry]}


def _config(total: int) -> JSONDict:
    return {"quota_total": total, "quota_duration": WINDOW_S}


# --------------------------------------------------------------------------- media


def permalink(state: SandboxState, media: ThreadsMedia) -> str:
    """A thread's public URL."""
    return f"https://www.threads.net/@{username(state, media.user_id)}/post/{media.shortcode}"


_MEDIA_NODE: NodeFields[ThreadsMedia] = NodeFields(
    "ThreadsMedia",
    {
        "id": lambda _s, media, _f: media.id,
        "media_product_type": lambda _s, _m, _f: "THREADS",
        "media_type": lambda _s, media, _f: media.media_type,
        "media_url": lambda _s, media, _f: media.media_url,
        "permalink": lambda state, media, _f: permalink(state, media),
        "owner": lambda _s, media, _f: {"id": media.user_id},
        "username": lambda state, media, _f: username(state, media.user_id),
        "text": lambda _s, media, _f: media.text,
        "timestamp": lambda _s, media, _f: fmt_time(media.created_at),
        "shortcode": lambda _s, media, _f: media.shortcode,
        "children": lambda _s, media, _f: (
            {"data": [{"id": child} for child in media.children]} if media.children else None
        ),
        "is_quote_post": lambda _s, _m, _f: False,
        "alt_text": lambda _s, media, _f: media.alt_text,
        "is_reply": lambda _s, media, _f: media.reply_to_id is not None,
        "replied_to": lambda _s, media, _f: (
            {"id": media.reply_to_id} if media.reply_to_id is not None else None
        ),
        "has_replies": lambda state, media, _f: any(
            reply.deleted_at is None for reply in state.threads.replies_by_media.get(media.id, [])
        ),
    },
)


def render_media(state: SandboxState, media: ThreadsMedia, fields: list[FieldSpec]) -> JSONDict:
    """A thread as the Threads API returns it for the requested fields."""
    return render_fields(state, media, fields, _MEDIA_NODE, media.id)


def _live(state: SandboxState, media_id: str, method: str) -> ThreadsMedia:
    media = state.threads.media.get(media_id)
    if media is None or media.deleted_at is not None:
        raise unsupported_request(method, media_id)
    return media


def get_media(state: SandboxState, call: Call) -> JSONDict:
    """`GET /{threads-media-id}?fields=id,permalink,text,...`."""
    media = _live(state, call.target_id or "", "GET")
    return render_media(state, media, call.params.fields("id"))


def list_threads(state: SandboxState, call: Call) -> JSONDict:
    """`GET /{threads-user-id}/threads`: the profile's threads, newest first, `since` /
    `until` (Unix seconds) narrowing them."""
    user_id = _user(call)
    state.require_permission(user_id, "threads_basic", 10, _NO_PERMISSION)
    return _page(state, call, state.threads.threads_by_user.get(_user(call), []))


def list_replies(state: SandboxState, call: Call) -> JSONDict:
    """`GET /{threads-media-id}/replies`: a thread's replies, newest first."""
    media = _live(state, call.target_id or "", "GET")
    return _page(state, call, state.threads.replies_by_media.get(media.id, []))


def _page(state: SandboxState, call: Call, items: list[ThreadsMedia]) -> JSONDict:
    fields = call.params.fields("id")
    since = call.params.get_int("since")
    until = call.params.get_int("until")

    def keep(media: ThreadsMedia) -> bool:
        return (
            media.deleted_at is None
            and (since is None or media.created_at >= since)
            and (until is None or media.created_at <= until)
        )

    return paginate(call, items, keep, lambda media: render_media(state, media, fields))


def delete_media(state: SandboxState, call: Call) -> JSONDict:
    """`DELETE /{threads-media-id}`: a thread or reply (with `threads_delete`); at most 100
    deletes in 24 hours."""
    media = _live(state, call.target_id or "", "DELETE")
    state.require_permission(media.user_id, "threads_delete", 10, _NO_PERMISSION)
    if media.is_child:
        raise invalid_param("A carousel item cannot be deleted on its own; delete the carousel")
    now = state.now()
    window = windows(state, media.user_id).deletes
    total = state.settings.threads_delete_quota_total
    if window.count(now) >= total:
        raise _limit_reached("deletes", total)
    window.add(now)
    media.deleted_at = now
    for child_id in media.children:
        state.threads.media[child_id].deleted_at = now
    return {"success": True, "deleted_id": media.id}
