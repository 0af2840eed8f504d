"""The Graph API client on aiohttp: auth, appsecret_proof, Meta's error body, usage headers."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from pydantic import HttpUrl, SecretStr, ValidationError
from yarl import URL

from jobcast.graph import metrics
from jobcast.graph.pacing import Usage, parse_app_usage, parse_business_usage
from jobcast.http_client import read_capped
from jobcast.metrics import child
from jobcast.platform_api import AmbiguousOutcomeError, PlatformError

_USAGE_HEADERS = ("X-App-Usage", "X-Business-Use-Case-Usage")
# Graph answers are small JSON objects; a body past this is no answer to act on.
MAX_BODY_BYTES = 10 * 1024 * 1024
_FORM = "application/x-www-form-urlencoded"
# Proofs remembered per client: a token makes call after call, and an HMAC costs more
# than the lookup. As many as the accounts a process posts for at once, roughly.
_PROOFS = 4096
# msgspec's decoder: json.loads on bytes first sniffs the encoding in Python.
_decode_json = msgspec.json.Decoder().decode
# quote_plus as a table over UTF-8 bytes (read as latin-1 characters): letters, digits and
# "_.-~" stay, a space is "+", every other byte is %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_QUOTE_PLUS = {
    byte: chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
    for byte in range(256)
}


class GraphError(PlatformError):
    """Meta answered with an error body. The message never contains the token."""

    _label = "Graph error"


def appsecret_proof(app_secret: str, token: str) -> str:
    """hex HMAC-SHA256(key=app secret, msg=token): proves the call comes from our server."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


UsageObserver = Callable[[Usage | None, Mapping[str, Usage]], None]


class GraphClient:
    """Calls `{base}/{version}/{path}` with a token and turns failures into exceptions.

    `http` is a session from `graph_session` (its base URL, timeouts, pool). Every
    response's usage headers go to `observe_usage`, errors included: a rate-limited
    answer is exactly when they matter most.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        version: str,
        app_secret: SecretStr | None,
        observe_usage: UsageObserver | None = None,
        *,
        platform: str = "",
        base_url: str | None = None,
    ) -> None:
        self._http = http
        # Another host than the session's (graph.instagram.com beside graph.facebook.com):
        # one session, one pool of connections, whichever host a call is for.
        self._base = URL(base_url.rstrip("/") + "/") if base_url else None
        self._version = version
        self._proof: Callable[[str], str] | None = (
            functools.lru_cache(maxsize=_PROOFS)(
                functools.partial(appsecret_proof, app_secret.get_secret_value())
            )
            if app_secret is not None
            else None
        )
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
        query = _form_encoded(params.items()) if params else ""
        if self._proof is not None and token is not None:
            # Hex digits: nothing to escape.
            proof = self._proof(token)
            query = f"{query}&appsecret_proof={proof}" if query else f"appsecret_proof={proof}"
        token = token or ""
        # Relative to the session's base URL, and encoded here: yarl then neither parses
        # nor re-quotes it.
        url = URL.build(
            path=quote(f"{self._version}/{path.lstrip('/')}", safe="/"),
            query_string=query,
            encoded=True,
        )
        if self._base is not None:
            url = self._base.join(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        form = None
        if data is not None:
            # Encoded here: a dict body costs aiohttp a failed lookup in its payload
            # registry and a FormData on every call.
            form = _form_encoded(data.items()).encode()
            headers["Content-Type"] = _FORM
        started = time.perf_counter()
        failure = ""
        try:
            async with self._http.request(
                method, url, data=form, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                usage = {name: _joined(response, name) for name in _USAGE_HEADERS}
                content = await read_capped(response, MAX_BODY_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__
        if failure:
            self._observe_call(method, "transport_error", started)
            # The request may have reached Meta: the caller must reconcile. Raised outside
            # the handler and by class name only, so aiohttp's exception (its message may
            # hold the URL, and a secret in its query) is neither shown nor chained.
            raise AmbiguousOutcomeError(failure)
        app_usage = parse_app_usage(usage["X-App-Usage"])
        business_usage = parse_business_usage(usage["X-Business-Use-Case-Usage"])
        metrics.observe_usage(self._platform, app_usage, business_usage)
        if self._observe_usage is not None:
            self._observe_usage(app_usage, business_usage)
        try:
            body = _decode_json(content)
        except msgspec.DecodeError:
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

    def _observe_call(self, method: str, outcome: str, started: float) -> None:
        child(metrics.GRAPH_SECONDS, self._platform, method.upper(), outcome).observe(
            time.perf_counter() - started
        )


def _joined(response: aiohttp.ClientResponse, name: str) -> str | None:
    """A header's value, repeated ones joined by ", " (one list, as RFC 9110 reads them)."""
    values = response.headers.getall(name, ())
    return ", ".join(values) if values else None


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


def permalink_of(
    graph: GraphClient, answer: Mapping[str, Any], object_id: str, token: str, field: str
) -> tuple[HttpUrl | None, Callable[[], Awaitable[HttpUrl | None]] | None]:
    """The permalink a create call's `answer` carries (read-after-write: `fields` named on
    the call), else the read that learns it, for the caller to run once nothing waits on
    it: not every endpoint offers read-after-write, and a failed one answers the bare id."""
    found = _permalink_in(answer, field)
    if found is not None:
        return found, None
    return None, functools.partial(read_permalink, graph, object_id, token, field)


def _permalink_in(answer: Mapping[str, Any], field: str) -> HttpUrl | None:
    try:
        return HttpUrl(str(answer[field]))
    except (KeyError, ValidationError):
        return None


def _form_encoded(pairs: Iterable[tuple[str, Any]]) -> str:
    """`key=value&...` for a query or a form body, byte for byte what `urlencode` writes
    (UTF-8, `quote_plus`), by one C `translate` per text instead of quote's Python loop
    over each byte."""
    return "&".join(f"{_quoted(key)}={_quoted(_param_text(value))}" for key, value in pairs)


def _quoted(text: str) -> str:
    return text.encode().decode("latin-1").translate(_QUOTE_PLUS)


def _param_text(value: object) -> str:
    """A value as Graph reads it: true/false for booleans, empty for None."""
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
