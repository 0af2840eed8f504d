"""What every fake LinkedIn call goes through: latency, token, version, owner, faults, log.

An operation is a plain function ``(state, call) -> Answer`` that raises ``LinkedInError``;
``endpoint()`` turns it into a Starlette endpoint. The fault rules, the clock and the call
log are the Graph sandbox's own (one mechanism for both platforms): a rule selects LinkedIn
calls by ``operation`` (``li.*``), ``account_id`` (the organization's numeric id), ``method``
or ``path_pattern`` (the path after ``/linkedin``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from devtools.graph_sandbox.faults import FaultRule
from devtools.graph_sandbox.routes_graph import SimulatedConnectionReset
from devtools.graph_sandbox.state import SandboxState

from .auth import authorize
from .errors import (
    JSONDict,
    LinkedInError,
    bad_request,
    missing_token,
    missing_version,
    server_error,
    throttled,
    unknown_version,
)
from .store import LinkedInStore

_REDACTED = "[REDACTED]"
_JSON = "application/json"


@dataclass(slots=True)
class Call:
    """One LinkedIn call as an operation sees it."""

    method: str
    path: str  # after the mount prefix, e.g. "/rest/posts"
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    token: str | None
    base_url: str  # scheme://host of the sandbox, for URLs it hands out
    operation: str = ""
    organization_id: str | None = None
    image_fails: bool = False  # set by the `container_error` fault on image uploads

    def json(self) -> JSONDict:
        """The body as a JSON object (LinkedIn's 400 when it is not one)."""
        try:
            data = json.loads(self.body or b"null")
        except ValueError as exc:
            raise bad_request(f"Malformed JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object")
        return data


@dataclass(slots=True)
class Answer:
    """What an operation answers: status, JSON body (or none) and headers."""

    status: int
    body: JSONDict | None = None
    headers: dict[str, str] = field(default_factory=dict)


# The most elements a finder returns per page, and how many when the caller does not say.
MAX_PAGE = 100
DEFAULT_PAGE = 10


def paged(call: Call, elements: list[JSONDict]) -> Answer:
    """One page of a finder's `elements` as Rest.li pages them (`start`, `count`)."""
    count = _int_param(call, "count", DEFAULT_PAGE, 0, MAX_PAGE)
    start = _int_param(call, "start", 0, 0, 10**9)
    return Answer(
        200,
        {
            "elements": elements[start : start + count],
            "paging": {"start": start, "count": count, "total": len(elements), "links": []},
        },
    )


def _int_param(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise bad_request(f"{name}: must be an integer")
    return max(low, min(high, int(raw)))


Operation = Callable[[SandboxState, Call], Answer]
OwnerOf = Callable[[LinkedInStore, Call], str | None]
"""The organization a call acts for (its numeric id), or None; may raise (404, 422)."""
Endpoint = Callable[[Request], Awaitable[Response]]


def store_of(state: SandboxState) -> LinkedInStore:
    """The LinkedIn data on the Graph sandbox's state."""
    return state.linkedin


def endpoint(
    state: SandboxState,
    operation: str,
    handler: Operation,
    owner_of: OwnerOf,
    *,
    versioned: bool = True,
    needs_token: bool = True,
) -> Endpoint:
    """A Starlette endpoint serving ``handler`` the way LinkedIn would."""

    async def serve(request: Request) -> Response:
        return await _serve(
            state, request, operation, handler, owner_of, versioned=versioned,
            needs_token=needs_token,
        )  # fmt: skip

    return serve


async def _serve(
    state: SandboxState,
    request: Request,
    operation: str,
    handler: Operation,
    owner_of: OwnerOf,
    *,
    versioned: bool,
    needs_token: bool,
) -> Response:
    latency_ms = state.settings.base_latency_ms
    if latency_ms > 0:
        await asyncio.sleep(latency_ms / 1000.0)
    headers = {name.lower(): value for name, value in request.headers.items()}
    token = _bearer(headers.get("authorization"))
    call = Call(
        method=request.method,
        path=_route_path(request),
        path_params={k: str(v) for k, v in request.path_params.items()},
        query=dict(request.query_params),
        headers=headers,
        body=await request.body(),
        token=token,
        base_url=_base_url(request, headers),
        operation=operation,
    )
    entry: dict[str, Any] = {
        "time": state.now(),
        "method": call.method,
        "path": "/linkedin" + call.path,
        "version": headers.get("linkedin-version", ""),
        "operation": operation,
        "account_id": None,
        "status": None,
        "error_code": None,
        "error_subcode": None,
        "fault_id": None,
        "token": _REDACTED if token else None,
    }
    store = store_of(state)
    try:
        if needs_token and not token:
            raise missing_token()
        if versioned:
            _check_version(store, headers.get("linkedin-version"))
        call.organization_id = entry["account_id"] = owner_of(store, call)
        if needs_token:
            assert token is not None
            authorize(store, token, call.organization_id, state.now())
        fault = state.faults.match(call.method, call.path, operation, call.organization_id)
        if fault is not None:
            entry["fault_id"] = fault.id
            return await _run_fault(state, fault.rule, handler, call, entry)
        return _respond(state, handler(state, call), entry)
    except LinkedInError as err:
        return _fail(state, err, entry)


def _route_path(request: Request) -> str:
    root = request.scope.get("root_path", "")
    path = str(request.scope["path"])
    return path[len(root) :] if root and path.startswith(root) else path


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _base_url(request: Request, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if host is None:
        server = request.scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.url.scheme}://{host}"


def _check_version(store: LinkedInStore, version: str | None) -> None:
    if version is None or not version.strip():
        raise missing_version()
    if not store.settings.version_active(version.strip()):
        raise unknown_version(version.strip())


def _respond(state: SandboxState, answer: Answer, entry: dict[str, Any]) -> Response:
    entry["status"] = answer.status
    state.log_call(entry)
    headers = {"x-restli-protocol-version": "2.0.0", **answer.headers}
    if answer.body is None:
        return Response(status_code=answer.status, headers=headers)
    return Response(
        json.dumps(answer.body).encode(), answer.status, headers=headers, media_type=_JSON
    )


def _fail(state: SandboxState, err: LinkedInError, entry: dict[str, Any]) -> Response:
    entry.update(status=err.status, error_code=err.service_error_code or err.code)
    state.log_call(entry)
    return Response(
        json.dumps(err.body()).encode(), err.status, headers=err.headers, media_type=_JSON
    )


async def _run_fault(
    state: SandboxState, rule: FaultRule, handler: Operation, call: Call, entry: dict[str, Any]
) -> Response:
    """Apply a fault rule to a LinkedIn call (the actions mean what they mean for Graph
    calls; `error` takes `http_status` and `code` as LinkedIn's serviceErrorCode)."""
    if rule.latency_ms:
        await asyncio.sleep(rule.latency_ms / 1000.0)
    action = rule.action
    if action == "latency":
        return _respond(state, handler(state, call), entry)
    if action == "container_error":
        call.image_fails = True
        return _respond(state, handler(state, call), entry)
    after_create = rule.after_create or action == "http_500_after_create"
    done = handler(state, call) if after_create else None
    if action == "timeout":
        delay = rule.timeout_s if rule.timeout_s is not None else state.settings.fault_timeout_s
        await asyncio.sleep(delay)
        if done is not None:
            return _respond(state, done, entry)
        raise server_error()
    if action == "connection_reset":
        entry.update(status=0, error_code="connection_reset")
        state.log_call(entry)
        return _ResetResponse()
    if action in ("http_500", "http_500_after_create"):
        raise server_error()
    raise _fault_error(rule)


def _fault_error(rule: FaultRule) -> LinkedInError:
    status = rule.http_status or 400
    if status == 429:
        default = throttled(rule.error_type or "MEMBER")
        return LinkedInError(
            429, rule.message or default.message, service_error_code=rule.code,
            code=default.code,
        )  # fmt: skip
    return LinkedInError(
        status,
        rule.message or f"Sandbox fault {rule.code}",
        service_error_code=rule.code,
        code=rule.error_type,
    )


class _ResetResponse(Response):
    """Starts an answer, sends a few bytes, then fails: the client sees a broken connection."""

    def __init__(self) -> None:
        super().__init__(b"", 200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", _JSON.encode()), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id":"', "more_body": True})
        raise SimulatedConnectionReset("linkedin sandbox: simulated connection reset")
