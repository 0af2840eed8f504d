"""The Posts API (``/rest/posts``): create, find by author, get, partial update, delete."""

from __future__ import annotations

from typing import Any

from devtools.graph_sandbox.state import SandboxState

from .endpoint import Answer, Call, paged, store_of
from .errors import JSONDict, bad_request, invalid, not_found
from .images import image_status
from .models import Post, organization_id_of
from .store import LinkedInStore

MAX_COMMENTARY = 3_000
VISIBILITIES = frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN"})
LIFECYCLE_STATES = frozenset({"PUBLISHED", "DRAFT"})
FEED_DISTRIBUTIONS = frozenset({"MAIN_FEED", "NONE"})
_UPDATABLE = frozenset({"commentary", "contentCallToActionLabel", "contentLandingPage"})


# ----------------------------------------------------------------------------- owners


def author_of_body(store: LinkedInStore, call: Call) -> str | None:
    """`POST /rest/posts`: the organization named as the author."""
    author = call.json().get("author")
    return organization_id_of(author) if isinstance(author, str) else None


def author_of_query(store: LinkedInStore, call: Call) -> str | None:
    """`GET /rest/posts?q=author&author=...`: the organization whose posts are asked for."""
    author = call.query.get("author")
    return organization_id_of(author) if author else None


def author_of_post(store: LinkedInStore, call: Call) -> str | None:
    """`/rest/posts/{urn}`: the post's author (404 for an unknown or deleted post)."""
    post = store.live_post(call.path_params["urn"])
    if post is None:
        raise not_found(f"Post {call.path_params['urn']}")
    return organization_id_of(post.author)


# ----------------------------------------------------------------------------- operations


def create_post(state: SandboxState, call: Call) -> Answer:
    """Validate and store a post; 201 with its URN in ``x-restli-id`` and no body."""
    store = store_of(state)
    body = call.json()
    author = body.get("author")
    if not isinstance(author, str) or organization_id_of(author) is None:
        raise invalid("/author: must be an organization URN (urn:li:organization:{id})")
    commentary = body.get("commentary", "")
    if not isinstance(commentary, str):
        raise invalid("/commentary: must be a string")
    if len(commentary) > MAX_COMMENTARY:
        raise invalid(f"/commentary: length {len(commentary)} exceeds {MAX_COMMENTARY}")
    visibility = body.get("visibility")
    if visibility not in VISIBILITIES:
        raise invalid(f"/visibility: must be one of {sorted(VISIBILITIES)}")
    lifecycle = body.get("lifecycleState")
    if lifecycle not in LIFECYCLE_STATES:
        raise invalid(f"/lifecycleState: must be one of {sorted(LIFECYCLE_STATES)}")
    distribution = body.get("distribution")
    if not isinstance(distribution, dict) or (
        distribution.get("feedDistribution") not in FEED_DISTRIBUTIONS
    ):
        raise invalid("/distribution/feedDistribution: must be MAIN_FEED or NONE")
    now = state.now()
    content = _checked_content(store, author, body.get("content"), now)
    post = store.add_post(
        Post(
            urn=store.new_post_urn(),
            author=author,
            commentary=commentary,
            visibility=str(visibility),
            lifecycle_state=str(lifecycle),
            content=content,
            created_at=now,
            last_modified_at=now,
            distribution=dict(distribution),
        )
    )
    return Answer(201, None, {"x-restli-id": post.urn, "x-linkedin-id": post.urn})


