"""HTTP face of the Graph API: parse a request, then run auth, usage, faults and the operation.

Kept deliberately lean (one Starlette route, no per-request logging, no pydantic) because a
benchmark pushes ~1,000+ posts/s through one process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from . import instagram_login, threads_host, threads_login
from .auth import authorize, dialog_redirect, verify_appsecret_proof
from .call import Call
from .errors import GraphError, JSONDict, invalid_param, missing_token, new_trace_id
from .faults import FaultRule
from .params import Params
from .routing import Route, resolve
from .state import SandboxState, UsageSnapshot

_VERSION = re.compile(r"v\d+\.\d+\Z")
_JSON = "application/json; charset=UTF-8"
_RATE_LIMIT_BUC = (80001, 80002)
_REDACTED = "[REDACTED]"
DEFAULT_CONTAINER_ERROR_SUBCODE = 2207053  # "unknown upload error"

_JSON_HEADER = (b"content-type", _JSON.encode())


class SimulatedConnectionReset(Exception):  # noqa: N818 - named after the event it simulates
    """Raised mid-response by the ``connection_reset`` fault so the server drops the socket."""


@dataclass(slots=True)
class GraphResponse:
    """A finished answer: status, JSON body and extra headers, sent straight over ASGI."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[bytes, bytes]]:
        """Content type and length, then the extra headers."""
        return [_JSON_HEADER, (b"content-length", b"%d" % len(self.body)), *self.headers]

    async def send(self, send: Send) -> None:
        """Emit the response (two ASGI messages, no framework objects on the hot path)."""
        headers = self.all_headers()
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class ResetResponse(GraphResponse):
    """Starts a response, sends a few bytes, then aborts: the client sees a broken connection."""

    _HEADERS = [_JSON_HEADER, (b"content-length", b"4096")]
    _PARTIAL_BODY = b'{"id":"'

    def truncated(self) -> bytes:
        """What the sandbox's own server writes before it closes the socket."""
        head = b"".join(b"%s: %s\r\n" % header for header in self._HEADERS)
        return b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + self._PARTIAL_BODY

    async def send(self, send: Send) -> None:
        """Send a truncated response, then fail so the server drops the socket."""
        await send({"type": "http.response.start", "status": 200, "headers": self._HEADERS})
        await send({"type": "http.response.body", "body": self._PARTIAL_BODY, "more_body": True})
        # uvicorn closes the transport when the app fails after the response started.
        raise SimulatedConnectionReset("graph sandbox: simulated connection reset")


@dataclass(slots=True)
class _Request:
    """The little of the ASGI request the Graph layer needs."""

    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    scope: Scope
    receive: Receive | None
    read_body: bytes | None = None  # given whole by the sandbox's own server

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> _Request:
        headers = {name.lower(): value for name, value in scope.get("headers", ())}
        return cls(
            scope["method"], scope["path"], scope.get("query_string", b""), headers, scope, receive
        )

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    async def body(self) -> bytes:
        if self.read_body is not None or self.receive is None:
            return self.read_body or b""
        chunks: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def base_url(self) -> str:
        host = self.header(b"host")
        if host is None:
            server = self.scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"


def request_of(
    method: str,
    path: str,
    *,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    scope: Scope,
) -> _Request:
    """A request parsed by the sandbox's own server (`headers` names in lower case; `scope`
    holds what `base_url` may need: scheme and server address)."""
    return _Request(method, path, query, dict(headers), scope, None, body)


