"""The console's part of connecting a LinkedIn organization page: LinkedIn's way back, and
the choice of page when the member administers several.

(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from services.console import views
from services.console.apis import LINKEDIN_CALLBACK_PATH, ApiError, Apis
from services.console.params import Checked
from services.console.web import COOKIE, PageError, back_to, connected_page, render, store


def linkedin_router(apis: Apis) -> APIRouter:
    router = APIRouter()

    @router.get(LINKEDIN_CALLBACK_PATH)
    async def linkedin_callback(request: Request) -> Response:
        """LinkedIn's way back: the organization is connected, or, when the member
        administers several, the person chooses one (the consent waits a few minutes)."""
        status, answer = await apis.login_callback(request.url.query, request.url.path)
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(answer, status_code=status)
        session = store(request).get(request.cookies.get(COOKIE))
        if status != 200:
            raise PageError(status, f"Nothing was connected: {answer.get('detail', answer)}")
        choice = answer.get("choice")
        if choice and session is not None:
            return render(
                request, "linkedin_choose.html", session,
                grant_id=choice["grant_id"], organizations=choice["organizations"],
            )  # fmt: skip
        if choice:
            raise PageError(401, "Sign in to the console, then connect LinkedIn again.")
        return connected_page(request, session, answer)

    @router.post("/connections/linkedin/choose")
    async def linkedin_choose(
        request: Request,
        session: Checked,
        grant_id: Annotated[str, Form(max_length=64)],
        organization_id: Annotated[str, Form(max_length=64)],
    ) -> Response:
        """Connect the LinkedIn organization the person chose."""
        try:
            answer = await apis.linkedin_choose(session.api_key, grant_id, organization_id)
        except ApiError as exc:
            session.flash.append(("error", f"Nothing was connected: {exc.detail}"))
        else:
            session.flash.append(("ok", f"Connected: {views.connected_names(answer)}."))
        return back_to("/connections")

    return router
