"""FastAPI application: the control API under ``/_sandbox/`` plus the Graph API fast path."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.linkedin_sandbox.paths import is_linkedin_path
from jobcast.http_edge import install_edge

from .routes_control import build_control_router
from .routes_graph import graph_asgi
from .state import SandboxState

CONTROL_PREFIX = "/_sandbox"
CONTROL_MAX_BODY_BYTES = 1_048_576  # accounts, users, settings: small JSON bodies


class SandboxApp(FastAPI):
    """FastAPI app whose Graph paths skip routing and middleware.

    FastAPI's router costs ~150 µs per request when matching a catch-all route; the benchmark
    needs every microsecond, so Graph calls go straight to a plain ASGI handler.
    """

    sandbox: SandboxState
    linkedin: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch Graph calls directly, LinkedIn calls to the LinkedIn app; everything
        else (control API, docs) to FastAPI."""
        if scope["type"] == "http" and is_linkedin_path(scope["path"]):
            await self.linkedin(scope, receive, send)
            return
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            await graph_asgi(self.sandbox, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(state: SandboxState | None = None) -> FastAPI:
    """Build the sandbox app around ``state`` (a fresh one when omitted).

    The state is reachable as ``app.state.sandbox`` so in-process tests can inspect it.
    """
    # Imported here: the LinkedIn fake's modules import this package's.
    from devtools.linkedin_sandbox.app import create_linkedin_app
    from devtools.linkedin_sandbox.control import build_linkedin_control_router

    sandbox = state if state is not None else SandboxState()
    app = SandboxApp(
        title="Jobcast Graph API sandbox",
        docs_url=f"{CONTROL_PREFIX}/docs",
        openapi_url=f"{CONTROL_PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.sandbox = sandbox
    app.state.sandbox = sandbox
    app.linkedin = create_linkedin_app(sandbox)
    app.include_router(build_control_router(sandbox))
    app.include_router(build_linkedin_control_router(sandbox))
    # The control API answers like the services do (the Graph fast path speaks Meta's errors).
    install_edge(app, max_body_bytes=CONTROL_MAX_BODY_BYTES)
    return app