def _checked_content(
    store: LinkedInStore, author: str, content: Any, now: float
) -> JSONDict | None:
    if content is None:
        return None
    if not isinstance(content, dict) or len(content) != 1:
        raise invalid("/content: must hold exactly one of article, media")
    if "article" in content:
        article = content["article"]
        if not isinstance(article, dict) or not isinstance(article.get("source"), str):
            raise invalid("/content/article/source: required")
        if not article["source"].startswith(("http://", "https://")):
            raise invalid("/content/article/source: must be an http(s) URL")
        if not isinstance(article.get("title"), str) or not article["title"].strip():
            raise invalid("/content/article/title: required (LinkedIn does not read the page)")
        thumbnail = article.get("thumbnail")
        if thumbnail is not None:
            _require_image(store, author, thumbnail, "/content/article/thumbnail", now)
        return {"article": dict(article)}
    if "media" in content:
        media = content["media"]
        if not isinstance(media, dict) or not isinstance(media.get("id"), str):
            raise invalid("/content/media/id: required")
        _require_image(store, author, media["id"], "/content/media/id", now)
        return {"media": dict(media)}
    raise invalid(f"/content: unsupported content {sorted(content)}")


def _require_image(store: LinkedInStore, author: str, urn: Any, field: str, now: float) -> None:
    image = store.images.get(urn) if isinstance(urn, str) else None
    if image is None or image.owner != author:
        raise invalid(f"{field}: unknown image {urn!r} for {author}")
    status = image_status(store, image, now)
    if status != "AVAILABLE":
        raise invalid(f"{field}: image {urn} is {status}, not AVAILABLE")


def find_by_author(state: SandboxState, call: Call) -> Answer:
    """`GET /rest/posts?q=author&author=...&count=&start=&sortBy=`: newest first."""
    store = store_of(state)
    if call.query.get("q") != "author":
        raise bad_request("Unsupported finder; expected q=author")
    author = call.query.get("author", "")
    if organization_id_of(author) is None:
        raise invalid("author: must be an organization URN")
    key = "created_at" if call.query.get("sortBy") == "CREATED" else "last_modified_at"
    posts = [p for p in store.posts_by_author.get(author, []) if p.deleted_at is None]
    posts.sort(key=lambda p: getattr(p, key), reverse=True)
    return paged(call, [post_view(p) for p in posts])


def get_post(state: SandboxState, call: Call) -> Answer:
    """`GET /rest/posts/{urn}`."""
    post = store_of(state).live_post(call.path_params["urn"])
    assert post is not None  # the owner lookup answered 404 already
    return Answer(200, post_view(post))


def update_post(state: SandboxState, call: Call) -> Answer:
    """`POST /rest/posts/{urn}` with `X-RestLi-Method: PARTIAL_UPDATE`: 204."""
    if call.headers.get("x-restli-method", "").upper() != "PARTIAL_UPDATE":
        raise bad_request("POST on an entity needs X-RestLi-Method: PARTIAL_UPDATE")
    post = store_of(state).live_post(call.path_params["urn"])
    assert post is not None
    patch = call.json().get("patch")
    changes = patch.get("$set") if isinstance(patch, dict) else None
    if not isinstance(changes, dict) or not changes:
        raise invalid('/patch: expected {"patch": {"$set": {...}}}')
    unknown = sorted(set(changes) - _UPDATABLE)
    if unknown:
        raise invalid(f"/patch/$set: fields {unknown} cannot be updated")
    commentary = changes.get("commentary")
    if commentary is not None:
        if not isinstance(commentary, str) or len(commentary) > MAX_COMMENTARY:
            raise invalid(f"/patch/$set/commentary: a string of at most {MAX_COMMENTARY}")
        post.commentary = commentary
    post.last_modified_at = state.now()
    return Answer(204)


def delete_post(state: SandboxState, call: Call) -> Answer:
    """`DELETE /rest/posts/{urn}`: 204."""
    post = store_of(state).live_post(call.path_params["urn"])
    assert post is not None
    post.deleted_at = state.now()
    return Answer(204)


def post_view(post: Post) -> JSONDict:
    """A post as the Posts API returns it (times in epoch milliseconds)."""
    return {
        "id": post.urn,
        "author": post.author,
        "commentary": post.commentary,
        "visibility": post.visibility,
        "lifecycleState": post.lifecycle_state,
        "distribution": post.distribution,
        "content": post.content,
        "createdAt": int(post.created_at * 1000),
        "lastModifiedAt": int(post.last_modified_at * 1000),
        "publishedAt": int(post.created_at * 1000),
        "isReshareDisabledByAuthor": False,
    }
