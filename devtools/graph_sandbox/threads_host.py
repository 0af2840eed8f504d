"""graph.threads.net, served under the `/threads-graph` path prefix: which call is which
operation, and which tokens it takes.

Calls answer in the Graph shape (`{"error": {...}}`), without `appsecret_proof`. Tokens:
an account registered with `platform: "threads"` and a `token` takes that token (or a user
token of the user who manages it); an account registered without one, or not registered,
takes any non-empty token; revoked and expired tokens get 190 as on the Facebook host.
Threads' OAuth (`threads_login`: token exchange and refresh, `/me`; its tokens act for
their own profile) and insights (`threads_insights`) are served here too.
"""

from __future__ import annotations

from . import threads, threads_insights, threads_login
from .auth import authorize as authorize_token
from .errors import GraphError, nonexisting_field, unsupported_request
from .routing import Handler, Route
from .state import SandboxState

SITE = "threads-graph"

_USER_EDGES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("POST", "threads"): ("threads.create", threads.create_container),
    ("GET", "threads"): ("threads.list", threads.list_threads),
    ("POST", "threads_publish"): ("threads.publish", threads.publish),
    ("GET", "threads_publishing_limit"): ("threads.publishing_limit", threads.publishing_limit),
}
_MEDIA_OPS: dict[str, tuple[str, Handler]] = {
    "GET": ("threads.media.get", threads.get_media),
    "DELETE": ("threads.media.delete", threads.delete_media),
}
_MEDIA_EDGES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "replies"): ("threads.replies", threads.list_replies),
    ("GET", "insights"): ("threads.insights", threads_insights.media_insights),
}
# (method, path segments) → route, for this host's calls outside publishing.
EXTRA_ROUTES: dict[tuple[str, tuple[str, ...]], Route] = threads_login.ROUTES
OPERATIONS: tuple[str, ...] = (
    tuple(
        sorted(
            {op for op, _ in _USER_EDGES.values()}
            | {op for op, _ in _MEDIA_OPS.values()}
            | {op for op, _ in _MEDIA_EDGES.values()}
            | {"threads.container_status"}
        )
    )
    + threads_login.OPERATIONS
)


def site_of(parts: list[str]) -> str | None:
    """`SITE` (graph.threads.net) or threads.net's (its dialog) when the path is for one of
    Threads' hosts (the prefix removed from `parts`)."""
    if parts and parts[0] in (SITE, threads_login.WWW):
        return parts.pop(0)
    return None


def resolve_on(
    state: SandboxState, method: str, segments: tuple[str, ...]
) -> tuple[Route | None, GraphError | None]:
    """The route of a call to the Threads host (its error is answered after the token
    check, as Meta does)."""
    extra = EXTRA_ROUTES.get((method, segments))
    if extra is not None:
        return extra, None
    try:
        if len(segments) == 1:
            return _object_route(state, method, segments[0]), None
        if len(segments) == 2:
            return _edge_route(state, method, segments[0], segments[1]), None
    except GraphError as err:
        return None, err
    return None, unsupported_request(method, "/".join(segments))


def _object_route(state: SandboxState, method: str, object_id: str) -> Route:
    container = state.threads.containers.get(object_id)
    if container is not None and method == "GET":
        return Route(
            "threads.container_status",
            threads.get_container,
            container.user_id,
            "threads",
            object_id,
        )
    media = state.threads.media.get(object_id)
    entry = _MEDIA_OPS.get(method)
    if media is None or entry is None:
        raise unsupported_request(method, object_id)
    operation, handler = entry
    return Route(operation, handler, media.user_id, "threads", object_id)


def _edge_route(state: SandboxState, method: str, head: str, edge: str) -> Route:
    media = state.threads.media.get(head)
    if media is not None:
        entry = _MEDIA_EDGES.get((method, edge))
        if entry is None:
            raise nonexisting_field(edge, "ThreadsMedia")
        return Route(entry[0], entry[1], media.user_id, "threads", head)
    if head in state.threads.containers:
        raise nonexisting_field(edge, "ThreadsMediaContainer")
    entry = _USER_EDGES.get((method, edge))
    if entry is None:
        raise nonexisting_field(edge, "ThreadsUser")
    platform = state.platform_of(head)
    if platform is None:
        state.seen_accounts[head] = "threads"
    elif platform != "threads":
        raise unsupported_request(method, head)  # not a Threads profile
    return Route(entry[0], entry[1], head, "threads", head)


def authorize(state: SandboxState, route: Route | None, token: str) -> None:
    """The Threads host takes Threads' OAuth tokens for their own profile, and the tokens
    the sandbox knows for the profile (see above)."""
    if route is not None and route.operation == "threads_login.exchange_token":
        return  # checked by the exchange (a short-lived token is what it takes)
    account_id = route.account_id if route is not None else None
    if not threads_login.authorizes(state, token, account_id):
        authorize_token(state, token, account_id)
