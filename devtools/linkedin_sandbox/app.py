"""The fake LinkedIn as one ASGI app, served by the Graph sandbox under path prefixes.

| prefix | stands for |
| --- | --- |
| `/linkedin` | api.linkedin.com (`/rest/...`, versioned; `/v2/...`) and the image upload host |

Every request whose path starts with ``paths.MOUNT_PREFIX`` goes to this app (the Graph sandbox's
server and its in-process app both check it), so another LinkedIn host is one more entry
in ``SITES`` (e.g. ``"/linkedin-www"`` for www.linkedin.com's OAuth pages) and another
module's routes one more factory in a site's tuple.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from devtools.graph_sandbox.state import SandboxState

from . import routes_oauth, routes_publishing, routes_social

API_PREFIX = "/linkedin"

RouteFactory = Callable[[SandboxState], list[BaseRoute]]

SITES: dict[str, tuple[RouteFactory, ...]] = {
    API_PREFIX: (routes_publishing.routes, routes_oauth.api_routes, routes_social.routes),
    routes_oauth.WWW_PREFIX: (routes_oauth.www_routes,),
}
"""Path prefix (one per LinkedIn host) -> the route factories served under it."""

OPERATIONS: tuple[str, ...] = (
    *routes_publishing.OPERATIONS,
    *routes_oauth.OPERATIONS,
    *routes_social.OPERATIONS,
)
"""Operation names of LinkedIn calls (for fault rules and the call log)."""


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    body = {"status": status, "message": "Not Found" if status == 404 else str(exc)}
    return Response(json.dumps(body).encode(), status, media_type="application/json")


def create_linkedin_app(state: SandboxState) -> Starlette:
    """Every LinkedIn site's routes, bound to ``state`` (its LinkedIn data: ``state.linkedin``)."""
    mounts: list[BaseRoute] = [
        Mount(prefix, routes=[route for factory in factories for route in factory(state)])
        for prefix, factories in SITES.items()
    ]
    return Starlette(routes=mounts, exception_handlers={404: _http_error, 405: _http_error})
