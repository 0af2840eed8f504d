"""Map a Graph path (after the version) to an operation, its account and its handler.

Resolution is pure: it only reads the state (plus remembering which ids were used as which
kind of account, so later ``GET /{id}`` calls work for unregistered accounts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import auth, comments, facebook, instagram
from .call import Call
from .errors import JSONDict, nonexisting_field, unknown_path, unsupported_request
from .models import Platform
from .state import SandboxState

Handler = Callable[[SandboxState, Call], JSONDict]


@dataclass(frozen=True, slots=True)
class Route:
    """What a call is: operation name (for faults and the call log), account and handler."""

    operation: str
    handler: Handler
    account_id: str | None = None
    platform: Platform | None = None
    target_id: str | None = None
    needs_token: bool = True


# (method, edge) -> (operation, handler) for edges of a Page / an IG user.
_PAGE_EDGES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("POST", "feed"): ("fb.feed", facebook.create_feed_post),
    ("GET", "feed"): ("fb.published_posts", facebook.list_posts),
    ("GET", "published_posts"): ("fb.published_posts", facebook.list_posts),
    ("GET", "scheduled_posts"): ("fb.scheduled_posts", facebook.list_scheduled_posts),
    ("POST", "photos"): ("fb.photos", facebook.create_photo),
    ("POST", "videos"): ("fb.videos", facebook.create_video),
    ("POST", "video_reels"): ("fb.video_reels", facebook.start_reel_or_finish),
}
_IG_EDGES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("POST", "media"): ("ig.media", instagram.create_container),
    ("GET", "media"): ("ig.media_list", instagram.list_media),
    ("POST", "media_publish"): ("ig.media_publish", instagram.publish),
    ("GET", "content_publishing_limit"): (
        "ig.content_publishing_limit",
        instagram.publishing_limit,
    ),
}
_NODE_TYPE: dict[str, str] = {"facebook": "Page", "instagram": "IGUser", "threads": "ThreadsUser"}

OPERATIONS: tuple[str, ...] = (
    *sorted({op for op, _ in _PAGE_EDGES.values()} | {op for op, _ in _IG_EDGES.values()}),
    "fb.comments",
    "fb.comments_list",
    "ig.comments",
    "ig.comments_list",
    "fb.post.get",
    "fb.post.edit",
    "fb.post.delete",
    "fb.photo.get",
    "fb.photo.delete",
    "fb.video.get",
    "fb.video.edit",
    "fb.video.delete",
    "fb.reel_upload",
    "fb.page.get",
    "fb.insights",
    "ig.container_status",
    "ig.media.get",
    "ig.media.delete",
    "ig.user.get",
    "ig.insights",
    "me.get",
    "me.accounts",
    "debug_token",
    "oauth.access_token",
    "oauth.dialog",
)


_FIXED_ROUTES: dict[tuple[str, tuple[str, ...]], Route] = {
    ("GET", ("debug_token",)): Route("debug_token", auth.debug_token),
    ("GET", ("me",)): Route("me.get", auth.get_me),
    ("GET", ("me", "accounts")): Route("me.accounts", auth.me_accounts),
    ("GET", ("oauth", "access_token")): Route(
        "oauth.access_token", auth.exchange_token, needs_token=False
    ),
}


def resolve(state: SandboxState, method: str, segments: tuple[str, ...]) -> Route:
    """Find the route for ``method`` + path segments, or raise the GraphError Meta would."""
    fixed = _FIXED_ROUTES.get((method, segments))
    if fixed is not None:
        return fixed
    if len(segments) == 1:
        return _object_route(state, method, segments[0])
    if len(segments) == 2:
        return _edge_of(state, method, segments[0], segments[1])
    if method == "POST" and len(segments) == 3 and segments[0] == "video-upload":
        return _reel_upload(state, segments[2])  # the upload host's path (rupload)
    raise unknown_path("/" + "/".join(segments))


def _edge_of(state: SandboxState, method: str, head: str, edge: str) -> Route:
    if method == "GET" and edge == "insights":
        return _insights_route(state, head)
    if edge == "comments" and method in ("GET", "POST"):
        return _comments_route(state, method, head)
    if (method, edge) in _PAGE_EDGES:
        return _edge_route(state, head, edge, "facebook", _PAGE_EDGES[method, edge])
    if (method, edge) in _IG_EDGES:
        return _edge_route(state, head, edge, "instagram", _IG_EDGES[method, edge])
    node = _node_type(state, head)
    if node is not None:
        raise nonexisting_field(edge, node)
    raise unknown_path(f"/{head}/{edge}")


def _reel_upload(state: SandboxState, video_id: str) -> Route:
    video = state.videos.get(video_id)
    if video is None or not video.is_reel or video.deleted_at is not None:
        raise unsupported_request("POST", f"video-upload/{video_id}")
    return Route("fb.reel_upload", facebook.upload_reel, video.page_id, "facebook", video_id)


def _node_type(state: SandboxState, object_id: str) -> str | None:
    if object_id in state.posts:
        return "Post"
    if object_id in state.photos:
        return "Photo"
    if object_id in state.videos:
        return "Video"
    if object_id in state.containers:
        return "ShadowIGMediaBuilder"
    if object_id in state.media:
        return "IGMedia"
    platform = state.platform_of(object_id)
    return _NODE_TYPE[platform] if platform is not None else None


def _edge_route(
    state: SandboxState,
    account_id: str,
    edge: str,
    platform: Platform,
    entry: tuple[str, Handler],
) -> Route:
    node = _node_type(state, account_id)
    if node is not None and node != _NODE_TYPE[platform]:
        raise nonexisting_field(edge, node)
    if node is None:
        state.seen_accounts[account_id] = platform
    operation, handler = entry
    return Route(operation, handler, account_id, platform, account_id)


def _insights_route(state: SandboxState, object_id: str) -> Route:
    post = state.posts.get(object_id)
    if post is not None:
        return Route("fb.insights", facebook.post_insights, post.page_id, "facebook", object_id)
    media = state.media.get(object_id)
    if media is not None:
        return Route(
            "ig.insights", instagram.media_insights, media.ig_user_id, "instagram", object_id
        )
    raise unsupported_request("GET", object_id)


def _comments_route(state: SandboxState, method: str, object_id: str) -> Route:
    owner = comments.owner_of(state, object_id)
    if owner is None:
        raise unsupported_request(method, object_id)
    account_id, platform = owner
    prefix = "fb" if platform == "facebook" else "ig"
    if method == "POST":
        return Route(f"{prefix}.comments", comments.create_comment, account_id, platform, object_id)
    return Route(f"{prefix}.comments_list", comments.list_comments, account_id, platform, object_id)


_POST_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("fb.post.get", facebook.get_post),
    "POST": ("fb.post.edit", facebook.edit_post),
    "DELETE": ("fb.post.delete", facebook.delete_post),
}
_PHOTO_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("fb.photo.get", facebook.get_photo),
    "DELETE": ("fb.photo.delete", facebook.delete_photo),
}
_VIDEO_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("fb.video.get", facebook.get_video),
    "POST": ("fb.video.edit", facebook.edit_video),
    "DELETE": ("fb.video.delete", facebook.delete_video),
}
_CONTAINER_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("ig.container_status", instagram.get_container),
}
_MEDIA_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("ig.media.get", instagram.get_media),
    "DELETE": ("ig.media.delete", instagram.delete_media),
}
_ACCOUNT_OPS: dict[Platform, dict[str, tuple[str, Handler]]] = {
    "facebook": {"GET": ("fb.page.get", facebook.get_page)},
    "instagram": {"GET": ("ig.user.get", instagram.get_ig_user)},
}


def _object_route(state: SandboxState, method: str, object_id: str) -> Route:
    post = state.posts.get(object_id)
    if post is not None:
        return _pick(method, object_id, _POST_OPS, post.page_id, "facebook")
    photo = state.photos.get(object_id)
    if photo is not None:
        return _pick(method, object_id, _PHOTO_OPS, photo.page_id, "facebook")
    video = state.videos.get(object_id)
    if video is not None:
        return _pick(method, object_id, _VIDEO_OPS, video.page_id, "facebook")
    container = state.containers.get(object_id)
    if container is not None:
        return _pick(method, object_id, _CONTAINER_OPS, container.ig_user_id, "instagram")
    media = state.media.get(object_id)
    if media is not None:
        return _pick(method, object_id, _MEDIA_OPS, media.ig_user_id, "instagram")
    platform = state.platform_of(object_id)
    if platform is not None and platform in _ACCOUNT_OPS:  # Threads profiles live elsewhere
        return _pick(method, object_id, _ACCOUNT_OPS[platform], object_id, platform)
    raise unsupported_request(method, object_id)


def _pick(
    method: str,
    object_id: str,
    handlers: dict[str, tuple[str, Handler]],
    account_id: str,
    platform: Platform,
) -> Route:
    entry = handlers.get(method)
    if entry is None:
        raise unsupported_request(method, object_id)
    operation, handler = entry
    return Route(operation, handler, account_id, platform, object_id)
