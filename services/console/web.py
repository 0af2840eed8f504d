"""What every page shares: the session from its cookie, CSRF checks, rendering, security
headers. Routes (`routes.py`) only fetch, shape (`views.py`) and render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console import views
from services.console.sessions import Session, SessionStore

COOKIE = "jobcast_console"
SIGNIN_COOKIE = "jobcast_console_signin"  # the sign-in form's CSRF token (double submit)
HERE = Path(__file__).parent

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value is escaped: job text and API messages are untrusted
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["status_words"] = views.status_words
_ENVIRONMENT.filters["platform_name"] = views.platform_name
_ENVIRONMENT.filters["when"] = views.when
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)

SECURITY_HEADERS = [
    # Everything is served from here: no CDN, no inline script.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        b"script-src 'self'; frame-ancestors 'none'; form-action 'self' https: http:; "
        b"base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer (pages, assets, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, with_headers)


class SignInRequiredError(Exception):
    """No live session: the browser goes to the sign-in page."""


class PageError(Exception):
    """A page answered with an error status and a sentence for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def store(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def signed_in(request: Request) -> Session:
    """The request's session, or SignInRequiredError."""
    session = store(request).get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequiredError
    return session


async def checked(request: Request) -> Session:
    """A form submission's session, its CSRF token checked (403 when missing or wrong)."""
    session = signed_in(request)
    form = await request.form()
    token = form.get("csrf_token")
    if not session.csrf_ok(token if isinstance(token, str) else None):
        raise PageError(403, "This form has expired or did not come from this console.")
    return session


LIVE_REFRESH_HEADER = "X-Live-Refresh"
"""Sent by the pages' live-update script (static/console.js) with its background reads."""


def set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        **extra,
    )


def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    # A live refresh re-reads the page in the background: the message is for the page the
    # person sees next, not for that read.
    refresh = request.headers.get(LIVE_REFRESH_HEADER) is not None
    flash = session.flash.pop() if session is not None and session.flash and not refresh else None
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "csrf_token": session.csrf_token if session else "",
            "flash": flash,
            **context,
        },
        status_code=status_code,
    )


def back_to(url: str) -> RedirectResponse:
    """After a form: see the page again (303, so a reload does not resubmit)."""
    return RedirectResponse(url, status_code=303)


def connected_page(request: Request, session: Session | None, answer: dict[str, Any]) -> Response:
    """A login's way back, done: the connected accounts named on a page of their own, or,
    for a signed-in person, in a message on the connections page."""
    names = views.connected_names(answer)
    if session is None:
        return render(request, "connected.html", None, names=names)
    session.flash.append(("ok", f"Connected: {names}."))
    return back_to("/connections")
