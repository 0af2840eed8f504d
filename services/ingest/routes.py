"""HTTP routes of the front door: thin, typed, all decisions in `domain`."""

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from jobcast.http_edge import too_many_requests
from jobcast.rate_limits import RateLimiter
from jobcast.tenancy import Tenant
from schemas.bounds import MAX_EVENT_BYTES
from services.ingest.accepting import JobEventAcceptor
from services.ingest.domain import (
    JOB_EVENT,
    MAX_BATCH,
    BatchTooLargeError,
    EncodedEvent,
    ForeignTenantError,
    SubmissionError,
    encoded,
    is_batch,
    to_job_event,
    to_job_events,
)


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
PATH = "/v1/job-events"


class JobEventsEndpoint:
    """`POST /v1/job-events`: validate, drop repeats, append to `jobs.events` by job id.

    One handler, `submit`, reached two ways: `router()` declares it to FastAPI (that is
    what /openapi.json documents), and `asgi` serves it straight from the app's entry
    point (`IngestApp`): FastAPI's middleware, routing and dependency solving cost more CPU
    than the handler itself (a single event, in process: ~95 µs through FastAPI, ~40 µs
    straight). Errors are answered by FastAPI's own handler either way, and the body is
    bounded by the app's `jobcast.http_edge.BodyLimit` either way (`IngestApp` wraps the
    straight path in it too).
    """

    def __init__(
        self,
        acceptor: JobEventAcceptor,
        authenticate: Callable[[Request], Awaitable[Tenant]],
        limiter: RateLimiter[UUID],
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self._max_event_bytes = max_event_bytes
        self._acceptor = acceptor
        self._authenticate = authenticate
        self._limiter = limiter

    async def submit(self, request: Request) -> Response:
        """Answer one submission: 202 with per-event outcomes, or a typed 4xx."""
        # Called here, not through `Depends` (the fast path injects nothing); a bad key is
        # still answered 401 before the body is read.
        tenant = await self._authenticate(request)
        body = await _read_json(request)
        try:
            if is_batch(body):
                outcomes = to_job_events(body, tenant.tenant_id, self._max_event_bytes)
            else:
                event = to_job_event(body, tenant.tenant_id)
                outcomes = [encoded(event, self._max_event_bytes)]
        except ForeignTenantError as exc:
            raise HTTPException(403, str(exc)) from None
        except BatchTooLargeError as exc:
            raise HTTPException(413, str(exc)) from None
        except SubmissionError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        wait = self._limiter.take(tenant.tenant_id, len(outcomes))
        if wait > 0:
            raise too_many_requests(wait, "rate limit for this tenant exceeded")
        events = [o for o in outcomes if not isinstance(o, SubmissionError)]
        return _answer(outcomes, await self._acceptor.accept(events))

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`submit` as a bare ASGI app (an unexpected error still becomes uvicorn's 500)."""
        request = Request(scope, receive)
        try:
            response = await self.submit(request)
        except HTTPException as exc:
            response = await http_exception_handler(request, exc)
        await response(scope, receive, send)

    def router(self) -> APIRouter:
        """The route as FastAPI knows it: documented, and served if mounted alone."""
        router = APIRouter()
        batch_schema = {
            "type": "object",
            "required": ["events"],
            "properties": {
                "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                           "items": EVENT_SCHEMA},
            },
        }  # fmt: skip
        router.add_api_route(
            PATH,
            self.submit,
            methods=["POST"],
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
        return router


def _answer(outcomes: list[EncodedEvent | SubmissionError], first_seen: set[UUID]) -> Response:
    """The 202 body (`Accepted`), serialised directly: the models above document it, and
    building then re-validating a model per event was a large share of a batch's CPU."""
    results: list[dict[str, Any]] = []
    accepted: list[str] = []
    duplicates: list[str] = []
    answered: set[UUID] = set()
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, SubmissionError):
            results.append({"index": index, "event_id": None, "status": "rejected",
                            "errors": outcome.errors})  # fmt: skip
            continue
        event_id = str(outcome.event_id)
        new = outcome.event_id in first_seen and outcome.event_id not in answered
        answered.add(outcome.event_id)
        accepted.append(event_id)
        if not new:
            duplicates.append(event_id)
        results.append({"index": index, "event_id": event_id,
                        "status": "accepted" if new else "duplicate", "errors": []})  # fmt: skip
    body = {"accepted": accepted, "duplicates": duplicates, "results": results}
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=202, media_type="application/json")


async def _read_json(request: Request) -> object:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")
    body = await request.body()  # bounded by the app's BodyLimit: 413 past it
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # or too deep
        raise HTTPException(422, f"body is not valid JSON: {exc}") from None
