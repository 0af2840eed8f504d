"""The console's pages: each one reads or writes through an API (`apis.Apis`), shapes the
answer (`views`) and renders a template. Forms are POSTs with the session's CSRF token;
every POST answers with a redirect (303) back to a page.

(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from jobcast.rate_limits import RateLimiter
from schemas.operator import OperatorAction
from services.console import views
from services.console.apis import (
    CALLBACK_PATH,
    INSTAGRAM_CALLBACK_PATH,
    THREADS_CALLBACK_PATH,
    ApiError,
    Apis,
)
from services.console.params import Checked, Filters, Signed, Text
from services.console.routes_bulk import bulk_router
from services.console.routes_linkedin import linkedin_router
from services.console.sessions import Session
from services.console.web import (
    COOKIE,
    SIGNIN_COOKIE,
    PageError,
    back_to,
    connected_page,
    render,
    set_cookie,
    store,
)

PAGE_SIZE = 25
PostKey = Annotated[str, Path(pattern=r"^pk_[0-9a-f]{32}$")]
POST_ACTIONS = {a.value for a in (OperatorAction.RETRY, OperatorAction.CANCEL,
                                  OperatorAction.APPROVE, OperatorAction.REJECT)}  # fmt: skip
JOB_ACTIONS = {a.value for a in (OperatorAction.CANCEL, OperatorAction.APPROVE,
                                 OperatorAction.REJECT)}  # fmt: skip
SCOPE_ACTIONS = {OperatorAction.PAUSE.value, OperatorAction.RESUME.value}
DONE = {
    "retry": "Retry requested.",
    "cancel": "Cancel requested.",
    "approve": "Approved: it will be posted when due.",
    "reject": "Rejected: it will not be posted.",
    "pause": "Paused: due posts are held.",
    "resume": "Resumed: held posts go out in order.",
}


def pages_router(apis: Apis, failures: RateLimiter[str], max_upload_bytes: int) -> APIRouter:
    """Every page of the console."""
    router = APIRouter()
    for part in (
        account_router(apis, failures),
        posts_router(apis),
        operations_router(apis),
        connections_router(apis),
        linkedin_router(apis),
        tools_router(apis),
        bulk_router(apis, max_upload_bytes),
    ):
        router.include_router(part)
    return router


def account_router(apis: Apis, failures: RateLimiter[str]) -> APIRouter:
    """Sign-in and sign-out."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        has_session = store(request).get(request.cookies.get(COOKIE)) is not None
        return RedirectResponse("/posts" if has_session else "/sign-in", status_code=303)

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        response = render(request, "sign_in.html", None, signin_token=token, error="")
        set_cookie(request, response, SIGNIN_COOKIE, token, max_age=3600)
        return response

    @router.post("/sign-in")
    async def sign_in(
        request: Request,
        api_key: Annotated[str, Form(max_length=200)] = "",
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        expected = request.cookies.get(SIGNIN_COOKIE) or ""
        if not expected or not secrets.compare_digest(csrf_token, expected):
            raise PageError(403, "This form has expired or did not come from this console.")
        address = request.client.host if request.client else ""
        if failures.wait(address) > 0:
            return _sign_in_again(request, 429, "Too many failed sign-ins: wait a minute.")
        api_key = api_key.strip()
        role = await apis.role_of(api_key) if api_key else None
        if role is None:
            failures.take(address)
            return _sign_in_again(request, 401, "That key is not valid (or was revoked).")
        store(request).end(request.cookies.get(COOKIE))
        session_id, _ = store(request).create(api_key, role)
        response = back_to("/posts")
        set_cookie(request, response, COOKIE, session_id)
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request, session: Checked) -> Response:
        store(request).end(request.cookies.get(COOKIE))
        response = back_to("/sign-in")
        response.delete_cookie(COOKIE, path="/")
        return response

    return router


