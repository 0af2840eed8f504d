"""`GET /linkedin/rest/socialActions/{post-urn}`: a post's likes and comments in summary, what
the engagement collector reads (likes are set through the control API; comments are the
post's own)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from devtools.graph_sandbox.state import SandboxState

from .endpoint import Answer, Call, endpoint
from .posts import author_of_post

OPERATIONS = ("li.social_actions.get",)


def routes(state: SandboxState) -> list[BaseRoute]:
    return [
        Route(
            "/rest/socialActions/{urn}",
            endpoint(state, "li.social_actions.get", social_actions, author_of_post),
            methods=["GET"],
        )
    ]


def social_actions(state: SandboxState, call: Call) -> Answer:
    store = state.linkedin
    urn = call.path_params["urn"]
    comments = len(store.comments.get(urn, []))
    return Answer(
        200,
        {
            "target": urn,
            "likesSummary": {
                "totalLikes": store.likes.get(urn, 0),
                "likedByCurrentUser": False,
                "selectedLikes": [],
            },
            "commentsSummary": {
                "totalFirstLevelComments": comments,
                "aggregatedTotalComments": comments,
                "selectedComments": [],
            },
        },
    )
