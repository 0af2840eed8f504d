"""What every service's HTTP app does at its edge, in one place: bounded request bodies,
validation answers that never echo the input, and 429 answers.

`install_edge(app, max_body_bytes=...)` is called once per app (ingest, distributor, metrics,
publishers). A route that reads its body itself (`await request.body()`) is bounded the same
way as one whose body FastAPI parses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobcast.rate_limits import retry_after

DEFAULT_MAX_BODY_BYTES = 65_536
"""For apps with no route that takes a body (a publisher's ops endpoints)."""

REDACTED = "<the value sent>"


class BodyTooLargeError(HTTPException):
    """The request body is larger than the limit of its path (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware bounding each request's body: `max_bytes`, or `path_limits[path]`.

    Enforced when the body is read, so a route answers as usual until then (ingest checks
    the API key first) and one that never reads its body costs nothing. A Content-Length
    over the limit is refused at the first read, before a byte is taken; a body without
    one (chunked) is counted as it streams and refused as soon as it passes the limit.
    Either way the reader gets `BodyTooLargeError`, which FastAPI answers 413.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._path_limits.get(scope["path"], self._max_bytes)
        declared = _content_length(scope)
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            if declared is not None and declared > limit:
                raise BodyTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        await self._app(scope, bounded, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                return None
            return int(value) if len(value) < 19 else _ABSURD  # int() of 5,000 digits raises
    return None


_ABSURD = 10**18


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI validation errors as an answer shows them: `type`, `loc` and `msg`.

    The input is left out, and so is `ctx` (it can hold the input, or an exception). A
    message that quotes the input (a validator's `f"... {value!r}"`) has the quote
    replaced, so nothing the client sent comes back, however large.
    """
    return [{"type": e["type"], "loc": list(e["loc"]), "msg": redacted_message(e)} for e in errors]


def redacted_message(error: Mapping[str, Any]) -> str:
    """The error's `msg`, without a quote of its input (if the input is text)."""
    msg = str(error["msg"])
    given = error.get("input")
    if isinstance(given, str) and given:
        quoted = repr(given)
        if quoted in msg:
            msg = msg.replace(quoted, REDACTED)
    return msg


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)


def too_many_requests(wait: float, detail: str) -> HTTPException:
    """A 429 whose `Retry-After` says when to try again (`wait` from a `RateLimiter`)."""
    return HTTPException(429, detail, headers={"Retry-After": retry_after(wait)})


def install_edge(
    app: FastAPI,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    path_limits: Mapping[str, int] | None = None,
) -> None:
    """Bound the app's request bodies and answer validation errors without their input."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, path_limits=path_limits)
    app.add_exception_handler(RequestValidationError, _validation_failed)
