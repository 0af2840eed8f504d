"""Bulk import (a CSV or JSON Lines upload → job events through ingest), CSV exports of
posts and analytics (paged from the read API as they stream), and the analytics page.

(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from jobcast import csv_export
from jobcast.job_files import JobFileError, format_of, parse_job_file
from services.console import views
from services.console.analytics import analytics_charts
from services.console.apis import Apis
from services.console.params import Checked, Filters, Signed
from services.console.sessions import Session
from services.console.web import PageError, render

EXPORT_PAGE = 500  # the read API's largest page


def bulk_router(apis: Apis, max_upload_bytes: int) -> APIRouter:
    router = APIRouter()

    @router.get("/import")
    async def import_page(request: Request, session: Signed) -> Response:
        return render(request, "import.html", session, outcome=None, problem="")

    @router.post("/import")
    async def import_jobs(request: Request, session: Checked) -> Response:
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _import_problem(request, session, "Choose a .csv or .jsonl file to import.")
        data = await upload.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise PageError(413, f"The file is larger than {max_upload_bytes} bytes: split it.")
        try:
            rows = parse_job_file(data, fmt=format_of(upload.filename))
        except JobFileError as exc:
            return _import_problem(request, session, f"Nothing was imported: {exc}")
        outcomes = await apis.import_rows(session.api_key, rows)
        return render(
            request,
            "import.html",
            session,
            outcome=views.import_view(upload.filename, rows, outcomes),
            problem="",
        )

    @router.get("/posts.csv")
    async def posts_csv(
        request: Request,
        *,
        session: Signed,
        filters: Filters,
    ) -> Response:
        first = await apis.posts(session.api_key, **filters.query(), limit=EXPORT_PAGE)

        async def lines() -> AsyncIterator[str]:
            page: dict[str, Any] = first
            header = True
            while True:
                for line in csv_export.posts_csv(page["posts"], header=header):
                    yield line
                header = False
                if not page.get("next_cursor"):
                    return
                page = await apis.posts(
                    session.api_key,
                    **filters.query(),
                    cursor=page["next_cursor"],
                    limit=EXPORT_PAGE,
                )

        return _csv(lines(), "posts.csv")

    @router.get("/analytics")
    async def analytics(
        request: Request, *, session: Signed, days: Annotated[int, Query(ge=1, le=366)] = 30
    ) -> Response:
        window = _window(days)
        by_day = await apis.analytics(session.api_key, group_by="day", **window)
        by_platform = await apis.analytics(session.api_key, group_by="platform", **window)
        by_job = await apis.analytics(session.api_key, group_by="job", **window)
        return render(
            request,
            "analytics.html",
            session,
            days=days,
            charts=analytics_charts(by_day, by_platform, by_job),
            platforms=[views.analytics_group(g) for g in by_platform.get("groups", [])],
        )

    @router.get("/analytics.csv")
    async def analytics_csv(
        request: Request,
        *,
        session: Signed,
        days: Annotated[int, Query(ge=1, le=366)] = 30,
        group_by: Annotated[str, Query(pattern="^(day|platform|job)$")] = "day",
    ) -> Response:
        answer = await apis.analytics(session.api_key, group_by=group_by, **_window(days))

        async def lines() -> AsyncIterator[str]:
            for line in csv_export.analytics_csv(answer):
                yield line

        return _csv(lines(), f"analytics-by-{group_by}.csv")

    return router


def _import_problem(request: Request, session: Session, problem: str) -> Response:
    return render(request, "import.html", session, status_code=422, outcome=None, problem=problem)


def _window(days: int) -> dict[str, str]:
    end = datetime.now(UTC)
    return {"from": (end - timedelta(days=days)).isoformat(), "to": end.isoformat()}


def _csv(lines: AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
