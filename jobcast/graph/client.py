"""The Graph API client on httpx: auth, appsecret_proof, Meta's error body, usage headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import HttpUrl, SecretStr, ValidationError

from jobcast.graph import metrics
from jobcast.graph.pacing import Usage, parse_app_usage, parse_business_usage
from jobcast.http_transport import LeanClient
from jobcast.metrics import child

_USAGE_HEADERS = ("x-app-usage", "x-business-use-case-usage")
# RFC 3986 pchar and "/": what a path may hold unencoded (httpx keeps the same).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~]*")
# What urlencode (quote_plus) leaves as it is; a space becomes "+".
_FORM_UNSAFE = re.compile(rb"[^A-Za-z0-9_.\-~ ]")
_FORM_ESCAPES = {byte: b"%%%02X" % byte for byte in range(256)}
# Status, the usage headers (None when absent), the body.
_Answer = tuple[int, dict[str, str | None], bytes]


class GraphError(Exception):
    """Meta answered with an error body. The message never contains the token.

    `operation` names the call for a reader (the connections flow's token exchanges);
    such an error may also stand for no answer at all (`code` and `http_status` None).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        subcode: int | None,
        http_status: int | None,
        regain_seconds: float | None = None,
        operation: str | None = None,
    ) -> None:
        if operation is None:
            super().__init__(f"Graph error {code}/{subcode} (HTTP {http_status}): {message}")
        else:
            where = f"code {code}/{subcode}" if code is not None else f"HTTP {http_status}"
            super().__init__(f"{operation} failed ({where}): {message}")
        self.message = message
        self.operation = operation
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.regain_seconds = regain_seconds


class AmbiguousOutcomeError(Exception):
    """The call may or may not have taken effect: timeout, reset, or a 5xx with no body."""


def appsecret_proof(app_secret: str, token: str) -> str:
    """hex HMAC-SHA256(key=app secret, msg=token): proves the call comes from our server."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


UsageObserver = Callable[[Usage | None, Mapping[str, Usage]], None]


class GraphClient:
    """Calls `{base}/{version}/{path}` with a token and turns failures into exceptions.

    Every response's usage headers go to `observe_usage`, errors included: a
    rate-limited answer is exactly when they matter most.
    """

    def __init__(
        self,
        http: httpx.AsyncClient | Sequence[httpx.AsyncClient],
        version: str,
        app_secret: SecretStr | None,
        observe_usage: UsageObserver | None = None,
        *,
        platform: str = "",
    ) -> None:
        # Several clients are spread over by a stable hash of the token. Only httpx's
        # default transport needs that (httpcore rescans its whole pool on every request);
        # LeanTransport's pool is O(1) and is given as one client.
        self._shards = [http] if isinstance(http, httpx.AsyncClient) else list(http)
        # Full URLs are built here, once per call: letting httpx merge base_url and params
        # parses the URL twice and encodes the query again, about a third of its CPU.
        self._prefixes = [f"{str(s.base_url).rstrip('/')}/{version}/" for s in self._shards]
        self._version = version
        self._app_secret = app_secret
        self._observe_usage = observe_usage
        self._platform = platform  # a metrics label only

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Graph call; returns the JSON object or raises GraphError/AmbiguousOutcomeError.

        `token` None: a call that authenticates in its parameters (OAuth's code exchange),
        sent without Authorization and appsecret_proof.
        """
        query = dict(params or {})
        if self._app_secret is not None and token is not None:
            query["appsecret_proof"] = appsecret_proof(self._app_secret.get_secret_value(), token)
        token = token or ""
        index = zlib.crc32(token.encode()) % len(self._shards) if len(self._shards) > 1 else 0
        shard = self._shards[index]
        started = time.perf_counter()
        try:
            call = _Call(method, path.lstrip("/"), token, data, query)
            if isinstance(shard, LeanClient):
                status, headers, content = await self._fetch(shard, call)
            else:
                status, headers, content = await _send(shard, self._prefixes[index], call)
        except httpx.TransportError as exc:
            self._observe_call(method, "transport_error", started)
            # The request may have reached Meta: the caller must reconcile.
            raise AmbiguousOutcomeError(type(exc).__name__) from None
        app_usage = parse_app_usage(headers.get("x-app-usage"))
        business_usage = parse_business_usage(headers.get("x-business-use-case-usage"))
        metrics.observe_usage(self._platform, app_usage, business_usage)
        if self._observe_usage is not None:
            self._observe_usage(app_usage, business_usage)
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        has_error = isinstance(body, dict) and isinstance(body.get("error"), dict)
        ok = isinstance(body, dict) and status < 500
        self._observe_call(
            method, "graph_error" if has_error else "ok" if ok else "no_body", started
        )
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
            original = error.get("original_response")
            if isinstance(original, dict):
                # Read-after-write: the write took effect and only the read of `fields`
                # failed. Treating it as a failure could post twice (or report a live
                # post as failed); the caller reads what it needs separately.
                return original
            regain = max((u.regain_seconds for u in business_usage.values()), default=0.0)
            raise GraphError(
                _scrub(str(error.get("message", "")), token),
                code=_int_or_none(error.get("code")),
                subcode=_int_or_none(error.get("error_subcode")),
                http_status=status,
                regain_seconds=regain or None,
            )
        if status >= 500 or not isinstance(body, dict):
            raise AmbiguousOutcomeError(f"HTTP {status} without a Graph body")
        if body.get("success") is False:
            raise GraphError(
                "call answered success=false", code=None, subcode=None, http_status=200
            )
        return body

    async def _fetch(self, shard: LeanClient, call: _Call) -> _Answer:
        """Through `LeanClient.fetch`: the same request on the wire, a tenth of the CPU."""
        path = call.path if _PLAIN_PATH.fullmatch(call.path) else quote(call.path, safe=_PATH_SAFE)
        target = f"{self._version}/{path}"
        if call.query:
            target = f"{target}?{_encode_query(call.query)}"
        headers = [("Authorization", f"Bearer {call.token}")] if call.token else []
        body = b""
        if call.data is not None:
            body = _encode_query(call.data).encode("ascii")
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        raw = await shard.fetch(call.method, target, headers, body)
        found: dict[str, str | None] = dict.fromkeys(_USAGE_HEADERS)
        for name, value in raw.headers:
            key = name.decode("latin-1").lower()
            if key in found:
                text = value.decode("latin-1")
                # Repeated headers are joined as httpx joins them.
                found[key] = text if found[key] is None else f"{found[key]}, {text}"
        return raw.status, found, raw.body

    def _observe_call(self, method: str, outcome: str, started: float) -> None:
        child(metrics.GRAPH_SECONDS, self._platform, method.upper(), outcome).observe(
            time.perf_counter() - started
        )


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str  # under the version, no leading slash
    token: str  # empty: no Authorization header
    data: dict[str, Any] | None
    query: dict[str, Any]


