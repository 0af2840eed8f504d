"""Wiring of the console: settings → API client, sessions, pages, assets."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from jobcast.auth import failure_limiter
from jobcast.http_client import HttpClient, http_client
from jobcast.http_edge import install_edge
from jobcast.service import Service, add_ops_routes
from services.console.apis import ApiError, Apis, Endpoints
from services.console.routes import pages_router
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import (
    COOKIE,
    HERE,
    PageError,
    SecurityHeaders,
    SignInRequiredError,
    render,
    store,
)

HEADINGS = {403: "Refused", 404: "Not found", 413: "Too large", 429: "Slow down"}


def console_app(settings: ConsoleSettings, http: HttpClient) -> FastAPI:
    """The console's pages over the APIs at the settings' URLs (reached with `http`)."""
    app = FastAPI(title="jobcast console", version="1", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.sessions = SessionStore(
        lifetime=settings.session_hours * 3600, idle=settings.session_idle_minutes * 60
    )
    apis = Apis(
        Endpoints(
            ingest=settings.ingest_url.rstrip("/"),
            read_api=settings.read_api_url.rstrip("/"),
            distributor=settings.distributor_url.rstrip("/"),
        ),
        http,
    )
    install_edge(app, max_body_bytes=settings.max_upload_bytes + 65_536)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages_router(apis, failure_limiter(settings), settings.max_upload_bytes))

    @app.exception_handler(SignInRequiredError)
    async def to_sign_in(request: Request, exc: SignInRequiredError) -> Response:
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        session = store(request).get(request.cookies.get(COOKIE))
        return render(
            request,
            "error.html",
            session,
            exc.status,
            message=exc.message,
            heading=HEADINGS.get(exc.status, "Something went wrong"),
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:  # the key was revoked while signed in
            store(request).end(request.cookies.get(COOKIE))
            return RedirectResponse("/sign-in", status_code=303)
        session = store(request).get(request.cookies.get(COOKIE))
        status = exc.status if exc.status in (403, 404, 422, 429) else 502
        message = f"The jobcast API refused or failed this request: {exc.detail}"
        heading = HEADINGS.get(status, "Something went wrong")
        return render(request, "error.html", session, status, message=message, heading=heading)

    return app


async def build(settings: ConsoleSettings) -> Service:
    """The console as a service: one HTTP client for the APIs, closed on shutdown."""
    http = http_client(timeout_seconds=settings.api_timeout_seconds)
    app = console_app(settings, http)

    async def apis_answer() -> bool:
        # Ready when the read API answers: without it no page can be shown.
        url = f"{settings.read_api_url.rstrip('/')}/healthz"
        return (await http.exchange("GET", url, timeout_seconds=2.0)).status == 200

    add_ops_routes(app, {"read_api": apis_answer})
    return Service("console", app, cleanups=[http.close])