def posts_router(apis: Apis) -> APIRouter:
    """The jobs and posts list, one job's posts, and the approvals queue."""
    router = APIRouter()

    @router.get("/posts")
    async def posts(
        request: Request,
        *,
        session: Signed,
        filters: Filters,
        cursor: Text = "",
        job: Text = "",
    ) -> Response:
        if job.strip():
            return back_to(f"/jobs/{_path(job.strip())}")
        page = await apis.posts(
            session.api_key, **filters.query(), cursor=cursor or None, limit=PAGE_SIZE
        )
        return render(
            request,
            "posts.html",
            session,
            filters=filters,
            rows=[views.post_row(p) for p in page["posts"]],
            next_link=filters.link(page["next_cursor"]) if page.get("next_cursor") else "",
            first_link=filters.link() if cursor else "",
            status_options=views.STATUS_OPTIONS,
            platform_options=views.PLATFORM_OPTIONS,
            live=True,
        )

    @router.get("/jobs/{job_id}")
    async def job(request: Request, session: Signed, job_id: str) -> Response:
        _path(job_id)
        answer = await apis.job_posts(session.api_key, job_id)
        if not answer.get("posts"):
            # Unknown here, or another tenant's: the read API shows neither.
            raise PageError(404, "No such job (or it has no posts yet).")
        return render(
            request, "job.html", session, job_id=job_id, posts=views.job_view(answer), live=True
        )

    @router.get("/approvals")
    async def approvals(request: Request, session: Signed, cursor: Text = "") -> Response:
        page = await apis.posts(
            session.api_key, status="awaiting_approval", cursor=cursor or None, limit=PAGE_SIZE
        )
        return render(
            request,
            "approvals.html",
            session,
            rows=[views.post_row(p) for p in page["posts"]],
            next_cursor=page.get("next_cursor") or "",
            live=True,
        )

    return router


