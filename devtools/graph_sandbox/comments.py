"""Comments on a Page post (or photo, video) and on IG media: ``POST /{object-id}/comments``
with ``message``, and ``GET /{object-id}/comments``, newest first with Meta's cursors.

Fault rules select them by operation (``fb.comments``, ``fb.comments_list``,
``ig.comments``, ``ig.comments_list``), so "answer 500 after the comment was made" works
as it does for posts.
"""

from __future__ import annotations

from .call import Call
from .common import NodeFields, fmt_time, paginate, render_fields
from .errors import JSONDict, invalid_param, missing_param, unsupported_request
from .models import Comment, Platform
from .state import SandboxState

# Meta's limits on a comment's text.
MAX_LENGTH: dict[Platform, int] = {"facebook": 8_000, "instagram": 2_200}
_PERMISSION: dict[Platform, tuple[str, int]] = {
    "facebook": ("pages_manage_engagement", 200),
    "instagram": ("instagram_manage_comments", 10),
}


_FB_FIELDS: NodeFields[Comment] = NodeFields(
    "Comment",
    {
        "id": lambda _s, c, _f: c.id,
        "message": lambda _s, c, _f: c.message,
        "created_time": lambda _s, c, _f: fmt_time(c.created_at),
        "from": lambda s, c, _f: {"id": c.account_id, "name": s.account_name(c.account_id)},
    },
)
_IG_FIELDS: NodeFields[Comment] = NodeFields(
    "IGComment",
    {
        "id": lambda _s, c, _f: c.id,
        "text": lambda _s, c, _f: c.message,
        "timestamp": lambda _s, c, _f: fmt_time(c.created_at),
        "from": lambda _s, c, _f: {"id": c.account_id},
    },
)


def owner_of(state: SandboxState, object_id: str) -> tuple[str, Platform] | None:
    """The account and platform of a live object that takes comments."""
    fb = state.posts.get(object_id) or state.photos.get(object_id) or state.videos.get(object_id)
    if fb is not None and fb.deleted_at is None:
        return fb.page_id, "facebook"
    media = state.media.get(object_id)
    if media is not None and media.deleted_at is None:
        return media.ig_user_id, "instagram"
    return None


def _target(state: SandboxState, call: Call) -> tuple[str, str, Platform]:
    object_id = call.target_id or ""
    owner = owner_of(state, object_id)
    if owner is None:
        raise unsupported_request(call.method, object_id)
    return object_id, owner[0], owner[1]


def create_comment(state: SandboxState, call: Call) -> JSONDict:
    """``POST /{object-id}/comments``: one comment as the object's account."""
    object_id, account_id, platform = _target(state, call)
    permission, code = _PERMISSION[platform]
    state.require_permission(account_id, permission, code, f"(#{code}) Requires {permission}")
    message = call.params.get_str("message")
    if not message:
        raise missing_param("message")
    if len(message) > MAX_LENGTH[platform]:
        raise invalid_param(f"The comment is longer than {MAX_LENGTH[platform]} characters")
    comment_id = f"{object_id}_{state.new_fb_id()}" if platform == "facebook" else state.new_ig_id()
    state.comments.setdefault(object_id, []).append(
        Comment(comment_id, object_id, account_id, platform, message, state.now())
    )
    return {"id": comment_id}


def list_comments(state: SandboxState, call: Call) -> JSONDict:
    """``GET /{object-id}/comments``: the object's comments, newest first, paginated."""
    object_id, _, platform = _target(state, call)
    node = _FB_FIELDS if platform == "facebook" else _IG_FIELDS
    fields = call.params.fields("created_time,message,id" if platform == "facebook" else
                                "timestamp,text,id")  # fmt: skip
    return paginate(
        call,
        state.comments.get(object_id, []),
        lambda _c: True,
        lambda c: render_fields(state, c, fields, node, c.id),
    )