async def _send(shard: httpx.AsyncClient, prefix: str, call: _Call) -> _Answer:
    """Through httpx's client (any transport: tests' mocks, httpx's own pool)."""
    url = prefix + call.path
    if call.query:
        url = f"{url}?{_encode_query(call.query)}"
    headers = {"Authorization": f"Bearer {call.token}"} if call.token else None
    request = shard.build_request(call.method, url, data=call.data, headers=headers)
    response = await shard.send(request)
    usage = {name: response.headers.get(name) for name in _USAGE_HEADERS}
    return response.status_code, usage, response.content


async def read_permalink(
    graph: GraphClient, object_id: str, token: str, field: str
) -> HttpUrl | None:
    """Read a post's permalink (`permalink_url` on Facebook, `permalink` on Instagram).

    The post exists by the time this is called: a failed read-back must not turn a
    success into a failure, so any error gives None.
    """
    try:
        fields = await graph.call("GET", object_id, token, params={"fields": field})
    except (GraphError, AmbiguousOutcomeError):
        return None
    return _permalink_in(fields, field)


async def permalink_of(
    graph: GraphClient, answer: Mapping[str, Any], object_id: str, token: str, field: str
) -> HttpUrl | None:
    """The permalink a create call's `answer` carries (read-after-write: `fields` named on
    the call), else read back: not every endpoint offers it, and a failed read-after-write
    answers the bare id."""
    found = _permalink_in(answer, field)
    return found if found is not None else await read_permalink(graph, object_id, token, field)


def _permalink_in(answer: Mapping[str, Any], field: str) -> HttpUrl | None:
    try:
        return HttpUrl(str(answer[field]))
    except (KeyError, ValidationError):
        return None


def _encode_query(params: dict[str, Any]) -> str:
    """Query string with httpx's spelling of values (true/false, empty for None): what
    `urlencode` gives, at half its cost for a caption (urllib quotes byte by byte in Python)."""
    return "&".join(
        f"{_form_quote(str(key))}={_form_quote(_param_text(value))}"
        for key, value in params.items()
    )


def _form_quote(text: str) -> str:
    """`quote_plus(text)`: UTF-8, unreserved characters kept, space as "+"."""
    if text.isascii() and text.isalnum():
        return text
    escaped = _FORM_UNSAFE.sub(lambda found: _FORM_ESCAPES[found[0][0]], text.encode())
    return escaped.replace(b" ", b"+").decode("ascii")


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "[redacted]") if token else text
