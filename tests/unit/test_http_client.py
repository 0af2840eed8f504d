"""jobcast's HTTP client against a server on loopback: the whole answer, no redirect
followed, a bounded body, and failures that name aiohttp's exception class and nothing of
the URL (whose query may hold a secret)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from jobcast.failures import describe_failure, is_infrastructure
from jobcast.http_client import HttpClient, NoAnswerError, http_client

pytestmark = pytest.mark.timeout(10)
SECRET = "sk_live_do-not-show-0123456789"


async def _answer(request: web.Request) -> web.StreamResponse:
    if request.path == "/json":
        return web.json_response({"seen": request.query.get("q")}, headers={"X-Kind": "fake"})
    if request.path == "/moved":
        raise web.HTTPFound("/json")
    if request.path == "/large":
        return web.Response(body=b"x" * 2048)
    if request.path == "/large-chunked":
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(4):
            await response.write(b"x" * 1024)
        return response
    if request.path == "/slow":
        await asyncio.sleep(5)
    return web.Response(status=404, text="no")


@pytest.fixture
async def server() -> AsyncIterator[BaseTestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _answer)
    async with TestServer(app, host="127.0.0.1") as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with http_client(timeout_seconds=5, max_answer_bytes=1024) as client:
        yield client


async def test_an_answer_is_read_whole(server: BaseTestServer, http: HttpClient) -> None:
    answer = await http.exchange("GET", str(server.make_url("/json")), params={"q": "a b"})
    assert (answer.status, answer.reason, answer.headers["X-Kind"]) == (200, "OK", "fake")
    assert answer.json() == {"seen": "a b"}


async def test_a_redirect_is_answered_not_followed(
    server: BaseTestServer, http: HttpClient
) -> None:
    answer = await http.exchange("GET", str(server.make_url("/moved")))
    assert answer.status == 302
    assert answer.headers["Location"] == "/json"


@pytest.mark.parametrize("path", ["/large", "/large-chunked"])
async def test_a_body_over_the_bound_is_no_answer(
    server: BaseTestServer, http: HttpClient, path: str
) -> None:
    with pytest.raises(NoAnswerError) as caught:
        await http.exchange("GET", str(server.make_url(path)))
    assert caught.value.kind == "ClientPayloadError"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_no_answer_names_the_failure_and_nothing_of_the_url(http: HttpClient) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook?access_token={SECRET}"
    with pytest.raises(NoAnswerError) as caught:
        await http.exchange("POST", url, data=b"{}")
    failure = caught.value
    assert failure.kind == "ClientConnectorError"
    # Neither shown nor chained: aiohttp's own exception holds the URL.
    assert (failure.__cause__, failure.__context__) == (None, None)
    assert SECRET not in describe_failure(failure)
    assert is_infrastructure(failure)  # waiting may help: retried, not dead-lettered


async def test_a_silent_server_times_out(server: BaseTestServer) -> None:
    async with http_client(timeout_seconds=0.2) as http:
        with pytest.raises(NoAnswerError) as caught:
            await http.exchange("GET", str(server.make_url("/slow")))
    assert caught.value.kind == "SocketTimeoutError"


async def test_a_stream_is_read_as_it_comes(server: BaseTestServer, http: HttpClient) -> None:
    async with http.stream(
        str(server.make_url("/large-chunked")), headers={}, connect_seconds=1
    ) as response:
        received = b"".join([chunk async for chunk in response.content.iter_any()])
    assert (response.status, len(received)) == (200, 4096)  # unbounded, unlike an exchange
