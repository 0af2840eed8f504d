"""jobcast's HTTP calls as a client, on aiohttp (the Graph API's client is in `jobcast.graph`).

An exchange follows no redirect and reads the whole answer up to a bound. A call that gets
no answer (refused, reset, timed out, cut off, too large) raises `NoAnswerError` naming
aiohttp's exception class only, raised outside its handler: aiohttp's messages may hold
the URL, and a URL's query or path may hold a secret, so they are neither shown nor
chained (as `jobcast.graph.client` does).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_ANSWER_BYTES = 10 * 1024 * 1024
# Below the common 5 s server keep-alive, so an idle connection is never reused just as
# the server closes it (a request lost to a reset).
KEEPALIVE_SECONDS = 4.0
Params = Mapping[str, str] | Sequence[tuple[str, str]]


class NoAnswerError(Exception):
    """No (whole) answer came back; `kind` is the class of aiohttp's exception.

    Infrastructure, for `jobcast.failures`: the same call may well be answered later.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (`ValueError` if it is not)."""
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def phase_timeouts(seconds: float | None) -> aiohttp.ClientTimeout:
    """`seconds` for each phase of a call (a pooled connection or a new one, and the
    silence between answer bytes); a slow but live answer is not cut off."""
    return aiohttp.ClientTimeout(
        total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


class HttpClient:
    """One aiohttp session (its pool, timeouts, resolver) and jobcast's way of calling."""

    def __init__(
        self, session: aiohttp.ClientSession, *, max_answer_bytes: int = MAX_ANSWER_BYTES
    ) -> None:
        self._session = session
        self._max_answer_bytes = max_answer_bytes

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        json: Any = None,
        data: bytes | None = None,
        timeout_seconds: float | None = None,
    ) -> Answer:
        """One request and its whole answer, or `NoAnswerError`."""
        timeout = (
            self._session.timeout if timeout_seconds is None else phase_timeouts(timeout_seconds)
        )
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                data=data,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await read_capped(response, self._max_answer_bytes)
                return Answer(response.status, response.reason or "", response.headers, body)
        except NoAnswerError:
            raise  # ours, already safe to show (e.g. a refused destination)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__
        raise NoAnswerError(failure)

    @asynccontextmanager
    async def stream(
        self, url: str, *, headers: Mapping[str, str], connect_seconds: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET whose answer is read as it comes (no bound on its length or silences)."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_seconds, sock_connect=connect_seconds, sock_read=None
        )
        try:
            response = await self._session.get(
                url, headers=headers, timeout=timeout, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__
        else:
            failure = ""
        if failure:
            raise NoAnswerError(failure)
        try:
            yield response
        finally:
            response.release()

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body; `aiohttp.ClientPayloadError` once it is over `limit` bytes."""
    length = response.content_length
    if length is not None:
        if length > limit:
            raise aiohttp.ClientPayloadError("response body too large")
        return await response.read()
    chunks = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise aiohttp.ClientPayloadError("response body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def http_client(
    *,
    timeout_seconds: float,
    connector: aiohttp.BaseConnector | None = None,
    middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> HttpClient:
    """A client with its own pool; call inside the event loop that will use it.

    No cookies (calls made with different keys share nothing) and no proxy or netrc from
    the environment.
    """
    if connector is None:
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=phase_timeouts(timeout_seconds),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        middlewares=middlewares,
    )
    return HttpClient(session, max_answer_bytes=max_answer_bytes)
