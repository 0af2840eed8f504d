"""HTTP routes for operator commands (operator-scope keys only): thin, typed; issuing and
the audit live in `services.ingest.operator`.

Ingest does not know posts or jobs, so a well-formed command for an unknown target is
accepted (202); the owning service ignores it and logs why.
"""

# No `from __future__ import annotations` here: FastAPI must see the dependency closures.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobcast.auth import CallerDependency
from jobcast.http_edge import validation_errors
from jobcast.tenancy import Caller
from schemas.jobs import JobId
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued, Reason
from schemas.platforms import Platform
from schemas.publish import PostKey
from services.ingest.operator import MAX_AUDIT_PAGE, AuditPage, AuditPosition, decode_cursor

POST_ACTIONS = (
    OperatorAction.RETRY,
    OperatorAction.CANCEL,
    OperatorAction.APPROVE,
    OperatorAction.REJECT,
)
JOB_ACTIONS = (OperatorAction.CANCEL, OperatorAction.APPROVE, OperatorAction.REJECT)
SCOPE_ACTIONS = (OperatorAction.PAUSE, OperatorAction.RESUME)

_SUMMARIES = {
    OperatorAction.RETRY: "Retry a failed post (a fresh series of attempts)",
    OperatorAction.CANCEL: "Cancel a post not yet sent to its publisher",
    OperatorAction.APPROVE: "Approve a post awaiting approval",
    OperatorAction.REJECT: "Reject a post awaiting approval",
    OperatorAction.PAUSE: "Hold the tenant's (or one platform's) due posts",
    OperatorAction.RESUME: "Release held posts in due order",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no API key, or an invalid or revoked one"},
    403: {"description": "the key has tenant scope, not operator scope"},
}


class CommandDesk(Protocol):
    """What the routes need: `services.ingest.operator.OperatorDesk` (or a fake)."""

    def issue(
        self, tenant_id: UUID, command: OperatorCommand
    ) -> Awaitable[OperatorCommandIssued]: ...

    def audit(
        self, tenant_id: UUID, limit: int, after: AuditPosition | None = None
    ) -> Awaitable[AuditPage]: ...


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(_Body):
    reason: Reason = ""


class ScopeBody(ReasonBody):
    platform: Platform | None = Field(
        default=None, description="One platform; absent means the whole tenant"
    )


class CommandAccepted(BaseModel):
    command_id: UUID
    action: OperatorAction


def operator_router(operator: CallerDependency, desk: CommandDesk) -> APIRouter:
    """`/v1/operator/...`: issue commands (202 with the command id) and read the audit.

    `operator` must resolve operator-scope callers only (see `jobcast.auth.operator_only`).
    """
    router = APIRouter(prefix="/v1/operator", tags=["operator"])

    async def issue(caller: Caller, **fields: Any) -> CommandAccepted | JSONResponse:
        try:
            command = OperatorCommand(actor=caller.actor, **fields)
        except ValidationError as exc:
            return _invalid("body", exc)
        event = await desk.issue(caller.tenant.tenant_id, command)
        return CommandAccepted(command_id=event.event_id, action=command.action)

    def on_post(action: OperatorAction) -> Callable[..., Awaitable[CommandAccepted | JSONResponse]]:
        async def endpoint(
            post_key: Annotated[PostKey, Path(description="The post's key (pk_...)")],
            caller: Annotated[Caller, Depends(operator)],
            body: Annotated[ReasonBody | None, Body()] = None,
        ) -> CommandAccepted | JSONResponse:
            reason = body.reason if body else ""
            return await issue(caller, action=action, post_key=post_key, reason=reason)

        return endpoint

    def on_job(action: OperatorAction) -> Callable[..., Awaitable[CommandAccepted | JSONResponse]]:
        async def endpoint(
            job_id: Annotated[JobId, Path(description="Upstream's job id")],
            caller: Annotated[Caller, Depends(operator)],
            body: Annotated[ReasonBody | None, Body()] = None,
        ) -> CommandAccepted | JSONResponse:
            reason = body.reason if body else ""
            return await issue(caller, action=action, job_id=job_id, reason=reason)

        return endpoint

    def on_scope(
        action: OperatorAction,
    ) -> Callable[..., Awaitable[CommandAccepted | JSONResponse]]:
        async def endpoint(
            caller: Annotated[Caller, Depends(operator)],
            body: Annotated[ScopeBody | None, Body()] = None,
        ) -> CommandAccepted | JSONResponse:
            body = body or ScopeBody()
            return await issue(caller, action=action, platform=body.platform, reason=body.reason)

        return endpoint

    routes = [
        *((f"/posts/{{post_key}}/{a.value}", f"operator_post_{a.value}", a, on_post(a))
          for a in POST_ACTIONS),
        *((f"/jobs/{{job_id}}/{a.value}", f"operator_job_{a.value}", a, on_job(a))
          for a in JOB_ACTIONS),
        *((f"/{a.value}", f"operator_{a.value}", a, on_scope(a)) for a in SCOPE_ACTIONS),
    ]  # fmt: skip
    for path, operation_id, action, endpoint in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            status_code=202,
            response_model=CommandAccepted,
            summary=_SUMMARIES[action],
            operation_id=operation_id,
            responses=_ERRORS,
        )

    @router.get(
        "/audit",
        response_model=AuditPage,
        summary="The tenant's operator commands, newest first",
        operation_id="operator_audit",
        responses=_ERRORS,
    )
    async def audit(
        caller: Annotated[Caller, Depends(operator)],
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = 50,
        cursor: Annotated[
            str | None, Query(max_length=200, description="`next_cursor` of the page before")
        ] = None,
    ) -> AuditPage | JSONResponse:
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError as exc:
            return JSONResponse(
                {"detail": [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]},
                status_code=422,
            )
        return await desk.audit(caller.tenant.tenant_id, limit, after)

    return router


def _invalid(where: str, exc: ValidationError) -> JSONResponse:
    """422 naming each field at fault, as the app's own validation answers (no input)."""
    detail = [
        {**e, "loc": [where, *(str(p) for p in e["loc"])]}
        for e in validation_errors(exc.errors(include_url=False))
    ]
    return JSONResponse({"detail": detail}, status_code=422)
