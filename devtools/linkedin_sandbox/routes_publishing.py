"""Routes of api.linkedin.com for publishing: posts, images (and their upload), comments."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from devtools.graph_sandbox.state import SandboxState

from . import comments, images, posts
from .endpoint import Endpoint, Operation, OwnerOf, endpoint

OPERATIONS = (
    "li.posts.create",
    "li.posts.find",
    "li.posts.get",
    "li.posts.update",
    "li.posts.delete",
    "li.images.initialize",
    "li.images.upload",
    "li.images.get",
    "li.comments.create",
    "li.comments.list",
)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The publishing routes, bound to one state (paths relative to the API prefix)."""

    def at(operation: str, handler: Operation, owner: OwnerOf, **kw: bool) -> Endpoint:
        return endpoint(state, operation, handler, owner, **kw)

    return [
        Route(
            "/rest/posts",
            at("li.posts.create", posts.create_post, posts.author_of_body),
            methods=["POST"],
        ),
        Route(
            "/rest/posts",
            at("li.posts.find", posts.find_by_author, posts.author_of_query),
            methods=["GET"],
        ),
        Route(
            "/rest/posts/{urn}",
            at("li.posts.get", posts.get_post, posts.author_of_post),
            methods=["GET"],
        ),
        Route(
            "/rest/posts/{urn}",
            at("li.posts.update", posts.update_post, posts.author_of_post),
            methods=["POST"],
        ),
        Route(
            "/rest/posts/{urn}",
            at("li.posts.delete", posts.delete_post, posts.author_of_post),
            methods=["DELETE"],
        ),
        Route(
            "/rest/images",
            at("li.images.initialize", images.initialize_upload, images.owner_of_initialize),
            methods=["POST"],
        ),
        Route(
            "/rest/images/{urn}",
            at("li.images.get", images.get_image, images.owner_of_image),
            methods=["GET"],
        ),
        Route(
            images.UPLOAD_PATH + "{upload_id}",
            at("li.images.upload", images.upload, images.owner_of_upload, versioned=False),
            methods=["PUT", "POST"],
        ),
        Route(
            "/rest/socialActions/{urn}/comments",
            at("li.comments.create", comments.create_comment, comments.actor_of),
            methods=["POST"],
        ),
        Route(
            "/rest/socialActions/{urn}/comments",
            at("li.comments.list", comments.list_comments, comments.author_of_commented),
            methods=["GET"],
        ),
    ]
