"""HTTP routes of the front door: thin, typed, all decisions in `domain`."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from jobcast.kafka import publish_event
from jobcast.tenancy import Tenant
from jobcast.topics import JOBS_EVENTS
from services.ingest.domain import JOB_EVENT, ForeignTenantError, SubmissionError, to_job_event


class Accepted(BaseModel):
    accepted: list[str]


def job_events_router(
    broker: KafkaBroker, tenant_dependency: Any, max_body_bytes: int
) -> APIRouter:
    """`POST /v1/job-events`: validate, then append to `jobs.events` keyed by job id."""
    router = APIRouter()

    @router.post(
        "/v1/job-events",
        status_code=202,
        response_model=Accepted,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": JOB_EVENT.json_schema()}},
            }
        },
        responses={401: {}, 403: {}, 413: {}, 415: {}, 422: {}},
    )
    async def submit_job_event(
        request: Request, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> Accepted | JSONResponse:
        body = await _read_json(request, max_body_bytes)
        try:
            event = to_job_event(body, tenant.tenant_id)
        except ForeignTenantError as exc:
            raise HTTPException(403, str(exc)) from None
        except SubmissionError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        await publish_event(
            broker,
            JOBS_EVENTS,
            event,
            key=event.payload.job_id,
            correlation_id=str(event.event_id),
            event_type=event.event_type,
        )
        return Accepted(accepted=[str(event.event_id)])

    return router


async def _read_json(request: Request, limit: int) -> object:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked uploads carry no Content-Length; count as we go
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(422, f"body is not valid JSON: {exc}") from None