async def graph_asgi(state: SandboxState, scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI entry point for every Graph path."""
    response = await handle_graph(state, _Request.from_scope(scope, receive))
    await response.send(send)


async def handle_graph(state: SandboxState, request: _Request) -> GraphResponse:
    """Serve one Graph call end to end (always answers; never raises GraphError)."""
    latency_ms = state.settings.base_latency_ms
    if latency_ms > 0:
        await asyncio.sleep(latency_ms / 1000.0)
    method = request.method
    parts = [part for part in request.path.split("/") if part]
    # None: the Facebook host.
    site = instagram_login.site_of(parts) or threads_host.site_of(parts)
    version = parts.pop(0) if parts and _VERSION.match(parts[0]) else ""
    segments = tuple(parts)
    path = "/" + "/".join(segments)
    entry: dict[str, Any] = {
        "time": state.now(),
        "method": method,
        "path": path,
        "version": version,
        "operation": None,
        "account_id": None,
        "status": None,
        "error_code": None,
        "error_subcode": None,
        "fault_id": None,
        "token": None,
    }
    snapshot: UsageSnapshot | None = None
    try:
        data = await _read_params(request)
        file_url = request.header(b"file_url")  # the Reels upload host reads it from a header
        if file_url is not None:
            data.setdefault("file_url", file_url)
        token = _pop_token(data, request)
        proof = data.pop("appsecret_proof", None)
        if token:
            entry["token"] = _REDACTED  # never log the token itself
            if token in path:
                entry["path"] = path.replace(token, _REDACTED)
        call = Call(method, version, path, segments, Params(data), token)
        dialog = _dialog_of(site, method, segments)
        if dialog is not None:
            entry["operation"] = dialog[0]
            location = dialog[1](state, call)
            entry["status"] = 302
            state.log_call(entry)
            return GraphResponse(302, b"", [(b"location", location.encode())])
        route, route_error = _resolve(state, site, method, segments)
        if route is not None:
            call.operation = entry["operation"] = route.operation
            call.account_id = entry["account_id"] = route.account_id
            call.target_id = route.target_id
        snapshot = state.record_call(call.account_id, route.platform if route else None)
        if route is None or route.needs_token:
            _check_token(state, site, route, token, proof)
        if route is None:
            assert route_error is not None
            raise route_error
        if snapshot.blocked_code is not None:
            raise GraphError(snapshot.blocked_code, regain_minutes=snapshot.regain_minutes)
        fault = state.faults.match(method, path, route.operation, route.account_id)
        call.base_url = request.base_url()
        if fault is not None:
            entry["fault_id"] = fault.id
            return await _run_fault(
                state, rule=fault.rule, route=route, call=call, snapshot=snapshot, entry=entry
            )
        return _success(state, route.handler(state, call), snapshot, entry)
    except GraphError as err:
        if site == instagram_login.API:
            return _api_failure(state, err, entry)
        return _failure(state, err, snapshot, entry)


def _dialog_of(
    site: str | None, method: str, segments: tuple[str, ...]
) -> tuple[str, Callable[[SandboxState, Call], str]] | None:
    """The consent dialog a browser asks for (Facebook's, Instagram's or Threads'), if it is
    one."""
    if method != "GET":
        return None
    if site is None and segments == ("dialog", "oauth"):
        return "oauth.dialog", dialog_redirect
    if site == instagram_login.WWW and segments == ("oauth", "authorize"):
        return "ig_login.dialog", instagram_login.dialog_redirect
    if threads_login.is_dialog(site, method, segments):
        return "threads_login.dialog", threads_login.dialog_redirect
    return None


def _api_failure(state: SandboxState, err: GraphError, entry: dict[str, Any]) -> GraphResponse:
    entry.update(status=err.http_status, error_code=err.code, error_subcode=err.subcode)
    state.log_call(entry)
    return GraphResponse(err.http_status, _dumps(instagram_login.api_error_body(err)))


def _check_token(
    state: SandboxState, site: str | None, route: Route | None, token: str | None, proof: Any
) -> None:
    if not token:
        raise missing_token()
    if site is None:
        verify_appsecret_proof(state, token, None if proof is None else str(proof))
        authorize(state, token, route.account_id if route is not None else None)
    elif site == threads_host.SITE:
        threads_host.authorize(state, route, token)
    else:
        instagram_login.authorize(state, route, token)


def _resolve(
    state: SandboxState, site: str | None, method: str, segments: tuple[str, ...]
) -> tuple[Route | None, GraphError | None]:
    # Resolution errors are answered only after the token check, as Meta checks tokens first.
    if site == threads_host.SITE:
        return threads_host.resolve_on(state, method, segments)
    if site is not None:
        return instagram_login.resolve_on(state, site, method, segments)
    try:
        return resolve(state, method, segments), None
    except GraphError as err:
        return None, err


async def _run_fault(
    state: SandboxState,
    *,
    rule: FaultRule,
    route: Route,
    call: Call,
    snapshot: UsageSnapshot,
    entry: dict[str, Any],
) -> GraphResponse:
    """Apply a matched fault rule (see ``faults.FaultRule`` for the actions)."""
    if rule.latency_ms:
        await asyncio.sleep(rule.latency_ms / 1000.0)
    action = rule.action
    if action == "latency":
        return _success(state, route.handler(state, call), snapshot, entry)
    if action == "container_error":
        call.container_error_subcode = rule.subcode or DEFAULT_CONTAINER_ERROR_SUBCODE
        return _success(state, route.handler(state, call), snapshot, entry)
    after_create = rule.after_create or action == "http_500_after_create"
    # The operation runs first when asked: the post exists although the client sees a failure.
    created = route.handler(state, call) if after_create else None
    if action == "timeout":
        delay = rule.timeout_s if rule.timeout_s is not None else state.settings.fault_timeout_s
        await asyncio.sleep(delay)
        if created is not None:
            return _success(state, created, snapshot, entry)
        raise _fault_error(rule, default_code=2, default_status=500)
    if action == "connection_reset":
        entry["status"] = 0
        entry["error_code"] = "connection_reset"
        state.log_call(entry)
        return ResetResponse(0, b"")
    if action in ("http_500", "http_500_after_create"):
        raise _fault_error(rule, default_code=2, default_status=500)
    raise _fault_error(rule, default_code=2, default_status=None)


def _fault_error(rule: FaultRule, default_code: int, default_status: int | None) -> GraphError:
    return GraphError(
        rule.code if rule.code is not None else default_code,
        rule.subcode,
        message=rule.message,
        type=rule.error_type,
        http_status=rule.http_status or default_status,
        is_transient=rule.is_transient,
        user_title=rule.error_user_title,
        user_msg=rule.error_user_msg,
        regain_minutes=rule.estimated_time_to_regain_access,
    )


async def _read_params(request: _Request) -> dict[str, Any]:
    """Merge query string and body (form-encoded, JSON or multipart) into one dict."""
    query = request.query
    data: dict[str, Any] = (
        dict(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)) if query else {}
    )
    if request.method == "GET":
        return data
    body = await request.body()
    if not body:
        return data
    content_type = request.header(b"content-type") or ""
    if "json" in content_type:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise invalid_param("Request body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise invalid_param("Request body must be a JSON object")
        data.update(parsed)
    elif content_type.startswith("multipart/form-data"):
        data.update(_parse_multipart(body, content_type))
    else:
        data.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return data


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    # python-multipart is not a dependency; the stdlib email parser handles form-data well enough.
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return fields
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[name] = {"filename": filename, "size": len(raw)} if filename else raw.decode()
    return fields


def _pop_token(data: dict[str, Any], request: _Request) -> str | None:
    token = data.pop("access_token", None)
    if token:
        return str(token)
    header = request.header(b"authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
    return None


def _dumps(body: Any) -> bytes:
    # ensure_ascii keeps header values ASCII; bodies stay valid JSON either way.
    return json.dumps(body, separators=(",", ":")).encode()


def _usage_headers(
    snapshot: UsageSnapshot | None, err: GraphError | None
) -> list[tuple[bytes, bytes]]:
    app_pct = snapshot.app_pct if snapshot is not None else 0
    if err is not None and err.code == 4:
        app_pct = max(app_pct, 100)
    headers = [(b"x-app-usage", _app_usage_header(app_pct))]
    if snapshot is not None and snapshot.account_id is not None:
        pct = snapshot.account_pct
        regain = snapshot.regain_minutes
        if err is not None and err.code in _RATE_LIMIT_BUC:
            pct = max(pct, 100)
            regain = max(regain, err.regain_minutes or 0, 1)
        headers.append(
            (
                b"x-business-use-case-usage",
                _business_usage_header(snapshot.account_id, snapshot.account_type, pct, regain),
            )
        )
    return headers


# Both headers go out on every answer and their values repeat (whole percentages per
# account): rendered once per distinct value instead of once per answer.
@functools.lru_cache(maxsize=256)
def _app_usage_header(pct: int) -> bytes:
    return _dumps({"call_count": pct, "total_time": pct, "total_cputime": pct})


@functools.lru_cache(maxsize=8192)
def _business_usage_header(
    account_id: str, account_type: str | None, pct: int, regain: int
) -> bytes:
    usage = {
        "type": account_type,
        "call_count": pct,
        "total_cputime": pct,
        "total_time": pct,
        "estimated_time_to_regain_access": regain,
    }
    return _dumps({account_id: [usage]})


def _success(
    state: SandboxState, body: JSONDict, snapshot: UsageSnapshot | None, entry: dict[str, Any]
) -> GraphResponse:
    entry["status"] = 200
    state.log_call(entry)
    return GraphResponse(200, _dumps(body), _usage_headers(snapshot, None))


def _failure(
    state: SandboxState, err: GraphError, snapshot: UsageSnapshot | None, entry: dict[str, Any]
) -> GraphResponse:
    trace_id = new_trace_id()
    headers = _usage_headers(snapshot, err)
    headers.append((b"x-fb-trace-id", trace_id.encode()))
    entry.update(status=err.http_status, error_code=err.code, error_subcode=err.subcode)
    state.log_call(entry)
    return GraphResponse(err.http_status, _dumps(err.body(trace_id)), headers)
