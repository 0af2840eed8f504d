"""LinkedIn's REST API client on aiohttp: Bearer token, `LinkedIn-Version`, Rest.li 2.0,
LinkedIn's error body.

One session (`jobcast.graph.session.graph_session`, the same keep-alive pool and phase
timeouts as the Graph client's) per process, made on `LINKEDIN_API_URL`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from prometheus_client import Histogram
from yarl import URL

from jobcast.http_client import read_capped
from jobcast.linkedin.errors import LinkedInError, regain_seconds_of, version_message
from jobcast.metrics import child
from jobcast.platform_api import AmbiguousOutcomeError

RESTLI_PROTOCOL_VERSION = "2.0.0"
# LinkedIn's answers are small JSON objects; a body past this is no answer to act on.
MAX_BODY_BYTES = 10 * 1024 * 1024
_decode_json = msgspec.json.Decoder().decode

LINKEDIN_SECONDS = Histogram(
    "jobcast_linkedin_request_duration_seconds",
    "LinkedIn API call latency, by HTTP method and outcome (ok, linkedin_error, transport_error)",
    ["method", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
)


@dataclass(frozen=True, slots=True)
class LinkedInAnswer:
    """A successful answer: its status, JSON body (None when empty) and the created
    entity's id (`x-restli-id`, on creates)."""

    status: int
    body: dict[str, Any] | None
    restli_id: str | None


def rest_path(*segments: str) -> str:
    """`rest/a/b` with each segment (a URN, say) percent-encoded as Rest.li 2.0 wants."""
    return "rest/" + "/".join(quote(segment, safe="") for segment in segments)


class LinkedInClient:
    """Calls `{LINKEDIN_API_URL}/{path}` for a member's token and turns failures into
    exceptions: `LinkedInError` (an answer with an error) or `AmbiguousOutcomeError` (no
    answer: the call may or may not have taken effect)."""

    def __init__(self, http: aiohttp.ClientSession, version: str) -> None:
        self._http = http
        self._version = version

    @property
    def version(self) -> str:
        """The `LinkedIn-Version` this client sends."""
        return self._version

    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: dict[str, Any] | None = None,
        restli_method: str | None = None,
    ) -> LinkedInAnswer:
        """One versioned call (`path` relative to the API's base, already encoded, e.g.
        from `rest_path`)."""
        headers = {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": self._version,
            "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
        }
        if restli_method is not None:
            headers["X-RestLi-Method"] = restli_method
        body = None
        if json is not None:
            body = msgspec.json.encode(json)
            headers["Content-Type"] = "application/json"
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        url = URL.build(path=path.lstrip("/"), query_string=query, encoded=True)
        return await self._exchange(method, url, token, headers, body)

    async def upload(self, upload_url: str, token: str, data: bytes) -> None:
        """PUT an asset's bytes to the upload URL `initializeUpload` answered."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
        await self._exchange("PUT", URL(upload_url, encoded=True), token, headers, data)

    async def _exchange(
        self, method: str, url: URL, token: str, headers: dict[str, str], data: bytes | None
    ) -> LinkedInAnswer:
        started = time.perf_counter()
        failure = ""
        try:
            async with self._http.request(
                method, url, data=data, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                restli_id = response.headers.get("x-restli-id")
                retry_after = response.headers.get("Retry-After")
                content = await read_capped(response, MAX_BODY_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__
        if failure:
            self._observe(method, "transport_error", started)
            # The request may have reached LinkedIn: the caller must reconcile. Raised
            # outside the handler and by class name only, so aiohttp's message (it may
            # hold the URL) is neither shown nor chained.
            raise AmbiguousOutcomeError(failure)
        try:
            parsed = _decode_json(content) if content else None
        except msgspec.DecodeError:
            parsed = None
        answer = parsed if isinstance(parsed, dict) else None
        if status >= 400:
            self._observe(method, "linkedin_error", started)
            raise self._error(status, answer, token, retry_after)
        self._observe(method, "ok", started)
        return LinkedInAnswer(status, answer, restli_id)

    def _error(
        self, status: int, body: dict[str, Any] | None, token: str, retry_after: str | None
    ) -> LinkedInError:
        body = body or {}
        message = _scrub(str(body.get("message") or f"HTTP {status}"), token)
        error_code = body.get("code") if isinstance(body.get("code"), str) else None
        if status == 426 or error_code in ("NONEXISTENT_VERSION", "VERSION_MISSING"):
            message = version_message(self._version, message)
        service_code = body.get("serviceErrorCode")
        return LinkedInError(
            message,
            code=service_code if isinstance(service_code, int) else None,
            http_status=status,
            regain_seconds=regain_seconds_of(status, message, retry_after),
            error_code=error_code,
        )

    @staticmethod
    def _observe(method: str, outcome: str, started: float) -> None:
        child(LINKEDIN_SECONDS, method.upper(), outcome).observe(time.perf_counter() - started)


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "[redacted]") if token else text
