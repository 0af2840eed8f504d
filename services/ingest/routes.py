"""HTTP routes of the front door: thin, typed, all decisions in `domain`."""

import asyncio
import json
import math
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from jobcast.kafka import publish_first_event
from jobcast.tenancy import Tenant
from jobcast.topics import JOBS_EVENTS
from schemas.jobs import JobEvent
from services.ingest.domain import (
    JOB_EVENT,
    MAX_BATCH,
    BatchTooLargeError,
    ForeignTenantError,
    SubmissionError,
    is_batch,
    to_job_event,
    to_job_events,
)
from services.ingest.limits import TenantRateLimiter
from services.ingest.repo import already_accepted, remember_accepted


class EventOutcome(BaseModel):
    index: int
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    errors: list[dict[str, Any]] = []


class Accepted(BaseModel):
    accepted: list[str]  # new and duplicate event ids: both are safely in the log
    duplicates: list[str]
    results: list[EventOutcome]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its `$defs` written in place.

    Pydantic refers to `#/$defs/...`, which means nothing once the schema is embedded in
    an OpenAPI document; the contract models are not recursive, so inlining is finite.
    """
    defs = schema.get("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return expand(defs[ref.removeprefix("#/$defs/")])
            return {k: expand(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    expanded: dict[str, Any] = expand(schema)
    return expanded


EVENT_SCHEMA = inline_refs(JOB_EVENT.json_schema())


def job_events_router(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    tenant_dependency: Any,
    limiter: TenantRateLimiter,
    max_body_bytes: int,
) -> APIRouter:
    """`POST /v1/job-events`: validate, drop repeats, append to `jobs.events` by job id."""
    router = APIRouter()
    batch_schema = {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                       "items": EVENT_SCHEMA},
        },
    }  # fmt: skip

    @router.post(
        "/v1/job-events",
        status_code=202,
        response_model=Accepted,
        summary=f"Submit one job event, or a batch of up to {MAX_BATCH} as {{'events': [...]}}",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"oneOf": [EVENT_SCHEMA, batch_schema]}}
                },
            }
        },
        responses={401: {}, 403: {}, 413: {}, 415: {}, 422: {}, 429: {}},
    )
    async def submit_job_events(
        request: Request, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> Accepted | JSONResponse:
        body = await _read_json(request, max_body_bytes)
        try:
            if is_batch(body):
                outcomes = to_job_events(body, tenant.tenant_id)
            else:
                outcomes = [to_job_event(body, tenant.tenant_id)]
        except ForeignTenantError as exc:
            raise HTTPException(403, str(exc)) from None
        except BatchTooLargeError as exc:
            raise HTTPException(413, str(exc)) from None
        except SubmissionError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        wait = limiter.take(tenant.tenant_id, len(outcomes))
        if wait > 0:
            retry_after = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            raise HTTPException(
                429, "rate limit for this tenant exceeded", headers={"Retry-After": retry_after}
            )
        return await _accept(broker, pool, tenant, outcomes)

    return router


async def _accept(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    tenant: Tenant,
    outcomes: list[JobEvent | SubmissionError],
) -> Accepted:
    events = [o for o in outcomes if not isinstance(o, SubmissionError)]
    seen = await already_accepted(pool, tenant.tenant_id, [e.event_id for e in events])
    fresh: dict[str, JobEvent] = {}
    for event in events:
        if event.event_id not in seen:
            fresh.setdefault(str(event.event_id), event)  # a batch may repeat an id too
    await asyncio.gather(
        *(
            publish_first_event(broker, JOBS_EVENTS, event, key=event.payload.job_id)
            for event in fresh.values()
        )
    )
    # Only after Kafka has them: a crash in between re-publishes on the client's retry,
    # which every consumer absorbs; the other order could lose an event.
    await remember_accepted(
        pool, tenant.tenant_id, [(e.event_id, e.payload.job_id) for e in fresh.values()]
    )
    results: list[EventOutcome] = []
    published: set[str] = set()
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, SubmissionError):
            results.append(EventOutcome(index=index, event_id=None, status="rejected",
                                        errors=outcome.errors))  # fmt: skip
            continue
        event_id = str(outcome.event_id)
        new = event_id in fresh and event_id not in published
        published.add(event_id)
        results.append(
            EventOutcome(index=index, event_id=event_id, status="accepted" if new else "duplicate")
        )
    return Accepted(
        accepted=[r.event_id for r in results if r.event_id and r.status != "rejected"],
        duplicates=[r.event_id for r in results if r.event_id and r.status == "duplicate"],
        results=results,
    )


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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # or too deep
        raise HTTPException(422, f"body is not valid JSON: {exc}") from None