def operations_router(apis: Apis) -> APIRouter:
    """Operator commands: on a post, on a job, and pause/resume."""
    router = APIRouter()

    @router.post("/posts/{post_key}/{action}")
    async def post_action(
        request: Request,
        *,
        session: Checked,
        post_key: PostKey,
        action: str,
        back: Annotated[str, Form(max_length=300)] = "/posts",
        reason: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        if action not in POST_ACTIONS:
            raise PageError(404, "No such action.")
        await _command(apis, session, f"posts/{post_key}", action, reason=reason)
        return back_to(_local(back))

    @router.post("/jobs/{job_id}/{action}")
    async def job_action(
        request: Request,
        *,
        session: Checked,
        job_id: str,
        action: str,
        reason: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        if action not in JOB_ACTIONS:
            raise PageError(404, "No such action.")
        await _command(apis, session, f"jobs/{_path(job_id)}", action, reason=reason)
        return back_to(f"/jobs/{_path(job_id)}")

    @router.get("/operations")
    async def operations(request: Request, session: Signed) -> Response:
        return render(request, "operations.html", session, platform_options=views.PLATFORM_OPTIONS)

    @router.post("/operations/{action}")
    async def scope_action(
        request: Request,
        *,
        session: Checked,
        action: str,
        platform: Annotated[str, Form(max_length=20)] = "",
        reason: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        if action not in SCOPE_ACTIONS:
            raise PageError(404, "No such action.")
        await _command(apis, session, "", action, reason=reason, platform=platform)
        return back_to("/operations")

    return router


def connections_router(apis: Apis) -> APIRouter:
    """Facebook Login (Pages and their Instagram accounts), status, disconnect."""
    router = APIRouter()

    @router.get("/connections")
    async def connections(request: Request, session: Signed) -> Response:
        answer = await apis.connections(session.api_key)
        rows = [views.connection_row(c) for c in answer.get("connections", [])]
        return render(request, "connections.html", session, rows=rows)

    @router.post("/connections/connect")
    async def connect(request: Request, session: Checked, login: str = "facebook") -> Response:
        """Facebook Login: Pages, and the Instagram accounts linked to them, in one dialog;
        `?login=instagram`: Instagram Login, for an account without a Facebook Page;
        `?login=threads`: Threads' own login, for a Threads profile; `?login=linkedin`: a
        LinkedIn organization page."""
        try:
            url = await apis.login_url(
                session.api_key,
                login if login in ("instagram", "threads", "linkedin") else "facebook",
            )
        except ApiError as exc:
            session.flash.append(("error", f"Could not start the connection: {exc.detail}"))
            return back_to("/connections")
        return RedirectResponse(url, status_code=303)

    @router.get(CALLBACK_PATH)
    @router.get(INSTAGRAM_CALLBACK_PATH)
    @router.get(THREADS_CALLBACK_PATH)
    async def login_callback(request: Request) -> Response:
        """Facebook (Instagram, Threads) Login's way back: the distributor connects the accounts;
        a person is shown what happened, any other client gets the distributor's answer as
        it is."""
        status, answer = await apis.login_callback(request.url.query, request.url.path)
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(answer, status_code=status)
        session = store(request).get(request.cookies.get(COOKIE))
        if status != 200:
            raise PageError(status, f"Nothing was connected: {answer.get('detail', answer)}")
        return connected_page(request, session, answer)

    @router.post("/connections/{connection_id}/verify")
    async def verify(request: Request, session: Checked, connection_id: str) -> Response:
        """Verify now: the distributor checks (and refreshes when due) the token with Meta."""
        try:
            answer = await apis.verify(session.api_key, connection_id)
        except ApiError as exc:
            session.flash.append(("error", f"Not verified: {exc.detail}"))
        else:
            session.flash.append(views.verification_flash(answer))
        return back_to("/connections")

    @router.post("/connections/{connection_id}/disconnect")
    async def disconnect(request: Request, session: Checked, connection_id: str) -> Response:
        try:
            await apis.disconnect(session.api_key, connection_id)
        except ApiError as exc:
            session.flash.append(("error", f"Not disconnected: {exc.detail}"))
        else:
            session.flash.append(("ok", "Disconnected: nothing more is sent to that account."))
        return back_to("/connections")

    return router


def tools_router(apis: Apis) -> APIRouter:
    """The preview and the live stream."""
    router = APIRouter()

    @router.get("/preview")
    async def preview_page(request: Request, session: Signed) -> Response:
        return render(request, "preview.html", session, job_text="", rows=None, problem="")

    @router.post("/preview")
    async def preview(
        request: Request,
        session: Checked,
        job: Annotated[str, Form(max_length=200_000)] = "",
    ) -> Response:
        parsed, problem = views.parse_job(job)
        rows = None
        summary: dict[str, Any] = {}
        if parsed is not None:
            try:
                answer = await apis.preview(session.api_key, parsed)
            except ApiError as exc:
                if exc.status not in (400, 422):
                    raise
                problem = f"The job is not valid: {exc.detail}"
            else:
                rows = views.preview_rows(answer)
                summary = answer
        return render(
            request,
            "preview.html",
            session,
            job_text=job,
            rows=rows,
            problem=problem,
            summary=summary,
            status_code=200 if not problem else 422,
        )

    # Live updates: the read API's stream, opened with the session's key.
    @router.get("/live")
    async def live(request: Request, session: Signed) -> Response:
        context = apis.stream(session.api_key)
        try:
            upstream = await context.__aenter__()
        except ApiError:
            return Response(status_code=503)  # EventSource tries again later
        if upstream.status != 200:
            await context.__aexit__(None, None, None)
            return Response(status_code=204)  # EventSource stops reconnecting on 204

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.content.iter_any():
                    yield chunk
            finally:
                await context.__aexit__(None, None, None)

        return StreamingResponse(
            relay(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _command(
    apis: Apis, session: Session, target: str, action: str, *, reason: str, platform: str = ""
) -> None:
    """An audited operator command; its outcome is the next page's message."""
    try:
        await apis.operator_command(
            session.api_key, target, action, reason=reason, platform=platform
        )
    except ApiError as exc:
        if exc.status == 403:
            session.flash.append(("error", "Only operators can do that: sign in with an "
                                  "operator key."))  # fmt: skip
        else:
            session.flash.append(("error", f"Not done: {exc.detail}"))
    else:
        session.flash.append(("ok", DONE.get(action, "Done.")))


def _sign_in_again(request: Request, status: int, error: str) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "sign_in.html", None, status_code=status, signin_token=token, error=error
    )
    set_cookie(request, response, SIGNIN_COOKIE, token, max_age=3600)
    return response


def _path(value: str) -> str:
    """A path segment for an API's URL: quoted, and never `.` or `..` (which would climb)."""
    if value.strip(".") == "":
        raise PageError(404, "No such job.")
    return quote(value, safe="")


def _local(url: str) -> str:
    """Only a path on this console (never another site) is followed after a form."""
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else "/"
