"""Comments on posts: ``/rest/socialActions/{post-urn}/comments`` (create, list)."""

from __future__ import annotations

from devtools.graph_sandbox.state import SandboxState

from .endpoint import Answer, Call, paged, store_of
from .errors import JSONDict, invalid, not_found
from .models import Comment, organization_id_of
from .store import LinkedInStore

MAX_COMMENT = 1_250


def actor_of(store: LinkedInStore, call: Call) -> str | None:
    """`POST`: the organization commenting (the post must exist)."""
    _post_or_404(store, call)
    actor = call.json().get("actor")
    return organization_id_of(actor) if isinstance(actor, str) else None


def author_of_commented(store: LinkedInStore, call: Call) -> str | None:
    """`GET`: the commented post's author."""
    return organization_id_of(_post_or_404(store, call))


def _post_or_404(store: LinkedInStore, call: Call) -> str:
    post = store.live_post(call.path_params["urn"])
    if post is None:
        raise not_found(f"Post {call.path_params['urn']}")
    return post.author


def create_comment(state: SandboxState, call: Call) -> Answer:
    """Comment as an organization; 201 with the comment (its URN in ``x-restli-id``)."""
    store = store_of(state)
    post_urn = call.path_params["urn"]
    body = call.json()
    actor = body.get("actor")
    if not isinstance(actor, str) or organization_id_of(actor) is None:
        raise invalid("/actor: must be an organization URN")
    if body.get("object", post_urn) != post_urn:
        raise invalid("/object: must be the commented post")
    message = body.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise invalid("/message/text: required")
    if len(text) > MAX_COMMENT:
        raise invalid(f"/message/text: length {len(text)} exceeds {MAX_COMMENT}")
    comment = Comment(
        urn=f"urn:li:comment:({post_urn},{store.next_id()})",
        post_urn=post_urn,
        actor=actor,
        text=text,
        created_at=state.now(),
    )
    store.comments.setdefault(post_urn, []).append(comment)
    return Answer(201, comment_view(comment), {"x-restli-id": comment.urn})


def list_comments(state: SandboxState, call: Call) -> Answer:
    """The post's comments, newest first, a page at a time."""
    found = reversed(store_of(state).comments.get(call.path_params["urn"], []))
    return paged(call, [comment_view(c) for c in found])


def comment_view(comment: Comment) -> JSONDict:
    """A comment as the Comments API returns it."""
    return {
        "id": comment.urn.rsplit(",", 1)[1].rstrip(")"),
        "$URN": comment.urn,
        "actor": comment.actor,
        "object": comment.post_urn,
        "message": {"text": comment.text},
        "created": {"actor": comment.actor, "time": int(comment.created_at * 1000)},
    }
